// Spans built by the core and exported with fetch: batches to collector.endpoint, the encodings,
// span parenting, error classes, retry and the counters' accounting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { load } from './common.mjs';

const { create } = await load();

/** An OTLP/HTTP receiver on 127.0.0.1 answering each POST with the next scripted status (then 200). */
async function receiver(script = []) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      requests.push({ headers: req.headers, body });
      const status = script.shift() ?? 200;
      res.writeHead(status, status === 503 ? { 'retry-after': '0' } : {});
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/v1/traces`;
  return { url, requests, close: () => new Promise((r) => server.close(r)) };
}

function jsonSpans(requests) {
  return requests.flatMap((r) => JSON.parse(r.body.toString()).resourceSpans.flatMap((rs) =>
    rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => ({ ...s, resource: rs.resource })))));
}

function attr(span, key) {
  const a = span.attributes.find((x) => x.key === key);
  return a && (a.value.stringValue ?? Number(a.value.intValue));
}

const SERVER = 2;
const CLIENT = 3;

test('a proxy hop exports a SERVER span and its CLIENT child, as OTLP/JSON', async () => {
  const rx = await receiver();
  const tracer = create({
    service_name: 'bff',
    collector: { endpoint: rx.url, encoding: 'json', headers: { authorization: 'Bearer t' } },
  });
  const hop = tracer.start(
    { host: 'api.test:8080', 'user-agent': 'node-test', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    { method: 'GET', path: '/users/7?token=x', scheme: 'http', protocol: '1.1', client: '127.0.0.1:5555' },
  );
  hop.sent();
  hop.received();
  hop.end({ status: 200, route: '/users/:id' });
  assert.equal(await tracer.shutdown(), true);
  await rx.close();

  assert.equal(rx.requests.length, 1);
  assert.equal(rx.requests[0].headers['content-type'], 'application/json');
  assert.equal(rx.requests[0].headers.authorization, 'Bearer t');
  const spans = jsonSpans(rx.requests);
  const server = spans.find((s) => s.kind === SERVER);
  const client = spans.find((s) => s.kind === CLIENT);
  assert.equal(spans.length, 2);
  assert.equal(server.traceId, hop.traceId);
  assert.equal(server.parentSpanId, '00f067aa0ba902b7');
  assert.equal(client.parentSpanId, server.spanId);
  assert.equal(client.spanId, hop.spanId, 'the upstream call is the parent the upstream sees');
  assert.equal(server.name, 'GET /users/:id');
  assert.equal(attr(server, 'url.path'), '/users/7');
  assert.equal(attr(server, 'url.query'), 'token=REDACTED');
  assert.equal(attr(server, 'server.address'), 'api.test');
  assert.equal(attr(server, 'server.port'), 8080);
  assert.equal(attr(server, 'client.address'), '127.0.0.1');
  assert.equal(attr(server, 'http.response.status_code'), 200);
  assert.equal(client.events.length, 1, 'the first response byte');
  assert.ok(BigInt(client.startTimeUnixNano) >= BigInt(server.startTimeUnixNano));
  assert.ok(BigInt(client.endTimeUnixNano) <= BigInt(server.endTimeUnixNano));
  assert.ok(Math.abs(Number(BigInt(server.startTimeUnixNano) / 1000000n) - Date.now()) < 60_000);
  const service = server.resource.attributes.find((a) => a.key === 'service.name');
  assert.equal(service.value.stringValue, 'bff');
});

test('errors: a timeout, a refused connection, and a failure without a response', async () => {
  const rx = await receiver();
  const tracer = create({ collector: { endpoint: rx.url, encoding: 'json' }, span_kind: 'server' });
  const timeout = new DOMException('timed out', 'TimeoutError');
  const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
  tracer.start({}).end({ status: 504, error: timeout });
  tracer.start({}).end({ status: 502, error: refused });
  tracer.start({}).end({ error: new Error('handler threw') });
  tracer.start({}).end({ status: 404 });
  await tracer.shutdown();
  await rx.close();
  const types = jsonSpans(rx.requests).map((s) => [attr(s, 'error.type'), s.status?.code ?? 0]);
  assert.deepEqual(types, [['timeout', 2], ['connection_failure', 2], ['_OTHER', 2], [undefined, 0]]);
  const defaultName = jsonSpans(rx.requests)[0].resource.attributes.find((a) => a.key === 'service.name');
  assert.equal(defaultName.value.stringValue, 'unknown_service:node');
});

test('protobuf and gzip by default settings of the filter, in batches', async () => {
  const rx = await receiver();
  const tracer = create({
    collector: { endpoint: rx.url, compression: 'gzip' },
    span_kind: 'server',
    batch: { max_export_batch_size: 10, schedule_delay_ms: 60000 },
  });
  for (let i = 0; i < 25; i++) tracer.start({}).end({ status: 200 });
  await tracer.shutdown();
  await rx.close();
  assert.equal(rx.requests.length, 3, '10 + 10 + 5');
  for (const r of rx.requests) {
    assert.equal(r.headers['content-type'], 'application/x-protobuf');
    assert.equal(r.headers['content-encoding'], 'gzip');
  }
  const m = tracer.metrics();
  assert.equal(m['hoptrace.spans.exported'], 25);
  assert.equal(m['hoptrace.exports.ok'], 3);
});

test('a 503 is retried; the accounting holds', async () => {
  const rx = await receiver([503, 503]);
  const tracer = create({
    collector: { endpoint: rx.url, encoding: 'json' },
    span_kind: 'server',
    retry: { initial_backoff_ms: 100, max_backoff_ms: 200 },
  }, { log: () => {} });
  for (let i = 0; i < 4; i++) tracer.start({}).end({ status: 200 });
  assert.equal(await tracer.shutdown(), true);
  await rx.close();
  const m = tracer.metrics();
  assert.equal(rx.requests.length, 3);
  assert.equal(m['hoptrace.exports.retried'], 2);
  assert.equal(m['hoptrace.spans.exported'], 4);
  assert.equal(jsonSpans(rx.requests.slice(-1)).length, 4);
});

test('a collector that is down never blocks a request; drops are counted', async () => {
  const rx = await receiver();
  await rx.close(); // nothing listens there now
  const logs = [];
  const tracer = create(
    {
      collector: { endpoint: rx.url },
      span_kind: 'server',
      batch: { max_queue_size: 20, max_export_batch_size: 10, schedule_delay_ms: 1 },
      retry: { initial_backoff_ms: 100, max_backoff_ms: 100, max_elapsed_ms: 150 },
    },
    { log: (l) => logs.push(l) },
  );
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) tracer.start({}).end({ status: 200 });
  const syncMs = performance.now() - t0;
  assert.ok(syncMs < 2000, `${syncMs} ms for 200 hops`);
  await tracer.flush(1000);
  await new Promise((r) => setTimeout(r, 300));
  await tracer.shutdown(500);
  const m = tracer.metrics();
  const dropped = Object.entries(m).filter(([k]) => k.startsWith('hoptrace.spans.dropped.')).reduce((a, [, v]) => a + v, 0);
  assert.equal(m['hoptrace.requests'], 200);
  assert.equal(m['hoptrace.spans.sampled'], 200);
  assert.equal(m['hoptrace.spans.exported'], 0);
  assert.ok(m['hoptrace.spans.dropped.queue_full'] > 0);
  assert.equal(m['hoptrace.spans.sampled'], m['hoptrace.spans.exported'] + dropped + m['hoptrace.queue.spans']);
  assert.ok(logs.length > 0, 'export failures are logged');
});

