"""`agora bots`: drive N headless clients against a server on this machine, then report.

Timeline (absolute, shared by all worker processes): bots connect at `--ramp` per second,
everyone settles for a second, then a `--duration` window is measured; the bots close and
the tool exits by itself. Rates, latencies and bytes count only inside the window; errors,
refused connections and server-side disconnects count over the whole run.

Cheap per client by construction (a load generator that copies every frame measures
itself): each connection is websockets' sans-I/O protocol driven from asyncio callbacks,
with no task or queue per connection; one ticker per process sends every bot's moves
(10 Hz, spread over the period), pings (1 Hz) and chat; a frame is counted by length and
its msgpack map unpacked (~0.5 us, the body stays one bytes object) only to read "t" and
"ack"; snapshot bodies are never decoded, except one own-position lookup when a bot picks
a new heading.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import multiprocessing
import random
import resource
import ssl
import sys
import time
import urllib.parse
import urllib.request
from array import array
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import msgpack
import numpy as np
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import WebSocketURI, parse_uri

from world.protocol import PROTOCOL_VERSION
from world.protocol.records import BODY_DTYPE, POS_SCALE

# Bounds: the tool refuses anything larger, and stops by itself.
MAX_COUNT = 5000
MAX_DURATION_S = 3600.0
MAX_PROCS = 16
SAMPLE_CAP = 200_000            # latency samples kept per metric per process (reservoir beyond)
PENDING_MOVES_CAP = 64          # moves awaiting an ack per bot
PENDING_PINGS_CAP = 8
CONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 5.0
SETTLE_S = 1.0                  # after the ramp, before the window opens
SLOTS = 10                      # the move period is split into this many send slots
WORLD_MARGIN_M = 2.0            # wander targets keep this far from the bounds
MAX_FRAME_IN = 2**22
SEND_BACKLOG_CAP = 64 * 1024    # bytes unsent to a connection before its bot skips a period

PHRASES = ("hello there", "nice view from here", "anyone around?", "walking to the fountain",
           "good to see you", "this place is busy", "see you later", "what a day")

_unpack = msgpack.unpackb
_pack = msgpack.packb


# -- statistics ---------------------------------------------------------------------------------
class Samples:
    """Latency samples: exact up to `cap` values, then a uniform reservoir of `cap`.

    Merging keeps each part's values with weight count/len, so a percentile over merged
    parts weighs every process by how many samples it actually saw.
    """

    def __init__(self, cap: int = SAMPLE_CAP, seed: int | None = None) -> None:
        self.cap = cap
        self.seen = 0
        self.values = array("d")
        self.chunks: list[tuple[array, int]] = []   # merged-in parts: (values, count they stand for)
        self._rng = random.Random(seed)

    def add(self, x: float) -> None:
        self.seen += 1
        if len(self.values) < self.cap:
            self.values.append(x)
        else:
            j = self._rng.randrange(self.seen)
            if j < self.cap:
                self.values[j] = x

    @property
    def count(self) -> int:
        return self.seen + sum(c for _, c in self.chunks)

    def parts(self) -> list[tuple[array, int]]:
        own = [(self.values, self.seen)] if self.values else []
        return [(v, c) for v, c in self.chunks if len(v)] + own

    @classmethod
    def merge(cls, items: Iterable["Samples"]) -> "Samples":
        out = cls()
        for s in items:
            out.chunks.extend(s.parts())
        return out

    def percentile(self, q: float) -> float | None:
        """Nearest-rank weighted percentile (q in 0..100); None without samples."""
        parts = self.parts()
        if not parts:
            return None
        values = np.concatenate([np.frombuffer(v, dtype=np.float64) for v, _ in parts])
        weights = np.concatenate([np.full(len(v), c / len(v)) for v, c in parts])
        order = np.argsort(values, kind="stable")
        cum = np.cumsum(weights[order])
        target = min(max(q, 0.0), 100.0) / 100.0 * cum[-1] * (1.0 - 1e-12)
        i = int(np.searchsorted(cum, target, side="left"))
        return float(values[order[min(i, len(values) - 1)]])


@dataclass
class Stats:
    """What one process measured; `merge_stats` adds processes together."""

    bots: int = 0                 # bots this process was asked to run
    connected: int = 0            # connected when the window closed
    connected_peak: int = 0
    connect_failed: Counter = field(default_factory=Counter)   # reason (error code / close code / exception)
    disconnects: Counter = field(default_factory=Counter)      # close code (str) -> n, before we closed
    errors: Counter = field(default_factory=Counter)           # error code -> n
    inputs: int = 0               # moves sent in the window
    snaps: int = 0                # snapshots received in the window
    frames: int = 0               # frames of any type received in the window
    bytes: int = 0                # bytes received in the window
    bad_frames: int = 0
    chats_sent: int = 0
    chats_acked: int = 0
    chats_heard: int = 0
    pings: int = 0
    unacked_moves: int = 0        # moves dropped from the pending list without an ack
    sends_skipped: int = 0        # move periods skipped because the server was not reading
    client_s: float = 0.0         # sum over bots of seconds connected inside the window
    window_s: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0            # user + system CPU seconds of the process(es), whole run
    cpu_window_s: float = 0.0     # the same, inside the window only
    procs: int = 1
    server: dict[str, Any] | None = None   # GET /stats at the end of the window, if it answered
    ack: Samples = field(default_factory=Samples)    # ms, move sent -> first snap acking it
    rtt: Samples = field(default_factory=Samples)    # ms, ping -> pong


_SUMMED = ("bots", "connected", "connected_peak", "inputs", "snaps", "frames", "bytes", "bad_frames",
           "chats_sent", "chats_acked", "chats_heard", "pings", "unacked_moves",
           "sends_skipped", "client_s", "cpu_s", "cpu_window_s")


def merge_stats(parts: Sequence[Stats]) -> Stats:
    """Add the stats of several processes; percentiles come from their merged samples."""
    out = Stats(procs=len(parts))
    for name in _SUMMED:
        setattr(out, name, sum(getattr(p, name) for p in parts))
    for p in parts:
        out.connect_failed.update(p.connect_failed)
        out.disconnects.update(p.disconnects)
        out.errors.update(p.errors)
        if out.server is None and p.server is not None:
            out.server = p.server
    out.window_s = max((p.window_s for p in parts), default=0.0)
    out.wall_s = max((p.wall_s for p in parts), default=0.0)
    out.ack = Samples.merge(p.ack for p in parts)
    out.rtt = Samples.merge(p.rtt for p in parts)
    return out


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


def _per(x: float, over: float) -> float:
    return x / over if over > 0.01 else 0.0


def summarise(stats: Stats) -> dict[str, Any]:
    """The report as one flat JSON-able map (the --json line)."""
    server = stats.server or {}
    return {
        "count": stats.bots,
        "connected": stats.connected,
        "connected_peak": stats.connected_peak,
        "connect_failed": sum(stats.connect_failed.values()),
        "connect_failed_by_reason": dict(stats.connect_failed),
        "disconnects": sum(stats.disconnects.values()),
        "disconnects_by_code": dict(stats.disconnects),
        "errors": sum(stats.errors.values()),
        "errors_by_code": dict(stats.errors),
        "inputs_per_s": _r(_per(stats.inputs, stats.window_s), 1),
        "snapshots_per_s": _r(_per(stats.snaps, stats.client_s)),
        "bytes_per_client_s": _r(_per(stats.bytes, stats.client_s), 1),
        "ack_p50_ms": _r(stats.ack.percentile(50)),
        "ack_p99_ms": _r(stats.ack.percentile(99)),
        "ack_samples": stats.ack.count,
        "rtt_p50_ms": _r(stats.rtt.percentile(50)),
        "rtt_p99_ms": _r(stats.rtt.percentile(99)),
        "rtt_samples": stats.rtt.count,
        "chats_sent": stats.chats_sent,
        "chats_acked": stats.chats_acked,
        "chats_heard": stats.chats_heard,
        "bad_frames": stats.bad_frames,
        "unacked_moves": stats.unacked_moves,
        "sends_skipped": stats.sends_skipped,
        "window_s": _r(stats.window_s),
        "wall_s": _r(stats.wall_s),
        "cpu_s": _r(stats.cpu_s),
        "cpu_window_s": _r(stats.cpu_window_s),
        "cpu_pct_of_core": _r(100.0 * _per(stats.cpu_window_s, stats.window_s), 1),
        "procs": stats.procs,
        "server_tick_p50_ms": server.get("tick_p50_ms"),
        "server_tick_p99_ms": server.get("tick_p99_ms"),
    }


def json_line(summary: dict[str, Any]) -> str:
    """The summary as exactly one line of JSON."""
    return json.dumps(summary, separators=(",", ":"), sort_keys=False, default=str)


def render(summary: dict[str, Any]) -> Any:
    """A rich table of the summary."""
    from rich.table import Table

    def ms(a: str, b: str) -> str:
        pa, pb = summary[a], summary[b]
        return "-" if pa is None else f"{pa:.1f} / {pb:.1f}"

    def codes(d: dict[str, int]) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])) or "-"

    t = Table(title=f"agora bots: {summary['count']} bots, {summary['window_s']} s window")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("connected (peak)", f"{summary['connected']} ({summary['connected_peak']})")
    t.add_row("connect failed", f"{summary['connect_failed']}  {codes(summary['connect_failed_by_reason'])}"
              if summary["connect_failed"] else "0")
    t.add_row("inputs/s (all bots)", f"{summary['inputs_per_s']}")
    t.add_row("snapshots/s per client", f"{summary['snapshots_per_s']}")
    t.add_row("input->ack p50 / p99 ms", ms("ack_p50_ms", "ack_p99_ms"))
    t.add_row("ping rtt p50 / p99 ms", ms("rtt_p50_ms", "rtt_p99_ms"))
    t.add_row("received KB/s per client", f"{summary['bytes_per_client_s'] / 1000:.1f}")
    t.add_row("chat sent / acked / heard",
              f"{summary['chats_sent']} / {summary['chats_acked']} / {summary['chats_heard']}")
    t.add_row("errors", f"{summary['errors']}  {codes(summary['errors_by_code'])}"
              if summary["errors"] else "0")
    t.add_row("disconnects", f"{summary['disconnects']}  {codes(summary['disconnects_by_code'])}"
              if summary["disconnects"] else "0")
    t.add_row("tool CPU in window (run)",
              f"{summary['cpu_window_s']} s = {summary['cpu_pct_of_core']} % of a core "
              f"({summary['cpu_s']} s) in {summary['procs']} proc(s)")
    t.add_row("server tick p50 / p99 ms", _tick(summary))
    return t


def _tick(summary: dict[str, Any]) -> str:
    p50, p99 = summary["server_tick_p50_ms"], summary["server_tick_p99_ms"]
    if not isinstance(p50, (int, float)) or not isinstance(p99, (int, float)):
        return "n/a (no GET /stats)"
    return f"{p50:.2f} / {p99:.2f}"


# -- one process's swarm ------------------------------------------------------------------------
@dataclass
class WorkerConfig:
    url: str
    indices: list[int]            # global bot numbers this process runs
    count: int                    # bots in the whole run (for the shared timeline)
    ramp: float                   # connections per second, whole run
    duration: float
    start_at: float               # time.time() at which the ramp starts, shared by all processes
    move_hz: float = 10.0
    ping_every: float = 1.0
    chat_every: float = 20.0      # seconds between a bot's chat lines; 0 = never
    space: str | None = None
    prefix: str = "bot"
    seed: int = 0
    fetch_server_stats: bool = False


def heading_to(dx: float, dy: float) -> float:
    """The yaw whose forward vector (-sin yaw, cos yaw) points along (dx, dy)."""
    return math.atan2(-dx, dy)


class Link(asyncio.Protocol):
    """One WebSocket connection: websockets' sans-I/O ClientProtocol driven from asyncio callbacks.

    No reader task and no message queue per connection: each complete message is handed to
    `on_message` inside data_received. Pings and the closing handshake are answered by the
    protocol object itself. Same wire behaviour as websockets.asyncio.client.connect with
    compression=None, proxy=None, max_size=2**22.
    """

    def __init__(self, uri: WebSocketURI, on_message: Callable[[bytes | str], None]) -> None:
        loop = asyncio.get_running_loop()
        self.proto = ClientProtocol(uri, max_size=MAX_FRAME_IN)
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self._fragments: list[bytes] = []
        self._abort_timer: asyncio.TimerHandle | None = None

    @property
    def is_open(self) -> bool:
        return self.proto.state is State.OPEN

    @property
    def close_code(self) -> int | None:
        return self.proto.close_code

    def backlog(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def send(self, data: bytes) -> bool:
        """Queue one binary message; False if the connection is not open."""
        if self.proto.state is not State.OPEN:
            return False
        self.proto.send_binary(data)
        self._flush()
        return True

    def close(self, code: int = 1000) -> None:
        if self.proto.state is State.OPEN:
            self.proto.send_close(code)
            self._flush()
        elif self.proto.state is State.CONNECTING and self.transport is not None:
            self.transport.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # asyncio.Protocol callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.proto.send_request(self.proto.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        proto = self.proto
        proto.receive_data(data)
        events = proto.events_received()
        self._flush()
        for event in events:
            if type(event) is Frame:
                self._frame(event)
            elif not self.opened.done():       # the handshake response
                if proto.handshake_exc is not None:
                    self.opened.set_exception(proto.handshake_exc)
                else:
                    self.opened.set_result(None)

    def eof_received(self) -> bool | None:
        self.proto.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.proto.receive_eof()      # idempotent; the state becomes CLOSED
        if self._abort_timer is not None:
            self._abort_timer.cancel()
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("connection closed during the handshake"))
            self.opened.exception()   # retrieved here: the joiner may already have given up
        if not self.lost.done():
            self.lost.set_result(None)

    def _frame(self, frame: Frame) -> None:
        op = frame.opcode
        if op is Opcode.BINARY or op is Opcode.TEXT:
            data = frame.data if op is Opcode.BINARY else bytes(frame.data).decode("utf-8", "replace")
            if frame.fin:
                self.on_message(data)  # type: ignore[arg-type]
            else:
                self._fragments = [bytes(frame.data)]
        elif op is Opcode.CONT and self._fragments:
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                data, self._fragments = b"".join(self._fragments), []
                self.on_message(data)

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for chunk in self.proto.data_to_send():
            if transport.is_closing():
                break
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()
        if self.proto.close_expected() and self._abort_timer is None:
            self._abort_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, transport.abort)


class LoadBot:
    """One connection's state; sending is driven by the swarm's ticker, receiving by `on_frame`."""

    __slots__ = ("swarm", "index", "name", "link", "entity", "bounds", "open", "seq", "moves",
                 "pings", "body", "intent", "target", "next_turn", "next_ping", "next_chat",
                 "rid", "connected_at", "rng", "_joining")

    def __init__(self, swarm: "Swarm", index: int) -> None:
        self.swarm = swarm
        self.index = index
        self.name = f"{swarm.cfg.prefix}{index}"[:32]
        self.link: Link | None = None
        self.entity = -1
        self.bounds: tuple[float, float, float, float] | None = None
        self.open = False
        self.seq = 0
        self.moves: deque[tuple[int, float]] = deque()
        self.pings: dict[int, float] = {}
        self.body: bytes = b""
        self.intent: tuple[float, float, float, bool] = (0.0, 0.0, 0.0, False)
        self.target: tuple[float, float] | None = None
        self.next_turn = self.next_ping = self.next_chat = 0.0
        self.rid = 0
        self.connected_at = 0.0
        self.rng = random.Random(swarm.cfg.seed * 1_000_003 + index)
        self._joining: asyncio.Future[dict[str, Any]] | None = None

    async def run(self) -> None:
        """Join, then hand over to callbacks; every way a join can fail is counted, not raised."""
        sw = self.swarm
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await self._join()
        except Exception as exc:
            sw.stats.connect_failed[_failure_reason(exc, self.link)] += 1
            if self.link is not None:
                self.link.abort()
            return
        assert self.link is not None
        self.link.on_message = self.on_frame
        sw.joined(self)
        self.link.lost.add_done_callback(lambda _: sw.left(self))

    async def _join(self) -> None:
        cfg, uri = self.swarm.cfg, self.swarm.uri
        loop = asyncio.get_running_loop()
        _, self.link = await loop.create_connection(
            lambda: Link(uri, self._on_join_frame), uri.host, uri.port,
            ssl=ssl.create_default_context() if uri.secure else None)
        await self.link.opened
        hello: dict[str, Any] = {"t": "hello", "v": PROTOCOL_VERSION, "name": self.name, "kind": "bot"}
        if cfg.space:
            hello["space"] = cfg.space
        self._joining = loop.create_future()
        self.link.send(_pack(hello))
        await asyncio.wait((self._joining, self.link.lost), return_when=asyncio.FIRST_COMPLETED)
        if not self._joining.done():
            raise JoinClosed(self.link.close_code)
        msg = self._joining.result()
        if msg.get("t") == "error":
            raise JoinRefused(str(msg.get("code")))
        self.entity = int(msg.get("you", -1))
        bounds = (msg.get("space") or {}).get("bounds")
        if isinstance(bounds, (list, tuple)) and len(bounds) == 4:
            self.bounds = tuple(float(b) for b in bounds)  # type: ignore[assignment]

    def _on_join_frame(self, frame: bytes | str) -> None:
        try:
            msg = _unpack(frame)
            t = msg["t"]
        except Exception:
            self.swarm.stats.bad_frames += 1
            return
        if t in ("welcome", "error") and self._joining is not None and not self._joining.done():
            self._joining.set_result(msg)

    def on_frame(self, frame: bytes | str) -> None:
        sw = self.swarm
        st = sw.stats
        measuring = sw.measuring
        if measuring:
            st.frames += 1
            st.bytes += len(frame)
        try:
            msg = _unpack(frame)
            t = msg["t"]
        except Exception:
            st.bad_frames += 1
            return
        if t == "snap":
            if measuring:
                st.snaps += 1
            self.body = msg.get("b") or self.body
            ack = msg.get("ack")
            moves = self.moves
            if ack is not None and moves and moves[0][0] <= ack:
                now = time.monotonic()
                while moves and moves[0][0] <= ack:
                    sent = moves.popleft()[1]
                    if measuring:
                        st.ack.add((now - sent) * 1000.0)
        elif t == "pong":
            sent = self.pings.pop(msg.get("n"), None)
            if sent is not None and measuring:
                st.rtt.add((time.perf_counter() - sent) * 1000.0)
        elif t == "error":
            st.errors[str(msg.get("code"))] += 1
        elif t == "ack":
            st.chats_acked += 1
        elif t == "chat":
            st.chats_heard += 1

    def own_position(self) -> tuple[float, float] | None:
        """Sampled, not per frame: one vector lookup in the latest body records."""
        if not self.body:
            return None
        b = np.frombuffer(self.body, dtype=BODY_DTYPE)
        rows = b[b["id"] == self.entity]
        if not len(rows):
            return None
        return float(rows["x"][0]) / POS_SCALE, float(rows["y"][0]) / POS_SCALE

    def choose_intent(self, now: float) -> None:
        """Wander: head for a random point in the space, pause or run now and then."""
        rng = self.rng
        pos = self.own_position()
        if self.bounds is not None and pos is not None:
            x0, y0, x1, y1 = self.bounds
            m = min(WORLD_MARGIN_M, (x1 - x0) / 4, (y1 - y0) / 4)
            if self.target is None or math.dist(pos, self.target) < 3.0:
                self.target = (rng.uniform(x0 + m, x1 - m), rng.uniform(y0 + m, y1 - m))
            yaw = heading_to(self.target[0] - pos[0], self.target[1] - pos[1])
        else:
            yaw = rng.uniform(-math.pi, math.pi)
        roll = rng.random()
        fwd = 0.0 if roll < 0.15 else 1.0
        self.intent = (fwd, rng.uniform(-0.2, 0.2) if fwd else 0.0, yaw, roll > 0.9)
        self.next_turn = now + rng.uniform(2.0, 5.0)

    def tick(self, now: float) -> None:
        """Send this period's move, and a ping or a chat line when due."""
        sw = self.swarm
        st = sw.stats
        link = self.link
        assert link is not None
        if link.backlog() > SEND_BACKLOG_CAP:   # the server is not reading: do not pile up
            st.sends_skipped += 1
            return
        if now >= self.next_turn:
            self.choose_intent(now)
        fwd, side, yaw, run = self.intent
        self.seq += 1
        msg: dict[str, Any] = {"t": "move", "seq": self.seq, "fwd": fwd, "side": side, "yaw": yaw}
        if run:
            msg["run"] = True
        if len(self.moves) >= PENDING_MOVES_CAP:
            self.moves.popleft()
            st.unacked_moves += 1
        self.moves.append((self.seq, time.monotonic()))
        if not link.send(_pack(msg)):
            return
        if sw.measuring:
            st.inputs += 1
        if now >= self.next_ping:
            self.next_ping = max(self.next_ping + sw.cfg.ping_every, now)
            n = int(now * 1000)
            while n in self.pings:
                n += 1
            if len(self.pings) >= PENDING_PINGS_CAP:
                self.pings.pop(next(iter(self.pings)))
            self.pings[n] = time.perf_counter()
            st.pings += 1
            link.send(_pack({"t": "ping", "n": n}))
        if sw.cfg.chat_every > 0 and now >= self.next_chat:
            self.next_chat = now + sw.cfg.chat_every * self.rng.uniform(0.5, 1.5)
            self.rid += 1
            text = f"{self.rng.choice(PHRASES)} #{self.rid}"
            st.chats_sent += 1
            link.send(_pack({"t": "chat", "rid": self.rid, "ch": "near", "text": text}))


