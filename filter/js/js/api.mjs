// The package's JavaScript API over the wasm Core: create(config) -> tracer, tracer.start() -> hop,
// hop.end(). The decisions, span building, OTLP encoding and export queue all live in the core;
// this file only moves headers, clock readings and export requests between it and the runtime.
//
// Written once as an ES module; `make js` derives the CommonJS copy (api.cjs) from it, so it imports
// nothing and exports makeApi alone.

// Span plans, as the core numbers them.
const KINDS = { server_and_client: 0, server: 1, client: 2 };
// Error classes, as the core numbers them.
const ERROR_NONE = 0;
const ERROR_TIMEOUT = 1;
const ERROR_CONNECTION = 2;
const ERROR_OTHER = 3;
// Network error codes (Node, undici) meaning the upstream was never reached.
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT',
]);
const TIMEOUT_CODES = new Set([
  'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);
// The filter's tick period: how often due batches and retries are looked for.
const TICK_MS = 100;
// `traceparent\t` + `00-<32 hex>-<16 hex>-`: where the flags start in the first edit line.
const FLAGS_AT = 12 + 53;

// Read once: the getter costs as much as the clock itself.
const TIME_ORIGIN = performance.timeOrigin;

/** Epoch milliseconds, fractional: the runtime's monotonic clock anchored at its start. */
function nowMs() {
  return TIME_ORIGIN + performance.now();
}

/** Request headers in any common form as `name\tvalue\n` lines, repeated lines kept in order. */
function headerText(headers) {
  let text = '';
  if (headers == null) return text;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const [name, value] of headers) text += name + '\t' + value + '\n';
    } else {
      // Node's req.rawHeaders: name, value, name, value...
      for (let i = 0; i + 1 < headers.length; i += 2) text += headers[i] + '\t' + headers[i + 1] + '\n';
    }
  } else if (typeof headers.forEach === 'function' && typeof headers.get === 'function') {
    // Fetch API Headers (or a Map).
    headers.forEach((value, name) => { text += name + '\t' + value + '\n'; });
  } else {
    // A plain object, e.g. Node's req.headers; an array value is a repeated header.
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const v of value) text += name + '\t' + v + '\n';
      else text += name + '\t' + value + '\n';
    }
  }
  return text;
}

/** `name\tvalue\n` lines as [name, value] pairs; a bare `name` line as [name, undefined]. */
function parseLines(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const tab = line.indexOf('\t');
    out.push(tab < 0 ? [line, undefined] : [line.slice(0, tab), line.slice(tab + 1)]);
  }
  return out;
}

/** The error class and message `hop.end({ error })` records. */
function classify(error) {
  if (error === undefined || error === null || error === false) return [ERROR_NONE, ''];
  if (error === true) return [ERROR_OTHER, ''];
  const message = typeof error === 'string' ? error : String(error.message ?? error);
  const code = error.code ?? error.cause?.code;
  if (error.name === 'TimeoutError' || TIMEOUT_CODES.has(code)) return [ERROR_TIMEOUT, message];
  if (CONNECTION_CODES.has(code)) return [ERROR_CONNECTION, message];
  return [ERROR_OTHER, message];
}

/**
 * The API over a loaded wasm-bindgen module (`Core` and friends), for one runtime.
 * `defaultService` is the service.name used when the configuration sets none.
 */
