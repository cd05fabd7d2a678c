"""A well-behaved user in its own process, so what it measures is the server and not our own load.

Two roles, both optional: the *bystander* stays connected and counts the snapshots it receives
(sampled every 0.1 s as (time, count) pairs); the *real user* joins again and again from its own
source address and times each join, from the TCP connect to its `welcome`. Times are
time.monotonic(), which every process on the machine shares, so the parent can cut the series
at the moments it knows (flood start, flood end).
"""

from __future__ import annotations

import asyncio
import bisect
import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from client.bot import Bot
from world.protocol import PROTOCOL_VERSION, decode_server, encode

SAMPLE_EVERY_S = 0.1
READY_TIMEOUT_S = 60.0


@dataclass
class Watch:
    url: str
    bystander: bool = True
    name: str = "Bystander"
    probe_every: float = 0.0            # seconds between the real user's joins; 0 = no real user
    probe_source: str = "127.0.0.250"   # the real user's address (not exempt from per-address caps)
    probe_timeout: float = 10.0


@dataclass
class Probe:
    at: float                 # monotonic time the join started
    seconds: float | None     # TCP connect -> welcome; None if it did not get in
    outcome: str              # "welcome", "http 503", "close 4008", "error full", "timeout", ...


@dataclass
class Seen:
    """What the observer saw; `snaps` are (monotonic time, snapshots received so far)."""

    snaps: list[tuple[float, int]] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    closed_code: int | None = None     # set if the bystander's connection ended before stop
    error: str = ""

    def snaps_per_s(self, start: float, end: float) -> float | None:
        """Average rate of snapshots between two monotonic times."""
        inside = [(t, n) for t, n in self.snaps if start <= t <= end]
        if len(inside) < 2 or inside[-1][0] - inside[0][0] < 0.5:
            return None
        (t0, n0), (t1, n1) = inside[0], inside[-1]
        return (n1 - n0) / (t1 - t0)

    def worst_second(self, start: float, end: float) -> int | None:
        """Fewest snapshots received in any whole second of the window (seconds counted from start)."""
        inside = [(t, n) for t, n in self.snaps if start <= t <= end]
        if len(inside) < 2:
            return None
        times = [t for t, _ in inside]

        def count_at(t: float) -> int:
            return inside[max(0, bisect.bisect_right(times, t) - 1)][1]

        worst: int | None = None
        t = times[0]
        while t + 1.0 <= times[-1]:
            got = count_at(t + 1.0) - count_at(t)
            worst = got if worst is None else min(worst, got)
            t += 1.0
        return worst

    def joins(self, start: float, end: float) -> list[Probe]:
        return [p for p in self.probes if start <= p.at <= end]


class Observer:
    """The observer process. `start()` returns once the bystander is in; `stop()` returns what it saw."""

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_main, args=(watch, child), daemon=True, name="agora-chaos-observer")
        self.info: dict[str, Any] = {}

    def start(self, timeout: float = READY_TIMEOUT_S) -> "Observer":
        self._proc.start()
        try:
            if not self._conn.poll(timeout):
                raise EOFError
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            self._kill()
            raise RuntimeError("the observer process did not start") from None
        if kind != "ready":
            self._kill()
            raise RuntimeError(f"observer failed: {payload}")
        self.info = payload
        return self

    def stop(self, timeout: float = 20.0) -> Seen:
        try:
            self._conn.send("stop")
            if self._conn.poll(timeout):
                kind, payload = self._conn.recv()
                if kind == "report":
                    return payload
                return Seen(error=str(payload))
        except (EOFError, OSError, BrokenPipeError):
            pass
        finally:
            self._proc.join(5.0)
            self._kill()
        return Seen(error="observer did not report")

    def _kill(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()


def _main(watch: Watch, conn: Connection) -> None:
    try:
        asyncio.run(_observe(watch, conn))
    except Exception as exc:  # reported to the parent, which decides
        try:
            conn.send(("failed", repr(exc)))
        except OSError:
            pass


async def _observe(watch: Watch, conn: Connection) -> None:
    seen = Seen()
    bot: Bot | None = None
    if watch.bystander:
        bot = await Bot.connect(watch.url, watch.name)
    token: list[str | None] = [None]
    if watch.probe_every > 0:        # the first join makes the account; later ones resume it
        seen.probes.append(await join_once(watch, token))
    conn.send(("ready", {"user": bot.user if bot else None, "probe_token": token[0]}))
    next_probe = time.monotonic() + watch.probe_every
    probing: asyncio.Task[Probe] | None = None
    while not conn.poll():
        now = time.monotonic()
        if bot is not None:
            seen.snaps.append((now, bot.snaps_received))
            if bot.closed and seen.closed_code is None:
                seen.closed_code = bot.closed_code or 1006
        if watch.probe_every > 0 and now >= next_probe and (probing is None or probing.done()):
            if probing is not None:
                seen.probes.append(probing.result())
            probing = asyncio.create_task(join_once(watch, token))
            next_probe = now + watch.probe_every
        await asyncio.sleep(SAMPLE_EVERY_S)
    conn.recv()
    if probing is not None:
        seen.probes.append(await probing)
    if bot is not None:
        if bot.closed and seen.closed_code is None:
            seen.closed_code = bot.closed_code or 1006
        await bot.close()
    conn.send(("report", seen))


async def join_once(watch: Watch, token: list[str | None]) -> Probe:
    """Connect from the real user's address, say hello, and time until `welcome`."""
    hello: dict[str, Any] = {"t": "hello", "v": PROTOCOL_VERSION, "name": "RealUser", "kind": "desktop"}
    if token[0]:
        hello["token"] = token[0]
    at = time.monotonic()
    t0 = time.perf_counter()
    ws = None
    try:
        async with asyncio.timeout(watch.probe_timeout):
            ws = await connect(watch.url, compression=None, proxy=None, max_size=2**22, ping_interval=None,
                               open_timeout=None, local_addr=(watch.probe_source, 0))
            await ws.send(encode(hello))
            while True:
                msg = decode_server(await ws.recv())
                if msg["t"] == "welcome":
                    token[0] = msg.get("token") or token[0]
                    return Probe(at, time.perf_counter() - t0, "welcome")
                if msg["t"] == "error":
                    return Probe(at, None, f"error {msg.get('code')}")
    except TimeoutError:
        return Probe(at, None, "timeout")
    except InvalidStatus as exc:
        return Probe(at, None, f"http {exc.response.status_code}")
    except ConnectionClosed as exc:
        return Probe(at, None, f"close {exc.rcvd.code if exc.rcvd else 1006}")
    except (OSError, InvalidHandshake) as exc:
        return Probe(at, None, type(exc).__name__)
    finally:
        if ws is not None:
            try:
                async with asyncio.timeout(3.0):
                    await ws.close()
            except (TimeoutError, OSError):
                pass
