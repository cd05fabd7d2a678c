"""The asyncio WebSocket shell around the realm: handshake, read loop, writer, tick, stats.

Everything here is I/O: decoding, validation and meaning live in world.protocol
and world.space. One writer task per connection means a slow client only ever
waits on itself; the tick runs on a fixed step and never awaits a client.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import resource
import time
from collections import deque
from http import HTTPStatus
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from world import startup
from world.config import Config
from world.logs import event
from world.net.admission import Admission, AdmissionLimits, parse_exempt
from world.net.link import AgoraConnection, Link
from world.net.outbox import Outbox
from world.protocol import CLOSE
from world.space.realm import Realm
from world.space.space import warm_up
from world.space.world_def import load_world
from world.store import AsyncStore, StoreError


class TickStats:
    """Recent tick durations (ms) for p50/p99 reporting."""

    def __init__(self, keep: int = 3000) -> None:
        self.samples: deque[float] = deque(maxlen=keep)
        self.count = 0
        self.overruns = 0

    def add(self, ms: float, budget_ms: float) -> None:
        self.samples.append(ms)
        self.count += 1
        if ms > budget_ms:
            self.overruns += 1

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {"tick_p50_ms": 0.0, "tick_p99_ms": 0.0, "tick_max_ms": 0.0}
        a = np.fromiter(self.samples, dtype=np.float64)
        return {"tick_p50_ms": round(float(np.percentile(a, 50)), 3),
                "tick_p99_ms": round(float(np.percentile(a, 99)), 3),
                "tick_max_ms": round(float(a.max()), 3)}


class WorldServer:
    def __init__(self, cfg: Config, console: Any = None) -> None:
        self.cfg = cfg
        make_private_dir(cfg.data_dir)       # it holds direct messages and agents' memories
        self.store = AsyncStore.open(str(cfg.db_path), synchronous=cfg.synchronous)
        self.admission = Admission(AdmissionLimits(
            cfg.max_connections, cfg.max_connections_per_ip, cfg.max_handshakes, cfg.max_handshakes_per_ip,
            cfg.accounts_per_ip_per_minute, parse_exempt(cfg.exempt_addresses)))
        self.realm = Realm(cfg, self.store, load_world(cfg.world))
        from world.agents.host import AgentHost
        self.agents = AgentHost(self.realm, cfg)
        self.realm.agents = self.agents
        self.outboxes: set[Outbox] = set()
        self.ticks = TickStats()
        self.started = time.monotonic()
        self.connections_total = 0
        self.errors_sent = 0
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.port = cfg.port
        self.console = console          # where start-up progress lines go (None: stderr)
        self.memory = MemoryReturn()

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.cfg
        t0 = time.perf_counter()
        with startup.step("Preparing the simulation kernels (the first start compiles them: about 15 s)",
                          "Simulation kernels ready", out=self.console):
            warm_up(self.realm.default_world, cfg)
        event("kernels_ready", seconds=round(time.perf_counter() - t0, 3))
        self.store.start()
        await self.agents.start(progress=lambda line: event("brain", msg=line))
        origins = [o.strip() for o in cfg.origins.split(",") if o.strip()]
        self._server = await serve(
            self._handler, cfg.host, cfg.port, compression=None, max_size=cfg.transport_max_frame,
            max_queue=64, open_timeout=cfg.hello_timeout, ping_interval=cfg.ping_interval,
            ping_timeout=cfg.ping_timeout, close_timeout=cfg.close_timeout, write_limit=cfg.write_limit,
            process_request=self._http, server_header="agora/0.1", backlog=cfg.listen_backlog,
            # Clients that send no Origin (bots, native apps) are always welcome.
            origins=[*origins, None] if origins else None,
            create_connection=functools.partial(AgoraConnection, world=self))
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._tick_loop(), name="tick"),
                       loop.create_task(self._housekeeping(), name="housekeeping")]
        event("listen", url=self.url, world=self.realm.default_world.name, data=str(cfg.data_dir),
              tick_hz=cfg.tick_hz, pid=os.getpid())

    @property
    def url(self) -> str:
        return f"ws://{self.cfg.host}:{self.port}"

    async def stop(self, reason: str = "server shutting down") -> None:
        """Close every client with 1001, save positions, flush and close the store."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.agents.stop()
        try:
            await self.realm.shutdown(reason)
        except Exception as exc:       # e.g. a full disk: what was committed before stays committed
            event("shutdown_save_failed", level=30, error=str(exc))
        for o in list(self.outboxes):          # clients that never finished their hello, too
            o.close(CLOSE["going_away"], reason)
        if self._server is not None:
            self._server.close(close_connections=False)       # stop accepting
            # Give writers a moment to flush their close frames, then drop what is left.
            deadline = time.monotonic() + self.cfg.close_timeout
            while any(not o.closed for o in self.outboxes) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            for o in list(self.outboxes):
                if not o.closed:
                    o.abort()         # a peer that does not read cannot complete a close handshake
            try:   # a bare TCP connection still in its opening handshake must not hold us up
                await asyncio.wait_for(self._server.wait_closed(), self.cfg.close_timeout)
            except asyncio.TimeoutError:
                event("stop_gave_up_waiting", level=30)
        try:
            await self.store.close()
        except Exception as exc:
            event("store_close_failed", level=30, error=str(exc))
        event("stopped", reason=reason)

    # -- HTTP side door: health and stats ---------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        realm = self.realm
        return {
            "uptime_s": round(time.monotonic() - self.started, 1),
            "clients": sum(1 for s in realm.sessions.values() if s.kind != "agent"),
            "connections_total": self.connections_total, "network": self.admission.stats(),
            "spaces": {s.id: s.population() for s in realm.all_spaces()},
            "ticks": self.ticks.count, "tick_overruns": self.ticks.overruns, **self.ticks.summary(),
            "snapshots_dropped": sum(o.snapshots_dropped for o in self.outboxes),
            "in_view_mean": {s.id: round(s.in_view_mean(), 1) for s in realm.all_spaces()},
            "cpu_s": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2),
            "errors_sent": self.errors_sent, "store": self.store.stats._asdict(),
            "agents": self.agents.stats(),
        }

    def _http(self, conn: AgoraConnection, request: Request) -> Response | None:
        if request.path not in ("/stats", "/health"):
            refusal = ("stopping", "the server is shutting down") if self._stopping.is_set() \
                else self.admission.refuse_upgrade(conn.address)
            if refusal is not None:
                resp = conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, refusal[1] + "\n")
                resp.headers["Retry-After"] = "5"
                return resp
            Link(self, conn)          # before the upgrade completes, so no frame can slip past it
            return None
        if request.path == "/stats":
            resp = conn.respond(HTTPStatus.OK, json.dumps(self.stats()) + "\n")
            resp.headers["Content-Type"] = "application/json"
            return resp
        if request.path == "/health":
            return conn.respond(HTTPStatus.OK, "ok\n")
        return None

    # -- the tick ---------------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        dt = 1.0 / self.cfg.tick_hz
        budget_ms = dt * 1000.0
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            t0 = time.perf_counter()
            try:
                self.realm.tick()
            except Exception:
                event("tick_failed", level=40, exc_info=True)
            self.ticks.add((time.perf_counter() - t0) * 1000.0, budget_ms)
            next_at += dt
            delay = next_at - loop.time()
            if delay < -0.25:          # fell far behind (e.g. suspended): don't try to catch up
                next_at = loop.time()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    async def _housekeeping(self) -> None:
        """Presence batches (1 s), stalled-writer watchdog, periodic position saves and stats logs."""
        last_save = last_stats = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            try:
                self.realm.flush_presence()
                self.memory.after_connections(self.admission.total_tcp)
                for o in list(self.outboxes):
                    if o.stalled_for(now) > self.cfg.stall_timeout:
                        event("client_too_slow", stalled_s=round(o.stalled_for(now), 1))
                        o.abort()
                if now - last_save >= self.cfg.position_save_s:
                    last_save = now
                    try:
                        await self.realm.save_positions()
                    except StoreError as exc:
                        if exc.code != "unavailable":     # the writer logs a storage failure once
                            raise
                if now - last_stats >= self.cfg.stats_every_s:
                    last_stats = now
                    s = self.stats()
                    event("stats", clients=s["clients"], tick_p50_ms=s["tick_p50_ms"],
                          tick_p99_ms=s["tick_p99_ms"], tick_max_ms=s["tick_max_ms"],
                          overruns=s["tick_overruns"], snapshots_dropped=s["snapshots_dropped"])
            except Exception:
                event("housekeeping_failed", level=40, exc_info=True)

    # -- one connection ---------------------------------------------------------------------------
    async def _handler(self, conn: AgoraConnection) -> None:
        link = conn.link
        if link is None or self._stopping.is_set():
            await conn.close(CLOSE["going_away"], "server shutting down")
            return
        self.connections_total += 1
        outbox = link.outbox
        self.outboxes.add(outbox)
        writer = asyncio.get_running_loop().create_task(outbox.run())
        try:
            await link.serve()
        finally:
            if not outbox.closing and not outbox.closed:
                outbox.close(CLOSE["normal"], "bye")
            try:
                await asyncio.wait_for(writer, self.cfg.close_timeout + 1)
            except (asyncio.TimeoutError, ConnectionClosed):
                outbox.abort()
                writer.cancel()
            except Exception:
                event("writer_failed", level=40, exc_info=True)
                outbox.abort()
            self.outboxes.discard(outbox)


