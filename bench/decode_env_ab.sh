#!/usr/bin/env bash
# Generation tokens/s of qforge checkpoints under alternating environment settings (runtime knobs
# such as QF_THREAD_SPIN_US), interleaved: each round runs every setting on every checkpoint, a
# fresh llama_race_qforge process each time (settings read once per process), REPS tg runs per
# process, median kept. Prints one line per run, then per setting and checkpoint the median over rounds.
#
#   bench/decode_env_ab.sh [--rounds 3] [--threads 2] [--tg 64] [--reps 3] [--build build]
#                          --env "A=1 A=0" CKPT.qf.h5 [CKPT.qf.h5 ...]
set -euo pipefail
rounds=3 threads=2 tg=64 reps=3 build=build envs=
ckpts=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --tg) tg=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --env) envs=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    -*) echo "decode_env_ab.sh: unknown option $1 (--help)" >&2; exit 2 ;;
    *) ckpts+=("$1"); shift ;;
  esac
done
[[ -n "$envs" && ${#ckpts[@]} -gt 0 ]] || { echo "decode_env_ab.sh: needs --env and a checkpoint (--help)" >&2; exit 2; }
bin=$build/bench/llama_race_qforge
[[ -x $bin ]] || { echo "decode_env_ab.sh: $bin not built (ninja -C $build llama_race_qforge)" >&2; exit 2; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for r in $(seq "$rounds"); do
  for e in $envs; do
    for c in "${ckpts[@]}"; do
      tps=$(env "$e" "$bin" "$c" --threads "$threads" --pp 8 --tg "$tg" --reps "$reps" 2>/dev/null |
        python3 -c 'import json, statistics, sys
print("%.2f" % statistics.median(json.loads(l)["tokens_per_s"] for l in sys.stdin if "\"tg" in l))')
      echo "round $r  $e  $(basename "$c")  $tps tok/s" | tee -a "$tmp"
    done
  done
done
echo
echo "median over $rounds rounds, tg$tg, $threads thread(s):"
python3 - "$tmp" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    runs[(f[2], f[3])].append(float(f[4]))
for (e, c), v in runs.items():
    print("  %-28s %-36s %8.2f tok/s  (%s)" % (e, c, statistics.median(v), ", ".join("%.1f" % x for x in v)))
PY
