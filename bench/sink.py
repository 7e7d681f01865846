"""An OTLP/HTTP trace sink for the benchmark: decodes every export with the official schema.

Run as its own process (pinned to the load core by run.py) so that decoding never shares a GIL
with the driver. It listens on one port per variant, so every span is counted for the proxy that
sent it, however late its exporter flushes:

    python bench/sink.py --listen native100=4318 --listen hoptrace100_503=4319:503

POST /v1/traces bodies are gunzipped when `Content-Encoding: gzip` and parsed as
`ExportTraceServiceRequest` (protobuf, or OTLP/JSON when the content type says so). A body that
does not parse is counted as an error, not as spans, so a broken exporter cannot look fast.
GET /stats answers that port's counters as JSON. A `:503` listener answers every export with 503
(after decoding it): the collector-down variant.
"""

import argparse
import gzip
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )
except ImportError as err:  # pragma: no cover - depends on the venv
    sys.exit(
        f"sink: {err}; install the schema with "
        "`.venv/bin/pip install -r bench/requirements.txt`"
    )

TRACES_PATH = "/v1/traces"
# Empty ExportTraceServiceResponse: full success, nothing rejected.
OK_BODY = ExportTraceServiceResponse().SerializeToString()
UNAVAILABLE_BODY = b"collector unavailable (benchmark 503 sink)"


class Counters:
    """What the sink has seen; one lock, since handlers run on many threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.posts = 0
        self.spans = 0
        self.wire_bytes = 0
        self.decoded_bytes = 0
        self.errors = 0
        self.kinds = {}
        self.last_error = ""

    def add(self, wire, decoded, kinds):
        with self.lock:
            self.posts += 1
            self.wire_bytes += wire
            self.decoded_bytes += decoded
            for kind, n in kinds.items():
                self.spans += n
                self.kinds[kind] = self.kinds.get(kind, 0) + n

    def error(self, wire, reason):
        with self.lock:
            self.posts += 1
            self.wire_bytes += wire
            self.errors += 1
            self.last_error = reason

    def snapshot(self):
        with self.lock:
            return {
                "posts": self.posts,
                "spans": self.spans,
                "wire_bytes": self.wire_bytes,
                "decoded_bytes": self.decoded_bytes,
                "errors": self.errors,
                "kinds": dict(self.kinds),
                "last_error": self.last_error,
            }


def span_kinds(request):
    """Spans per SpanKind name (SPAN_KIND_SERVER, ...) in one decoded export."""
    kinds = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                kinds[span.kind] = kinds.get(span.kind, 0) + 1
    return {KIND_NAMES.get(k, str(k)): n for k, n in kinds.items()}


def _kind_names():
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    return {v.number: v.name for v in Span.SpanKind.DESCRIPTOR.values}


KIND_NAMES = _kind_names()


def decode(body, content_encoding, content_type):
    """The export in `body`, or raises ValueError saying why it is not one."""
    if "gzip" in content_encoding:
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as err:
            raise ValueError(f"bad gzip: {err}") from err
    request = ExportTraceServiceRequest()
    try:
        if "json" in content_type:
            json_format.Parse(body.decode("utf-8"), request)
        else:
            request.ParseFromString(body)
    except Exception as err:  # protobuf raises DecodeError / ParseError
        raise ValueError(f"not an ExportTraceServiceRequest: {err}") from err
    return request, len(body)


def make_handler(counters, status):
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as a real collector: the proxies reuse their connections.
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # one line per POST would cost more than the decode
            pass

        def _body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", ""):
                parts = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        # trailers end with an empty line
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def _answer(self, code, body, content_type):
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self._body()
            if self.path.split("?")[0] != TRACES_PATH:
                counters.error(len(body), f"POST to {self.path}")
                self._answer(404, b"not found", "text/plain")
                return
            try:
                request, decoded = decode(
                    body,
                    self.headers.get("Content-Encoding", ""),
                    self.headers.get("Content-Type", ""),
                )
            except ValueError as err:
                counters.error(len(body), str(err))
                self._answer(400, str(err).encode(), "text/plain")
                return
            counters.add(len(body), decoded, span_kinds(request))
            if status == 200:
                self._answer(200, OK_BODY, "application/x-protobuf")
            else:
                self._answer(status, UNAVAILABLE_BODY, "text/plain")

        def do_GET(self):
            if self.path == "/stats":
                self._answer(200, json.dumps(counters.snapshot()).encode(), "application/json")
            else:
                self._answer(404, b"not found", "text/plain")

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--listen",
        action="append",
        required=True,
        metavar="NAME=PORT[:STATUS]",
        help="a listener on 127.0.0.1:PORT answering STATUS (default 200) to exports",
    )
    args = parser.parse_args()
    servers = []
    for spec in args.listen:
        _name, _, port_status = spec.partition("=")
        port, _, status = port_status.partition(":")
        handler = make_handler(Counters(), int(status or "200"))
        server = ThreadingHTTPServer(("127.0.0.1", int(port)), handler)
        server.daemon_threads = True
        servers.append(server)
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        for s in servers
    ]
    for t in threads:
        t.start()
    # The serving threads are daemons: returning ends them and the process closes the sockets.
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
