#!/usr/bin/env bash
# int8 rows again with min-max weight scales (as FP8's), plus PTQ of the equal-budget float at int8.
rm -rf /tmp/w/brown_gpt_w8a8 /tmp/w/brown_gpt_w8_w4_mixed
ONLY='brown_gpt_fp32_continued|brown_gpt_w8a8|brown_gpt_w8_w4_mixed' DEADLINE=300 bash scripts/device/seeded_tables.sh > $OUT/base_log.txt 2>&1
export W=/tmp/w Q=/tmp/b/cli/qforge QFORGE_DATA=$PWD/.gpu-data
for s in 0 1 2; do
  sed -e "s/^seed: .*/seed: $s/" -e "s#\(\.\./\.\./recipes/\)*brown_gpt_fp32.yaml#$W/brown_gpt_fp32_continued/seed-$s#" bench/recipes/brown_gpt_w8a8.yaml > $W/r/ptqc_w8a8_$s.yaml
  $Q run $W/r/ptqc_w8a8_$s.yaml -o $W/gpt_w8a8_ptq_of_continued/seed-$s --device cuda -q --calibrate-only > $W/r/ptqc_w8a8_$s.log 2>&1 &
done; wait
cd $W && tar czf $OUT/w8.tgz brown_gpt_w8a8/seed-*/summary.json brown_gpt_w8_w4_mixed/seed-*/summary.json gpt_w8a8_ptq_of_continued/seed-*/summary.json brown_gpt_fp32_continued/seed-*/summary.json r
tail -n 12 $OUT/base_log.txt
