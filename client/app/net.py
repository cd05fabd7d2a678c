"""The client's network thread: an asyncio loop of its own, queues both ways.

The render loop must never wait on the network, and the network must not wait for a
frame (stepping asyncio inside a Panda3D task would tie latency to the frame rate). So
`NetThread` runs `websockets` in a daemon thread; the frame task drains `inbox`
(a `queue.Queue` of events) and calls `send()`, which is thread-safe.

Events in `inbox`: ("status", state, detail) and ("msg", map). Frames that do not
decode are logged and skipped (counted in `bad_frames`). When the connection drops
for a reason worth retrying (server restart 1001, network loss 1006, 1011, 4004,
4007, refused TCP...) the thread reconnects with backoff and resumes with the session
token of the last `welcome`; refusals that would fail again (bad token, banned,
kicked, replaced, unknown space) end it with status "closed". Given a `TokenStore`, it
keeps the token of every welcome there; a kept (not typed) token the server does not
know is forgotten once, with a ("note", text) event, and the client joins as a new user.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from client.tokens import TokenStore, refused_as_unknown
from world.protocol import PROTOCOL_VERSION, decode_server, encode

log = logging.getLogger("agora.client.net")

MAX_SIZE = 2**22
BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 4.0)     # waits between reconnect attempts, then the last
OPEN_TIMEOUT_S = 5.0
# Close codes after which reconnecting would only be refused again (protocol §12).
FINAL_CLOSES = {4000: "refused hello", 4001: "bad token", 4002: "banned", 4003: "kicked",
                4005: "closed for abuse", 4006: "signed in from another connection",
                4009: "unknown space"}
UNSENT_CAP = 64            # reliable requests kept while offline (moves and poses are dropped)
LOSSY = {"move", "pose"}


class NetThread:
    """One connection to a server, kept up in a background thread."""

    def __init__(self, url: str, name: str, kind: str = "desktop", token: str | None = None,
                 space: str | None = None, *, tokens: TokenStore | None = None, token_kept: bool = False,
                 say: Callable[[str], None] | None = None) -> None:
        """`tokens`: where each welcome's token is kept. `token_kept`: the token was not typed by
        the user (it came from `tokens`), so a refusal as unknown means a new account, not an
        error. `say`: one-line notes for the user (besides the ("note", text) event), called
        from this thread."""
        self.url = url
        self.name = name
        self.kind = kind
        self.token = token
        self.space = space
        self.tokens = tokens
        self.token_kept = token_kept
        self.say = say
        self.inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.bad_frames = 0
        self.frames = 0
        self.connects = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out: asyncio.Queue[dict[str, Any]] | None = None
        self._ws: Any = None
        self._online = False
        self._was_online = False
        self._unsent: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="agora-net", daemon=True)

    # -- called from the render thread -----------------------------------------------------------
    def start(self) -> NetThread:
        self._thread.start()
        self._ready.wait(5.0)
        return self

    def send(self, msg: dict[str, Any]) -> None:
        """Queue a map for sending (thread-safe); while offline, moves/poses are dropped."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._enqueue, msg)
            except RuntimeError:
                pass      # loop closing

    def drain(self, limit: int = 10_000) -> list[tuple[Any, ...]]:
        """Events that arrived since the last call (oldest first)."""
        out = []
        try:
            while len(out) < limit:
                out.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        return out

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._wake)
            except RuntimeError:
                pass
        self._thread.join(timeout)

    def drop(self) -> None:
        """Abort the TCP connection without a close handshake (tests: simulate network loss)."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(lambda: self._ws is not None and self._ws.transport.abort())

    # -- the thread ---------------------------------------------------------------------------------
    def _main(self) -> None:
        asyncio.run(self._run())

    def _wake(self) -> None:
        if self._ws is not None:
            asyncio.ensure_future(self._ws.close(1000, "bye"))
        if self._out is not None:
            self._out.put_nowait({"t": "__stop__"})

    def _enqueue(self, msg: dict[str, Any]) -> None:
        if self._online and self._out is not None:
            self._out.put_nowait(msg)
        elif msg.get("t") not in LOSSY and len(self._unsent) < UNSENT_CAP:
            self._unsent.append(msg)

    def _status(self, state: str, detail: str = "") -> None:
        self.inbox.put(("status", state, detail))

    def _note(self, text: str) -> None:
        self.inbox.put(("note", text))
        if self.say is not None:
            self.say(text)
        else:
            log.warning("%s", text)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._out = asyncio.Queue()
        self._ready.set()
        attempt = 0
        while not self._stop.is_set():
            self._status("connecting" if self.connects == 0 else "reconnecting",
                         f"attempt {attempt + 1}" if attempt else "")
            self._was_online = False
            try:
                final = await self._session()
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                final = None
                reason = f"{type(exc).__name__}: {exc}".strip()
                log.info("connect failed url=%s %s", self.url, reason)
            except InvalidURI as exc:
                final = f"bad URL {exc}"
            if self._stop.is_set():
                break
            if final is not None:
                self._status("closed", final)
                return
            attempt = 0 if self._was_online else attempt + 1
            wait = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)] * random.uniform(0.8, 1.2)
            self._status("connecting" if self.connects == 0 else "reconnecting", f"retry in {wait:.1f}s")
            try:
                await asyncio.wait_for(self._stopped(), wait)
            except TimeoutError:
                pass
        self._status("closed", "stopped")

    async def _stopped(self) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(0.05)

    async def _session(self) -> str | None:
        """One connection: hello, welcome, then pump both ways. Returns a final reason or None."""
        async with connect(self.url, compression=None, proxy=None, max_size=MAX_SIZE,
                           open_timeout=OPEN_TIMEOUT_S, close_timeout=1.0) as ws:
            self._ws = ws
            refusal: dict[str, Any] | None = None      # an error before the welcome: held until the close
            hello: dict[str, Any] = {"t": "hello", "v": PROTOCOL_VERSION, "name": self.name, "kind": self.kind}
            if self.token:
                hello["token"] = self.token
            if self.space:
                hello["space"] = self.space
            await ws.send(encode(hello))
            sender = asyncio.create_task(self._pump_out(ws))
            try:
                async for frame in ws:
                    msg = self._decode(frame)
                    if msg is None:
                        continue
                    t = msg.get("t")
                    if t == "welcome":
                        self._on_welcome(msg)
                    elif t == "error" and not self._online:
                        refusal = msg          # shown after the close, unless it only means "new user"
                        continue
                    self.inbox.put(("msg", msg))
            except ConnectionClosed:
                pass
            finally:
                sender.cancel()
                self._online = False
                self._ws = None
                self._keep_reliable()
            code = ws.close_code
            reason = ws.close_reason or ""
            log.info("connection closed code=%s reason=%s", code, reason)
            if self._stop.is_set():
                return "stopped"
            if (refusal is not None and self.token_kept and self.token
                    and refused_as_unknown(str(refusal.get("code", "")), code)):
                # The server's data was reset, or the kept token is another server's: what the
                # user asked for is to come in, so come in as a new user, once.
                self.token = None
                self._note(f"the server does not know the session kept for {self.name} "
                           "(its data may have been reset); joining as a new user")
                return None
            if refusal is not None:
                self.inbox.put(("msg", refusal))
            if code in FINAL_CLOSES:
                return f"{FINAL_CLOSES[code]} ({code} {reason})".strip()
            return None

    def _on_welcome(self, msg: dict[str, Any]) -> None:
        self.token = msg.get("token") or self.token
        if self.tokens is not None and self.token:
            try:
                self.tokens.put(self.url, self.name, self.token)
            except OSError as exc:
                self._note(f"cannot keep the session in {self.tokens.path}: {exc}")
        space_id = (msg.get("space") or {}).get("id")
        if space_id:
            self.space = space_id        # come back to the same instance after a drop (§3.3)
        self.connects += 1
        self._online = True
        self._was_online = True
        unsent, self._unsent = self._unsent, []
        for m in unsent:
            self._out.put_nowait(m)   # type: ignore[union-attr]
        self._status("online", "resumed" if msg.get("resumed") else "")

    def _keep_reliable(self) -> None:
        """After a drop: keep queued requests for the next session, forget stale moves/poses."""
        out = self._out
        while out is not None and not out.empty():
            msg = out.get_nowait()
            if msg.get("t") not in LOSSY and msg.get("t") != "__stop__" and len(self._unsent) < UNSENT_CAP:
                self._unsent.append(msg)

    async def _pump_out(self, ws: Any) -> None:
        out = self._out
        assert out is not None
        while True:
            msg = await out.get()
            if msg.get("t") == "__stop__":
                return
            try:
                await ws.send(encode(msg))
            except ConnectionClosed:
                if msg.get("t") not in LOSSY and len(self._unsent) < UNSENT_CAP:
                    self._unsent.append(msg)
                return

    def _decode(self, frame: bytes | str) -> dict[str, Any] | None:
        self.frames += 1
        if isinstance(frame, str):
            self.bad_frames += 1
            log.warning("skipped a text frame from the server (%d chars)", len(frame))
            return None
        try:
            return decode_server(frame)
        except Exception as exc:
            self.bad_frames += 1
            log.warning("skipped an undecodable server frame of %d bytes: %s", len(frame), exc)
            return None
