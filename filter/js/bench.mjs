// Per-request cost of the hoptrace npm package in Node: tracer.start + hop.inject + hop.end for a
// typical proxied request, at several sampling settings, exports going to a fetch that answers at
// once (so encoding and batching are counted, the network is not). A measurement to read, not a
// test: `make js-bench`. Prints the package's .wasm size too.
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { create } from '../../target/js/hoptrace/index.mjs';

const N = Number(process.env.N ?? 50000);
const ROUNDS = 5;
const wasm = fileURLToPath(new URL('../../target/js/hoptrace/esm/hoptrace_bg.wasm', import.meta.url));

const ok = async () => new Response(null, { status: 200 });
const headers = {
  host: 'api.example.com',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) bench',
  accept: 'application/json',
  'accept-encoding': 'gzip, br',
  'accept-language': 'en',
  'x-request-id': '5b1e6d0c-0d2a-4c3e-9d51-2f7a3b0e6c11',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'congo=t61rcWkgMzE',
};
const options = { method: 'GET', path: '/users/7?full=1', scheme: 'http', protocol: '1.1', client: '10.0.0.1:50000' };

// Requests in chunks, yielding to the event loop between them so that the export timer runs as it
// would between real requests; the clock runs throughout, so export work is counted too.
const CHUNK = 250;
async function run(tracer, incoming) {
  const t0 = process.hrtime.bigint();
  for (let done = 0; done < N; done += CHUNK) {
    for (let i = 0; i < CHUNK; i++) {
      const hop = tracer.start(incoming, options);
      hop.inject({ ...incoming });
      hop.sent();
      hop.received();
      hop.end({ status: 200 });
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return Number(process.hrtime.bigint() - t0) / N / 1000;
}

const rootHeaders = { ...headers };
delete rootHeaders.traceparent;
delete rootHeaders.tracestate;
const variants = [
  ['sampled 100 % (SERVER + CLIENT spans, protobuf)', { sampler: 'always_on' }, headers],
  ['sampled 100 %, OTLP/JSON', { sampler: 'always_on', collector: { encoding: 'json' } }, headers],
  ['unsampled (parent not sampled)', {}, { ...headers, traceparent: headers.traceparent.replace(/01$/, '00') }],
  ['root at ratio 0.01', { sampler_arg: 0.01 }, rootHeaders],
];

const empty = () => { for (let i = 0; i < N; i++) ({ ...headers }); };
console.log(`hoptrace_bg.wasm: ${statSync(wasm).size} bytes; Node ${process.version}; ${N} requests x ${ROUNDS} rounds, median`);
for (const [name, config, incoming] of variants) {
  const tracer = create(
    { ...config, batch: { max_queue_size: 65536, max_queue_bytes: 67108864, max_export_batch_size: 512, max_concurrent_exports: 4 } },
    { fetch: ok, tickMs: 5 },
  );
  await run(tracer, incoming); // warm-up
  const times = [];
  for (let r = 0; r < ROUNDS; r++) {
    times.push(await run(tracer, incoming));
  }
  times.sort((a, b) => a - b);
  const m = tracer.metrics();
  await tracer.shutdown(2000);
  console.log(`${name.padEnd(48)} ${times[2].toFixed(2)} us/request  (spans exported ${m['hoptrace.spans.exported']}, dropped ${m['hoptrace.spans.dropped.queue_full']})`);
}
const t0 = process.hrtime.bigint();
empty();
console.log(`${'(baseline: copying the headers object only)'.padEnd(48)} ${(Number(process.hrtime.bigint() - t0) / N / 1000).toFixed(2)} us/request`);
