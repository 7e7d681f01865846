// The built package loads every way it is meant to, and refuses configurations as the filter does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { load, packageDir, vectors } from './common.mjs';

const dir = packageDir();

test('import gives create, and a working tracer', async () => {
  const mod = await load();
  assert.equal(typeof mod.create, 'function');
  assert.equal(mod.default.create, mod.create);
  const hop = mod.create({}).start({});
  assert.match(hop.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-03$/);
});

test('require gives create, and a working tracer', () => {
  const require = createRequire(import.meta.url);
  const { create } = require(dir);
  const hop = create({ sampler: 'always_off' }).start({});
  assert.match(hop.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-02$/);
  assert.equal(hop.sampled, false);
});

test('the package names its entry points, types and files', () => {
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'hoptrace');
  assert.deepEqual(pkg.exports['.'], { types: './index.d.ts', import: './index.mjs', require: './index.cjs' });
  for (const f of ['index.d.ts', 'index.mjs', 'index.cjs', 'api.mjs', 'api.cjs',
    'esm/hoptrace.js', 'esm/hoptrace.d.ts', 'esm/hoptrace_bg.wasm', 'cjs/hoptrace.js', 'cjs/hoptrace_bg.wasm']) {
    assert.ok(readdirSync(path.dirname(path.join(dir, f))).includes(path.basename(f)), f);
  }
});

test('the ES-module glue runs without Node: it loads the .wasm with fetch', async () => {
  const esm = path.join(dir, 'esm/hoptrace.js');
  // What an ES-module runtime (Deno, a worker, a browser) is handed: no Node built-ins, no require.
  const glue = readFileSync(esm, 'utf8');
  assert.doesNotMatch(glue, /require\(|from ['"]node:|process\./);
  const api = readFileSync(path.join(dir, 'api.mjs'), 'utf8');
  assert.doesNotMatch(api, /require\(|from ['"]|process\./);
  // Its own init path, fed by fetch over HTTP as a runtime without file access would be.
  const wasmBytes = readFileSync(path.join(dir, 'esm/hoptrace_bg.wasm'));
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/wasm' });
    res.end(wasmBytes);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${server.address().port}/hoptrace_bg.wasm`;
    // A fresh module instance: the query string keeps it apart from the one index.mjs set up.
    const wasm = await import(`${esm}?fresh`);
    await wasm.default({ module_or_path: fetch(url) });
    const { makeApi } = await import(path.join(dir, 'api.mjs'));
    const { create } = makeApi(wasm, 'unknown_service:javascript');
    const hop = create({ sampler: 'always_on' }).start([['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00']]);
    assert.equal(hop.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(hop.sampled, true);
  } finally {
    server.close();
  }
});

test('configuration errors are the filter\'s, naming the field', async () => {
  const { create } = await load();
  for (const { config, field, message } of vectors('config-errors.json').cases) {
    assert.throws(() => create(config), (e) => e.message === message && e.field === field, config);
  }
  assert.throws(
    () => create({ collector: { endpoint: 'otlp_collector' } }),
    (e) => e.field === 'collector.endpoint' &&
      e.message === 'collector.endpoint: must be an http:// or https:// URL, got "otlp_collector"',
  );
  assert.throws(() => create({}).start({}, { kind: 'sideways' }), /kind: must be/);
});

test('the Envoy-only collector keys are accepted, so one configuration serves both', async () => {
  const { create } = await load();
  const t = create({ collector: { cluster: 'otlp', authority: 'collector', path: '/v1/traces', endpoint: 'https://collector.example/v1/traces' } });
  assert.equal(t.endpoint, 'https://collector.example/v1/traces');
  assert.equal(create({}).endpoint, 'http://localhost:4318/v1/traces');
});
