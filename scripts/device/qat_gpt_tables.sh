#!/usr/bin/env bash
# On the device machine, in one call (carry .gpu-data; run from the repository root): the seeded
# QAT-quality comparison of docs/RESULTS.md "QAT quality on the Brown GPT" (issue 18). Builds
# qforge against the machine's LibTorch, trains the 3 float teachers (seed s each; the same as
# scripts/device/seeded_tables.sh's), then every variant of seed s from teacher s with `qforge run`
# (CUDA training; export, validate and eval on the CPU runtime: summary.json), variants in order of
# priority so that a DEADLINE cuts whole variants, and packs the summary.json files, recipes and
# logs into $OUT/q.tgz (q-d256-l4.tgz for DIM=256 LAYERS=4, …). Table: tar xzf q.tgz -C W && bench/qat_gpt_tables.py W
# ONLY=REGEX runs just the variants whose whole names match; DEADLINE: the second, counted from the
# start, by which the variants stop so that the results still pack; SEEDS: the seeds (default 0 1 2);
# RESERVE: seconds before DEADLINE kept for the second stage (default 0); BQ: the build folder
# (default /tmp/bq3, reused when it holds a qforge: a branch whose recipes need its own qforge names
# a fresh one, since a warm machine may hold another checkout's build there).
# DIM, LAYERS, HEADS: another size of the Brown GPT (default the recipes' 128, 2, 4): every recipe,
# the teachers' included, is rewritten to it, and the runs go to their own folder, so that
# bench/qat_gpt_tables.py reads each size's q.tgz with the same variant names.
ONLY="${ONLY:-[a-z_0-9]+}" DEADLINE="${DEADLINE:-280}" JOBS="${JOBS:-12}" SEEDS="${SEEDS:-0 1 2}" BQ="${BQ:-/tmp/bq3}"
RESERVE="${RESERVE:-0}"
SIZE=${DIM:+-d$DIM}${LAYERS:+-l$LAYERS}${HEADS:+-h$HEADS}
export QFORGE_DATA=$PWD/.gpu-data W=/tmp/w$SIZE Q=$BQ/cli/qforge
export DIM LAYERS HEADS
mkdir -p $W/r
date +%T
if [ ! -x $Q ]; then
  P=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake -S . -B $BQ -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=$P -DQFORGE_BUILD_TESTS=OFF -DQFORGE_CUDA=OFF >/tmp/c.txt 2>&1 &&
    cmake --build $BQ -j16 --target qforge >/tmp/bl.txt 2>&1 || { tail -20 /tmp/c.txt /tmp/bl.txt; exit 1; }
fi
date +%T
# r NAME SEED RECIPE CALIBRATE_ONLY [PARENT]: the recipe with seed s and its init_from (and
# teacher) replaced by run PARENT of seed s (default: teacher s); runs W/NAME/seed-s.
r() {
  f=$W/r/$1_$2.yaml
  sed -e "s/^seed: .*/seed: $2/" -e "s#\(\.\./\.\./recipes/\)*brown_gpt_fp32.yaml#$W/${5:-brown_gpt_fp32}/seed-$2#" \
    -e "s/^  dim: 128\$/  dim: ${DIM:-128}/" -e "s/^  layers: 2\$/  layers: ${LAYERS:-2}/" \
    -e "s/^  heads: 4\$/  heads: ${HEADS:-4}/" $3 > $f
  c=; [ $4 = 1 ] && c=--calibrate-only
  $Q run $f -o $W/$1/seed-$2 --device cuda --threads 1 -q $c > $W/r/$1_$2.log 2>&1; e=$?
  echo "$1 $2 rc $e $(date +%T)"
}
export -f r
for s in $SEEDS; do echo brown_gpt_fp32 $s recipes/brown_gpt_fp32.yaml 0; done | xargs -P8 -L1 bash -c 'r "$@"' _
J=$W/j
B=bench/recipes
while read n rec c; do
  for s in $SEEDS; do echo $n $s $rec $c; done
