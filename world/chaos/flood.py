"""flood: thousands of connections from 20 addresses that never say hello; can a real user still get in?

Source addresses 127.0.0.2 ... (all of 127/8 is loopback on Linux; the client socket is bound
to the address) open `per_source` WebSocket connections each, at `rate` per second in all. Some
connect and stay silent; the others ("heavy") send 32-64 KiB frames before any hello. Meanwhile
an observer process (world.chaos.observer) keeps a bystander connected and joins as a real user
from 127.0.0.250 every `probe_every` seconds, timing TCP connect -> welcome. The server's RSS
is sampled every 0.1 s; its RSS is read again `settle_s` after the flood, with no client left.

Checks (the target behaviour: per-address caps, 503 at the upgrade): the real user's joins
during the flood take < 1 s; RSS returns to within 50 MB (or 25 %) of what it was before; the
bystander's snapshots continue.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus

from world.chaos.observer import Observer, Watch
from world.chaos.process import RssSampler, ServerProcess, server_env, raise_fd_limit
from world.chaos.report import Outcome

OPEN_TIMEOUT_S = 10.0
MIN_SNAPS_PER_S = 25.0
AFTER_WINDOW_S = 2.0            # the bystander is watched this long after the flood
REAL_USER = "127.0.0.250"
FRAME_MIN, FRAME_MAX = 32 * 1024, 64 * 1024


@dataclass
class FloodOptions:
    sources: int = 20
    per_source: int = 250
    frames: int = 4                 # frames each heavy connection sends before (never) saying hello
    heavy_share: float = 0.5
    rate: float = 5000.0            # new connections per second, all sources together
    hold_s: float = 15.0            # a flood connection is dropped after this long at the latest
    settle_s: float = 10.0          # after the flood, before RSS is read again
    probe_every: float = 1.0        # seconds between the real user's joins
    join_limit_s: float = 1.0
    rss_slack_mb: float = 50.0      # RSS after may exceed RSS before by this much ...
    rss_slack_share: float = 0.25   # ... or by this share of it, whichever is larger
    seed: int = 0


def source_address(i: int) -> str:
    """127.0.0.2, 127.0.0.3, ... (127.0.0.1 and ::1 are exempt from per-address caps)."""
    if not 0 <= i < 240:
        raise ValueError("at most 240 source addresses (127.0.0.250 is the real user's)")
    return f"127.0.0.{2 + i}"


async def flood_one(url: str, source: str, frames: int, payload: bytes, rng: random.Random,
                    until: float, outcomes: Counter) -> None:
    """One flood connection: open, maybe send big frames, then wait to be closed or dropped."""
    try:
        ws: ClientConnection = await connect(url, compression=None, proxy=None, ping_interval=None,
                                             open_timeout=OPEN_TIMEOUT_S, close_timeout=1.0,
                                             max_size=2**20, local_addr=(source, 0))
    except InvalidStatus as exc:
        status = exc.response.status_code
        outcomes[f"http {status}"] += 1
        if status == 503 and not (exc.response.headers.get("Retry-After") and exc.response.body):
            outcomes["http 503 without Retry-After or reason"] += 1
        return
    except TimeoutError:
        outcomes["upgrade timeout"] += 1
        return
    except InvalidMessage:
        outcomes["TCP closed, no HTTP answer"] += 1
        return
    except (OSError, InvalidHandshake) as exc:
        outcomes[type(exc).__name__] += 1
        return
    outcomes["upgrade accepted"] += 1
    try:
        for _ in range(frames):
            size = rng.randint(FRAME_MIN, FRAME_MAX)
            await asyncio.wait_for(ws.send(payload[:size]), max(0.01, until - time.monotonic()))
        await asyncio.wait_for(ws.wait_closed(), max(0.01, until - time.monotonic()))
        outcomes[f"closed {ws.close_code}"] += 1
    except ConnectionClosed:
        outcomes[f"closed {ws.close_code}"] += 1
    except TimeoutError:
        outcomes["held to the end"] += 1
    finally:
        ws.transport.abort()


async def flood(opts: FloodOptions, url: str) -> Counter:
    rng = random.Random(opts.seed)
    payload = os.urandom(FRAME_MAX)
    outcomes: Counter = Counter()
    sources = [source_address(i) for i in range(opts.sources)]
    total = opts.sources * opts.per_source
    tasks = []
    t0 = time.monotonic()
    for i in range(total):
        at = t0 + i / opts.rate
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        heavy = rng.random() < opts.heavy_share
        tasks.append(asyncio.create_task(flood_one(url, sources[i % len(sources)], opts.frames if heavy else 0,
                                                   payload, random.Random(rng.random()), at + opts.hold_s,
                                                   outcomes)))
    await asyncio.gather(*tasks)
    return outcomes


async def run(opts: FloodOptions, work: Path) -> Outcome:
    out = Outcome("flood")
    total = opts.sources * opts.per_source
    raise_fd_limit(total + 1024)                    # the server, started next, inherits it too
    srv = ServerProcess.start(work / "data", work / "server.log", env=server_env())
    observer: Observer | None = None
    sampler = RssSampler(srv.pid, 0.1).start()
    try:
        watch = Watch(srv.url, probe_every=opts.probe_every, probe_source=REAL_USER)
        observer = await asyncio.to_thread(Observer(watch).start)
        await asyncio.sleep(1.5)
        before = sampler.mean(time.monotonic() - 1.0)
        stats_before = srv.stats() or {}
        t0 = time.monotonic()
        outcomes = await flood(opts, srv.url)
        t1 = time.monotonic()
        await asyncio.sleep(AFTER_WINDOW_S)
        t2 = time.monotonic()
        seen = await asyncio.to_thread(observer.stop)
        observer = None
        if seen.error:
            out.reason = f"observer: {seen.error}"
        await asyncio.sleep(opts.settle_s)
        after = sampler.mean(time.monotonic() - 1.0)
        stats_after = srv.stats() or {}
        hwm = srv.hwm_mb()
        alive = srv.alive
    finally:
        sampler.stop()
        if observer is not None:
            observer.stop()
        srv.terminate()

    during = seen.joins(t0, t1)
    joined = [p.seconds for p in during if p.seconds is not None]
    failed = Counter(p.outcome for p in during if p.seconds is None)
    worst_join = None if failed or not joined else max(joined)
    allowed = max(opts.rss_slack_mb, opts.rss_slack_share * (before or 0.0))
    grew = None if before is None or after is None else after - before
    baseline = [p.seconds for p in seen.probes if p.at < t0 and p.seconds is not None]

    out.check(f"real user's join during the flood (max of {len(during)})",
              worst_join is not None and worst_join < opts.join_limit_s,
              round(worst_join, 3) if worst_join is not None else f"failed: {dict(failed)}",
              f"< {opts.join_limit_s:g} s")
    out.at_most("RSS after the flood minus before (MB)", grew, round(allowed, 1), " MB")
    out.at_least("bystander snapshots/s after the flood", seen.snaps_per_s(t1, t2), MIN_SNAPS_PER_S)
    refusals = outcomes.get("http 503", 0)
    bare = outcomes.pop("http 503 without Retry-After or reason", 0)
    out.check("503 refusals carry Retry-After and a reason", bare == 0, f"{refusals - bare}/{refusals}", "all")
    out.check("bystander stayed connected, server alive", seen.closed_code is None and alive,
              seen.closed_code if seen.closed_code is not None else alive, "connected, alive")
    out.metrics.update({
        "connections": f"{total} from {opts.sources} addresses, {opts.heavy_share:.0%} heavy x {opts.frames} frames",
        "flood seconds": round(t1 - t0, 1),
        "outcomes": dict(outcomes.most_common()),
        "RSS MB before": _r(before), "RSS MB peak (sampled)": _r(sampler.peak(t0, t2)), "VmHWM MB": _r(hwm),
        f"RSS MB {opts.settle_s:g} s after, 0 clients": _r(after),
        "real user's join s: before / during p50 / during max": [
            _r(baseline[0], 3) if baseline else None,
            _r(statistics.median(joined), 3) if joined else None, _r(max(joined), 3) if joined else None],
        "real user's failed joins": dict(failed) or 0,
        "bystander snapshots/s during / worst second": [_r(seen.snaps_per_s(t0, t1)), seen.worst_second(t0, t1)],
        "server clients after": stats_after.get("clients"),
        "server refused (/stats network.refused)": (stats_after.get("network") or {}).get("refused", "n/a"),
        "server connections_total": (stats_after.get("connections_total", 0)
                                     - stats_before.get("connections_total", 0)),
        "server tick p99 ms after": stats_after.get("tick_p99_ms"),
    })
    return out


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)
