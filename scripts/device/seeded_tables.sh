#!/usr/bin/env bash
# On the device machine, in one call (carry .gpu-data): builds qforge, runs bench/seeded_tables.py
# (every seed with its own teacher, CUDA training, every number from the CPU runtime on the
# exported checkpoint), writes the Brown GPT baselines (qforge check --update-baseline on the seed
# directories) and packs results, logs and baselines into $OUT (at most 5 files: the tool's limit is 8).
#   TABLES=ptq,qat,distill,gpt SEEDS="0 1 2" JOBS=8 bash scripts/device/seeded_tables.sh
set -uo pipefail
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
TABLES="${TABLES:-ptq,qat,distill,gpt}"; SEEDS="${SEEDS:-0 1 2}"; JOBS="${JOBS:-8}"
log() { echo "== $(date +%T) $*" | tee -a "$OUT/log.txt"; }
[ -e /usr/share/datasets/fashion-mnist ] || { mkdir -p /usr/share/datasets && ln -s "$PWD/.gpu-data/fashion-mnist" /usr/share/datasets/fashion-mnist; }
export QFORGE_DATA="$PWD/.gpu-data"
B=/tmp/qf-build; Q=$B/cli/qforge; W=/tmp/seeded
log "build of ${SRC:-.} ($(nproc) cores; $(cat ${SRC:-.}/.main-commit 2>/dev/null || git log -1 --oneline 2>/dev/null))"
# SRC: the tree to build (default this one); e.g. an archive of main carried in .dev-*/src, so that
# the tables measure the merged code and not a branch in progress.
SRC="${SRC:-.}"
if [ ! -x $Q ]; then
  PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
  cmake -S "$SRC" -B $B -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DQFORGE_BUILD_TESTS=OFF -DQFORGE_CUDA=OFF > /tmp/configure.txt 2>&1 || { tail -30 /tmp/configure.txt; exit 1; }
  cmake --build $B -j16 --target qforge > /tmp/build.txt 2>&1 || { grep -E "error" /tmp/build.txt | head -40; exit 1; }
fi
# The tables stop DEADLINE seconds after the call began (results so far are kept), leaving time for
# the baselines and the packing inside the tool's 600 s.
left=$(( ${DEADLINE:-530} - SECONDS ))
log "tables $TABLES, seeds $SEEDS, at most ${left} s"
timeout $left python3 bench/seeded_tables.py --qforge $Q --work $W --seeds $SEEDS --device cuda --threads 2 --jobs $JOBS \
  --tables "$TABLES" --out "$OUT/results.json" 2>&1 | tee "$OUT/tables.txt"
log "baselines"
mkdir -p $W/baselines
for r in brown_gpt_fp32 brown_gpt_w4a8 brown_gpt_w4a8_kd fashion_cnn_w4a8_kd fashion_cnn_w4a8_sp24 fashion_cnn_w4a8_gptq_qat; do
  [ -d $W/runs/$r ] || continue
  $Q check $W/runs/$r --baseline "$W/baselines/$r.yaml" --update-baseline --threads 4 >> "$OUT/log.txt" 2>&1; echo "baseline $r: exit $?" | tee -a "$OUT/log.txt"
done
(cd $W && tar czf "$OUT/logs.tar.gz" logs recipes baselines runs/*/seed-*/summary.json)
log "done"
