// Run a TensorFlow.js graph model on the pure-JS CPU backend: the reference
// ("source runtime") side of tests/test_tfjs_parity.py.
//
//   node embed.mjs MODEL_JSON INPUT_BIN N H W OUT_BIN OUTPUT_NODE
//
// INPUT_BIN holds N*H*W*3 little-endian float32 values (NHWC). The model is
// fed through its first input and OUTPUT_NODE is written to OUT_BIN as
// little-endian float32; its shape is printed to stdout as JSON.
// Install once with `npm ci --prefix tests/tfjs`.

import fs from 'node:fs';
import path from 'node:path';

import tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import tfconv from '@tensorflow/tfjs-converter';

const args = process.argv.slice(2);
if (args.length !== 7) {
  console.error('usage: node embed.mjs MODEL_JSON INPUT_BIN N H W OUT_BIN OUTPUT_NODE');
  process.exit(2);
}
const [modelJsonPath, inputPath, nStr, hStr, wStr, outPath, outputNode] = args;
const [n, h, w] = [nStr, hStr, wStr].map(Number);

// An IOHandler that reads model.json and its weight shards from disk.
function fileHandler(jsonPath) {
  const dir = path.dirname(jsonPath);
  return {
    async load() {
      const modelJSON = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
      return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const shards = manifest.flatMap((group) => group.paths).map((p) => {
          const buf = fs.readFileSync(path.join(dir, p));
          return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
        });
        return [tf.io.getWeightSpecs(manifest), tf.io.concatenateArrayBuffers(shards)];
      });
    },
  };
}

async function main() {
  await tf.setBackend('cpu');
  await tf.ready();

  const raw = fs.readFileSync(inputPath);
  const expected = n * h * w * 3 * 4;
  if (raw.byteLength !== expected) {
    throw new Error(`${inputPath}: ${raw.byteLength} bytes, expected ${expected} for [${n},${h},${w},3] float32`);
  }
  // Copy into a fresh, aligned buffer before viewing it as float32.
  const pixels = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));

  const model = await tfconv.loadGraphModel(fileHandler(modelJsonPath));
  const inputName = model.inputs[0].name;
  const input = tf.tensor4d(pixels, [n, h, w, 3], 'float32');
  const output = model.execute({ [inputName]: input }, outputNode);
  const values = output.dataSync();
  if (!(values instanceof Float32Array)) throw new Error(`output dtype is ${output.dtype}, not float32`);

  fs.writeFileSync(outPath, Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  console.log(JSON.stringify({ backend: tf.getBackend(), tfjs: tf.version_core, input: inputName, shape: output.shape }));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
