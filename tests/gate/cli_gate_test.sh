#!/usr/bin/env bash
# End-to-end test of `qforge run` (pipeline stages, skipping, resume, seeds) and `qforge check`
# (pass, each kind of regression, malformed input, JUnit/JSON, --update-baseline) on a tiny MLP
# trained for seconds on a Fashion-MNIST subset.
# Usage: cli_gate_test.sh QFORGE PYTHON TESTDIR [PYTHON_WITH_H5PY]
set -uo pipefail
Q="$1"; PY="$2"; HERE="$3"; PYH5="${4:-}"
T="$(mktemp -d "${TMPDIR:-/tmp}/qforge-gate-XXXXXX")"
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect CODE PATTERN -- command...: the exit code and a pattern in stdout+stderr
expect() {
  local code="$1" pat="$2"; shift 3
  "$@" > "$T/out.txt" 2>&1; local rc=$?
  if [ "$rc" != "$code" ]; then bad "exit $rc (want $code): $*"; tail -20 "$T/out.txt"; return; fi
  if ! grep -q -- "$pat" "$T/out.txt"; then bad "no '$pat' in the output of: $*"; tail -20 "$T/out.txt"; return; fi
  ok "exit $code, '$pat': ${*:2:3}"
}
cat > "$T/tiny.yaml" <<'YAML'
name: tiny_gate
seed: 1
model: {family: mlp, hidden: [32]}
data: {dataset: fashion_mnist, train_subset: 512, test_subset: 256, batch_size: 64}
train: {epochs: 2, optimizer: {type: adamw, lr: 0.003, weight_decay: 0.0}}
modifiers:
  - quantization:
      calibration_batches: 2
      weights: {bits: 8, granularity: channel, method: minmax}
      inputs: {mode: static, bits: 8, symmetric: false, observer: minmax}
YAML
R="$T/run"
# --- the pipeline: train -> export -> validate -> eval -> summary
expect 0 "summary: $R" -- "$Q" run "$T/tiny.yaml" -o "$R" -q --threads 1
grep -q "stage train" "$T/out.txt" && grep -q "accuracy (runtime)" "$T/out.txt" && grep -q "validate PASS" "$T/out.txt" \
  && ok "summary rows" || bad "summary rows missing"
[ -f "$R/model.qf.h5" ] && [ -f "$R/summary.json" ] && ok "model.qf.h5 and summary.json written" || bad "pipeline outputs missing"
ck_time=$(stat -c %Y.%y "$R/checkpoint.pt"); qf_time=$(stat -c %y "$R/model.qf.h5")
# --- everything current: all stages skipped, nothing rewritten
expect 0 "stage train     current" -- "$Q" run "$T/tiny.yaml" -o "$R" -q --threads 1
grep -q "stage export    current" "$T/out.txt" && grep -q "stage validate  current" "$T/out.txt" && ok "export/validate skipped" || bad "stages not skipped"
[ "$ck_time" = "$(stat -c %Y.%y "$R/checkpoint.pt")" ] && [ "$qf_time" = "$(stat -c %y "$R/model.qf.h5")" ] \
  && ok "checkpoint and model untouched" || bad "a current stage rewrote its output"
# --- interrupted after 1 of 2 epochs, then resumed: the same model as the uninterrupted run
expect 1 "training stopped before the end" -- "$Q" run "$T/tiny.yaml" -o "$T/run2" -q --threads 1 --stop-after-epochs 1
expect 0 "stage train     resumed" -- "$Q" run "$T/tiny.yaml" -o "$T/run2" -q --threads 1
a1=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["accuracy"])' "$R/summary.json")
a2=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["accuracy"])' "$T/run2/summary.json")
[ "$a1" = "$a2" ] && ok "resumed run's accuracy equals the uninterrupted run's ($a1)" || bad "resumed $a2 != uninterrupted $a1"

