#!/usr/bin/env bash
# CPU, one seed, run from the repository root (QFORGE_DATA set): the int4 KV cache variants of
# docs/RESULTS.md "Asymmetric groups with an integer zero point" when no GPU time is left: the
# 1,500-step teacher, the 2,100-step equal-budget float, PTQ of the latter per variant, then QAT of
# the variants in QAT (default below; QAT="" for none). Δ perplexity: summary.json of each variant against brown_gpt_fp32_continued.
set -u
S=$PWD; Q=${Q:-build/cli/qforge}; W=$(realpath -m "${W:-runs/kv_zero_point_cpu}")
mkdir -p $W/r $W/v
R=$S/recipes/brown_gpt_kv4.yaml
mk() { sed "s/symmetric: true}/$2}/" $R > $W/v/$1.yaml; }
mk kv4 "symmetric: true"
mk kv4_center "symmetric: true, center: true"
mk kv4_asym "symmetric: false"
mk kv4_asym_center "symmetric: false, center: true"
mk kv4_zp "symmetric: false, zero_point: int4"
mk kv4_zp_center "symmetric: false, zero_point: int4, center: true"
v() {  # v NAME RECIPE CALIB PARENT
  f=$W/r/$1.yaml
  sed -e "s/^seed: .*/seed: 0/" -e "s#\(\.\./\.\./recipes/\)*brown_gpt_fp32.yaml#$W/$4/seed-0#" $2 > $f
  c=; [ $3 = 1 ] && c=--calibrate-only
  [ -f $W/$1/seed-0/summary.json ] && return
  nice -n 5 $Q run $f -o $W/$1/seed-0 --threads 2 -q $c > $W/r/$1.log 2>&1; echo "$1 rc $? $(date +%T)"
}
date +%T
while pgrep -f "brown_gpt_fp32.yaml -o $W/brown_gpt_fp32/seed-0" >/dev/null; do sleep 5; done  # a teacher already training
[ -f $W/brown_gpt_fp32/seed-0/summary.json ] || { nice -n 5 $Q run $S/recipes/brown_gpt_fp32.yaml -o $W/brown_gpt_fp32/seed-0 --threads 2 -q > $W/r/teacher.log 2>&1; echo "teacher rc $? $(date +%T)"; }
v brown_gpt_fp32_continued $S/bench/recipes/brown_gpt_fp32_continued.yaml 0 brown_gpt_fp32
for n in kv4_zp kv4_asym kv4 kv4_zp_center kv4_center kv4_asym_center; do v ptqc_$n $W/v/$n.yaml 1 brown_gpt_fp32_continued; done
for n in ${QAT-kv4_zp_center kv4_center kv4_asym_center}; do v qat_$n $W/v/$n.yaml 0 brown_gpt_fp32; done
