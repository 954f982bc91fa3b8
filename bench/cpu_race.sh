#!/usr/bin/env bash
# qforge vs PyTorch int8 vs ONNX Runtime on the CPU, side by side, interleaved and repeated, then
# one markdown report (medians, spread, issue-16 target ratios) ready for docs/RESULTS.md.
#
#   bench/cpu_race.sh [options] CHECKPOINT.qf.h5 [CHECKPOINT.qf.h5 ...]
#
# Options (defaults in brackets):
#   --rounds R         rounds of the CNN race [3]; each round runs every implementation once per
#                      checkpoint, in order (qforge, PyTorch onednn, PyTorch qnnpack, ORT int8,
#                      then the float32 baselines), so a drift of the machine hits all of them
#   --threads T        threads for every implementation [2]
#   --batch B          throughput batch [256]
#   --iters N          timed runs per measurement (median taken) [20]
#   --gemm-rounds R    rounds of the GEMM table (gemm_bench, then gemm_peers.py) [= --rounds]
#   --gemm-budget S    seconds per GEMM case and implementation [1]
#   --gemm-m LIST      M values of the GEMM table [1,16,128,1024]
#   --gemm-shapes LIST NxK weight shapes of the GEMM table [1024x1024,4096x4096,11008x4096]
#   --no-gemm | --no-cnn | --no-float | --no-accuracy   skip those parts
#   --out DIR          where results.tsv, the ONNX models, logs and report.md go [bench/out/cpu_race]
# Environment: QFORGE (build/cli/qforge), GEMM_BENCH (build/bench/gemm_bench), PYTHON
# (/usr/bin/python3: Debian's python3-torch, -h5py, -numpy, -onnx), NODE (node).
# The ORT peer needs `cd bench/peers/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci` once.
#
# The checkpoints are only read. Numbers depend on the machine being quiet: the report prints
# min–max beside every median; a wide spread means re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
CMDLINE="bench/cpu_race.sh$(printf ' %q' "$@")"

ROUNDS=3 THREADS=2 BATCH=256 ITERS=20 GEMM_ROUNDS= GEMM_BUDGET=1 GEMM_M=1,16,128,1024 GEMM_SHAPES=1024x1024,4096x4096,11008x4096
DO_GEMM=1 DO_CNN=1 DO_FLOAT=1 DO_ACC=1 OUT=bench/out/cpu_race
CKPTS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --gemm-rounds) GEMM_ROUNDS=$2; shift 2 ;;
    --gemm-budget) GEMM_BUDGET=$2; shift 2 ;;
    --gemm-m) GEMM_M=$2; shift 2 ;;
    --gemm-shapes) GEMM_SHAPES=$2; shift 2 ;;
    --no-gemm) DO_GEMM=0; shift ;;
    --no-cnn) DO_CNN=0; shift ;;
    --no-float) DO_FLOAT=0; shift ;;
    --no-accuracy) DO_ACC=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "cpu_race.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) CKPTS+=("$1"); shift ;;
  esac
