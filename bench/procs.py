"""Starting, pinning, watching and stopping the benchmark's processes, all by pid.

Every child is started through `taskset -c CORE` (which execs the program, so the pid we hold is
the program's) and asks the kernel to SIGTERM it if the driver dies (PR_SET_PDEATHSIG), so a
killed driver leaves nothing behind. `Processes.stop_all` ends exactly the pids it started.
"""

import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

PR_SET_PDEATHSIG = 1
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port():
    """A port free on 127.0.0.1 right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_times(pid):
    """(user, system) CPU seconds of the whole process (all threads) from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # Fields after the command name (which may hold spaces) start at field 3 (state).
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid):
    """User + system CPU time of the whole process (all threads)."""
    return sum(cpu_times(pid))


def http_get(url, timeout=2.0, headers=None):
    """(status, headers, body) of a GET, or raises OSError."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


class Processes:
    """The children of one benchmark run."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.children = {}  # name -> (Popen, log path)

    def start(self, name, argv, core):
        """Starts `argv` pinned to `core`, stdout+stderr to <log_dir>/<name>.log."""
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "wb")
        try:
            proc = subprocess.Popen(
                ["taskset", "-c", str(core), *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        self.children[name] = (proc, log_path)
        return proc

    def pid(self, name):
        return self.children[name][0].pid

    def log_tail(self, name, lines=30):
        """The last lines of a child's log, to show why it failed."""
        try:
            text = self.children[name][1].read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_http(self, name, url, timeout=30.0, ok=lambda status, body: status == 200):
        """Waits until GET url answers ok; raises RuntimeError with the log if the child dies."""
        proc = self.children[name][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}"
                )
            try:
                status, _, body = http_get(url, timeout=1.0)
                if ok(status, body):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready at {url} after {timeout:.0f} s:\n{self.log_tail(name)}")

    def stop(self, name):
        """SIGTERM, then SIGKILL after 5 s; only this child's pid."""
        proc, _ = self.children.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def stop_all(self):
        for name in list(self.children):
            try:
                self.stop(name)
            except Exception as err:  # keep stopping the others
                print(f"bench: stopping {name}: {err}")


def run_pinned(argv, core, timeout):
    """Runs a short-lived command pinned to `core`; returns its stdout (raises on failure)."""
    out = subprocess.run(
        ["taskset", "-c", str(core), *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_die_with_parent,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {out.returncode}: {out.stderr.strip()}")
    return out.stdout
