#!/usr/bin/env bash
# CPU data-parallel throughput (docs/RESULTS.md): samples/s of the Brown GPT QAT recipe with 1
# process (all cores) and 2 Gloo workers (--nproc 2, cores split between them), interleaved and
# repeated because the machine is shared; prints one line per run with the 1-minute load average.
# The schedule is shortened (train.steps, steps_per_epoch, eval_batches) and init_from is dropped
# (throughput does not depend on the starting weights; a data-parallel run needs a finished
# init_from run, and timing that would time the float run too).
# Configurations (CONFIGS): 1 = one process, all cores; 1t = one process, 1 thread (what each of
# the 2 workers gets: separates the parallelism of data from that of threads); 2 = --nproc 2.
#   bench/dp_throughput.sh [QFORGE_BIN] [REPEATS]
set -euo pipefail
Q="${1:-build/cli/qforge}"
REPEATS="${2:-3}"
STEPS="${STEPS:-60}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -E -e '/init_from:/d' -e "s/^  steps: [0-9]+/  steps: $STEPS/" -e "s/^  steps_per_epoch: [0-9]+/  steps_per_epoch: $((STEPS / 2))/" \
  -e 's/^  eval_batches: [0-9]+/  eval_batches: 2/' recipes/brown_gpt_w4a8.yaml > "$tmp/r.yaml"
echo "recipe: recipes/brown_gpt_w4a8.yaml with train.steps $STEPS, steps_per_epoch $((STEPS / 2)), eval_batches 2, no init_from"
echo "workers  run  samples/s(epoch 2)  comm_wait_s  load1"
for i in $(seq "$REPEATS"); do
  for c in ${CONFIGS:-1 1t 2}; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    n=${c%t}
    extra=""; [ "$c" = 1t ] && extra="--threads 1"
    "$Q" run "$tmp/r.yaml" -o "$tmp/run_$n" --nproc "$n" --train-only $extra -q > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
    python3 - "$tmp/run_$n/metrics.jsonl" "$c" "$i" "$load" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ep = [r for r in recs if r.get("event") == "epoch"][-1]   # epoch 2: warm
print(f"{sys.argv[2]:>7}  {sys.argv[3]:>3}  {ep['train_samples_per_s']:>17.1f}  {ep.get('comm_wait_seconds', 0):>11.2f}  {sys.argv[4]}")
PY
    rm -rf "$tmp/run_$n"
  done
done
