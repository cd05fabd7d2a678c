"""Headless asyncio client of protocol v1, for tests, scripted users and demos.

    bot = await Bot.connect("ws://127.0.0.1:8765", "ada")
    await bot.say("hello")                        # returns the server's ack, raises BotError
    msg = await other.expect("chat", text="hello")
    err = await bot.expect("error", code="rate_limited")

A reader task dispatches every server frame. Snapshots replace `last_snap` (bodies are
decoded only when asked, by `bodies()` / `positions()`); enter/leave keep `entities`;
every other message lands in a per-type `inbox` and in a bounded log that `wait_for` /
`expect` search. A match is consumed, so two `expect("chat")` calls return two messages;
a reply already returned by `request`/`ping` (or raised as BotError) counts as consumed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections import defaultdict, deque
from typing import Any, Callable, NamedTuple, Union

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from world.protocol import PROTOCOL_VERSION, decode_server, encode
from world.protocol.records import BODY_DTYPE, POS_SCALE, POSE_DTYPE, bodies_from_bytes, poses_from_bytes

log = logging.getLogger("agora.bot")

MAX_SIZE = 2**22                # largest server frame accepted
DEFAULT_TIMEOUT = 5.0           # seconds for replies and expectations
LOG_CAP = 5000                  # non-snapshot messages kept for wait_for / expect
INBOX_CAP = 1000                # messages kept per type in `inbox`
LATENCY_CAP = 10_000            # samples kept in ack_latency and rtts
PENDING_MOVES_CAP = 1024        # moves awaiting an ack (a server that never acks cannot grow this)
U32 = 2**32 - 1
RID_MAX = 2**31 - 1

Matcher = Union[str, Callable[[dict[str, Any]], bool], None]


class BotError(Exception):
    """A coded failure: an error reply from the server, or "closed" when the connection ended."""

    def __init__(self, code: str, msg: str = "", *, field: str | None = None, rid: int | None = None,
                 close_code: int | None = None, close_reason: str = "") -> None:
        super().__init__(f"{code}: {msg}" if msg else code)
        self.code = code
        self.msg = msg
        self.field = field
        self.rid = rid
        self.close_code = close_code
        self.close_reason = close_reason

    @classmethod
    def from_reply(cls, reply: dict[str, Any], close_code: int | None = None,
                   close_reason: str = "") -> "BotError":
        return cls(str(reply.get("code", "unknown")), str(reply.get("msg", "")), field=reply.get("field"),
                   rid=reply.get("rid"), close_code=close_code, close_reason=close_reason)


class BotClosed(BotError):
    """The connection is closed; `close_code` / `close_reason` say how."""

    def __init__(self, close_code: int | None, close_reason: str = "") -> None:
        super().__init__("closed", f"connection closed ({close_code} {close_reason})".strip(),
                         close_code=close_code, close_reason=close_reason)


class Snapshot(NamedTuple):
    tick: int
    ack: int | None          # seq of the last move the server applied
    body: bytes              # packed records.BODY_DTYPE, own avatar included
    pose: bytes | None       # packed records.POSE_DTYPE, when present
    at: float                # time.monotonic() at receipt


def matches(msg: dict[str, Any], match: Matcher, fields: dict[str, Any]) -> bool:
    """Whether `msg` has type `match` (or satisfies it, if callable) and every field equals.

    A field's expected value may be a callable, called with the field's value (None if absent).
    """
    if isinstance(match, str):
        if msg.get("t") != match:
            return False
    elif match is not None and not match(msg):
        return False
    for key, want in fields.items():
        have = msg.get(key)
        if callable(want):
            if not want(have):
                return False
        elif have != want:
            return False
    return True


class _Waiter:
    __slots__ = ("match", "fields", "since", "future")

    def __init__(self, match: Matcher, fields: dict[str, Any], since: int,
                 future: asyncio.Future[dict[str, Any]]) -> None:
        self.match, self.fields, self.since, self.future = match, fields, since, future


class Bot:
    """One connected client. Create with `await Bot.connect(...)`; use as `async with`."""

    def __init__(self, ws: ClientConnection, url: str, name: str) -> None:
        self.ws = ws
        self.url = url
        self.name = name
        # From the welcome.
        self.welcome: dict[str, Any] = {}
        self.entity = 0
        self.user = 0
        self.token = ""
        self.role = ""
        self.tick_hz = 0
        self.space: dict[str, Any] = {}
        self.limits: dict[str, Any] = {}
        self.resumed = False
        # World state as this client sees it.
        self.entities: dict[int, dict[str, Any]] = {}
        self.last_snap: Snapshot | None = None
        self.acked: int | None = None
        self.inbox: defaultdict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=INBOX_CAP))
        # Measurements.
        self.frames_received = 0
        self.bytes_received = 0
        self.snaps_received = 0
        self.bad_frames = 0
        self.ack_latency: deque[float] = deque(maxlen=LATENCY_CAP)   # seconds, move sent -> acked
        self.rtts: deque[float] = deque(maxlen=LATENCY_CAP)          # seconds, ping -> pong
        # How the connection ended.
        self.closed_code: int | None = None
        self.closed_reason = ""
        self.closed_by_us = False

        self._log: deque[tuple[int, dict[str, Any]]] = deque()
        self._next_index = 0
        self._cursor = 0
        self._consumed: set[int] = set()
        self._waiters: list[_Waiter] = []
        self._last_snap_msg: dict[str, Any] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pings: dict[int, tuple[asyncio.Future[float], float]] = {}
        self._moves: deque[tuple[int, float]] = deque(maxlen=PENDING_MOVES_CAP)
        self._seq = 0
        self._pose_seq = 0
        self._rids = itertools.count(1)
        self._last_ping_n = 0
        self._closed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.listeners: list[Callable[[dict[str, Any]], None]] = []   # called with every non-snap message

    # -- lifecycle ----------------------------------------------------------------------------
    @classmethod
    async def connect(cls, url: str, name: str, kind: str = "bot", token: str | None = None,
                      space: str | None = None, timeout: float = 10.0) -> "Bot":
        """Open, send hello, wait for welcome. Raises BotError with the server's code on refusal."""
        ws = await connect(url, compression=None, proxy=None, max_size=MAX_SIZE, open_timeout=timeout)
        bot = cls(ws, url, name)
        hello: dict[str, Any] = {"t": "hello", "v": PROTOCOL_VERSION, "name": name, "kind": kind}
        if token is not None:
            hello["token"] = token
        if space is not None:
            hello["space"] = space
        try:
            await ws.send(encode(hello))
            async with asyncio.timeout(timeout):
                while True:
                    msg = bot._decode(await ws.recv())
                    if msg is None:
                        continue
                    bot._dispatch(msg)
                    if msg["t"] == "welcome":
                        break
                    if msg["t"] == "error":
                        await bot._settle_close(1.0)
                        raise BotError.from_reply(msg, bot.closed_code, bot.closed_reason)
        except ConnectionClosed:
            await bot._settle_close(1.0)
            raise BotClosed(bot.closed_code, bot.closed_reason) from None
        except BaseException:
            await ws.close()
            raise
        bot._reader = asyncio.create_task(bot._read(), name=f"bot-reader-{name}")
        return bot

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (idempotent) and stop the reader."""
        if not self._closed.is_set():
            self.closed_by_us = True
        await self.ws.close(code, reason)
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), 5.0)
            except (TimeoutError, asyncio.CancelledError):
                self._reader.cancel()
        self._finish()

    async def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> tuple[int | None, str]:
        """Wait until the server closes the connection; return (close code, reason)."""
        async with asyncio.timeout(timeout):
            await self._closed.wait()
        return self.closed_code, self.closed_reason

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def __aenter__(self) -> "Bot":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- sending ----------------------------------------------------------------------------------
    async def send(self, msg: dict[str, Any]) -> None:
        """Encode and send one message map as is (no client-side validation)."""
        await self.send_raw(encode(msg))

    async def send_raw(self, data: bytes | str) -> None:
        """Send one frame verbatim; a str goes as a text frame (for malformed-input tests)."""
        try:
            await self.ws.send(data)
        except ConnectionClosed:
            await self._settle_close(1.0)
            raise BotClosed(self.closed_code, self.closed_reason) from None

    async def move(self, fwd: float, side: float, yaw: float, run: bool = False) -> int:
        """Send a movement intent (held until the next); returns its seq.

        Yaw is wrapped into [-pi, pi] (an equivalent angle); yaw 0 faces +y.
        """
        self._seq = self._seq % U32 + 1
        msg: dict[str, Any] = {"t": "move", "seq": self._seq, "fwd": float(fwd), "side": float(side),
                               "yaw": math.remainder(float(yaw), math.tau)}
        if run:
            msg["run"] = True
        self._moves.append((self._seq, time.monotonic()))
        await self.send(msg)
        return self._seq

    async def pose(self, head: list[float], lh: list[float] | None = None,
                   rh: list[float] | None = None) -> int:
        """Send a VR pose: [x, y, z, qx, qy, qz, qw] relative to the avatar root; returns its seq."""
        self._pose_seq = self._pose_seq % U32 + 1
        msg: dict[str, Any] = {"t": "pose", "seq": self._pose_seq, "head": [float(v) for v in head]}
        if lh is not None:
            msg["lh"] = [float(v) for v in lh]
        if rh is not None:
            msg["rh"] = [float(v) for v in rh]
        await self.send(msg)
        return self._pose_seq

    async def emote(self, e: str) -> None:
        await self.send({"t": "emote", "e": e})

    async def request(self, t: str, /, timeout: float = DEFAULT_TIMEOUT, **fields: Any) -> dict[str, Any]:
        """Send `t` with a fresh rid and return the reply carrying that rid (ok, ack, who, history...).

        Fields that are None are left out. An error reply raises BotError(code).
        """
        rid = next(self._rids) % RID_MAX
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        msg = {"t": t, "rid": rid, **{k: v for k, v in fields.items() if v is not None}}
        try:
            await self.send(msg)
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise TimeoutError(f"{self.name}: no reply to {t} rid={rid} within {timeout}s") from None
        finally:
            self._pending.pop(rid, None)

    async def chat(self, ch: str, text: str, to: int | None = None,
                   timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Send a chat line and wait for its ack ({rid, id, ts}: committed)."""
        return await self.request("chat", timeout=timeout, ch=ch, text=text, to=to)

    async def say(self, text: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Chat to everyone within hearing range; returns the ack."""
        return await self.chat("near", text, timeout=timeout)

    async def dm(self, user: int, text: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return await self.chat("dm", text, to=user, timeout=timeout)

    async def group_say(self, group: int, text: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return await self.chat("group", text, to=group, timeout=timeout)

    async def who(self, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        """Everyone online on this server, with their space and nearest named place."""
        return list((await self.request("who", timeout=timeout)).get("users", []))

    async def history(self, ch: str, to: int, before: int | None = None, limit: int | None = None,
                      timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """A page of dm/group history: {ch, to, msgs, more}."""
        return await self.request("history", timeout=timeout, ch=ch, to=to, before=before, limit=limit)

    async def group(self, op: str, group: int | None = None, user: int | None = None,
                    name: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return await self.request("group", timeout=timeout, op=op, group=group, user=user, name=name)

    async def mod(self, op: str, user: int, reason: str | None = None, minutes: int | None = None,
                  role: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return await self.request("mod", timeout=timeout, op=op, user=user, reason=reason,
                                  minutes=minutes, role=role)

    async def block(self, user: int, on: bool = True, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return await self.request("block", timeout=timeout, user=user, on=on)

    async def ping(self, timeout: float = DEFAULT_TIMEOUT) -> float:
        """Round-trip time to the server in seconds."""
        n = max(int(time.monotonic() * 1000), self._last_ping_n + 1)
        self._last_ping_n = n
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pings[n] = (future, time.perf_counter())
        try:
            await self.send({"t": "ping", "n": n})
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise TimeoutError(f"{self.name}: no pong within {timeout}s") from None
        finally:
            self._pings.pop(n, None)

    # -- expectations -----------------------------------------------------------------------------
    def log_since(self, mark: int) -> list[dict[str, Any]]:
        """Every logged message (snapshots aside) that arrived since `mark`, consumed or not."""
        return [msg for index, msg in self._log if index >= mark]

    def mark(self) -> int:
        """Forget what has arrived so far: later wait_for/expect calls only see newer messages."""
        self._cursor = self._next_index
        return self._cursor

    async def wait_for(self, match: Matcher = None, timeout: float = DEFAULT_TIMEOUT, *,
                       since: int | None = None, **fields: Any) -> dict[str, Any]:
        """The first unconsumed message since the mark (or `since`) that matches; waits if none yet.

        `match` is a type name, a predicate over the message map, or None (any type).
        Snapshots are not logged: only match="snap" sees them, the latest one first.
        Raises TimeoutError, or BotClosed if the connection ends first.
        """
        start = self._cursor if since is None else since
        if match == "snap":
            if self._last_snap_msg is not None and matches(self._last_snap_msg, match, fields):
                return self._last_snap_msg
        else:
            for index, msg in self._log:
                if index >= start and index not in self._consumed and matches(msg, match, fields):
                    self._consumed.add(index)
                    return msg
        if self.closed:
            raise BotClosed(self.closed_code, self.closed_reason)
        waiter = _Waiter(match, fields, start, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        except TimeoutError:
            recent = [m.get("t") for _, m in list(self._log)[-8:]]
            raise TimeoutError(f"{self.name}: nothing matching {_describe(match, fields)} within "
                               f"{timeout}s; recent: {recent}") from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def expect(self, t: str, /, timeout: float = DEFAULT_TIMEOUT, **fields: Any) -> dict[str, Any]:
        """`wait_for` by type and field values: `await bot.expect("error", code="muted")`."""
        return await self.wait_for(t, timeout, **fields)

    async def expect_no(self, t: str, /, within: float = 0.5, **fields: Any) -> None:
        """Assert that no matching message arrives (or has arrived since the mark) within `within` s."""
        try:
            msg = await self.wait_for(t, within, **fields)
        except TimeoutError:
            return
        except BotClosed:
            return
        raise AssertionError(f"{self.name}: unexpected {msg!r}")

    async def wait_ack(self, seq: int, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The first snapshot (latest one included) whose ack is at least `seq`."""
        return await self.wait_for("snap", timeout, ack=lambda a: a is not None and a >= seq)

    # -- world state ------------------------------------------------------------------------------
    def bodies(self, snap: Snapshot | None = None) -> np.ndarray:
        """Body records (records.BODY_DTYPE) of the latest snapshot, decoded now."""
        snap = snap or self.last_snap
        return bodies_from_bytes(snap.body) if snap is not None else np.empty(0, BODY_DTYPE)

    def poses(self, snap: Snapshot | None = None) -> np.ndarray:
        """VR pose records (records.POSE_DTYPE) of the latest snapshot."""
        snap = snap or self.last_snap
        if snap is None or not snap.pose:
            return np.empty(0, POSE_DTYPE)
        return poses_from_bytes(snap.pose)

    def positions(self) -> dict[int, tuple[float, float]]:
        """{entity id: (x, y) in metres} from the latest snapshot."""
        b = self.bodies()
        xs = (b["x"] / POS_SCALE).tolist()
        ys = (b["y"] / POS_SCALE).tolist()
        return dict(zip(b["id"].tolist(), zip(xs, ys)))

    def position(self, entity: int | None = None) -> tuple[float, float] | None:
        """(x, y) of an entity (default: this bot's avatar); before any snapshot, the welcome pos."""
        entity = self.entity if entity is None else entity
        b = self.bodies()
        rows = b[b["id"] == entity]
        if len(rows):
            return float(rows["x"][0]) / POS_SCALE, float(rows["y"][0]) / POS_SCALE
        if entity == self.entity and self.welcome.get("pos"):
            pos = self.welcome["pos"]
            return float(pos[0]), float(pos[1])
        return None

    @property
    def chats(self) -> deque[dict[str, Any]]:
        return self.inbox["chat"]

    @property
    def errors(self) -> deque[dict[str, Any]]:
        return self.inbox["error"]

    @property
    def notices(self) -> deque[dict[str, Any]]:
        return self.inbox["notice"]

    @property
    def presence(self) -> deque[dict[str, Any]]:
        return self.inbox["presence"]

    # -- receiving --------------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                msg = self._decode(frame)
                if msg is not None:
                    try:
                        self._dispatch(msg)
                    except Exception:  # a malformed server message must not kill the reader
                        self.bad_frames += 1
                        log.warning("bot=%s undispatchable message t=%s", self.name, msg.get("t"),
                                    exc_info=True)
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:   # event loop teardown: record, do not wait
            self._finish()
            raise
        await self._settle_close(2.0)

    def _decode(self, frame: bytes | str) -> dict[str, Any] | None:
        self.frames_received += 1
        self.bytes_received += len(frame)
        if isinstance(frame, str):
            self.bad_frames += 1
            return None
        try:
            return decode_server(frame)
        except Exception:
            self.bad_frames += 1
            log.warning("bot=%s undecodable server frame of %d bytes", self.name, len(frame))
            return None

    def _dispatch(self, msg: dict[str, Any]) -> None:
        t = msg["t"]
        if t == "snap":
            self._on_snap(msg)
            return
        if t == "welcome":
            self._on_welcome(msg)
        elif t == "enter":
            for e in msg.get("e") or ():
                self.entities[e["id"]] = e
        elif t == "leave":
            for i in msg.get("e") or ():
                self.entities.pop(i, None)
        delivered = False     # a reply handed to the request()/ping() that awaited it
        if t == "pong":
            entry = self._pings.pop(msg.get("n"), None)  # type: ignore[arg-type]
            if entry is not None:
                future, sent = entry
                rtt = time.perf_counter() - sent
                self.rtts.append(rtt)
                if not future.done():
                    future.set_result(rtt)
                    delivered = True
        rid = msg.get("rid")
        if rid is not None and t != "chat":
            reply = self._pending.pop(rid, None)
            if reply is not None and not reply.done():
                if t == "error":
                    reply.set_exception(BotError.from_reply(msg))
                else:
                    reply.set_result(msg)
                delivered = True
        self.inbox[t].append(msg)
        self._append_log(msg, delivered)
        for listener in self.listeners:
            listener(msg)

    def _on_welcome(self, msg: dict[str, Any]) -> None:
        self.welcome = msg
        self.entity = msg.get("you", 0)
        self.user = msg.get("user", 0)
        self.token = msg.get("token", "")
        self.role = msg.get("role", "")
        self.tick_hz = msg.get("tick_hz", 0)
        self.space = msg.get("space") or {}
        self.limits = msg.get("limits") or {}
        self.resumed = bool(msg.get("resumed"))

    def _on_snap(self, msg: dict[str, Any]) -> None:
        now = time.monotonic()
        ack = msg.get("ack")
        self.snaps_received += 1
        self.last_snap = Snapshot(msg.get("tick", 0), ack, msg.get("b") or b"", msg.get("p"), now)
        self._last_snap_msg = msg
        if ack is not None:
            self.acked = ack
            moves = self._moves
            while moves and moves[0][0] <= ack:
                self.ack_latency.append(now - moves.popleft()[1])
        for waiter in list(self._waiters):
            if waiter.match == "snap" and not waiter.future.done() and matches(msg, "snap", waiter.fields):
                waiter.future.set_result(msg)
                self._waiters.remove(waiter)

    def _append_log(self, msg: dict[str, Any], consumed: bool) -> None:
        index = self._next_index
        self._next_index += 1
        self._log.append((index, msg))
        if len(self._log) > LOG_CAP:
            old, _ = self._log.popleft()
            self._consumed.discard(old)
        if consumed:
            self._consumed.add(index)
            return
        for waiter in self._waiters:
            if (waiter.match != "snap" and index >= waiter.since and not waiter.future.done()
                    and matches(msg, waiter.match, waiter.fields)):
                waiter.future.set_result(msg)
                self._consumed.add(index)
                self._waiters.remove(waiter)
                break  # one message satisfies one waiter

    async def _settle_close(self, timeout: float) -> None:
        """Wait briefly for the closing handshake, then record how the connection ended."""
        try:
            await asyncio.wait_for(self.ws.wait_closed(), timeout)
        except TimeoutError:
            self.ws.transport.abort()
        self._finish()

    def _finish(self) -> None:
        if self._closed.is_set():
            return
        self.closed_code = self.ws.close_code
        self.closed_reason = self.ws.close_reason or ""
        self._closed.set()
        exc = BotClosed(self.closed_code, self.closed_reason)
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(exc)
        for future, _ in list(self._pings.values()):
            if not future.done():
                future.set_exception(exc)
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(exc)

    def __repr__(self) -> str:
        state = f"closed {self.closed_code}" if self.closed else "open"
        return f"<Bot {self.name!r} user={self.user} entity={self.entity} {state}>"


def _describe(match: Matcher, fields: dict[str, Any]) -> str:
    if isinstance(match, str):
        head = match
    else:
        head = "any" if match is None else getattr(match, "__name__", "predicate")
    return f"{head} {fields}" if fields else str(head)