# --- check: a new baseline from the run, then pass
B="$T/b.yaml"
expect 0 "wrote $B" -- "$Q" check "$R" --baseline "$B" --update-baseline --threads 1
expect 0 "PASS: no regression" -- "$Q" check "$R" --baseline "$B" --junit "$T/j.xml" --json "$T/j.json" --threads 1
"$PY" "$HERE/check_junit.py" "$T/j.xml" accuracy agreement validate size_bytes bits_per_weight && ok "junit well-formed" || bad "junit"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["passed"] and len(d["metrics"])==5, d' "$T/j.json" && ok "json" || bad "json"
# the .qf.h5 itself is a target too
expect 0 "PASS" -- "$Q" check "$R/model.qf.h5" --baseline "$B" --threads 1

# --- accuracy drops beyond the rule (the baseline claims 5 points more than the run reached)
acc=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["accuracy"])' "$R/summary.json")
"$PY" - "$B" "$T/b_acc.yaml" "$acc" <<'PY'
import sys, re
text = open(sys.argv[1]).read()
acc = float(sys.argv[3])
# rewrite the accuracy block as a flow map 5 points above what the run reached
text = re.sub(r"  accuracy:\n(    .*\n)+", "  accuracy: {value: %r, tolerance: 0.5}\n" % (acc + 5), text)
open(sys.argv[2], "w").write(text)
PY
expect 1 "FAIL accuracy" -- "$Q" check "$R" --baseline "$T/b_acc.yaml" --junit "$T/j2.xml" --threads 1
grep -q "REGRESSION: 1 of 5" "$T/out.txt" && ok "only accuracy failed" || bad "wrong failure count"
"$PY" "$HERE/check_junit.py" "$T/j2.xml" '!accuracy' agreement validate size_bytes bits_per_weight && ok "junit names the failure" || bad "junit failure"
# --- the size grows (the baseline's size is 10% smaller than the checkpoint's)
"$PY" - "$B" "$T/b_size.yaml" <<'PY'
import sys, re
t = open(sys.argv[1]).read()
t = re.sub(r"(  size_bytes:\n    value: )(\d+)", lambda m: m.group(1) + str(int(int(m.group(2)) * 0.9)), t)
open(sys.argv[2], "w").write(t)
PY
expect 1 "FAIL size_bytes" -- "$Q" check "$R" --baseline "$T/b_size.yaml" --threads 1
# --- agreement breaks: golden outputs that the runtime does not reproduce (valid file, digests intact)
if [ -n "$PYH5" ]; then
  cp "$R/model.qf.h5" "$T/broken.qf.h5"
  "$PYH5" "$HERE/break_golden.py" "$T/broken.qf.h5"
  expect 1 "FAIL agreement" -- "$Q" check "$T/broken.qf.h5" --baseline "$B" --junit "$T/j3.xml" --threads 1
  grep -q "FAIL validate" "$T/out.txt" && ok "validate fails too" || bad "validate did not fail"
  "$PY" "$HERE/check_junit.py" "$T/j3.xml" accuracy '!agreement' '!validate' size_bytes bits_per_weight && ok "junit" || bad "junit agreement"
else
  echo "SKIPPED: the broken-agreement case needs a python3 with h5py and numpy (Debian: python3-h5py)"
fi

