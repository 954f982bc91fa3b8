"""Makes a valid checkpoint whose runtime no longer agrees with its golden outputs: negates every
golden output of case 0 (so the argmax becomes the argmin) and rewrites the dataset's sha256
(export/FORMAT.md, "Content digest"), so the file still reads cleanly and `validate` fails.
Usage: break_golden.py FILE.qf.h5"""
import hashlib
import sys

import h5py
import numpy as np

with h5py.File(sys.argv[1], "r+") as f:
    outputs = f["golden/0/outputs"]
    for name in list(outputs):
        data = -np.asarray(outputs[name][()])
        attrs = dict(outputs[name].attrs)
        del outputs[name]
        ds = outputs.create_dataset(name, data=data.astype(np.float32))
        for k, v in attrs.items():
            ds.attrs[k] = v
        ds.attrs["sha256"] = np.bytes_(hashlib.sha256(np.ascontiguousarray(data.astype(np.float32)).tobytes()).hexdigest())
