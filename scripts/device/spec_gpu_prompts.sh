#!/usr/bin/env bash
# Greedy speculative decoding on the cuda table over several prompts (after scripts/device/spec_gpu.sh on a warm
# machine; retrains the pair when cold).
export QFORGE_DATA=$PWD/.gpu-data
O=$OUT/spec_gpu_prompts.txt
Q=/tmp/qf-build/cli/qforge
T=/tmp/brown_gpt_spec_teacher.qf.h5 S=/tmp/brown_gpt_spec_student.qf.h5
if [ ! -f $T ] || [ ! -f $S ]; then
  BUDGET_S=480 bash scripts/device/spec_pair.sh > $OUT/pair_log.txt 2>&1
  rm -f $OUT/teacher.qf.h5.part* $OUT/student.qf.h5
  [ -f $S ] || $Q export runs/brown_gpt_spec_student -o $S --golden 4 >> $O 2>&1
fi
nvidia-smi --query-gpu=name --format=csv,noheader | tee -a $O
mkdir -p /tmp/g
i=0
while IFS= read -r P; do
  i=$((i+1))
  for r in 1 2; do
    for k in 0 4 8; do
      if [ $k = 0 ]; then a=""; else a="--draft $S --speculate $k"; fi
      $Q generate $T -p "$P" -n 256 -t 0 --device cuda --stats $a > /tmp/g/p${i}_k$k.txt 2> /tmp/g/s.txt
      echo "prompt $i k=$k r=$r $(grep '\[generate\]' /tmp/g/s.txt)" | tee -a $O
    done
  done
  for k in 4 8; do cmp -s /tmp/g/p${i}_k0.txt /tmp/g/p${i}_k$k.txt && echo "prompt $i k=$k greedy identical" || echo "prompt $i k=$k greedy DIFFERS"; done | tee -a $O
done <<'PROMPTS'
The Fulton County Grand Jury said Friday an investigation of
In the morning the committee will meet to consider
She looked at him for a long time before she
The results of the experiment were
It was the first time that the government had
PROMPTS
