"""soak: many walking, chatting bots for minutes against a real server; does anything drift?

The bots are client/load.py's swarm (the same machinery as `agora bots`), in worker processes
on a shared timeline: ramp, settle, then a measured window of `minutes`. Meanwhile this process
reads the server's RSS and GET /stats every `sample_every` seconds. Reported: memory growth
(mean RSS of the window's first minute against its last), tick p99 at the start and at the end,
disconnects, errors, connection failures.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client import load
from world.config import load_config
from world.chaos.process import ServerProcess, server_env, raise_fd_limit
from world.chaos.report import Outcome

MAX_BOTS = load.MAX_COUNT
MAX_MINUTES = 60.0
BOTS_PER_PROC = 250
MAX_PROCS = 4
FINISH_GRACE_S = 120.0          # after the window, for the workers to close and report


@dataclass
class SoakOptions:
    bots: int = 500
    minutes: float = 10.0
    procs: int | None = None        # None: one per 250 bots, at most 4
    ramp: float = 50.0              # connections per second
    sample_every: float = 5.0
    max_growth_pct: float = 10.0
    chat_every: float = 20.0        # mean seconds between one bot's chat lines
    move_hz: float = 10.0


def check_options(opts: SoakOptions) -> str | None:
    if not 1 <= opts.bots <= MAX_BOTS:
        return f"--bots must be 1..{MAX_BOTS}"
    if not 0 < opts.minutes <= MAX_MINUTES:
        return f"--minutes must be in (0, {MAX_MINUTES:g}]"
    if not 0.5 <= opts.sample_every <= 60:
        return "--sample-every must be in [0.5, 60] seconds"
    if opts.procs is not None and not 1 <= opts.procs <= load.MAX_PROCS:
        return f"--procs must be 1..{load.MAX_PROCS}"
    if not 0 < opts.ramp <= 10_000:
        return "--ramp must be in (0, 10000]"
    return None


@dataclass
class Sample:
    at: float                      # monotonic
    rss_mb: float | None
    stats: dict[str, Any] | None


def _window_means(samples: list[Sample], start: float, end: float) -> tuple[float | None, float | None]:
    """Mean RSS over the window's first and last minute (a third of the window if it is shorter)."""
    span = min(60.0, (end - start) / 3)
    head = [s.rss_mb for s in samples if start <= s.at <= start + span and s.rss_mb is not None]
    tail = [s.rss_mb for s in samples if end - span <= s.at <= end and s.rss_mb is not None]
    mean = (lambda xs: sum(xs) / len(xs) if xs else None)
    return mean(head), mean(tail)


async def run(opts: SoakOptions, work: Path) -> Outcome:
    out = Outcome("soak")
    procs = opts.procs or min(MAX_PROCS, math.ceil(opts.bots / BOTS_PER_PROC))
    raise_fd_limit(opts.bots + 1024)
    srv = ServerProcess.start(work / "data", work / "server.log", env=server_env())
    samples: list[Sample] = []
    pool = None
    try:
        args = argparse.Namespace(url=srv.url, count=opts.bots, duration=opts.minutes * 60, procs=procs,
                                  ramp=opts.ramp, chat_every=opts.chat_every, move_hz=opts.move_hz,
                                  ping_every=1.0, space=None, prefix="soak", seed=0)
        lead = 1.0 + 0.5 * procs                       # spawned workers import before the ramp starts
        start_at = time.time() + lead
        start_mono = time.monotonic() + lead
        window = (start_mono + opts.bots / opts.ramp + load.SETTLE_S,
                  start_mono + opts.bots / opts.ramp + load.SETTLE_S + opts.minutes * 60)
        pool = multiprocessing.get_context("spawn").Pool(procs)
        result = pool.map_async(load.run_worker, load.worker_configs(args, start_at))
        deadline = window[1] + FINISH_GRACE_S
        while not result.ready() and time.monotonic() < deadline:
            stats = await asyncio.to_thread(srv.stats)
            samples.append(Sample(time.monotonic(), srv.rss_mb(), stats))
            await asyncio.sleep(opts.sample_every)
        if not result.ready():
            raise TimeoutError("the bot workers did not finish in time")
        summary = load.summarise(load.merge_stats(result.get()))
        alive = srv.alive
        hwm = srv.hwm_mb()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        exit_code = srv.terminate()

    inside = [s for s in samples if window[0] <= s.at <= window[1]]
    head, tail = _window_means(samples, *window)
    growth = None if not head or tail is None else 100.0 * (tail - head) / head
    p99s = [s.stats["tick_p99_ms"] for s in inside if s.stats and "tick_p99_ms" in s.stats]
    budget_ms = round(1000.0 / load_config().tick_hz, 1)     # the server got this environment too

    out.equal("bots connected (peak)", summary["connected_peak"], opts.bots)
    out.equal("connection failures", summary["connect_failed"], 0)
    out.equal("disconnects", summary["disconnects"], 0)
    out.equal("errors", summary["errors"], 0)
    out.at_most("memory growth, first minute vs last (%)", growth, opts.max_growth_pct, " %")
    out.at_most("tick p99 at the end (ms)", p99s[-1] if p99s else None, budget_ms, " ms")
    out.check("server alive", alive, alive, "True")
    out.metrics.update({
        "bots": opts.bots, "minutes": opts.minutes, "bot processes": procs,
        "RSS MB first minute / last minute": [_r(head), _r(tail)],
        "RSS MB peak (VmHWM)": _r(hwm),
        "tick p99 ms first / last / max": [p99s[0] if p99s else None, p99s[-1] if p99s else None,
                                           max(p99s) if p99s else None],
        "tick p99 drift (ms)": _r(p99s[-1] - p99s[0]) if len(p99s) > 1 else None,
        "samples": len(inside),
        "snapshots/s per client": summary["snapshots_per_s"],
        "ping rtt p50 / p99 ms": [summary["rtt_p50_ms"], summary["rtt_p99_ms"]],
        "chats sent / acked / heard": [summary["chats_sent"], summary["chats_acked"], summary["chats_heard"]],
        "errors by code": summary["errors_by_code"] or 0,
        "disconnects by code": summary["disconnects_by_code"] or 0,
        "server exit status (SIGTERM)": exit_code,
    })
    return out


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)