export function makeApi(wasm, defaultService) {
  /** One hop: the decision, the headers to send upstream, and its end. */
  class Hop {
    #tracer;
    #state;
    #upstreamStart = NaN;
    #firstByte = NaN;
    #ended = false;

    constructor(tracer, edits, state) {
      this.#tracer = tracer;
      this.#state = state;
      /** Headers to set on the upstream request (each replaces every line of that name). */
      this.headers = {};
      /** Headers to remove from the upstream request. */
      this.remove = [];
      for (const [name, value] of parseLines(edits)) {
        if (value === undefined) this.remove.push(name);
        else this.headers[name] = value;
      }
      /** The `traceparent` sent upstream. */
      this.traceparent = this.headers.traceparent;
      /** The trace id, 32 lower-hex digits. */
      this.traceId = this.traceparent.slice(3, 35);
      /** The span id sent upstream as parent-id: the span that stands for the upstream call. */
      this.spanId = this.traceparent.slice(36, 52);
      /** Whether this hop records spans (the W3C sampled flag sent upstream). */
      this.sampled = (parseInt(edits.slice(FLAGS_AT, FLAGS_AT + 2), 16) & 1) === 1;
    }

    /**
     * Apply the edits to upstream request headers: a fetch `Headers` (or anything with set and
     * delete), a plain object (names matched case-insensitively), or an array of [name, value]
     * lines (a set replaces the first line of that name, drops the others, or appends). Returns
     * the target (a new array for an array).
     */
    inject(target) {
      if (Array.isArray(target)) {
        let lines = target.slice();
        for (const [name, value] of Object.entries(this.headers)) {
          let seen = false;
          lines = lines.flatMap(([k, v]) => {
            if (k.toLowerCase() !== name) return [[k, v]];
            if (seen) return [];
            seen = true;
            return [[k, value]];
          });
          if (!seen) lines.push([name, value]);
        }
        return lines.filter(([k]) => !this.remove.includes(k.toLowerCase()));
      }
      if (typeof target.set === 'function' && typeof target.delete === 'function') {
        for (const name of this.remove) target.delete(name);
        for (const [name, value] of Object.entries(this.headers)) target.set(name, value);
        return target;
      }
      const drop = new Set([...this.remove, ...Object.keys(this.headers)]);
      for (const key of Object.keys(target)) if (drop.has(key.toLowerCase())) delete target[key];
      Object.assign(target, this.headers);
      return target;
    }

    /** The upstream request leaves now: the CLIENT span starts here. */
    sent() {
      this.#upstreamStart = nowMs();
      return this;
    }

    /** The upstream's response headers arrived now (an event on the CLIENT span). */
    received() {
      this.#firstByte = nowMs();
      return this;
    }

    /**
     * The hop is over. `status`: the response status (none: the hop failed). `error`: an Error or
     * message when it failed (a timeout or refused connection is recognised). `route`: a route
     * template for the span name. Idempotent; never throws for an unsampled hop.
     */
    end({ status = 0, error, route = '' } = {}) {
      if (this.#ended) return;
      this.#ended = true;
      const state = this.#state;
      if (state === undefined) return;
      this.#state = undefined;
      const [errorClass, message] = classify(error);
      this.#tracer._end(state, status | 0, errorClass, message, route, this.#upstreamStart, this.#firstByte);
    }
  }

  /** A tracer: one configuration, its id generator, sampler and export queue. */
  class Tracer {
    #core;
    #endpoint;
    #fetch;
    #log;
    #timer;
    #inflight = new Set();

    constructor(core, options) {
      this.#core = core;
      this.#endpoint = core.endpoint;
      this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
      this.#log = options.log ?? ((line) => console.warn(line));
      this.#timer = setInterval(() => this.#tick(false), options.tickMs ?? TICK_MS);
      // An export timer must not keep a Node process alive on its own.
      this.#timer?.unref?.();
    }

    /** `collector.endpoint`. */
    get endpoint() {
      return this.#endpoint;
    }

    /**
     * Decide one hop from the incoming request's headers. Options: `kind` ('server_and_client',
     * the default: a SERVER span and a child CLIENT span for the upstream call; 'server';
     * 'client'), and for span attributes `method`, `path` (with query), `scheme`, `authority`,
     * `protocol` ('1.1', '2'), `client` (peer 'ip:port').
     */
    start(headers, options = {}) {
      const kind = KINDS[options.kind ?? 'server_and_client'];
      if (kind === undefined) throw new TypeError(`kind: must be server_and_client, server or client, got ${options.kind}`);
      let text = headerText(headers);
      if (options.method) text += ':method\t' + options.method + '\n';
      if (options.path) text += ':path\t' + options.path + '\n';
      if (options.scheme) text += ':scheme\t' + options.scheme + '\n';
      if (options.authority) text += ':authority\t' + options.authority + '\n';
      const edits = this.#core.start(text, kind, options.protocol ?? '', options.client ?? '', nowMs());
      const sampled = (parseInt(edits.slice(FLAGS_AT, FLAGS_AT + 2), 16) & 1) === 1;
      return new Hop(this, edits, sampled ? this.#core.takeHop() : undefined);
    }

    /** Hop.end's way in; not part of the API. */
    _end(state, status, errorClass, message, route, upstreamStart, firstByte) {
      this.#core.end(state, status, errorClass, message, route, upstreamStart, firstByte, nowMs());
    }

    /** The filter's counters and gauges: { 'hoptrace.requests': n, ... }. */
    metrics() {
      return JSON.parse(this.#core.metrics());
    }

    /**
     * Send every queued span now and wait for the exports in flight, at most `timeoutMs`.
     * Resolves true when nothing is left queued or in flight.
     */
    async flush(timeoutMs = 5000) {
      const deadline = nowMs() + timeoutMs;
      for (;;) {
        this.#tick(true);
        if (this.#inflight.size > 0) {
          const left = Math.max(0, deadline - nowMs());
          await Promise.race([Promise.allSettled([...this.#inflight]), sleep(left)]);
        }
        if (this.#inflight.size === 0 && this.metrics()['hoptrace.queue.spans'] === 0) return true;
        if (nowMs() >= deadline) return false;
        if (this.#inflight.size === 0) await sleep(Math.min(TICK_MS, Math.max(0, deadline - nowMs())));
      }
    }

    /** Stop the export timer and flush. */
    async shutdown(timeoutMs = 5000) {
      clearInterval(this.#timer);
      return this.flush(timeoutMs);
    }

    #tick(flush) {
      const n = this.#core.poll(nowMs(), flush);
      for (let i = 0; i < n; i++) {
        const batch = this.#core.nextExport();
        if (batch === undefined) break;
        this.#send(batch);
      }
      const logs = this.#core.drainLogs();
      if (logs !== '') for (const line of logs.split('\n')) this.#log(line);
    }

    #send(batch) {
      const id = batch.id;
      const init = {
        method: 'POST',
        headers: parseLines(batch.headers),
        body: batch.body,
        signal: AbortSignal.timeout(batch.timeoutMs),
      };
      batch.free();
      const core = this.#core;
      const sent = Promise.resolve()
        .then(() => this.#fetch(this.#endpoint, init))
        .then(async (res) => {
          const body = new Uint8Array(await res.arrayBuffer());
          core.onResponse(id, res.status, res.headers.get('retry-after') ?? undefined, body, nowMs());
        })
        .catch((err) => core.onFailure(id, err?.name === 'TimeoutError', nowMs()))
        .finally(() => {
          this.#inflight.delete(sent);
          // As the filter does on a callout's answer: the next due batch leaves at once.
          this.#tick(false);
        });
      this.#inflight.add(sent);
    }
  }

  // Not unref'd: a flush that waits keeps the process alive until it is done.
  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /**
   * A tracer for `config`: the filter's configuration (an object or JSON text) plus
   * `collector.endpoint`. Throws an Error naming the offending field (`error.field`).
   * Options: `seed` (32 bytes, for reproducible ids in tests), `fetch`, `log`, `tickMs`.
   */
  function create(config = {}, options = {}) {
    const json = typeof config === 'string' ? config : JSON.stringify(config);
    const seed = options.seed ?? crypto.getRandomValues(new Uint8Array(32));
    let core;
    try {
      core = new wasm.Core(json, seed, defaultService);
    } catch (e) {
      const error = new Error(e.message);
      error.field = e.message.slice(0, e.message.indexOf(': '));
      throw error;
    }
    return new Tracer(core, options);
  }

  return { create };
}
