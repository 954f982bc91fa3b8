#!/usr/bin/env bash
# Speculative decoding on the GPU (issue 24): the trained pair of scripts/device/spec_pair.sh
# (float teacher, w4a8 student), then greedy generation target-only vs with the student as draft,
# on the cuda kernel table (and the machine's CPU for reference), 3 repeats each. Everything
# reported in $OUT/spec_gpu.txt (few files come back).
O=$OUT/spec_gpu.txt
export QFORGE_DATA=$PWD/.gpu-data
Q=/tmp/qf-build/cli/qforge
T=/tmp/brown_gpt_spec_teacher.qf.h5 S=/tmp/brown_gpt_spec_student.qf.h5
if [ ! -f $T ] || [ ! -f $S ]; then
  BUDGET_S=480 bash scripts/device/spec_pair.sh > $OUT/pair_log.txt 2>&1
  rm -f $OUT/teacher.qf.h5.part* $OUT/student.qf.h5
fi
# spec_pair.sh exports with --golden 1 (256 rows); the student's export check can then fall under
# its 99% top-1 rule on 3 near-tie rows: export it with 4 golden windows instead.
[ -f $S ] || $Q export runs/brown_gpt_spec_student -o $S --golden 4 >> $O 2>&1
ls -la $T $S >> $O 2>&1 || { tail -30 $OUT/pair_log.txt; exit 1; }
P="The jury said it did find that the"
nvidia-smi --query-gpu=name --format=csv,noheader | tee -a $O
mkdir -p /tmp/g
for dev in cuda cpu; do
  for r in 1 2 3; do
    for k in 0 2 4 8; do
      if [ $k = 0 ]; then a=""; else a="--draft $S --speculate $k"; fi
      $Q generate $T -p "$P" -n 256 -t 0 --device $dev --stats $a > /tmp/g/${dev}_k${k}_r$r.txt 2> /tmp/g/s.txt
      echo "$dev k=$k r=$r $(grep '\[generate\]' /tmp/g/s.txt)" | tee -a $O
    done
  done
done
for dev in cuda cpu; do for k in 2 4 8; do cmp -s /tmp/g/${dev}_k0_r1.txt /tmp/g/${dev}_k${k}_r1.txt && echo "$dev k=$k greedy output identical to target-only" || echo "$dev k=$k greedy output DIFFERS"; done; done | tee -a $O
cmp -s /tmp/g/cuda_k0_r1.txt /tmp/g/cpu_k0_r1.txt && echo "cuda and cpu target-only outputs identical" | tee -a $O || echo "cuda and cpu target-only outputs differ" | tee -a $O
lscpu | grep "Model name" >> $O
