"""One connection's server side: frames in, validated messages to the realm, frames out.

`AgoraConnection` hands each complete data frame straight to its `Link` instead of
queueing it for `recv()`: movement, pose, ping, who and emote run inline as the
frame arrives (no task switch per input), while messages that await the store are
queued, in order, for the connection's own task. A malformed or over-limit message
gets its coded error and a strike; persistent abuse closes the connection (4005).
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode

from world.logs import event
from world.net.admission import normalise_address
from world.net.limits import Limits
from world.net.outbox import Outbox
from world.protocol import CLOSE, ProtocolError, decode_client
from world.protocol import messages as m
from world.space.realm import Refusal
from world.space.session import Session

if TYPE_CHECKING:
    from world.net.server import WorldServer

CLOSED = object()            # inbox sentinel: the TCP connection is gone
INBOX_MAX = 256              # queued messages awaiting the store, per connection
FRAGMENTED = object()        # marker fed for fragmented messages (not supported)


class AgoraConnection(ServerConnection):
    """A ServerConnection whose data frames go to `link.feed` instead of websockets' queue."""

    link: Link | None = None

    def __init__(self, *args: Any, world: WorldServer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.world = world
        self.address = ""          # the peer's address, normalised (set when TCP connects)

    def connection_made(self, transport: Any) -> None:
        peer = transport.get_extra_info("peername")
        self.address = normalise_address(str(peer[0])) if peer else ""
        sock = transport.get_extra_info("socket")
        size = self.world.cfg.socket_send_buffer
        if size > 0 and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        super().connection_made(transport)
        if not self.world.admission.tcp_opened(self.address):
            transport.abort()     # far past even the 503 allowance: not worth an HTTP answer

    def process_event(self, event: Any) -> None:
        link = self.link
        if link is not None and isinstance(event, Frame) and event.opcode in (
                Opcode.BINARY, Opcode.TEXT, Opcode.CONT):
            if not event.fin or event.opcode is Opcode.CONT:
                if event.fin:                     # report a fragmented message once, at its end
                    link.feed(FRAGMENTED)
            elif event.opcode is Opcode.TEXT:
                link.feed("text")
            else:
                link.feed(bytes(event.data))
            return
        super().process_event(event)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.world.admission.tcp_closed(self.address)
        link, self.link = self.link, None          # no cycle left for a frozen collector to find
        if link is not None:
            link.lost()


class Link:
    def __init__(self, server: WorldServer, conn: AgoraConnection) -> None:
        cfg = server.cfg
        self.server = server
        self.realm = server.realm
        self.conn = conn
        self.address = conn.address
        self.outbox = Outbox(conn, cfg.outbox_max, cfg.write_limit)
        self.limits = Limits({"input": cfg.rate_input, "chat": cfg.rate_chat, "request": cfg.rate_request},
                             cfg.strikes, cfg.rate_errors_shown)
        self.session: Session | None = None
        self.inbox: deque[Any] = deque()
        self.raw_pending = 0                  # frames queued before the session existed
        self.raw_bytes = 0                    # ... and their size: a flood must not park memory here
        self.joining = True                   # counted by admission until the hello is answered
        self.ready = asyncio.Event()
        conn.link = self
        server.admission.opened(self.address)

    # -- called synchronously from the connection's protocol callbacks ----------------------------
    def feed(self, data: Any) -> None:
        if self.session is None or self.raw_pending:
            size = len(data) if isinstance(data, bytes) else 0
            if self.session is None and self.raw_bytes + size > self.server.cfg.prehello_max_bytes:
                self.drop_raw()
                self.outbox.close(CLOSE["abuse"], "too much data before hello")
                return
            if len(self.inbox) >= INBOX_MAX:
                self._strike()
                return
            self.inbox.append(data)
            self.raw_pending += 1
            self.raw_bytes += size
            self.ready.set()
            return
        if not self.session.alive:
            return
        msg = self.admit(data)
        if msg is not None and not self._instant(msg):
            if len(self.inbox) >= INBOX_MAX:
                self.error("rate_limited", "too many requests waiting", getattr(msg, "rid", None))
                self._strike()
                return
            self.inbox.append(msg)
            self.ready.set()

    def lost(self) -> None:
        self.outbox.connection_lost()         # from now on the realm treats this user as offline
        self.drop_raw()                       # nobody will read them; validated requests still run
        self.end_joining()
        self.server.admission.closed(self.address)
        self.inbox.append(CLOSED)
        self.ready.set()

    def drop_raw(self) -> None:
        """Forget frames that arrived before the session existed (they were never accepted)."""
        if self.raw_pending:
            self.inbox = deque(item for item in self.inbox if isinstance(item, m.Message) or item is CLOSED)
            self.raw_pending = 0
            self.raw_bytes = 0

    def end_joining(self) -> None:
        if self.joining:
            self.joining = False
            self.server.admission.joined(self.address)

    # -- validation, limits and errors ------------------------------------------------------------
    def error(self, code: str, msg: str, rid: int | None = None, field: str | None = None) -> None:
        self.server.errors_sent += 1
        self.outbox.send(m.error(code, msg, rid, field))

    def _strike(self) -> None:
        if not self.limits.strike():
            self.outbox.close(CLOSE["abuse"], "rate limits or malformed input persisted")

    def admit(self, data: Any) -> m.Message | None:
        """Decode, validate and rate-limit one frame; None (after a coded error) if refused."""
        try:
            if data is FRAGMENTED:
                raise ProtocolError("bad_frame", "fragmented messages are not supported")
            msg = decode_client(data)
        except ProtocolError as exc:
            self.error(exc.code, exc.msg, exc.rid, exc.field)
            self._strike()
            return None
        rate_class = m.RATE_CLASS[msg.TYPE]
        if not self.limits.allow(rate_class):
            if self.limits.show_error():
                self.error("rate_limited", f"too many {rate_class} messages", getattr(msg, "rid", None))
            self._strike()
            return None
        return msg

    def _instant(self, msg: m.Message) -> bool:
        """Run a handler that needs no store inline; False if the message must be queued."""
        try:
            return self.realm.handle_now(self.session, msg)
        except Refusal as exc:
            self.error(exc.code, exc.msg, getattr(msg, "rid", None))
        except Exception:
            event("handler_failed", level=40, exc_info=True, type=msg.TYPE)
            self.error("internal", "the server failed to process this message", getattr(msg, "rid", None))
        return True

    # -- the connection's task ---------------------------------------------------------------------
    async def _next(self, timeout: float | None = None) -> Any:
        while not self.inbox:
            self.ready.clear()
            await asyncio.wait_for(self.ready.wait(), timeout)
        item = self.inbox.popleft()
        if item is not CLOSED and not isinstance(item, m.Message):
            self.raw_pending -= 1
            if isinstance(item, bytes):
                self.raw_bytes -= len(item)
        return item

    async def handshake(self) -> Session | None:
        try:
            session = await self._handshake()
        finally:
            self.end_joining()
        if session is None:
            self.drop_raw()
        return session

    async def _handshake(self) -> Session | None:
        cfg = self.server.cfg
        try:
            first = await self._next(cfg.hello_timeout)
        except asyncio.TimeoutError:
            self.error("not_ready", "no hello within the handshake timeout")
            self.outbox.close(CLOSE["hello_timeout"], "hello timeout")
            return None
        if first is CLOSED:
            return None
        try:
            if first is FRAGMENTED:
                raise ProtocolError("bad_frame", "fragmented messages are not supported")
            hello = decode_client(first)
        except ProtocolError as exc:
            self.error(exc.code, exc.msg, field=exc.field)
            self.outbox.close(CLOSE["bad_hello"], "first message must be a valid hello")
            return None
        if not isinstance(hello, m.Hello):
            self.error("not_ready", "send hello first")
            self.outbox.close(CLOSE["bad_hello"], "first message must be hello")
            return None
        if hello.token is None and not self.server.admission.allow_account(self.address):
            self.error("rate_limited", "too many new accounts from your address; try again in a minute")
            self.outbox.close(CLOSE["try_later"], "too many new accounts")
            return None
        try:
            return await self.realm.join(hello, self.outbox)
        except Refusal as exc:
            self.error(exc.code, exc.msg)
            self.outbox.close(CLOSE[exc.close or "bad_hello"], exc.code)
        except Exception:
            event("join_failed", level=40, exc_info=True)
            self.error("internal", "the server failed to admit you")
            self.outbox.close(CLOSE["internal"], "internal error")
        return None

    async def serve(self) -> None:
        """Handshake, then run queued messages in order until the connection ends."""
        session = await self.handshake()
        if session is None:
            return
        self.session = session
        try:
            while session.alive and not self.outbox.closing:
                item = await self._next()
                if item is CLOSED or not session.alive or self.outbox.closing:
                    break
                if not isinstance(item, m.Message):       # arrived before the session existed
                    item = self.admit(item)
                    if item is None or self._instant(item):
                        continue
                rid = getattr(item, "rid", None)
                try:
                    await self.realm.handle(session, item)
                except Refusal as exc:
                    self.error(exc.code, exc.msg, rid)
                except Exception:
                    event("handler_failed", level=40, exc_info=True, type=item.TYPE, user=session.user)
                    self.error("internal", "the server failed to process this message", rid)
        finally:
            await self.realm.leave(session)
