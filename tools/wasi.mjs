// Runs a wasm32-wasip1 program under Node's WASI, on V8 as the browser runs our wasm, with
// the whole filesystem visible at the same paths. A cargo runner for the CPU fallback's code:
//   CARGO_TARGET_WASM32_WASIP1_RUNNER="node tools/wasi.mjs" cargo test --target wasm32-wasip1 ...
//   node tools/wasi.mjs target/wasm32-wasip1/release/examples/pass.wasm "$PWD/static/models/conan-mini/q8"
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { WASI } from 'node:wasi';

const [program, ...args] = process.argv.slice(2);
if (!program) {
  console.error('usage: node tools/wasi.mjs PROGRAM.wasm [ARGS...]');
  process.exit(2);
}
// Relative paths in the arguments are the caller's: the program's working directory is /.
const wasi = new WASI({ version: 'preview1', args: [program, ...args], env: process.env, preopens: { '/': '/' }, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(resolve(program)));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