class MemoryReturn:
    """Gives memory back after many connections went (a flood, a crowd leaving). Two things
    hold it: connections that lived long enough to reach the oldest generation die as
    reference cycles inside the library, and the collector is tuned to reach that generation
    rarely (see run_server), so one full collection frees them; then glibc's malloc_trim
    returns the freed heap pages, which the C allocator would otherwise keep. Called once a
    second with the TCP connection count; acts only after a drop of `drop` connections to
    half the peak or less, so a steady crowd never pays for it."""

    def __init__(self, drop: int = 100) -> None:
        self.drop = drop
        self.peak = 0
        self.trims = 0
        self._trim = None
        try:
            import ctypes
            self._trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):      # not glibc: nothing to do
            pass

    def after_connections(self, count: int) -> None:
        self.peak = max(self.peak, count)
        if self.peak - count >= self.drop and count <= self.peak // 2:
            self.peak = count
            self.trims += 1
            t0 = time.perf_counter()
            gc.collect()
            if self._trim is not None:
                self._trim(0)
            event("memory_returned", connections=count, ms=round((time.perf_counter() - t0) * 1000, 1))


def make_private_dir(path: os.PathLike[str] | str) -> None:
    """Create the data directory readable by its owner only; warn if an existing one is not."""
    from pathlib import Path

    p = Path(path)
    p.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = p.stat().st_mode & 0o777
    if mode & 0o077:
        event("data_dir_not_private", level=30, path=str(p), mode=oct(mode),
              hint=f"chmod 700 {p}: it holds direct messages and agents' memories")


async def run_server(cfg: Config) -> None:
    """Serve until SIGINT/SIGTERM, then shut down cleanly."""
    import signal

    # Handlers first: a signal that arrives while the server starts, or right after it says
    # it listens, is a clean stop, not a KeyboardInterrupt traceback.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = WorldServer(cfg)
    await server.start()
    # Latency: full collections walk every live object and stall the loop for tens of ms with
    # a thousand connections. Startup objects are frozen out of collection, and young
    # generations are collected less often (cycles are rare in the message path).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    print(f"Agora listening on {server.url}  (world {cfg.world}, data {cfg.data_dir})", flush=True)
    await stop.wait()
    await server.stop()
