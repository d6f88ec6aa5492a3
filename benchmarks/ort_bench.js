// ort_bench.js MODEL.onnx MODEL.json ITERS THREADS — times one model with ONNX Runtime's Node
// binding and prints "median_us X" and "min_us X". Session options as for a fair comparison:
// THREADS intra-op threads, sequential execution, all graph optimizations. Inputs are
// deterministic (a fixed LCG), like `edgecc bench`'s. ONNX Runtime is looked up in
// $ORT_DIR/node_modules (benchmarks/setup_ort.sh installs it there).
const path = require('path');
const fs = require('fs');
const ortDir = process.env.ORT_DIR || path.join(process.env.HOME, '.cache', 'edgecc-ort');
const ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));

function deterministic(n) {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = (s >>> 8) / (1 << 24) * 2 - 1;
  }
  return a;
}

async function main() {
  const [model, meta, iters, threads] = process.argv.slice(2);
  const info = JSON.parse(fs.readFileSync(meta, 'utf8'));
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = {};
  for (const inp of info.inputs) {
    if (inp.type !== 'float') throw new Error(`input ${inp.name}: ${inp.type} inputs are not supported`);
    const n = inp.shape.reduce((a, b) => a * b, 1);
    feeds[inp.name] = new ort.Tensor('float32', deterministic(n), inp.shape);
  }
  await session.run(feeds); // warm-up
  const t = [];
  for (let i = 0; i < Number(iters); i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    t.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  t.sort((a, b) => a - b);
  console.log(`median_us ${t[Math.floor(t.length / 2)].toFixed(1)}`);
  console.log(`min_us ${t[0].toFixed(1)}`);
}

main().catch((e) => { console.error(`ort_bench: ${e.message}`); process.exit(1); });
