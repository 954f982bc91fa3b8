#!/usr/bin/env bash
# MoE vs dense with 3 seeds, at the shipped 150 float steps and at 1,500 (device tool, one call).
ONLY='none' DEADLINE=200 bash scripts/device/seeded_tables.sh > $OUT/base_log.txt 2>&1  # builds qforge, trains the usual teachers
export W=/tmp/w Q=/tmp/b/cli/qforge QFORGE_DATA=$PWD/.gpu-data
mkdir -p $W/m
m() {  # m NAME SEED RECIPE LONG
  f=$W/m/$1_$2.yaml
  sed -e "s/^seed: .*/seed: $2/" -e "s#init_from: \(brown_gpt_moe_[a-z_0-9]*\)\.yaml#init_from: $W/\1$4/seed-$2#" $3 > $f
  if [ -n "$4" ]; then sed -i -e "s/  steps: 150/  steps: 1500/" -e "s/warmup_steps: 15}/warmup_steps: 100}/" $f; fi
  $Q run $f -o $W/$1$4/seed-$2 --device cuda --threads 2 -q > $W/m/$1$4_$2.log 2>&1; echo "$1$4 $2 rc $? $(date +%T)"
}
export -f m
for L in "" _long; do
  for s in 0 1 2; do for n in brown_gpt_moe_dense_fp32 brown_gpt_moe_fp32 brown_gpt_moe_fallback_fp32; do echo $n $s recipes/$n.yaml $L; done; done > $W/m/j1$L
  xargs -r -P9 -L1 bash -c 'm "$@"' _ < $W/m/j1$L
  for s in 0 1 2; do for n in brown_gpt_moe_dense_w4a8 brown_gpt_moe_w4a8; do echo $n $s recipes/$n.yaml $L; done; done > $W/m/j2$L
  xargs -r -P6 -L1 bash -c 'm "$@"' _ < $W/m/j2$L
done
for d in $W/brown_gpt_moe_*/seed-*; do [ -f $d/model.qf.h5 ] && $Q inspect $d/model.qf.h5 > $d/inspect.txt 2>&1; done
cd $W && tar czf $OUT/moe.tgz brown_gpt_moe_*/seed-*/summary.json brown_gpt_moe_*/seed-*/inspect.txt m