done > $J <<LIST
brown_gpt_fp32_continued $B/brown_gpt_fp32_continued.yaml 0
gpt_ptq_rtn recipes/brown_gpt_w4a8.yaml 1
brown_gpt_w4a8_gptq_qat recipes/brown_gpt_w4a8_gptq_qat.yaml 0
brown_gpt_w4a8_gptq_qat_lsqlr01 $B/brown_gpt_w4a8_gptq_qat_lsqlr01.yaml 0
brown_gpt_w4a8_gptq_static $B/brown_gpt_w4a8_gptq_static.yaml 0
brown_gpt_w4a8 recipes/brown_gpt_w4a8.yaml 0
brown_gpt_w4a8_lsqlr01 $B/brown_gpt_w4a8_lsqlr01.yaml 0
gpt_ptq_gptq recipes/brown_gpt_w4a8_ptq_gptq.yaml 1
brown_gpt_w4a8_mse_qat $B/brown_gpt_w4a8_mse_qat.yaml 0
brown_gpt_w4a8_ste recipes/brown_gpt_w4a8_ste.yaml 0
brown_gpt_w4a8_gptq_qat_lr1e3 $B/brown_gpt_w4a8_gptq_qat_lr1e3.yaml 0
brown_gpt_fp32_continued_lr1e3 $B/brown_gpt_fp32_continued_lr1e3.yaml 0
brown_gpt_w4a8_gptq_upd_qat $B/brown_gpt_w4a8_gptq_upd_qat.yaml 0
brown_gpt_w4a8_gptq_upd_lsqlr01 $B/brown_gpt_w4a8_gptq_upd_lsqlr01.yaml 0
brown_gpt_w4a8_gptq_upd_static $B/brown_gpt_w4a8_gptq_upd_static.yaml 0
brown_gpt_w4a8_ste_kd $B/brown_gpt_w4a8_ste_kd.yaml 0
gpt_w4_ptq_rtn $B/brown_gpt_w4_ste.yaml 1
gpt_w4_ptq_gptq $B/brown_gpt_w4_ptq_gptq.yaml 1
brown_gpt_w4_ste $B/brown_gpt_w4_ste.yaml 0
brown_gpt_w4_lsqlr01 $B/brown_gpt_w4_lsqlr01.yaml 0
brown_gpt_w4_ste_lr3e4 $B/brown_gpt_w4_ste_lr3e4.yaml 0
brown_gpt_w4_ste_lr1e3 $B/brown_gpt_w4_ste_lr1e3.yaml 0
brown_gpt_fp32_continued_lr2e3 $B/brown_gpt_fp32_continued_lr2e3.yaml 0
brown_gpt_w4_ste_lr2e3 $B/brown_gpt_w4_ste_lr2e3.yaml 0
brown_gpt_w4_ste_lr1e3_damp005 $B/brown_gpt_w4_ste_lr1e3_damp005.yaml 0
brown_gpt_w4_ste_lr1e3_damp03 $B/brown_gpt_w4_ste_lr1e3_damp03.yaml 0
brown_gpt_w4_ste_lr1e3_late05 $B/brown_gpt_w4_ste_lr1e3_late05.yaml 0
brown_gpt_w4_ste_lr1e3_late1 $B/brown_gpt_w4_ste_lr1e3_late1.yaml 0
brown_gpt_fp32_continued_lr3e3 $B/brown_gpt_fp32_continued_lr3e3.yaml 0
brown_gpt_w4_ste_lr1e3_late15 $B/brown_gpt_w4_ste_lr1e3_late15.yaml 0
brown_gpt_w4_ste_lr1e3_late175 $B/brown_gpt_w4_ste_lr1e3_late175.yaml 0
brown_gpt_w4_ste_lr2e3_late1 $B/brown_gpt_w4_ste_lr2e3_late1.yaml 0
brown_gpt_w4_ste_lr2e3_late15 $B/brown_gpt_w4_ste_lr2e3_late15.yaml 0
brown_gpt_w4_ste_lr2e3_late175 $B/brown_gpt_w4_ste_lr2e3_late175.yaml 0
brown_gpt_w4_ste_lr3e3_late15 $B/brown_gpt_w4_ste_lr3e3_late15.yaml 0
brown_gpt_w4_ste_late1 $B/brown_gpt_w4_ste_late1.yaml 0
brown_gpt_w4a8_ste_late1 $B/brown_gpt_w4a8_ste_late1.yaml 0
gpt_w4_ptq_rtn_full $B/brown_gpt_w4_ste_full.yaml 1
gpt_w4_ptq_gptq_full $B/brown_gpt_w4_ptq_gptq_full.yaml 1
brown_gpt_w4_ste_full $B/brown_gpt_w4_ste_full.yaml 0
brown_gpt_w4a8_ste_full $B/brown_gpt_w4a8_ste_full.yaml 0
brown_gpt_w4_ste_lr1e3_late1_full $B/brown_gpt_w4_ste_lr1e3_late1_full.yaml 0
brown_gpt_w4_ste_lr2e3_late1_full $B/brown_gpt_w4_ste_lr2e3_late1_full.yaml 0
brown_gpt_fp32_continued_steps1200 $B/brown_gpt_fp32_continued_steps1200.yaml 0
brown_gpt_w4_ste_steps1200 $B/brown_gpt_w4_ste_steps1200.yaml 0
brown_gpt_fp32_continued_steps2400 $B/brown_gpt_fp32_continued_steps2400.yaml 0
brown_gpt_w4_ste_steps2400 $B/brown_gpt_w4_ste_steps2400.yaml 0
brown_gpt_fp32_continued_lr1e3_steps1200 $B/brown_gpt_fp32_continued_lr1e3_steps1200.yaml 0
brown_gpt_w4_ste_lr1e3_late2_steps1200 $B/brown_gpt_w4_ste_lr1e3_late2_steps1200.yaml 0
brown_gpt_fp32_continued_ema99 $B/brown_gpt_fp32_continued_ema99.yaml 0
brown_gpt_w4_ste_ema99 $B/brown_gpt_w4_ste_ema99.yaml 0
brown_gpt_fp32_continued_ema995 $B/brown_gpt_fp32_continued_ema995.yaml 0
brown_gpt_w4_ste_ema995 $B/brown_gpt_w4_ste_ema995.yaml 0
brown_gpt_fp32_continued_lr1e3_steps1200_ema99 $B/brown_gpt_fp32_continued_lr1e3_steps1200_ema99.yaml 0
brown_gpt_w4_ste_lr1e3_late2_steps1200_ema99 $B/brown_gpt_w4_ste_lr1e3_late2_steps1200_ema99.yaml 0
brown_gpt_fp32_continued_lr1e3_steps1200_ema995 $B/brown_gpt_fp32_continued_lr1e3_steps1200_ema995.yaml 0
brown_gpt_w4_ste_lr1e3_late2_steps1200_ema995 $B/brown_gpt_w4_ste_lr1e3_late2_steps1200_ema995.yaml 0
gpt_w4_ptq_rtn_headfp $B/brown_gpt_w4_ste_headfp.yaml 1
gpt_w4_ptq_rtn_head8 $B/brown_gpt_w4_ste_head8.yaml 1
brown_gpt_w4_ste_headfp $B/brown_gpt_w4_ste_headfp.yaml 0
brown_gpt_w4_ste_head8 $B/brown_gpt_w4_ste_head8.yaml 0
brown_gpt_w4_ste_lr1e3_late2_steps1200_headfp $B/brown_gpt_w4_ste_lr1e3_late2_steps1200_headfp.yaml 0
brown_gpt_w4_ste_lr1e3_late2_steps1200_head8 $B/brown_gpt_w4_ste_lr1e3_late2_steps1200_head8.yaml 0
brown_gpt_fp32_continued_lr2e3_steps1200 $B/brown_gpt_fp32_continued_lr2e3_steps1200.yaml 0
brown_gpt_w4_ste_lr2e3_late2_steps1200 $B/brown_gpt_w4_ste_lr2e3_late2_steps1200.yaml 0
brown_gpt_w4_ste_lr1e3_late15_steps1200 $B/brown_gpt_w4_ste_lr1e3_late15_steps1200.yaml 0
brown_gpt_w4_ste_lr1e3_late25_steps1200 $B/brown_gpt_w4_ste_lr1e3_late25_steps1200.yaml 0
brown_gpt_w4_ste_lr1e3_late2_steps1200_frz02 $B/brown_gpt_w4_ste_lr1e3_late2_steps1200_frz02.yaml 0
brown_gpt_w4_ste_lr1e3_late2_steps1200_frz04 $B/brown_gpt_w4_ste_lr1e3_late2_steps1200_frz04.yaml 0
brown_gpt_w4_ste_lr1e3_late2_steps1200_qn50 $B/brown_gpt_w4_ste_lr1e3_late2_steps1200_qn50.yaml 0
brown_gpt_w4_ste_lr1e3_late2_steps1200_qn25 $B/brown_gpt_w4_ste_lr1e3_late2_steps1200_qn25.yaml 0
brown_gpt_w4_ste_lr1e3_late2_steps1200_sgrad $B/brown_gpt_w4_ste_lr1e3_late2_steps1200_sgrad.yaml 0
brown_gpt_fp32_continued_lr1e3_steps1200_rw1e3 $B/brown_gpt_fp32_continued_lr1e3_steps1200_rw1e3.yaml 0
brown_gpt_w4_ste_lr1e3_late2_steps1200_rw1e3 $B/brown_gpt_w4_ste_lr1e3_late2_steps1200_rw1e3.yaml 0
brown_gpt_fp32_continued_lr1e3_steps1200_rw5e4 $B/brown_gpt_fp32_continued_lr1e3_steps1200_rw5e4.yaml 0
brown_gpt_w4_ste_lr1e3_late2_steps1200_rw5e4 $B/brown_gpt_w4_ste_lr1e3_late2_steps1200_rw5e4.yaml 0
LIST
# Second stage, after the first: PTQ of an equal-budget float model (QAT's PTQ peer at the same
# training budget), whose run names the last column: the lr-5e-4 float, and its twins trained at
# lr 1e-3, 2e-3 and 3e-3 (the peers of the QAT rows at those learning rates), and those trained
# 1,200 or 2,400 steps (_stepsN, the peers of the longer QAT runs), and those whose final weights are
# an EMA of their weights (_emaD, the peers of the QAT runs with the same train.ema), and RTN with the
# LM head in float or int8 (_headfp, _head8: the peers of the QAT runs of that scheme), and the
# float runs with a learning-rate restart at the QAT switch (_rwXeY: the peers of the QAT runs with it). Rows *_then_*:
# PTQ of a QAT run's latent weights (GPTQ rounding in place of QAT's round-to-nearest), named after
# that run so that the table pairs them with its float twin.
C=brown_gpt_fp32_continued
while read n rec c parent; do
  for s in $SEEDS; do echo $n $s $rec $c $parent; done
