"""fuzz: tens of thousands of bad frames at one connection while a bystander counts its snapshots.

The fuzzer joins, then sends frames from world.chaos.frames with at most `window` invalid ones
awaiting their answer. Validation errors (§11, the codes of `frames.VALIDATION_CODES`) are sent
the moment a frame arrives, in order, and processing never uses those codes, so each one
answers the oldest invalid frame still waiting. Other errors (rate_limited, not_found, ...)
answer valid frames. When strikes close the connection (4005, §10.2) the frames still waiting
were never read by the server: they are sent again on the next connection (a resumed login).
Frames over 64 KiB close the connection with 1009 and no error (§1); that too is checked.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from world.chaos.frames import Frame, VALIDATION_CODES, frames
from world.chaos.observer import Observer, Watch
from world.chaos.process import ServerProcess, server_env
from world.chaos.report import Outcome
from world.protocol import PROTOCOL_VERSION, decode_server, encode
from world.protocol.errors import CLOSE, ERRORS

MIN_SNAPS_PER_S = 25.0
MIN_TICK_SHARE = 0.9             # of tick_hz, from the server's own tick counter
REPLY_TIMEOUT_S = 10.0           # an invalid frame unanswered this long counts as unanswered


@dataclass
class FuzzOptions:
    frames: int = 50_000
    window: int = 16              # invalid frames awaiting their error, at most
    seconds: float = 900.0        # give up (and fail) after this long
    seed: int = 0


@dataclass
class Tally:
    sent: Counter = field(default_factory=Counter)          # family -> frames sent (first time)
    invalid: int = 0                                        # distinct invalid frames sent
    answered: int = 0                                       # ... answered by a validation error
    wrong_code: Counter = field(default_factory=Counter)    # "expected -> got" -> n
    unanswered: int = 0                                     # waited REPLY_TIMEOUT_S in vain
    stray: int = 0                                          # validation errors with no frame waiting
    uncoded: Counter = field(default_factory=Counter)       # error codes not in §11
    internal: int = 0
    refusals: Counter = field(default_factory=Counter)      # errors answering valid frames
    valid: int = 0
    closes: Counter = field(default_factory=Counter)        # close code -> n
    huge_sent: int = 0
    huge_closed_1009: int = 0
    resent: int = 0                                         # lost to a 4005 close, sent again
    connections: int = 0


class Fuzzer:
    def __init__(self, url: str, window: int) -> None:
        self.url = url
        self.window = window
        self.token: str | None = None
        self.tick_hz = 0
        self.tally = Tally()
        self.waiting: deque[tuple[Frame, float]] = deque()   # invalid frames sent, not yet answered
        self.retry: deque[Frame] = deque()
        self.answered = asyncio.Event()
        self.closed = False

    async def join(self) -> ClientConnection:
        """Connect and say hello (resuming the fuzzer's account after the first time)."""
        ws = await connect(self.url, compression=None, proxy=None, max_size=2**22, ping_interval=None,
                           open_timeout=REPLY_TIMEOUT_S, max_queue=None)
        hello: dict[str, Any] = {"t": "hello", "v": PROTOCOL_VERSION, "name": "Fuzzer", "kind": "bot"}
        if self.token:
            hello["token"] = self.token
        await ws.send(encode(hello))
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            while True:
                msg = decode_server(await ws.recv())
                if msg["t"] == "welcome":
                    self.token = msg["token"]
                    self.tick_hz = int(msg.get("tick_hz") or 0)
                    break
                if msg["t"] == "error":
                    raise RuntimeError(f"the fuzzer's hello was refused: {msg.get('code')}")
        self.tally.connections += 1
        self.closed = False
        return ws

    def on_message(self, raw: bytes | str) -> None:
        if isinstance(raw, str):
            return
        msg = decode_server(raw)
        if msg["t"] != "error":
            return
        code = str(msg.get("code"))
        t = self.tally
        if code not in ERRORS:
            t.uncoded[code] += 1
        if code == "internal":
            t.internal += 1
        if code not in VALIDATION_CODES:
            t.refusals[code] += 1
            return
        if not self.waiting:
            t.stray += 1
            return
        frame, _ = self.waiting.popleft()
        t.answered += 1
        if frame.expect != code:
            t.wrong_code[f"{frame.expect} -> {code}"] += 1
        self.answered.set()

    async def read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self.on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self.answered.set()

    async def run(self, source: Iterator[Frame], deadline: float) -> None:
        """Send every frame of `source` (and the re-sends), connection after connection."""
        while time.monotonic() < deadline:
            ws = await self.join()
            reader = asyncio.create_task(self.read(ws))
            ended = await self._send_on(ws, source, deadline)
            if ended != "closed":                 # our turn to end it: every frame out, or a fresh start
                await self._drain(deadline)
                if not self.closed:
                    await ws.close()
            await reader
            if ended == "closed" or ws.close_code != CLOSE["normal"]:
                self.tally.closes[ws.close_code if ws.close_code is not None else 1006] += 1
            # Frames still waiting were never read: the server closed after the one that struck out.
            while self.waiting:
                self.retry.appendleft(self.waiting.pop()[0])
                self.tally.resent += 1
            if ended == "done" and not self.retry:
                return
        self.tally.unanswered += len(self.waiting) + len(self.retry)

    async def _send_on(self, ws: ClientConnection, source: Iterator[Frame], deadline: float) -> str:
        """Send frames until every one is out ("done"), the server closes ("closed"), or a frame
        over 64 KiB needs a connection of its own ("fresh")."""
        t = self.tally
        sent_here = 0
        while time.monotonic() < deadline:
            while len(self.waiting) >= self.window and not self.closed:
                await self._next_answer()
            if self.closed:
                return "closed"
            if self.retry:
                frame = self.retry.popleft()
            else:
                frame = next(source, None)
                if frame is None:
                    return "done"
                t.sent[frame.family] += 1
                t.invalid += frame.invalid
            try:
                if frame.expect == "close 1009":
                    if sent_here:
                        # First on a fresh connection, so no strike from earlier frames can close it
                        # with 4005 before the server reads it.
                        self.retry.appendleft(frame)
                        return "fresh"
                    t.huge_sent += 1
                    await ws.send(frame.data)
                    await asyncio.wait_for(ws.wait_closed(), REPLY_TIMEOUT_S)
                    t.huge_closed_1009 += ws.close_code == CLOSE["too_big"]
                    return "closed"
                if frame.invalid:
                    self.waiting.append((frame, time.monotonic()))
                else:
                    t.valid += 1
                sent_here += 1
                await ws.send(frame.data)
            except (ConnectionClosed, TimeoutError):
                return "closed"
        return "closed"

    async def _next_answer(self) -> None:
        """Wait for an answer; a frame left unanswered for REPLY_TIMEOUT_S is counted and given up."""
        self.answered.clear()
        if self.closed or not self.waiting:
            return
        try:
            await asyncio.wait_for(self.answered.wait(), REPLY_TIMEOUT_S)
        except TimeoutError:
            if self.waiting and time.monotonic() - self.waiting[0][1] >= REPLY_TIMEOUT_S:
                self.waiting.popleft()
                self.tally.unanswered += 1

    async def _drain(self, deadline: float) -> None:
        while self.waiting and not self.closed and time.monotonic() < deadline:
            await self._next_answer()


def _frames(rng: random.Random, count: int, batch: int = 500) -> Iterator[Frame]:
    """Generated a batch at a time: the over-16 KiB ones would otherwise hold tens of MB."""
    left = count
    while left > 0:
        yield from frames(rng, min(batch, left))
        left -= batch


async def run(opts: FuzzOptions, work: Path) -> Outcome:
    out = Outcome("fuzz")
    srv = ServerProcess.start(work / "data", work / "server.log", env=server_env())
    observer: Observer | None = None
    try:
        observer = await asyncio.to_thread(Observer(Watch(srv.url)).start)
        s0 = srv.stats() or {}
        rss0 = srv.rss_mb()
        fuzzer = Fuzzer(srv.url, opts.window)
        t0 = time.monotonic()
        await fuzzer.run(iter(_frames(random.Random(opts.seed), opts.frames)), t0 + opts.seconds)
        t1 = time.monotonic()
        s1 = srv.stats() or {}
        seen = await asyncio.to_thread(observer.stop)
        observer = None
        if seen.error:
            out.reason = f"observer: {seen.error}"
        alive = srv.alive
        rss1 = srv.rss_mb()
    finally:
        if observer is not None:
            observer.stop()
        srv.terminate()
    t = fuzzer.tally
    elapsed = t1 - t0
    tick_hz = fuzzer.tick_hz or 30
    ticks_per_s = (s1.get("ticks", 0) - s0.get("ticks", 0)) / elapsed if elapsed > 0 else 0.0
    snaps = seen.snaps_per_s(t0, t1)
    total_sent = sum(t.sent.values())

    out.equal("frames sent", total_sent, opts.frames)
    out.check("invalid frames answered by a coded error", t.answered == t.invalid and not t.unanswered,
              f"{t.answered}/{t.invalid}", "all")
    out.equal("answers with a code outside §11", sum(t.uncoded.values()), 0)
    out.equal("answers with another code than the contract's", sum(t.wrong_code.values()), 0)
    out.equal("coded errors with no frame waiting", t.stray, 0)
    out.equal("internal errors", t.internal, 0)
    out.check("frames over 64 KiB closed with 1009 (§1)", t.huge_closed_1009 == t.huge_sent,
              f"{t.huge_closed_1009}/{t.huge_sent}", "all")
    out.check("server alive, tick running", alive and ticks_per_s >= MIN_TICK_SHARE * tick_hz,
              round(ticks_per_s, 1), f">= {MIN_TICK_SHARE * tick_hz:g} ticks/s")
    out.at_least("bystander snapshots/s (average)", snaps, MIN_SNAPS_PER_S)
    out.check("bystander stayed connected", seen.closed_code is None, seen.closed_code or "connected", "connected")
    out.metrics.update({
        "seconds": round(elapsed, 1), "frames/s": round(total_sent / elapsed, 1) if elapsed else None,
        "frames by family": dict(t.sent.most_common()),
        "valid frames": t.valid, "their refusals (code: n)": dict(t.refusals.most_common()),
        "wrong codes": dict(t.wrong_code.most_common(8)) or 0,
        "fuzzer connections": t.connections, "closes by code": dict(t.closes),
        "frames re-sent after a close": t.resent,
        "bystander worst second (snapshots)": seen.worst_second(t0, t1),
        "server errors_sent": s1.get("errors_sent"), "server tick p99 ms": s1.get("tick_p99_ms"),
        "server RSS MB before / after": [_mb(rss0), _mb(rss1)],
    })
    return out


def _mb(x: float | None) -> float | None:
    return None if x is None else round(x, 1)
