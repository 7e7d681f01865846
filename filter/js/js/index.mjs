// hoptrace as an ES module: Node (`import`) and other ES-module runtimes (Deno, workers, browsers).
import * as wasm from './esm/hoptrace.js';
import { makeApi } from './api.mjs';

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
const module = new URL('./esm/hoptrace_bg.wasm', import.meta.url);
if (isNode && module.protocol === 'file:') {
  // Node's fetch does not read file: URLs.
  const { readFile } = await import('node:fs/promises');
  wasm.initSync({ module: await readFile(module) });
} else {
  await wasm.default({ module_or_path: module });
}

const api = makeApi(wasm, isNode ? 'unknown_service:node' : 'unknown_service:javascript');

/** See index.d.ts. */
export const create = api.create;
export default api;
