"""Per-connection send queue: reliable messages in order, one snapshot slot where the newest wins.

A slow client only ever delays its own writer task. Reliable messages (chat,
enter/leave, acks, errors) are never dropped silently: if too many pile up the
connection is closed with 4004 "too_slow". Snapshots are replaced in place, so a
slow reader gets the newest state rather than a backlog.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from world.logs import event
from world.protocol import CLOSE, encode

MAX_QUEUED_BYTES = 4 * 1024 * 1024    # reliable bytes waiting for one client before 4004


class Outbox:
    def __init__(self, conn: ServerConnection, max_reliable: int, write_limit: int) -> None:
        self.conn = conn
        self.max_reliable = max_reliable
        self.write_limit = write_limit
        self.reliable: deque[bytes] = deque()
        self.snapshot: bytes | memoryview | None = None
        self.wake = asyncio.Event()
        self.closing: tuple[int, str] | None = None
        self.closed = False
        self.send_started: float | None = None   # monotonic time the current send began
        self.progress_at = time.monotonic()       # last time the socket took bytes or had none waiting
        self._watched = (0, 0)                    # (bytes handed over, bytes buffered) at the last look
        self.queued_bytes = 0
        self.sent_frames = 0
        self.sent_bytes = 0
        self.snapshots_dropped = 0

    # -- the Sink interface used by world.space ---------------------------------------------
    def send(self, msg: dict[str, Any]) -> None:
        self.send_frame(encode(msg))

    def _idle(self) -> bool:
        """Nothing queued or in flight, the connection open and its socket keeping up: a frame
        may be written now, without waking the writer task. A backed-up client falls back
        to the queue and the writer's awaited, flow-controlled sends."""
        if self.reliable or self.snapshot is not None or self.send_started is not None:
            return False
        conn = self.conn
        return conn.protocol.state is State.OPEN and \
            conn.transport.get_write_buffer_size() <= self.write_limit

    def _direct(self, frame: bytes | memoryview) -> bool:
        if not self._idle():
            return False
        try:
            self.conn.protocol.send_binary(frame)
            self.conn.send_data()
        except Exception:
            return False
        self.sent_frames += 1
        self.sent_bytes += len(frame)
        return True

    def send_frame(self, frame: bytes) -> None:
        if self.closed or self.closing:
            return
        if self._direct(frame):
            return
        self.reliable.append(frame)
        self.queued_bytes += len(frame)
        if len(self.reliable) > self.max_reliable or self.queued_bytes > MAX_QUEUED_BYTES:
            self.reliable.clear()
            self.queued_bytes = 0
            self.close(CLOSE["too_slow"], "send queue overflow: client reads too slowly")
        self.wake.set()

    def _direct_framed(self, framed: memoryview) -> bool:
        """Write an already-framed server frame (WebSocket header included) to the socket."""
        if not self._idle():
            return False
        # A copy: asyncio on Python 3.12+ may keep the buffer it is given without copying,
        # and the tick reuses its output buffer two ticks later.
        self.conn.transport.write(bytes(framed))
        self.sent_frames += 1
        self.sent_bytes += len(framed)
        return True

    def send_snapshot(self, frame: bytes | memoryview, framed: bytes | memoryview | None = None) -> bool | None:
        """Send a snapshot now, or park a copy in the slot (replacing an unsent older one).

        Only a backed-up client pays for the copy; the tick's buffer is reused later.
        Returns False when an unsent snapshot was replaced (its records never arrived)."""
        if self.closed or self.closing:
            return None
        if self._direct_framed(framed) if framed is not None else self._direct(frame):
            return True
        replaced = self.snapshot is not None
        if replaced:
            self.snapshots_dropped += 1
        self.snapshot = bytes(frame)
        self.wake.set()
        return not replaced

    def close(self, code: int, reason: str) -> None:
        """Flush what is queued, then close with `code`."""
        if self.closing is None and not self.closed:
            # A close frame carries at most 123 bytes of UTF-8 reason.
            reason = reason.encode("utf-8")[:120].decode("utf-8", "ignore")
            self.closing = (code, reason)
            if code >= 4000:
                event("close", code=code, reason=reason)
            self.wake.set()

    # -- writer task ----------------------------------------------------------------------------
    def stalled_for(self, now: float) -> float:
        """Seconds the socket has taken no bytes while some were waiting for it (polled about
        once a second). The kernel's send buffer is bounded (`socket_send_buffer`), so a
        reader that stops shows up here once that buffer and the peer's are full."""
        transport = getattr(self.conn, "transport", None)
        buffered = transport.get_write_buffer_size() if transport is not None else 0
        handed, was_buffered = self._watched
        taken = (self.sent_bytes - handed) - (buffered - was_buffered)
        if buffered == 0 or taken > 0:
            self.progress_at = now
        self._watched = (self.sent_bytes, buffered)
        blocked = 0.0 if self.send_started is None else now - self.send_started
        return max(now - self.progress_at, blocked)

    async def _send(self, frame: bytes) -> None:
        self.send_started = time.monotonic()
        self.sent_frames += 1
        self.sent_bytes += len(frame)
        await self.conn.send(frame)
        self.send_started = None

    async def run(self) -> None:
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                if self.closed:
                    return
                while self.reliable:
                    frame = self.reliable.popleft()
                    self.queued_bytes -= len(frame)
                    await self._send(frame)
                if self.snapshot is not None and not self.closing:
                    frame, self.snapshot = self.snapshot, None
                    await self._send(frame)
                if self.closing is not None and not self.reliable:
                    code, reason = self.closing
                    await self.conn.close(code, reason)
                    return
        except ConnectionClosed:
            pass
        finally:
            self.closed = True

    def connection_lost(self) -> None:
        """The TCP connection is gone: nothing more can be sent; stop the writer."""
        self.closed = True
        self.wake.set()

    def abort(self) -> None:
        """Drop the TCP connection now (the peer stopped reading)."""
        self.closed = True
        transport = getattr(self.conn, "transport", None)
        if transport is not None:
            transport.abort()
