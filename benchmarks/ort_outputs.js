// ort_outputs.js MODEL.onnx DIR — runs MODEL once with ONNX Runtime's Node binding on the
// inputs DIR/inputs.json describes (raw little-endian files in DIR) and writes each output as
// DIR/ort_N.raw, with names, types and dims in DIR/outputs.json. compare.py drives it.
const path = require('path');
const fs = require('fs');
const ortDir = process.env.ORT_DIR || path.join(process.env.HOME, '.cache', 'edgecc-ort');
const ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));

const ARRAYS = {float32: Float32Array, float16: Uint16Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array,
                int8: Int8Array, uint8: Uint8Array, bool: Uint8Array};

async function main() {
  const [model, dir] = process.argv.slice(2);
  const inputs = JSON.parse(fs.readFileSync(path.join(dir, 'inputs.json'), 'utf8'));
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 1, graphOptimizationLevel: 'all'});
  const feeds = {};
  for (const inp of inputs) {
    const buf = fs.readFileSync(path.join(dir, inp.file));
    const Arr = ARRAYS[inp.type];
    const data = new Arr(buf.buffer, buf.byteOffset, buf.length / Arr.BYTES_PER_ELEMENT);
    feeds[inp.name] = new ort.Tensor(inp.type, data, inp.shape);
  }
  const results = await session.run(feeds);
  const meta = session.outputNames.map((name, i) => {
    const t = results[name];
    fs.writeFileSync(path.join(dir, `ort_${i}.raw`), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    return {name, type: t.type, dims: t.dims};
  });
  fs.writeFileSync(path.join(dir, 'outputs.json'), JSON.stringify(meta));
}

main().catch((e) => { console.error(`ort_outputs: ${e.message}`); process.exit(1); });
