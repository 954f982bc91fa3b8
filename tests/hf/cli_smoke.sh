#!/usr/bin/env bash
# The Hugging Face commands end to end on the gemma3 fixture: export (float) -> validate ->
# logits from the folder (LibTorch) and from the checkpoint (runtime) against transformers'
# reference -> greedy generate on ids against transformers' greedy continuation.
set -euo pipefail
QF="$1"; FIX="$2"; OUT="$3"; PY="${4:-/usr/bin/python3}"
rm -rf "$OUT"; mkdir -p "$OUT"
"$QF" export "$FIX/gemma3" -o "$OUT/g.qf.h5"
"$QF" validate "$OUT/g.qf.h5"
"$QF" logits "$FIX/gemma3" --ids "$FIX/gemma3/reference/input_ids.npy" -o "$OUT/torch.npy"
"$QF" logits "$OUT/g.qf.h5" --ids "$FIX/gemma3/reference/input_ids.npy" -o "$OUT/runtime.npy"
# --format hf: a float32 folder our own strict reader (and transformers) loads back.
"$QF" export "$FIX/gemma3" --format hf -o "$OUT/hf_copy"
"$QF" logits "$OUT/hf_copy" --ids "$FIX/gemma3/reference/input_ids.npy" -o "$OUT/hfcopy.npy"
"$PY" - "$FIX/gemma3/reference/greedy_ids.npy" "$OUT/prompt.npy" <<'PY'
import sys, numpy as np
np.save(sys.argv[2], np.load(sys.argv[1])[:16].astype(np.int64))
PY
"$QF" generate "$OUT/g.qf.h5" --ids "$OUT/prompt.npy" -n 16 -t 0 --ids-out "$OUT/greedy.npy"
"$PY" - "$FIX/gemma3/reference" "$OUT" <<'PY'
import sys, numpy as np
ref, out = sys.argv[1], sys.argv[2]
want = np.load(ref + "/logits.npy")
for name in ("torch", "runtime", "hfcopy"):
    got = np.load(out + "/" + name + ".npy")
    assert got.shape == want.shape, (name, got.shape, want.shape)
    err = np.abs(got - want).max() / np.abs(want).max()
    print(f"{name}: max rel err {err:.2e}")
    assert err <= 1e-4, name
g = np.load(out + "/greedy.npy")
assert (g == np.load(ref + "/greedy_ids.npy")).all(), g
print("greedy ids match")
PY