class JoinRefused(Exception):
    """The server answered hello with an error; args[0] is its code."""


class JoinClosed(Exception):
    """The connection closed before a welcome; args[0] is the close code."""


def _failure_reason(exc: BaseException, link: Link | None) -> str:
    if isinstance(exc, JoinRefused):
        return exc.args[0]
    if isinstance(exc, JoinClosed):
        return f"close {exc.args[0]}"
    if isinstance(exc, InvalidStatus):
        return f"http {exc.response.status_code}"
    return type(exc).__name__


class Swarm:
    """The bots of one process, on one event loop, following the shared timeline."""

    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg
        self.uri = parse_uri(cfg.url)
        self.stats = Stats(bots=len(cfg.indices))
        self.bots: list[LoadBot] = []
        self.slots: list[list[LoadBot]] = [[] for _ in range(SLOTS)]
        self.live: set[LoadBot] = set()
        self.measuring = False
        self.stopping = False
        self.window = (math.inf, math.inf)

    def joined(self, bot: LoadBot) -> None:
        now = time.monotonic()
        bot.open = True
        bot.connected_at = now
        bot.next_ping = now + bot.rng.uniform(0.0, self.cfg.ping_every)
        bot.next_chat = now + bot.rng.uniform(0.0, self.cfg.chat_every or 1.0)
        self.live.add(bot)
        self.slots[bot.index % SLOTS].append(bot)
        self.stats.connected_peak = max(self.stats.connected_peak, len(self.live))

    def left(self, bot: LoadBot) -> None:
        if not bot.open:
            return
        bot.open = False
        self.live.discard(bot)
        self.slots[bot.index % SLOTS].remove(bot)
        if not self.stopping:
            assert bot.link is not None
            self.stats.disconnects[str(bot.link.close_code)] += 1
            if self.measuring:
                self.stats.client_s += time.monotonic() - max(bot.connected_at, self.window[0])

    async def ticker(self) -> None:
        """Send each slot's moves in turn, so inputs reach the server spread over the period."""
        step = 1.0 / (self.cfg.move_hz * SLOTS)
        k = 0
        due = time.monotonic()
        while not self.stopping:
            now = time.monotonic()
            for bot in self.slots[k]:
                bot.tick(now)
            k = (k + 1) % SLOTS
            due += step
            now = time.monotonic()
            if due < now - 1.0:   # fell far behind: skip ahead rather than burst to catch up
                due = now
            await asyncio.sleep(max(0.0, due - now))

    async def run(self) -> Stats:
        cfg = self.cfg
        cpu0 = _cpu_s()
        wall0 = time.monotonic()
        t0 = wall0 + max(0.0, cfg.start_at - time.time())
        ramp_end = t0 + cfg.count / cfg.ramp
        self.window = (ramp_end + SETTLE_S, ramp_end + SETTLE_S + cfg.duration)
        joins: list[asyncio.Task[None]] = []
        ticker = asyncio.create_task(self.ticker())
        for i in cfg.indices:                       # global index i starts at t0 + i / ramp
            await _sleep_until(t0 + i / cfg.ramp)
            bot = LoadBot(self, i)
            self.bots.append(bot)
            joins.append(asyncio.create_task(bot.run()))
        await self._sleep_while_alive(self.window[0], joins)
        self.measuring = True
        start, cpu_start = time.monotonic(), _cpu_s()
        await self._sleep_while_alive(self.window[1], joins)
        end = time.monotonic()
        self.measuring = False
        st = self.stats
        st.cpu_window_s = _cpu_s() - cpu_start
        st.window_s = end - start
        st.connected = len(self.live)
        for bot in self.live:
            st.client_s += end - max(bot.connected_at, start)
        if cfg.fetch_server_stats:
            st.server = await asyncio.to_thread(fetch_server_stats, cfg.url)
        self.stopping = True
        await _cancel(ticker)
        await self._close_all(joins)
        st.cpu_s = _cpu_s() - cpu0
        st.wall_s = time.monotonic() - wall0
        return st

    async def _sleep_while_alive(self, until: float, joins: list[asyncio.Task[None]]) -> None:
        """Sleep until `until`, or less once every join has ended and no bot is connected."""
        while time.monotonic() < until:
            if not self.live and all(task.done() for task in joins):
                return
            await asyncio.sleep(min(0.25, max(0.0, until - time.monotonic())))

    async def _close_all(self, joins: list[asyncio.Task[None]]) -> None:
        for task in joins:
            task.cancel()
        await asyncio.gather(*joins, return_exceptions=True)
        links = [b.link for b in self.bots if b.link is not None]
        for link in links:
            link.close()
        pending = [link.lost for link in links if not link.lost.done()]
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_TIMEOUT_S)
        for link in links:
            if not link.lost.done():
                link.abort()
        await asyncio.sleep(0)


