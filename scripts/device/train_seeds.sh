#!/usr/bin/env bash
# On the device machine (DEV=cpu as scripts/main.sh trains, or DEV=cuda; the machine is given back
# after 30 s idle, so build, train and pack run in one call: `all`): builds qforge and trains
# the Fashion-MNIST recipes with seeds 0..N-1, the teacher retrained per seed too (a CI run
# retrains everything, so the baseline's spread must include the teacher's), then exports,
# validates and evaluates every checkpoint. Packs runs into $OUT/seed_runs.tar.gz for
# recipes/baselines/ (qforge check --update-baseline). Data carried in .gpu-data/.
#   device run, carry [".gpu-data"]: bash scripts/device/train_seeds.sh build|train
set -uo pipefail
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
STEP="${1:-build}"; SEEDS="${SEEDS:-5}"; THREADS="${THREADS:-3}"; DEV="${DEV:-cpu}"
RECIPES="${RECIPES:-fashion_cnn_w4a8_sp24_kd fashion_cnn_w8a8 fashion_cnn_w4a8}"
[ -e /usr/share/datasets/fashion-mnist ] || { mkdir -p /usr/share/datasets && ln -s "$PWD/.gpu-data/fashion-mnist" /usr/share/datasets/fashion-mnist; }
export QFORGE_DATA="$PWD/.gpu-data"
B=/tmp/qf-build; Q=$B/cli/qforge; W=/tmp/seedwork
if [ "$STEP" = all ]; then bash "$0" build && bash "$0" train && bash "$0" pack; exit $?; fi
if [ "$STEP" = build ]; then
  PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
  cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DQFORGE_BUILD_TESTS=OFF -DQFORGE_CUDA=OFF > "$OUT/configure.txt" 2>&1 || { tail -30 "$OUT/configure.txt"; exit 1; }
  cmake --build $B -j16 --target qforge > "$OUT/build.txt" 2>&1 || { grep -E "error" "$OUT/build.txt" | head -40; exit 1; }
  nproc; lscpu | grep -E "Model name"; echo built; exit 0
fi
if [ "$STEP" = train ]; then
  rm -rf $W; mkdir -p $W/recipes
  one_seed() {
    local s=$1
    sed -e "s/^seed: .*/seed: $s/" -e "s/^name: .*/&/" recipes/fashion_cnn_fp32.yaml > $W/recipes/fp32_s$s.yaml
    $Q run $W/recipes/fp32_s$s.yaml -o $W/runs/fashion_cnn_fp32/seed-$s --threads $THREADS --device $DEV -q --resume > $W/log_fp32_$s.txt 2>&1
    for r in $RECIPES; do
      sed -e "s/^seed: .*/seed: $s/" -e "s#fashion_cnn_fp32.yaml#$W/runs/fashion_cnn_fp32/seed-$s#g" recipes/$r.yaml > $W/recipes/${r}_s$s.yaml
      $Q run $W/recipes/${r}_s$s.yaml -o $W/runs/$r/seed-$s --threads $THREADS --device $DEV -q --resume > $W/log_${r}_$s.txt 2>&1
    done
  }
  for s in $(seq 0 $((SEEDS-1))); do one_seed $s & done
  wait; echo trained > $W/done.txt; exit 0
fi
if [ "$STEP" = status ]; then
  uptime; ls $W/runs/*/ 2>/dev/null; for f in $W/runs/*/seed-*/metrics.jsonl; do echo "$f $(tail -1 $f | cut -c1-150)"; done; cat $W/done.txt 2>/dev/null; tail -2 $W/log_*.txt; exit 0
fi
if [ "$STEP" = pack ]; then
  cd $W
  for d in runs/*/seed-*; do
    $Q export $d -o $d/model.qf.h5 > /dev/null && $Q validate $d/model.qf.h5 | tail -1 && $Q eval $d/model.qf.h5 --threads 4 | sed -n 2p
  done 2>&1 | tee "$OUT/pack.txt"
  tar czf "$OUT/seed_runs.tar.gz" runs/*/seed-*/model.qf.h5 runs/*/seed-*/metrics.jsonl runs/*/seed-*/recipe.yaml log_*.txt
  ls -la "$OUT"
fi
