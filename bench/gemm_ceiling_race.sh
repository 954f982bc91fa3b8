#!/usr/bin/env bash
# The int8 GEMM against oneDNN, read against the machine's own vpdpbusd ceiling (issue 16's
# "int8 GEMM at M >= 128: >= 1.2x oneDNN"; docs/RESULTS.md "The int8 GEMM target against the
# vpdpbusd ceiling"). Each round: the 2-thread ceiling (bench/vnni_peak), qforge's int8 GEMM
# (bench/gemm_bench, the selected table), PyTorch's oneDNN int8 Linear static and dynamic
# (bench/gemm_peers.py), the ceiling again. bench/gemm_ceiling_report.py prints, per round whose
# two ceiling readings agree within 5 %, each GEMM as a share of that ceiling and what 1.2x oneDNN
# would need.
#
#   bench/gemm_ceiling_race.sh [--rounds 6] [--threads 2] [--m 1024,128] [--shapes 4096x4096,11008x4096]
#                              [--build build] [--out bench/out/gemm_ceiling]
#
# Needs a build with the targets vnni_peak and gemm_bench, and /usr/bin/python3 with torch
# (Debian's python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=6 threads=2 m=1024,128 shapes=4096x4096,11008x4096 build=build out=bench/out/gemm_ceiling
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --m) m=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds ($(uptime | sed 's/.*load average/load average/'))" >&2
  "$build/bench/vnni_peak" --threads "$threads" --seconds 2 > "$out/peak_${r}a.txt"
  "$build/bench/gemm_bench" --m "$m" --shapes "$shapes" --variants int8 --kernels selected --threads "$threads" \
    --budget-s 2 --json > "$out/qf_$r.jsonl"
  /usr/bin/python3 bench/gemm_peers.py --m "$m" --shapes "$shapes" --engines onednn \
    --variants int8-static,int8-dynamic --threads "$threads" --budget-s 2 --json > "$out/dnnl_$r.jsonl"
  "$build/bench/vnni_peak" --threads "$threads" --seconds 2 > "$out/peak_${r}b.txt"
done
/usr/bin/python3 bench/gemm_ceiling_report.py "$out" | tee "$out/report.md"
