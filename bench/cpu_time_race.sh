#!/usr/bin/env bash
# The CNN race in CPU time instead of wall time: for a machine other people are loading (a
# shared 2-core box), wall-clock images/s measure the scheduler more than the code, and
# spin-waiting thread pools (OpenMP in PyTorch, ONNX Runtime's) collapse there. CPU seconds
# consumed per batch (user + sys of the whole process, differenced between a run with --iters
# LO and one with --iters HI so start-up, model building and the latency pass cancel) are nearly
# independent of other users' load. At --threads 1 nothing spins, so images per CPU-second is a
# fair like-for-like throughput; it says nothing about how well an implementation uses 2 cores.
#
#   bench/cpu_time_race.sh [--threads 1] [--rounds 3] [--batch 256] [--lo 5] [--hi 25]
#                          [--baseline QFORGE_BIN] [--only-onednn] CKPT.qf.h5 ...
# --baseline: also time another qforge binary (e.g. main's build) in the same rounds, as
# "qforge baseline", to measure a change against the same peer; --only-onednn: skip the ONNX
# Runtime and PyTorch float32 peers (shorter rounds).
# Environment: QFORGE (build/cli/qforge), PYTHON (/usr/bin/python3), NODE (node); the ONNX
# models from bench/peers/build_onnx.py are built into --out (default /tmp/qforge_cpu_time_race).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=1 ROUNDS=3 BATCH=256 LO=5 HI=25 OUT=/tmp/qforge_cpu_time_race BASELINE= ONLY_ONEDNN=0
CKPTS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --lo) LO=$2; shift 2 ;;
    --hi) HI=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --only-onednn) ONLY_ONEDNN=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "cpu_time_race.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) CKPTS+=("$1"); shift ;;
  esac
done
[[ ${#CKPTS[@]} -gt 0 ]] || { echo "cpu_time_race.sh: give at least one checkpoint" >&2; exit 2; }
Q=${QFORGE:-build/cli/qforge}
PY=${PYTHON:-/usr/bin/python3}
NODE=${NODE:-node}
mkdir -p "$OUT"
RES=$OUT/cpu_seconds.tsv
: > "$RES"
HAVE_ORT=1
[[ $ONLY_ONEDNN == 1 ]] && HAVE_ORT=0
[[ $HAVE_ORT == 0 ]] ||
(cd bench/peers/ort && "$NODE" -e "require('onnxruntime-node')") > /dev/null 2>&1 || HAVE_ORT=0

cpu_seconds() {  # cmd...: user + sys CPU seconds of the command
  local TIMEFORMAT='%U %S' t
  t=$( { time "$@" > /dev/null 2>> "$OUT/log.txt"; } 2>&1 )
  awk '{print $1 + $2}' <<< "$t"
}
measure() {  # round ckpt impl cmd-with-ITERS...
  local r=$1 c=$2 impl=$3 lo hi
  shift 3
  lo=$(cpu_seconds "${@//ITERS/$LO}")
  hi=$(cpu_seconds "${@//ITERS/$HI}")
  printf '%s\t%s\t%s\t%s\n' "$r" "$c" "$impl" "$(awk -v a="$lo" -v b="$hi" -v n=$((HI - LO)) 'BEGIN {print (b - a) / n}')" >> "$RES"
}

i=0
for c in "${CKPTS[@]}"; do
  i=$((i + 1))
  [[ $HAVE_ORT == 1 ]] && "$PY" bench/peers/build_onnx.py "$c" "$OUT/onnx$i" >> "$OUT/log.txt" 2>&1
done
for r in $(seq 1 "$ROUNDS"); do
  i=0
  for c in "${CKPTS[@]}"; do
    i=$((i + 1))
    echo "round $r/$ROUNDS: $c" >&2
    common=(--batch "$BATCH" --threads "$THREADS" --iters ITERS --warmup 1 --latency-iters 1)
    measure "$r" "$c" qforge "$Q" bench "$c" "${common[@]}" --no-profile
    [[ -n $BASELINE ]] && measure "$r" "$c" "qforge baseline" "$BASELINE" bench "$c" "${common[@]}" --no-profile
    measure "$r" "$c" "PyTorch oneDNN int8" "$PY" bench/peers/torch_int8_peer.py "$c" --engine onednn "${common[@]}"
    [[ $HAVE_ORT == 1 ]] && measure "$r" "$c" "ONNX Runtime int8" "$NODE" bench/peers/ort/ort_bench.mjs "$OUT/onnx$i" "${common[@]}"
    [[ $ONLY_ONEDNN == 1 ]] || measure "$r" "$c" "PyTorch float32" "$PY" bench/peers/torch_int8_peer.py "$c" --engine fp32 "${common[@]}"
  done
done
echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(uptime | sed 's/.*load average/load average/') at the end."
"$PY" - "$RES" "$BATCH" "$THREADS" <<'PYEOF'
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
batch, threads = int(sys.argv[2]), sys.argv[3]
by = collections.OrderedDict()
for r, c, impl, s in rows:
    by.setdefault(c, collections.OrderedDict()).setdefault(impl, []).append(float(s))
for c, impls in by.items():
    print(f"\n{c} (batch {batch}, {threads} thread(s)): CPU ms per batch, images per CPU-second (median, min-max over rounds)\n")
    print("| implementation | CPU ms / batch | images / CPU-s | qforge ÷ this |")
    print("| --- | --- | --- | --- |")
    q = statistics.median(impls.get("qforge", [float("nan")]))
    for impl, v in impls.items():
        m = statistics.median(v)
        print(f"| {impl} | {1e3 * m:.2f} ({1e3 * min(v):.2f}–{1e3 * max(v):.2f}) | {batch / m:,.0f} | {m / q:.2f}× |")
PYEOF