# --- bad input: exit 2, naming file:line:key
printf 'recipe: tiny_gate\nmetrics:\n  accuracy: {value: 90, tolerance: lots}\n' > "$T/malformed.yaml"
expect 2 "malformed.yaml:3: key 'tolerance' in 'metrics.accuracy' must be a number, got 'lots'" -- "$Q" check "$R" --baseline "$T/malformed.yaml"
printf 'recipe: tiny_gate\nmetrics:\n  acuracy: {value: 90}\n' > "$T/typo.yaml"
expect 2 "typo.yaml:3: key 'acuracy' in 'metrics' is not a metric" -- "$Q" check "$R" --baseline "$T/typo.yaml"
expect 2 "cannot read the baseline" -- "$Q" check "$R" --baseline "$T/none.yaml"
sed 's/^recipe: .*/recipe: another_recipe/' "$B" > "$T/other.yaml"
expect 2 "the baseline is for recipe 'another_recipe'" -- "$Q" check "$R" --baseline "$T/other.yaml" --threads 1
expect 2 "no such file or run directory" -- "$Q" check "$T/missing_run" --baseline "$B"
printf 'recipe: tiny_gate\nmetrics:\n  perplexity: {value: 5}\n' > "$T/lm.yaml"
expect 2 "lm.yaml:3: metric 'perplexity' is not measured" -- "$Q" check "$R" --baseline "$T/lm.yaml" --threads 1
echo "not hdf5" > "$T/junk.qf.h5"
expect 2 "malformed checkpoint" -- "$Q" check "$T/junk.qf.h5" --baseline "$B"
"$Q" run "$T/tiny.yaml" -o "$T/run3" -q --threads 1 --stop-after-epochs 1 > /dev/null 2>&1
expect 2 "has not finished" -- "$Q" check "$T/run3" --baseline "$B"

# --- seeds: two seeds in parallel, their statistics, a baseline holding the distribution
S="$T/seeds"
expect 0 "across 2 seeds" -- "$Q" run "$T/tiny.yaml" -o "$S" --seeds 1,2 --jobs 2 --threads 1 -q
[ -f "$S/seed-1/summary.json" ] && [ -f "$S/seed-2/summary.json" ] && [ -f "$S/seeds.json" ] && ok "seed runs and seeds.json" || bad "seed outputs"
grep -q "^seed: 2" "$S/seed-2/recipe.yaml" && ok "the seed is stored in the run's recipe" || bad "seed not in recipe.yaml"
cp "$B" "$T/b_seeds.yaml"
expect 0 "updated" -- "$Q" check "$S" --baseline "$T/b_seeds.yaml" --update-baseline --threads 1
grep -q "    seeds: \[" "$T/b_seeds.yaml" && grep -q "^# Baseline for recipe" "$T/b_seeds.yaml" && ok "seeds written, comments kept" || bad "seeds update"
expect 0 "t-test" -- "$Q" check "$S" --baseline "$T/b_seeds.yaml" --threads 1
expect 0 "prediction" -- "$Q" check "$S/seed-1" --baseline "$T/b_seeds.yaml" --threads 1

# --- plots: training curves written by the pipeline, and qforge report across runs
if command -v gnuplot > /dev/null 2>&1; then
  head -c 8 "$R/curves.png" | od -An -c | grep -q "P   N   G" && ok "curves.png is a PNG" || bad "no curves.png"
  expect 0 "wrote $T/rep/report.md" -- "$Q" report "$R" "$S" -o "$T/rep/report.md"
  grep -q '!\[accuracy (%) against bits per weight\](report_quality_vs_bits.png)' "$T/rep/report.md" && [ -s "$T/rep/report_quality_vs_bits.png" ] \
    && ok "report embeds its plot" || bad "report plot"
  [ "$(grep -c '^| ' "$T/rep/report.md")" = 5 ] && ok "report table: header, rule, 3 runs" || bad "report table rows"
  expect 1 "no summary.json" -- "$Q" report "$T/run3" -o "$T/rep3.md"
else
  echo "gnuplot is not installed here (scripts/setup.sh installs gnuplot-nox): only its absence is tested"
  "$Q" run "$T/tiny.yaml" -o "$R" -q --threads 1 | grep -q "stage plots     skipped: gnuplot not found" && ok "pipeline says plots skipped" || bad "plots stage"
fi
expect 1 "gnuplot not found" -- env PATH=/nonexistent "$Q" report "$R" -o "$T/rep2.md"

echo "$fails failure(s)"
[ "$fails" = 0 ]
