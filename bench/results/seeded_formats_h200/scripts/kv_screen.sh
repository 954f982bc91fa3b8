#!/usr/bin/env bash
# KV-cache screen (device): teachers + equal-budget float via seeded_tables.sh, then int4-KV variants.
ONLY='brown_gpt_fp32_continued' DEADLINE=200 bash scripts/device/seeded_tables.sh > $OUT/base_log.txt 2>&1
export W=/tmp/w Q=/tmp/b/cli/qforge QFORGE_DATA=$PWD/.gpu-data
mkdir -p $W/v
v() {  # v NAME SEED RECIPE CALIB TEACHER
  f=$W/r/$1_$2.yaml
  sed -e "s/^seed: .*/seed: $2/" -e "s#\(\.\./\.\./recipes/\)*brown_gpt_fp32.yaml#$W/$5/seed-$2#" $3 > $f
  c=; [ $4 = 1 ] && c=--calibrate-only
  $Q run $f -o $W/$1/seed-$2 --device cuda --threads 2 -q $c > $W/r/$1_$2.log 2>&1; echo "$1 $2 rc $? $(date +%T)"
}
export -f v
R=recipes/brown_gpt_kv4.yaml
for c in 0.9 0.8; do sed "s/symmetric: true}/symmetric: true, clip: $c}/" $R > $W/v/kv4_clip$c.yaml; done
sed "s/lr: 0.0005/lr: 0.0001/" $R > $W/v/kv4_lr1e4.yaml
sed "s/group_size: 32/group_size: 16/" $R > $W/v/kv4_g16.yaml
sed "s/bits: 4, group_size: 32/bits: 8, group_size: 32/" $R > $W/v/kv8.yaml
for s in 0 1 2; do
  for n in kv4_clip0.9 kv4_clip0.8 kv4_g16 kv8; do
    echo qat_$n $s $W/v/$n.yaml 0 brown_gpt_fp32
    echo ptqc_$n $s $W/v/$n.yaml 1 brown_gpt_fp32_continued
  done
  echo qat_kv4_lr1e4 $s $W/v/kv4_lr1e4.yaml 0 brown_gpt_fp32
done > $W/jv
xargs -P8 -L1 bash -c 'v "$@"' _ < $W/jv
cd $W && tar czf $OUT/kv.tgz */seed-*/summary.json r v
