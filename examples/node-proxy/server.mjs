// A plain node:http reverse proxy traced by hoptrace: every request gets a SERVER span, its upstream
// fetch a CLIENT span, and the upstream a traceparent naming that CLIENT span, decided by the same
// core (and so the same sampling) as the hoptrace Envoy filter.
//
//   UPSTREAM=http://127.0.0.1:8080 LISTEN=127.0.0.1:3000 \
//   HOPTRACE_CONFIG='{"service_name":"node-proxy","collector":{"endpoint":"http://127.0.0.1:4318/v1/traces"}}' \
//   node examples/node-proxy/server.mjs
//
// In a project of your own: import { create } from 'hoptrace';
import http from 'node:http';
import { Readable } from 'node:stream';
import { create } from '../../target/js/hoptrace/index.mjs';

const upstream = new URL(process.env.UPSTREAM ?? 'http://127.0.0.1:8080');
const [host, port] = (process.env.LISTEN ?? '127.0.0.1:3000').split(/:(?=\d+$)/);
const timeoutMs = Number(process.env.UPSTREAM_TIMEOUT_MS ?? 30000);
const tracer = create(process.env.HOPTRACE_CONFIG ?? '{}');

// Connection-level headers are not forwarded (RFC 9110 section 7.6.1); `host` and the length are
// set by fetch for the new connection, and fetch hands back a decoded body.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'host', 'content-length',
]);
const RESPONSE_SKIP = new Set([...HOP_BY_HOP, 'content-encoding']);

function peer(socket) {
  const ip = socket.remoteAddress ?? '';
  return ip.includes(':') ? `[${ip}]:${socket.remotePort}` : `${ip}:${socket.remotePort}`;
}

async function proxy(req, res) {
  // One hop: SERVER span for this request, CLIENT span for the fetch below.
  const hop = tracer.start(req.rawHeaders, {
    kind: 'server_and_client',
    method: req.method,
    path: req.url,
    scheme: 'http',
    authority: req.headers.host,
    protocol: req.httpVersion,
    client: peer(req.socket),
  });
  const lines = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (!HOP_BY_HOP.has(req.rawHeaders[i].toLowerCase())) lines.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  try {
    hop.sent();
    const answer = await fetch(new URL(req.url, upstream), {
      method: req.method,
      headers: hop.inject(lines),
      body: hasBody ? Readable.toWeb(req) : undefined,
      duplex: 'half',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    hop.received();
    const headers = [];
    answer.headers.forEach((value, name) => {
      if (!RESPONSE_SKIP.has(name)) headers.push([name, value]);
    });
    res.writeHead(answer.status, headers.flat());
    if (answer.body) for await (const chunk of answer.body) res.write(chunk);
    res.end();
    hop.end({ status: answer.status });
  } catch (error) {
    const status = error?.name === 'TimeoutError' ? 504 : 502;
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(res.headersSent ? undefined : `upstream failed: ${error?.message}\n`);
    hop.end({ status, error });
  }
}

const server = http.createServer((req, res) => {
  proxy(req, res).catch((error) => {
    res.destroy(error);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(port), host, () => {
  const { address, port: bound } = server.address();
  // The test harness reads this line for the port.
  console.log(`node-proxy listening on ${address}:${bound} -> ${upstream.origin}`);
});

// Spans still queued leave before the process does.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    tracer.shutdown(3000).finally(() => process.exit(0));
  });
}
