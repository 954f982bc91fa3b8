#!/usr/bin/python3
"""Table of scripts/device/kv_rotation_screen.sh: bench/kv_screen_table.py W

W holds brown_gpt_fp32/, brown_gpt_fp32_continued/ and the variants' qat_* / ptqc_* run folders
(seed-<s>/summary.json). Prints, per variant, the runtime's perplexity against the equal-budget
float model of the same seed (ptqt_*: against the teacher), mean ± std over seeds and per seed.
Every checkpoint must have passed validate."""
import json, os, statistics as st, sys
os.chdir(sys.argv[1])
def ppl(v,s):
    p=f'{v}/seed-{s}/summary.json'
    if os.path.exists(p):
        j=json.load(open(p)); assert j['metrics'].get('validate')==1.0, p; return j['metrics']['perplexity']
T='brown_gpt_fp32'; F='brown_gpt_fp32_continued'
print('floats', [ppl(T,s) for s in range(3)], [ppl(F,s) for s in range(3)])
for v in sorted(x for x in os.listdir('.') if x.startswith(('qat_','ptq'))):
    ref = T if v.startswith('ptqt') else F
    g=[100*(ppl(v,s)/ppl(ref,s)-1) for s in range(3) if ppl(v,s) and ppl(ref,s)]
    print(f"{v:28s} {st.mean(g):+.2f} ± {st.stdev(g):.2f} %  per seed {[round(x,2) for x in g]}")