async def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def run_worker(cfg: WorkerConfig) -> Stats:
    """Run one process's share of the bots to the end of the timeline."""
    _raise_fd_limit(len(cfg.indices) + 256)
    return asyncio.run(Swarm(cfg).run())


def fetch_server_stats(ws_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """GET /stats on the server's HTTP side; None if it is absent or not a JSON object."""
    parts = urllib.parse.urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    url = urllib.parse.urlunsplit((scheme, parts.netloc, "/stats", "", ""))
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = json.loads(resp.read(1_000_000))
    except Exception:
        return None
    return data if isinstance(data, dict) else None


# -- command line -------------------------------------------------------------------------------
def is_loopback(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="ws://127.0.0.1:8765", help="server URL (loopback only)")
    parser.add_argument("--count", type=int, default=100, help=f"bots to connect (max {MAX_COUNT})")
    parser.add_argument("--duration", type=float, default=30.0,
                        help="seconds measured once every bot has had its turn to connect")
    parser.add_argument("--procs", type=int, default=1, help="worker processes to split the bots across")
    parser.add_argument("--ramp", type=float, default=50.0, help="connections per second")
    parser.add_argument("--chat-every", type=float, default=20.0,
                        help="mean seconds between one bot's chat lines (0: no chat)")
    parser.add_argument("--move-hz", type=float, default=10.0, help="movement intents per second per bot")
    parser.add_argument("--ping-every", type=float, default=1.0, help="seconds between one bot's pings")
    parser.add_argument("--space", default=None, help="space to join (default: the server's)")
    parser.add_argument("--prefix", default="bot", help="display-name prefix")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true",
                        help="print one line of JSON on stdout, nothing else (the table goes to stderr)")


