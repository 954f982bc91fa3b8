// Perplexity measured by llama.cpp itself (node-llama-cpp 3.21.1's prebuilt CPU binaries,
// llama.cpp commit 5b4ebc5) on token ids given directly (no tokenizer involved), the way
// qforge's trainer evaluates a language model: non-overlapping windows of CONTEXT + 1 tokens
// starting at 0, CONTEXT, 2 CONTEXT, ...; each window is a fresh sequence (no BOS); the model
// reads its first CONTEXT tokens and is scored on predicting tokens 1 .. CONTEXT.
//
//   node perplexity.mjs --ids IDS.bin [--u8 | --i32] [--context 256] [--windows 256] [--threads 2]
//                       [--json OUT.json] MODEL.gguf...
//
// IDS.bin: the held-out token stream, one byte per token (--u8, default: byte-level models) or
// little-endian int32. Prints per model: tokens scored, mean negative log-likelihood (nats),
// perplexity, bits per token, and the windows' std of mean NLL. Exit 77 when node-llama-cpp is
// not installed.
import fs from "node:fs";

const args = process.argv.slice(2);
const opt = {ids: null, i32: false, context: 256, windows: 256, threads: 2, json: null, models: []};
for (let i = 0; i < args.length; ++i) {
  const a = args[i];
  const val = () => { if (i + 1 >= args.length) throw new Error(a + " needs a value"); return args[++i]; };
  if (a === "--ids") opt.ids = val();
  else if (a === "--u8") opt.i32 = false;
  else if (a === "--i32") opt.i32 = true;
  else if (a === "--context") opt.context = Number(val());
  else if (a === "--windows") opt.windows = Number(val());
  else if (a === "--threads") opt.threads = Number(val());
  else if (a === "--json") opt.json = val();
  else if (a === "--help" || a === "-h") {
    console.log("usage: node perplexity.mjs --ids IDS.bin [--u8|--i32] [--context N] [--windows N] [--threads N] [--json OUT] MODEL.gguf...");
    process.exit(0);
  } else if (a.startsWith("--")) throw new Error("unknown option " + a);
  else opt.models.push(a);
}
if (!opt.ids || opt.models.length === 0) {
  console.error("usage: node perplexity.mjs --ids IDS.bin [--u8|--i32] [--context N] [--windows N] [--threads N] [--json OUT] MODEL.gguf...");
  process.exit(2);
}
if (!(opt.context > 0 && opt.windows > 0)) throw new Error("--context and --windows must be positive");

let getLlama, LlamaLogLevel;
try {
  ({getLlama, LlamaLogLevel} = await import("node-llama-cpp"));
} catch (e) {
  console.log("SKIPPED: node-llama-cpp is not installed (cd tests/gguf/llama_cpp && npm ci --omit=optional): " + e.message);
  process.exit(77);
}

const raw = fs.readFileSync(opt.ids);
const ids = opt.i32 ? Array.from(new Int32Array(raw.buffer, raw.byteOffset, Math.floor(raw.length / 4))) : Array.from(raw);
const starts = [];
for (let s = 0; s + opt.context + 1 <= ids.length && starts.length < opt.windows; s += opt.context) starts.push(s);
if (starts.length < opt.windows)
  console.log(`note: ${opt.ids} holds ${starts.length} windows of ${opt.context + 1} tokens (asked for ${opt.windows})`);

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const results = {};
for (const modelPath of opt.models) {
  const t0 = Date.now();
  const model = await llama.loadModel({modelPath, gpuLayers: 0});
  const context = await model.createContext({
    contextSize: opt.context, batchSize: opt.context, threads: opt.threads, flashAttention: false,
    experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
  });
  let nll = 0, n = 0;
  const perWindow = [];
  const seq = context.getSequence();
  for (const s of starts) {
    await seq.clearHistory();  // each window is a fresh sequence
    const input = ids.slice(s, s + opt.context);
    const out = await seq.controlledEvaluate(input.map(id => [id, {generateNext: {probabilities: true}}]));
    let w = 0;
    for (let t = 0; t < opt.context; ++t) {
      const p = out[t].next.probabilities.get(ids[s + t + 1]) ?? 0;
      const l = -Math.log(p);
      if (!Number.isFinite(l)) throw new Error(`${modelPath}: probability 0 for token ${ids[s + t + 1]} at ${s + t + 1}`);
      w += l;
    }
    nll += w;
    n += opt.context;
    perWindow.push(w / opt.context);
  }
  seq.dispose();
  const mean = nll / n;
  const m = perWindow.reduce((a, b) => a + b, 0) / perWindow.length;
  const sd = Math.sqrt(perWindow.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, perWindow.length - 1));
  results[modelPath] = {tokens: n, windows: starts.length, mean_nll: mean, perplexity: Math.exp(mean),
                        bits_per_token: mean / Math.LN2, window_nll_std: sd, seconds: (Date.now() - t0) / 1000};
  console.log(`${modelPath}: ${n} tokens in ${starts.length} windows, NLL ${mean.toFixed(5)}, perplexity ` +
              `${Math.exp(mean).toFixed(4)}, bits/token ${(mean / Math.LN2).toFixed(4)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  await context.dispose();
  await model.dispose();
}
if (opt.json) fs.writeFileSync(opt.json, JSON.stringify({options: {...opt, models: undefined}, results}, null, 1));
