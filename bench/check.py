"""The propagation check run on every variant before it is measured.

Two requests go through the proxy to the upstream's echo route, which answers with the
traceparent it received: one without a traceparent and one with. A tracer must send a valid
traceparent upstream, keep the incoming trace id and put its own span id in parent-id; a
pass-through variant must deliver exactly what came in (and nothing when nothing came).
"""

import re

from envoy_configs import ECHO_HEADER, ECHO_PATH
from procs import http_get

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
INCOMING_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_PARENT_ID = "00f067aa0ba902b7"
INCOMING = f"00-{INCOMING_TRACE_ID}-{INCOMING_PARENT_ID}-01"


def _valid(value):
    """(trace id, parent id) of a valid version-00 traceparent, else None."""
    m = TRACEPARENT.match(value or "")
    if not m or set(m.group(1)) == {"0"} or set(m.group(2)) == {"0"}:
        return None
    return m.group(1), m.group(2)


def _seen_upstream(port, incoming):
    headers = {"traceparent": incoming} if incoming else {}
    status, resp_headers, _ = http_get(f"http://127.0.0.1:{port}{ECHO_PATH}", headers=headers)
    if status != 200:
        raise AssertionError(f"GET {ECHO_PATH} answered {status}")
    # Envoy leaves out a header whose formatted value is empty.
    value = resp_headers.get(ECHO_HEADER)
    return None if value in (None, "", "-") else value


def check(port, propagation):
    """Returns a list of lines describing what was seen; raises AssertionError on a failure."""
    without = _seen_upstream(port, None)
    with_tp = _seen_upstream(port, INCOMING)
    seen = [f"no traceparent in -> upstream saw {without!r}", f"{INCOMING} in -> upstream saw {with_tp!r}"]
    if propagation == "passthrough":
        if without is not None:
            raise AssertionError(f"pass-through variant invented a traceparent: {without!r}")
        if with_tp != INCOMING:
            raise AssertionError(f"pass-through variant changed the traceparent: {with_tp!r}")
        return seen
    if _valid(without) is None:
        raise AssertionError(f"no valid traceparent upstream for a request without one: {without!r}")
    ids = _valid(with_tp)
    if ids is None:
        raise AssertionError(f"no valid traceparent upstream for a request with one: {with_tp!r}")
    trace_id, parent_id = ids
    if trace_id != INCOMING_TRACE_ID:
        raise AssertionError(f"incoming trace id not kept: upstream saw {with_tp!r}")
    if parent_id == INCOMING_PARENT_ID:
        raise AssertionError(f"parent-id not replaced by the proxy's span id: {with_tp!r}")
    return seen
