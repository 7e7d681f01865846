/**
 * hoptrace for JavaScript runtimes: the hoptrace Envoy filter's core (W3C trace context,
 * consistent probability sampling, spans, OTLP export) compiled to WebAssembly.
 */

/** Request headers: Node's `req.headers` or `req.rawHeaders`, a fetch `Headers`, or [name, value] lines. */
export type HeaderInput =
  | Record<string, string | string[] | undefined>
  | string[]
  | Array<[string, string]>
  | { forEach(cb: (value: string, name: string) => void): void; get(name: string): string | null };

/** Which spans a hop records. */
export type HopKind = 'server_and_client' | 'server' | 'client';

/** Options of `tracer.start`. */
export interface StartOptions {
  /** Default 'server_and_client': a SERVER span and a child CLIENT span for the upstream call. */
  kind?: HopKind;
  /** The request method, e.g. 'GET'. */
  method?: string;
  /** The request path with its query, e.g. '/users/7?full=1'. */
  path?: string;
  /** 'http' or 'https'. */
  scheme?: string;
  /** Host and port as requested (default: the `host` header). */
  authority?: string;
  /** HTTP version: '1.1', '2'. */
  protocol?: string;
  /** The peer, 'ip:port' (IPv6 as '[addr]:port'). */
  client?: string;
}

/** Options of `hop.end`. */
export interface EndOptions {
  /** The response status; absent or 0 when there was none. */
  status?: number;
  /** Why the hop failed: an Error (timeouts and refused connections are recognised) or a message. */
  error?: unknown;
  /** A route template for the span name, e.g. '/users/:id'. */
  route?: string;
}

/** One hop's decision and what to send upstream. */
export interface Hop {
  /** Whether this hop records spans. */
  readonly sampled: boolean;
  /** The trace id, 32 lower-hex digits. */
  readonly traceId: string;
  /** The span id sent upstream as parent-id. */
  readonly spanId: string;
  /** The `traceparent` sent upstream. */
  readonly traceparent: string;
  /** Headers to set on the upstream request (traceparent always; tracestate, b3... when they change). */
  readonly headers: Record<string, string>;
  /** Headers to remove from the upstream request. */
  readonly remove: string[];
  /** Apply `headers` and `remove` to upstream headers; returns the target (a new array for an array). */
  inject<T extends object>(target: T): T;
  /** The upstream request leaves now (the CLIENT span's start). */
  sent(): this;
  /** The upstream's response headers arrived now. */
  received(): this;
  /** The hop is over: its spans are built and queued for export (sampled hops only). */
  end(options?: EndOptions): void;
}

/** Counters and gauges, named as the filter's metrics ('hoptrace.requests', 'hoptrace.spans.exported', ...). */
export type Metrics = Record<string, number>;

/** A tracer: one configuration, its sampler, ids and export queue. */
export interface Tracer {
  /** `collector.endpoint`. */
  readonly endpoint: string;
  /** Decide one hop from the incoming request's headers. */
  start(headers: HeaderInput, options?: StartOptions): Hop;
  /** The filter's counters and gauges. */
  metrics(): Metrics;
  /** Send every queued span now and wait for exports in flight; true when nothing is left. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Stop the export timer, then flush. */
  shutdown(timeoutMs?: number): Promise<boolean>;
}

/** Options of `create`. */
export interface CreateOptions {
  /** 32 bytes seeding trace and span ids (default: crypto.getRandomValues); for reproducible tests. */
  seed?: Uint8Array;
  /** The fetch used for exports (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /** Where rate-limited export failure lines go (default: console.warn). */
  log?: (line: string) => void;
  /** How often due batches and retries are looked for, ms (default 100). */
  tickMs?: number;
}

/** A configuration error: `message` is 'field: what is wrong', `field` the field. */
export interface ConfigError extends Error {
  field: string;
}

/**
 * A tracer for the filter's configuration (object or JSON text) plus `collector.endpoint`, the
 * OTLP/HTTP traces URL (default http://localhost:4318/v1/traces). Throws a ConfigError.
 */
export function create(config?: object | string, options?: CreateOptions): Tracer;

declare const hoptrace: { create: typeof create };
export default hoptrace;