done
GEMM_ROUNDS=${GEMM_ROUNDS:-$ROUNDS}
Q=${QFORGE:-build/cli/qforge}
GB=${GEMM_BENCH:-build/bench/gemm_bench}
PY=${PYTHON:-/usr/bin/python3}
NODE=${NODE:-node}
[[ $DO_CNN == 1 && ${#CKPTS[@]} == 0 ]] && { echo "cpu_race.sh: give at least one checkpoint (or --no-cnn)" >&2; exit 2; }
for c in "${CKPTS[@]}"; do [[ -f $c ]] || { echo "cpu_race.sh: no such checkpoint: $c" >&2; exit 2; }; done
mkdir -p "$OUT"
RES=$OUT/results.tsv LOG=$OUT/log.txt
: > "$RES"
: > "$LOG"
HAVE_ORT=1
if ! (cd bench/peers/ort && "$NODE" -e "require('onnxruntime-node')") >>"$LOG" 2>&1; then
  HAVE_ORT=0
  echo "note: onnxruntime-node not installed (cd bench/peers/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci); ORT skipped" >&2
fi

# Runs one measurement; appends "kind round label json" to results.tsv (failures go to the log).
record() {  # kind round label cmd...
  local kind=$1 round=$2 label=$3
  shift 3
  echo "[$(date +%T)] $kind r$round $label: $*" >> "$LOG"
  local json la
  la=$(cut -d' ' -f1 /proc/loadavg)  # other users' load: the report shows its range
  if json=$("$@" 2>>"$LOG" | grep '^{'); then
    while IFS= read -r line; do
      printf '%s\t%s\t%s\t%s, "loadavg_1min": %s}\n' "$kind" "$round" "$label" "${line%\}}" "$la" >> "$RES"
    done <<< "$json"
  else
    echo "  FAILED (see $LOG): $*" >&2
  fi
}

if [[ $DO_CNN == 1 ]]; then
  i=0
  for c in "${CKPTS[@]}"; do
    i=$((i + 1))
    echo "preparing $c: ONNX models in $OUT/onnx$i" >&2
    "$PY" bench/peers/build_onnx.py "$c" "$OUT/onnx$i" --float $([[ $DO_ACC == 1 ]] && echo --test-set) >> "$LOG" 2>&1
    if [[ $DO_ACC == 1 ]]; then  # once: do the peers compute the checkpoint's model?
      echo "accuracy check of $c (full Fashion-MNIST test set)" >&2
      acc=$("$Q" eval "$c" 2>>"$LOG" | awk '$1 == "accuracy" {print $2}')
      printf 'check\t0\t%s\t{"impl": "qforge", "kernels": "%s", "accuracy": %s}\n' "$c" \
        "$("$Q" bench "$c" --json --batch 1 --iters 1 --warmup 0 --latency-iters 1 --no-profile | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["kernels"])')" \
        "${acc:-null}" >> "$RES"
      record check 0 "$c" "$PY" bench/peers/torch_int8_peer.py "$c" --engine onednn --threads "$THREADS" --iters 1 --accuracy --json
      record check 0 "$c" "$PY" bench/peers/torch_int8_peer.py "$c" --engine qnnpack --threads "$THREADS" --iters 1 --accuracy --json
      [[ $DO_FLOAT == 1 ]] && record check 0 "$c" "$PY" bench/peers/torch_int8_peer.py "$c" --engine fp32 --threads "$THREADS" --iters 1 --accuracy --json
      [[ $HAVE_ORT == 1 ]] && record check 0 "$c" "$NODE" bench/peers/ort/ort_bench.mjs "$OUT/onnx$i" --threads "$THREADS" --iters 1 --accuracy --json
      [[ $HAVE_ORT == 1 && $DO_FLOAT == 1 ]] && record check 0 "$c" "$NODE" bench/peers/ort/ort_bench.mjs "$OUT/onnx$i" --model model_fp32.onnx --threads "$THREADS" --iters 1 --accuracy --json
    fi
  done
  for r in $(seq 1 "$ROUNDS"); do
    i=0
    for c in "${CKPTS[@]}"; do
      i=$((i + 1))
      echo "round $r/$ROUNDS: $c" >&2
      common=(--batch "$BATCH" --threads "$THREADS" --iters "$ITERS")
      record cnn "$r" "$c" "$Q" bench "$c" "${common[@]}" --json
      record cnn "$r" "$c" "$PY" bench/peers/torch_int8_peer.py "$c" --engine onednn "${common[@]}" --json
      record cnn "$r" "$c" "$PY" bench/peers/torch_int8_peer.py "$c" --engine qnnpack "${common[@]}" --json
      [[ $HAVE_ORT == 1 ]] && record cnn "$r" "$c" "$NODE" bench/peers/ort/ort_bench.mjs "$OUT/onnx$i" "${common[@]}" --json
      if [[ $DO_FLOAT == 1 ]]; then
        record cnn "$r" "$c" "$PY" bench/peers/torch_int8_peer.py "$c" --engine fp32 "${common[@]}" --json
        [[ $HAVE_ORT == 1 ]] && record cnn "$r" "$c" "$NODE" bench/peers/ort/ort_bench.mjs "$OUT/onnx$i" --model model_fp32.onnx "${common[@]}" --json
      fi
    done
  done
fi

if [[ $DO_GEMM == 1 ]]; then
  for r in $(seq 1 "$GEMM_ROUNDS"); do
    echo "GEMM round $r/$GEMM_ROUNDS" >&2
    g=(--threads "$THREADS" --budget-s "$GEMM_BUDGET" --m "$GEMM_M" --shapes "$GEMM_SHAPES" --json)
    record gemm "$r" - "$GB" "${g[@]}"
    record gemm "$r" - "$PY" bench/gemm_peers.py "${g[@]}"
  done
fi

{
  echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs visible; $(uptime | sed 's/.*load average/load average/') at the end."
  echo "Versions: qforge $("$Q" --version 2>/dev/null | awk '{print $2}') ($(git rev-parse --short HEAD)), PyTorch $("$PY" -c 'import torch; print(torch.__version__, torch.backends.quantized.supported_engines)'), onnxruntime-node $([[ $HAVE_ORT == 1 ]] && (cd bench/peers/ort && "$NODE" -p "require('onnxruntime-node').env.versions.node") || echo n/a)."
  echo
  "$PY" bench/race_report.py "$RES" --command "$CMDLINE"
} | tee "$OUT/report.md"
