#!/usr/bin/env bash
# On the device machine, one call (carry .gpu-data): the seeded int4-KV screen of docs/RESULTS.md
# "Rotating and centering the cache": teachers and equal-budget floats via seeded_tables.sh, then
# per variant of recipes/brown_gpt_kv4.yaml (rotate / center / clip / asymmetric with an fp16
# offset or an integer zero point) QAT from teacher s
# and PTQ of the equal-budget float of seed s, 3 seeds. VARIANTS picks them (names below).
# Table: tar xzf $OUT/kv.tgz and $OUT/s.tgz into W, then bench/kv_screen_table.py W.
ONLY='brown_gpt_fp32_continued' DEADLINE=${BASE_DEADLINE:-200} bash scripts/device/seeded_tables.sh > $OUT/base_log.txt 2>&1
export W=/tmp/w Q=/tmp/b/cli/qforge QFORGE_DATA=$PWD/.gpu-data
mkdir -p $W/v $W/r
v() {  # v NAME SEED RECIPE CALIB PARENT
  f=$W/r/$1_$2.yaml
  sed -e "s/^seed: .*/seed: $2/" -e "s#\(\.\./\.\./recipes/\)*brown_gpt_fp32.yaml#$W/$5/seed-$2#" $3 > $f
  c=; [ $4 = 1 ] && c=--calibrate-only
  $Q run $f -o $W/$1/seed-$2 --device cuda --threads 2 -q $c > $W/r/$1_$2.log 2>&1; echo "$1 $2 rc $? $(date +%T)"
}
export -f v
R=recipes/brown_gpt_kv4.yaml
cp $R $W/v/kv4.yaml
sed "s/symmetric: true}/symmetric: true, rotate: hadamard}/" $R > $W/v/kv4_rot.yaml
sed "s/symmetric: true}/symmetric: true, clip: 0.9, rotate: hadamard}/" $R > $W/v/kv4_rot_clip0.9.yaml
sed "s/group_size: 32, symmetric: true}/group_size: 32, symmetric: false, rotate: hadamard}/" $R > $W/v/kv4_rot_asym.yaml
sed "s/symmetric: true}/symmetric: true, center: true}/" $R > $W/v/kv4_center.yaml
sed "s/symmetric: true}/symmetric: true, rotate: hadamard, center: true}/" $R > $W/v/kv4_rot_center.yaml
sed "s/symmetric: true}/symmetric: true, clip: 0.9, rotate: hadamard, center: true}/" $R > $W/v/kv4_rot_center_clip0.9.yaml
sed "s/symmetric: true}/symmetric: true, clip: 0.9, center: true}/" $R > $W/v/kv4_center_clip0.9.yaml
# Asymmetric groups: fp16 offset (5 bits) vs a 4-bit integer zero point (4.625 bits, feature
# kv_cache_zero_point), plain and with center / rotate.
sed "s/symmetric: true}/symmetric: false}/" $R > $W/v/kv4_asym.yaml
sed "s/symmetric: true}/symmetric: false, center: true}/" $R > $W/v/kv4_asym_center.yaml
sed "s/symmetric: true}/symmetric: false, zero_point: int4}/" $R > $W/v/kv4_zp.yaml
sed "s/symmetric: true}/symmetric: false, zero_point: int4, center: true}/" $R > $W/v/kv4_zp_center.yaml
sed "s/symmetric: true}/symmetric: false, zero_point: int4, rotate: hadamard}/" $R > $W/v/kv4_zp_rot.yaml
sed "s/symmetric: true}/symmetric: false, zero_point: int4, rotate: hadamard, center: true}/" $R > $W/v/kv4_zp_rot_center.yaml
# Late QAT (docs/RESULTS.md, issue 18 screen): float fine-tuning for the first epoch of 2, the
# cache fake-quantized from epoch 1 on.
for n in kv4_zp kv4_zp_center; do
  { cat $W/v/$n.yaml; echo "      start_epoch: 1"; } > $W/v/${n}_late1.yaml
done
grep -h kv_cache $W/v/*.yaml
for s in 0 1 2; do
  for n in ${VARIANTS:-kv4 kv4_rot kv4_center kv4_rot_asym}; do
    echo qat_$n $s $W/v/$n.yaml 0 brown_gpt_fp32
    echo ptqc_$n $s $W/v/$n.yaml 1 brown_gpt_fp32_continued
  done
done > $W/jv
xargs -P12 -L1 bash -c 'v "$@"' _ < $W/jv
cd $W && tar czf $OUT/kv.tgz */seed-*/summary.json r v
