// llama.cpp's side of the race (bench/llama_race.sh), through node-llama-cpp 3.21.1's prebuilt
// CPU binaries (llama.cpp 5b4ebc5; installed by scripts/setup.sh in tests/gguf/llama_cpp):
//
//   node bench/peers/llama_cpp_race.mjs MODEL.gguf --threads T [--pp 128,512] [--tg 128]
//        [--tg-prompt 8] [--reps 1] [--probs IDS_CSV OUT.f32]
//
// Wall-clock tokens/s measured around the calls, as bench/llama_race_qforge.cpp measures qforge:
//   pp N   evaluateWithoutGeneratingNewTokens on N ids in a cleared sequence (one batch: batch
//          size = context size; llama.cpp computes the last position's logits only);
//   tg N   N generated tokens (greedy) after a short prompt; the prompt and the first token are
//          not timed.
// Flash attention off, F16 K/V cache (llama.cpp's default), `threads: {ideal: T, min: T}`. Prompt
// ids: the same linear congruential sequence as the qforge side. One JSON object per line.
// --probs: the next-token probabilities after IDS (full vocabulary) as float32, for the
// same-model check (bench/llama_race_check.py).
import fs from "node:fs";
import path from "node:path";
import {createRequire} from "node:module";
import {fileURLToPath, pathToFileURL} from "node:url";

const args = process.argv.slice(2);
const opt = {model: null, threads: 1, pp: [128, 512], tg: 128, tgPrompt: 8, reps: 1, probs: null};
for (let i = 0; i < args.length; ++i) {
  const a = args[i];
  const val = () => { if (i + 1 >= args.length) throw new Error(a + " needs a value"); return args[++i]; };
  if (a === "--threads") opt.threads = Number(val());
  else if (a === "--pp") opt.pp = val().split(",").filter(s => s).map(Number);
  else if (a === "--tg") opt.tg = Number(val());
  else if (a === "--tg-prompt") opt.tgPrompt = Number(val());
  else if (a === "--reps") opt.reps = Number(val());
  else if (a === "--probs") opt.probs = [val().split(",").map(Number), val()];
  else if (a === "--help" || a === "-h") {
    console.log("usage: node llama_cpp_race.mjs MODEL.gguf --threads T [--pp 128,512] [--tg 128] [--tg-prompt 8] [--reps 1] [--probs IDS_CSV OUT.f32]");
    process.exit(0);
  } else if (a.startsWith("--")) throw new Error("unknown option " + a);
  else opt.model = a;
}
if (!opt.model) { console.error("llama_cpp_race: no model (--help)"); process.exit(2); }

// node-llama-cpp lives in tests/gguf/llama_cpp/node_modules (the oracle's install).
const here = path.dirname(fileURLToPath(import.meta.url));
let getLlama, LlamaLogLevel;
try {
  const req = createRequire(path.join(here, "../../tests/gguf/llama_cpp/package.json"));
  ({getLlama, LlamaLogLevel} = await import(pathToFileURL(req.resolve("node-llama-cpp")).href));
} catch (e) {
  console.log("SKIPPED: node-llama-cpp is not installed (cd tests/gguf/llama_cpp && npm ci --omit=optional): " + e.message);
  process.exit(77);
}

// The race's prompt ids (bench/llama_race_qforge.cpp's prompt_ids): 64-bit LCG, ids below vocab - 256.
function promptIds(n, vocab) {
  const v = [];
  let s = 12345n;
  const M = (1n << 64n) - 1n;
  for (let i = 0; i < n; ++i) {
    s = (s * 6364136223846793005n + 1442695040888963407n) & M;
    v.push(Number((s >> 33n) % BigInt(vocab - 256)));
  }
  return v;
}

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const t0 = Date.now();
const model = await llama.loadModel({modelPath: opt.model, gpuLayers: 0, useMmap: true});
const vocab = Number(model.fileInfo.metadata.llama.vocab_size);
const ctxSize = Math.max(1024, ...opt.pp) + 64;
const context = await model.createContext({
  contextSize: ctxSize, batchSize: ctxSize, threads: {ideal: opt.threads, min: opt.threads}, flashAttention: false,
});
console.error(`llama.cpp: loaded ${opt.model} in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${opt.threads} thread(s), vocab ${vocab}`);
const seq = context.getSequence();
const now = () => Number(process.hrtime.bigint()) / 1e9;
// The process's CPU seconds (user + system, every thread: llama.cpp's workers run in this process).
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const line = (test, n, dt, dc) => console.log(JSON.stringify({engine: "llama.cpp", test, tokens: n, seconds: +dt.toFixed(4),
  tokens_per_s: +(n / dt).toFixed(3), cpu_seconds: +dc.toFixed(4), tokens_per_cpu_s: +(n / dc).toFixed(3)}));

if (opt.probs) {
  const [ids, out] = opt.probs;
  await seq.clearHistory();
  const items = ids.map((id, i) => [id, i === ids.length - 1 ? {generateNext: {probabilities: true}} : undefined]);
  const res = await seq.controlledEvaluate(items.map(([id, o]) => (o ? [id, o] : id)));
  const probs = res[ids.length - 1].next.probabilities;
  const a = new Float32Array(vocab);
  for (const [tok, p] of probs) if (tok < vocab) a[tok] = p;
  fs.writeFileSync(out, Buffer.from(a.buffer));
  console.log(JSON.stringify({engine: "llama.cpp", probs: out, vocab}));
  process.exit(0);
}

{  // warm-up: a short prompt (page-in of the mapped weights, thread start)
  await seq.clearHistory();
  await seq.evaluateWithoutGeneratingNewTokens(promptIds(4, vocab));
}
for (let r = 0; r < opt.reps; ++r) {
  for (const n of opt.pp) {
    const ids = promptIds(n, vocab);
    await seq.clearHistory();
    const a = now(), c = cpu();
    await seq.evaluateWithoutGeneratingNewTokens(ids);
    line(`pp${n}`, n, now() - a, cpu() - c);
  }
  if (opt.tg > 0) {
    await seq.clearHistory();
    let count = 0, a = 0, c = 0;
    for await (const tok of seq.evaluate(promptIds(opt.tgPrompt, vocab), {temperature: 0, yieldEogToken: true})) {
      void tok;
      if (count === 0) { a = now(); c = cpu(); }  // prompt + first token done
      if (count === opt.tg) break;
      ++count;
    }
    line(`tg${opt.tg}`, opt.tg, now() - a, cpu() - c);
  }
}
await context.dispose();
await model.dispose();