done > $J.2 <<LIST
gpt_ptq_rtn_of_continued recipes/brown_gpt_w4a8.yaml 1 $C
gpt_ptq_gptq_of_continued recipes/brown_gpt_w4a8_ptq_gptq.yaml 1 $C
gpt_w4_ptq_rtn_of_continued $B/brown_gpt_w4_ste.yaml 1 $C
gpt_w4_ptq_gptq_of_continued $B/brown_gpt_w4_ptq_gptq.yaml 1 $C
gpt_w4_ptq_rtn_of_continued_lr1e3 $B/brown_gpt_w4_ste.yaml 1 ${C}_lr1e3
gpt_w4_ptq_rtn_of_continued_lr2e3 $B/brown_gpt_w4_ste.yaml 1 ${C}_lr2e3
gpt_w4_ptq_rtn_of_continued_lr3e3 $B/brown_gpt_w4_ste.yaml 1 ${C}_lr3e3
gpt_w4_ptq_rtn_full_of_continued $B/brown_gpt_w4_ste_full.yaml 1 $C
gpt_w4_ptq_rtn_full_of_continued_lr1e3 $B/brown_gpt_w4_ste_full.yaml 1 ${C}_lr1e3
gpt_w4_ptq_rtn_full_of_continued_lr2e3 $B/brown_gpt_w4_ste_full.yaml 1 ${C}_lr2e3
gpt_w4_ptq_rtn_of_continued_steps1200 $B/brown_gpt_w4_ste.yaml 1 ${C}_steps1200
gpt_w4_ptq_rtn_of_continued_steps2400 $B/brown_gpt_w4_ste.yaml 1 ${C}_steps2400
gpt_w4_ptq_rtn_of_continued_lr1e3_steps1200 $B/brown_gpt_w4_ste.yaml 1 ${C}_lr1e3_steps1200
gpt_w4_ptq_rtn_of_continued_ema99 $B/brown_gpt_w4_ste.yaml 1 ${C}_ema99
gpt_w4_ptq_rtn_of_continued_ema995 $B/brown_gpt_w4_ste.yaml 1 ${C}_ema995
gpt_w4_ptq_rtn_of_continued_lr1e3_steps1200_ema99 $B/brown_gpt_w4_ste.yaml 1 ${C}_lr1e3_steps1200_ema99
gpt_w4_ptq_rtn_of_continued_lr1e3_steps1200_ema995 $B/brown_gpt_w4_ste.yaml 1 ${C}_lr1e3_steps1200_ema995
gpt_w4_ptq_rtn_headfp_of_continued $B/brown_gpt_w4_ste_headfp.yaml 1 $C
gpt_w4_ptq_rtn_headfp_of_continued_lr1e3_steps1200 $B/brown_gpt_w4_ste_headfp.yaml 1 ${C}_lr1e3_steps1200
gpt_w4_ptq_rtn_head8_of_continued $B/brown_gpt_w4_ste_head8.yaml 1 $C
gpt_w4_ptq_rtn_head8_of_continued_lr1e3_steps1200 $B/brown_gpt_w4_ste_head8.yaml 1 ${C}_lr1e3_steps1200
gpt_w4_ptq_rtn_of_continued_lr2e3_steps1200 $B/brown_gpt_w4_ste.yaml 1 ${C}_lr2e3_steps1200
gpt_w4_ptq_rtn_of_continued_lr1e3_steps1200_rw1e3 $B/brown_gpt_w4_ste.yaml 1 ${C}_lr1e3_steps1200_rw1e3
gpt_w4_ptq_rtn_of_continued_lr1e3_steps1200_rw5e4 $B/brown_gpt_w4_ste.yaml 1 ${C}_lr1e3_steps1200_rw5e4
brown_gpt_w4_ste_then_gptq_minmax $B/brown_gpt_w4_ptq_gptq_minmax.yaml 1 brown_gpt_w4_ste
brown_gpt_w4_ste_then_gptq $B/brown_gpt_w4_ptq_gptq.yaml 1 brown_gpt_w4_ste
brown_gpt_w4_ste_lr1e3_late2_steps1200_then_gptq_minmax $B/brown_gpt_w4_ptq_gptq_minmax.yaml 1 brown_gpt_w4_ste_lr1e3_late2_steps1200
brown_gpt_w4_ste_lr2e3_late1_then_gptq_minmax $B/brown_gpt_w4_ptq_gptq_minmax.yaml 1 brown_gpt_w4_ste_lr2e3_late1
LIST
grep -E "^($ONLY) " $J > $J.only
timeout $((DEADLINE - RESERVE - SECONDS)) xargs -P$JOBS -L1 bash -c 'r "$@"' _ < $J.only
grep -E "^($ONLY) " $J.2 > $J.2.only
timeout $((DEADLINE - SECONDS)) xargs -r -P$JOBS -L1 bash -c 'r "$@"' _ < $J.2.only
cd $W && tar czf $OUT/q$SIZE.tgz */seed-*/summary.json $(ls */seed-*/metrics.jsonl 2>/dev/null) r
date +%T
