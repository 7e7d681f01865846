"""Finding, installing and parsing `wrk` (the load generator)."""

import re
import shutil
import subprocess

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def locate():
    """Path of wrk, installing the Debian package if it is missing (we run as root here)."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise RuntimeError("wrk is not installed and there is no apt-get: install wrk")
    print("bench: wrk not found, installing it: apt-get install -y wrk")
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("apt-get install wrk did not put wrk on PATH")
    return found


def _ms(value, unit):
    return float(value) * UNIT_MS[unit]


def parse(text):
    """The numbers in `wrk --latency` output: requests, seconds, rps, p50/p99 (ms), errors.

    Raises ValueError if the output lacks the summary lines (wrk failed to connect, say).
    """
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", text, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not m or not rps:
        raise ValueError(f"unexpected wrk output:\n{text}")
    latency = {
        p: _ms(v, u)
        for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    }
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return {
        "requests": int(m.group(1)),
        "seconds": _ms(m.group(2), m.group(3)) / 1000.0,
        "rps": float(rps.group(1)),
        "p50_ms": latency.get("50"),
        "p99_ms": latency.get("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
    }


def argv(wrk, url, connections, seconds, threads=1):
    """The wrk command line for one run."""
    return [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