def check_args(args: argparse.Namespace) -> str | None:
    """A reason to refuse the arguments, or None."""
    if not is_loopback(args.url):
        return f"--url must be a ws:// URL on this machine (loopback), not {args.url!r}"
    if not 1 <= args.count <= MAX_COUNT:
        return f"--count must be 1..{MAX_COUNT}"
    if not 0 < args.duration <= MAX_DURATION_S:
        return f"--duration must be in (0, {MAX_DURATION_S:g}] seconds"
    if not 1 <= args.procs <= MAX_PROCS:
        return f"--procs must be 1..{MAX_PROCS}"
    if not 0 < args.ramp <= 10_000:
        return "--ramp must be in (0, 10000] per second"
    if not 0 < args.move_hz <= 60 or not 0 < args.ping_every <= 60 or not 0 <= args.chat_every <= 3600:
        return "--move-hz must be in (0, 60], --ping-every in (0, 60], --chat-every in [0, 3600]"
    return None


def worker_configs(args: argparse.Namespace, start_at: float) -> list[WorkerConfig]:
    procs = min(args.procs, args.count)
    return [WorkerConfig(url=args.url, indices=list(range(w, args.count, procs)), count=args.count,
                         ramp=args.ramp, duration=args.duration, start_at=start_at, move_hz=args.move_hz,
                         ping_every=args.ping_every, chat_every=args.chat_every, space=args.space,
                         prefix=args.prefix, seed=args.seed, fetch_server_stats=(w == 0))
            for w in range(procs)]


def run(args: argparse.Namespace) -> int:
    """Run the load, print the table (and the JSON line); 0 if any bot connected."""
    from rich.console import Console

    problem = check_args(args)
    if problem:
        print(f"agora bots: {problem}", file=sys.stderr)
        return 2
    procs = min(args.procs, args.count)
    lead = 0.0 if procs == 1 else 1.0 + 0.25 * procs   # spawned workers import before the ramp
    cfgs = worker_configs(args, time.time() + lead)
    print(f"agora bots: {args.count} bots -> {args.url} in {procs} process(es), ramp {args.ramp:g}/s, "
          f"then a {args.duration:g} s window", file=sys.stderr, flush=True)
    if procs == 1:
        stats = run_worker(cfgs[0])
    else:
        with multiprocessing.get_context("spawn").Pool(procs) as pool:
            parts = pool.map(run_worker, cfgs)
        stats = merge_stats(parts)
    summary = summarise(stats)
    # With --json, stdout is for the JSON line alone (`agora bots ... --json | jq`).
    Console(stderr=args.json).print(render(summary))
    if args.json:
        print(json_line(summary), flush=True)
    return 0 if summary["connected_peak"] > 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agora bots", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
