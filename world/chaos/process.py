"""A real `agora serve` process for the chaos scenarios: start, read its URL, sample, stop, kill.

The server runs as `python -m world.cli serve` with cwd = the root of the code that is running,
so a worktree's scenarios test that worktree's server. Its stderr (the structured log) goes to
a file that the scenarios search (tracebacks, events); its memory is read from /proc.
"""

from __future__ import annotations

import os
import queue
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import world
from client.load import fetch_server_stats

ROOT = Path(world.__file__).resolve().parents[1]
URL_LINE = re.compile(r"Agora listening on (ws://\S+)")
START_TIMEOUT_S = 90.0          # a fresh checkout compiles its kernels first (about 15 s)
MB = 1024 * 1024


class ServerFailed(Exception):
    """The server process did not start (or died); the message carries the end of its log."""


def server_env(**knobs: str | int | float) -> dict[str, str]:
    """This process's environment plus AGORA_<KNOB>=value for a server; no agents (they need a model)."""
    env = dict(os.environ)
    env["AGORA_AGENTS"] = ""
    for key, value in knobs.items():
        env["AGORA_" + key.upper()] = str(value)
    return env


def raise_fd_limit(need: int) -> int:
    """Raise this process's soft open-file limit towards `need` (children inherit it); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def proc_status_kb(pid: int, key: str) -> int | None:
    """A `kB` line of /proc/PID/status (VmRSS, VmHWM) in kB; None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(key.encode() + b":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class ServerProcess:
    """One running `agora serve`. Create with `ServerProcess.start(...)`."""

    proc: subprocess.Popen[str]
    url: str
    data: Path
    log_path: Path
    started_at: float

    @classmethod
    def start(cls, data: Path, log_path: Path, *, env: dict[str, str] | None = None,
              args: Sequence[str] = (), prefix: Sequence[str] = (),
              timeout: float = START_TIMEOUT_S) -> "ServerProcess":
        """Start on an ephemeral loopback port; return once it printed its URL.

        `prefix` runs the server under another command (nsenter into a mount namespace).
        """
        argv = [*prefix, sys.executable, "-m", "world.cli", "serve", "--port", "0", "--host", "127.0.0.1",
                "--data", str(data), "--agents", "", "--brain", "scripted", *args]
        with open(log_path, "ab") as log:          # the child keeps its own descriptor
            proc = subprocess.Popen(argv, cwd=ROOT, env=env if env is not None else server_env(),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True)
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_drain, args=(proc.stdout, lines), daemon=True,
                         name=f"serve-stdout-{proc.pid}").start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if proc.poll() is not None:
                    break
                continue
            if line is None:
                break
            found = URL_LINE.search(line)
            if found:
                return cls(proc, found.group(1), data, log_path, time.monotonic())
        proc.kill()
        proc.wait()
        raise ServerFailed(f"agora serve did not print its URL (exit {proc.returncode}); "
                           f"log tail: {tail(log_path)}")

    # -- identity -------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def port(self) -> int:
        return int(urllib.parse.urlsplit(self.url).port or 0)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    # -- observation ----------------------------------------------------------------------------
    def rss_mb(self) -> float | None:
        kb = proc_status_kb(self.pid, "VmRSS")
        return None if kb is None else kb / 1024

    def hwm_mb(self) -> float | None:
        """Peak resident memory of the process so far (VmHWM)."""
        kb = proc_status_kb(self.pid, "VmHWM")
        return None if kb is None else kb / 1024

    def stats(self, timeout: float = 2.0) -> dict[str, Any] | None:
        """GET /stats; None if the server does not answer."""
        return fetch_server_stats(self.url, timeout)

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, since: int = 0) -> str:
        with open(self.log_path, "rb") as fh:
            fh.seek(since)
            return fh.read().decode("utf-8", "replace")

    # -- ending ---------------------------------------------------------------------------------
    def kill9(self) -> None:
        """SIGKILL: no shutdown, no flush."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait; the exit status, or None if it had to be killed."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        return code

    def close(self) -> None:
        """Make sure the process is gone (used in finally blocks)."""
        if self.alive:
            self.proc.kill()
        self.proc.wait()


def _drain(stream: Any, lines: queue.Queue[str | None]) -> None:
    """Read the server's stdout to its end so the pipe never fills."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def tail(path: Path, chars: int = 1500) -> str:
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return ""
    return text[-chars:]


def has_traceback(text: str) -> bool:
    """Whether a server log holds a Python traceback (plain, or escaped inside an exc= field)."""
    return "Traceback (most recent call last)" in text


class RssSampler:
    """Samples a process's VmRSS every `every` seconds on a thread: (monotonic time, MB) pairs."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"rss-{pid}")

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            kb = proc_status_kb(self.pid, "VmRSS")
            if kb is not None:
                self.samples.append((time.monotonic(), kb / 1024))
            self._stop.wait(self.every)

    def peak(self, start: float = 0.0, end: float = float("inf")) -> float | None:
        values = [mb for t, mb in self.samples if start <= t <= end]
        return max(values) if values else None

    def mean(self, start: float = 0.0, end: float = float("inf")) -> float | None:
        values = [mb for t, mb in self.samples if start <= t <= end]
        return sum(values) / len(values) if values else None
