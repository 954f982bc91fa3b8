// ONNX Runtime peer of `qforge bench`: times a model written by bench/peers/build_onnx.py with the
// CPU execution provider, like qforge bench (median images/s at --batch, median batch-1 latency).
//
//   node bench/peers/ort/ort_bench.mjs DIR [--model model.onnx] [--batch 256] [--threads 2]
//        [--iters 20] [--warmup 3] [--accuracy] [--dump-optimized FILE] [--json]
//
// DIR holds model.onnx (+ model_fp32.onnx) and inputs.json (golden case) from build_onnx.py, and
// test_images.f32 / test_labels.u8 for --accuracy. Session: CPU EP, intra-op threads = --threads,
// inter-op 1, sequential, graph optimization level "all" (where ORT fuses the QDQ pattern into
// its int8 kernels; --dump-optimized writes the optimized graph to check which kernels ran).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const a = { dir: null, model: 'model.onnx', batch: 256, threads: 2, iters: 20, warmup: 3, latencyIters: 200,
              accuracy: false, dump: null, json: false };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const next = () => argv[++i];
    if (k === '--model') a.model = next();
    else if (k === '--batch') a.batch = parseInt(next(), 10);
    else if (k === '--threads') a.threads = parseInt(next(), 10);
    else if (k === '--iters') a.iters = parseInt(next(), 10);
    else if (k === '--warmup') a.warmup = parseInt(next(), 10);
    else if (k === '--latency-iters') a.latencyIters = parseInt(next(), 10);
    else if (k === '--accuracy') a.accuracy = true;
    else if (k === '--dump-optimized') a.dump = next();
    else if (k === '--json') a.json = true;
    else if (k === '-h' || k === '--help') {
      console.log(fs.readFileSync(new URL(import.meta.url)).toString().split('\n').filter(l => l.startsWith('//')).join('\n'));
      process.exit(0);
    } else if (!a.dir) a.dir = k;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.dir) throw new Error('usage: ort_bench.mjs DIR [options] (see --help)');
  return a;
}

const median = v => { const s = [...v].sort((x, y) => x - y); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

function batched(golden, shape, b) {
  const row = golden.length / shape[0];
  const out = new Float32Array(b * row);
  for (let i = 0; i < b; ++i) out.set(golden.subarray((i % shape[0]) * row, (i % shape[0] + 1) * row), i * row);
  return new ort.Tensor('float32', out, [b, ...shape.slice(1)]);
}

async function timed(session, feeds, iters, warmup, maxS) {
  for (let i = 0; i < warmup; ++i) await session.run(feeds);
  const secs = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < iters; ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    secs.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (maxS && i >= 4 && Number(process.hrtime.bigint() - start) / 1e9 > maxS) break;
  }
  return secs;
}

const argmax = (a, off, n) => { let b = 0; for (let j = 1; j < n; ++j) if (a[off + j] > a[off + b]) b = j; return b; };

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const meta = JSON.parse(fs.readFileSync(path.join(a.dir, 'inputs.json')));
  const opts = { executionProviders: ['cpu'], intraOpNumThreads: a.threads, interOpNumThreads: 1,
                 executionMode: 'sequential', graphOptimizationLevel: 'all' };
  if (a.dump) opts.optimizedModelFilePath = a.dump;
  const session = await ort.InferenceSession.create(path.join(a.dir, a.model), opts);
  const inName = session.inputNames[0], outName = session.outputNames[0];
  const golden = Float32Array.from(meta.golden_inputs);
  const shape = meta.input_shape;

  // Same model as the checkpoint's contract? Golden case first, then (optionally) the test set.
  const gy = meta.golden_outputs, classes = meta.golden_output_shape[1];
  const y0 = (await session.run({ [inName]: batched(golden, shape, shape[0]) }))[outName].data;
  let agree = 0, maxAbs = 0, maxDiff = 0;
  for (const v of gy) maxAbs = Math.max(maxAbs, Math.abs(v));
  for (let i = 0; i < shape[0]; ++i) agree += argmax(y0, i * classes, classes) === argmax(gy, i * classes, classes);
  for (let i = 0; i < gy.length; ++i) maxDiff = Math.max(maxDiff, Math.abs(y0[i] - gy[i]));
  let accuracy = null;
  if (a.accuracy) {
    const xb = fs.readFileSync(path.join(a.dir, 'test_images.f32'));
    const x = new Float32Array(xb.buffer, xb.byteOffset, xb.byteLength / 4);
    const labels = fs.readFileSync(path.join(a.dir, 'test_labels.u8'));
    const row = shape.slice(1).reduce((p, q) => p * q, 1);
    let correct = 0;
    for (let i = 0; i < labels.length; i += 500) {
      const n = Math.min(500, labels.length - i);
      const t = new ort.Tensor('float32', x.slice(i * row, (i + n) * row), [n, ...shape.slice(1)]);
      const y = (await session.run({ [inName]: t }))[outName].data;
      for (let j = 0; j < n; ++j) correct += argmax(y, j * classes, classes) === labels[i + j];
    }
    accuracy = 100 * correct / labels.length;
  }

  const secs = await timed(session, { [inName]: batched(golden, shape, a.batch) }, a.iters, a.warmup, 0);
  const lat = await timed(session, { [inName]: batched(golden, shape, 1) }, a.latencyIters, Math.max(a.warmup, 3), 2.0);
  const med = median(secs);
  const res = { impl: 'ort', engine: 'cpu-ep', model: a.model, ort: ort.env.versions.node, checkpoint: meta.checkpoint,
                batch: a.batch, threads: a.threads, items_per_s: a.batch / med, ms_per_run_median: med * 1e3,
                ms_per_run_min: Math.min(...secs) * 1e3, ms_per_run_max: Math.max(...secs) * 1e3, iters: secs.length,
                latency_ms_b1: median(lat) * 1e3, latency_iters: lat.length,
                golden_top1_agreement: agree / shape[0], golden_max_diff_units: maxDiff / (maxAbs / 127 || 1),
                accuracy, checkpoint_metrics: meta.metrics };
  if (a.json) { console.log(JSON.stringify(res)); return; }
  console.log(`${a.dir}/${a.model} (onnxruntime-node ${res.ort}, CPU EP, intra-op threads ${a.threads})`);
  console.log(`  batch ${a.batch}  ${res.items_per_s.toFixed(1)} images/s   (median of ${secs.length} runs: ${res.ms_per_run_median.toFixed(3)} ms)`);
  console.log(`  batch 1 latency ${res.latency_ms_b1.toFixed(3)} ms   (median of ${lat.length} runs)`);
  console.log(`  golden case 0: top-1 agreement ${(100 * res.golden_top1_agreement).toFixed(2)}%, max diff ${res.golden_max_diff_units.toFixed(3)} units`);
  const fin = Array.isArray(meta.metrics) ? meta.metrics.filter(m => m.event === 'final').pop() : meta.metrics;
  if (accuracy !== null) console.log(`  Fashion-MNIST test accuracy ${accuracy.toFixed(2)}% (the checkpoint's run: ${fin ? fin.accuracy : 'n/a'})`);
}

main().catch(e => { console.error(`ort_bench: ${e.stack || e}`); process.exit(1); });
