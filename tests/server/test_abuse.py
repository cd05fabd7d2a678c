"""Bad input gets a coded error and hurts no one else; slow clients only slow themselves."""

from __future__ import annotations

import asyncio
import socket

import msgpack

from client.bot import Bot, BotClosed
from tests.conftest import aio, running_server, until
from world.protocol import CLOSE
from world.protocol.messages import MAX_FRAME


class Watcher:
    """Counts the snapshots a well-behaved client receives while others misbehave."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.ticks: list[int] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        last = -1
        try:
            while True:
                snap = await self.bot.wait_for("snap", tick=lambda t, last=last: t > last)
                last = snap["tick"]
                self.ticks.append(last)
        except BotClosed:
            pass

    def since(self, mark: int) -> int:
        return len(self.ticks) - mark

    async def stop(self) -> None:
        self.task.cancel()


@aio
async def test_malformed_frames_each_get_their_coded_error_and_others_keep_receiving(tmp_path):
    async with running_server(tmp_path) as srv:
        watcher = Watcher(await Bot.connect(srv.url, "Watcher"))
        bad = await Bot.connect(srv.url, "Fuzzer")
        cases = [
            (b"\xc1\x00\x01", "bad_msgpack"),
            (msgpack.packb([1, 2, 3]), "bad_message"),
            (msgpack.packb({"t": "fly", "speed": 9}), "unknown_type"),
            (msgpack.packb({"t": "move", "seq": "one", "fwd": 0, "side": 0, "yaw": 0}), "bad_field"),
            (msgpack.packb({"t": "move", "seq": 1, "fwd": 0, "side": 0}), "missing_field"),
            (msgpack.packb({"t": "chat", "ch": "near", "text": "x" * 501}), "bad_text"),
            (msgpack.packb({"t": "chat", "ch": "near", "text": "bell\x07"}), "bad_text"),
            (b"\x81\xa1t\xa4chat\x00", "bad_msgpack"),                     # trailing bytes
            (msgpack.packb({"t": "chat", "ch": "near", "text": "a"})[:-2], "bad_msgpack"),   # truncated
            (b"\x82\xa1t\xa4chat\xa4text\xc4\x02hi", "bad_msgpack"),     # bin where str expected is refused
            (msgpack.packb({"t": "hello", "v": 1, "name": "again", "kind": "bot"}), "already_joined"),
            (msgpack.packb({"t": "chat", "ch": "dm", "text": "to nobody"}), "missing_field"),
            ("a text frame", "bad_frame"),
            (b"\xa5hello".replace(b"hello", b"\xff\xfe\xfd\xfc\xfb"), "bad_text"),      # invalid UTF-8
            (msgpack.packb({"t": "chat", "ch": "near", "text": "x" * 400, "pad": "y" * MAX_FRAME}), "too_large"),
        ]
        mark = len(watcher.ticks)
        for frame, code in cases:
            bad.mark()
            await bad.send_raw(frame)
            err = await bad.expect("error")
            assert err["code"] == code, (frame[:40], err)
        assert not bad.closed
        await bad.say("still alive")         # the connection still works
        await until(lambda: watcher.since(mark) >= 10)
        await watcher.stop()
        await watcher.bot.close()
        await bad.close()


@aio
async def test_frame_above_the_transport_limit_closes_only_that_client(tmp_path):
    async with running_server(tmp_path) as srv:
        watcher = Watcher(await Bot.connect(srv.url, "Watcher"))
        big = await Bot.connect(srv.url, "Big")
        await big.send_raw(b"\x00" * (srv.cfg.transport_max_frame + 1))
        code, _ = await big.wait_closed()
        assert code == CLOSE["too_big"]
        mark = len(watcher.ticks)
        await until(lambda: watcher.since(mark) >= 10)
        await watcher.stop()
        await watcher.bot.close()


@aio
async def test_chat_flood_is_rate_limited_with_coded_errors_without_disconnect(tmp_path):
    async with running_server(tmp_path) as srv:
        watcher = Watcher(await Bot.connect(srv.url, "Watcher"))
        flood = await Bot.connect(srv.url, "Flood")
        burst = int(srv.cfg.rate_chat[1])
        for i in range(burst + 20):
            await flood.send({"t": "chat", "ch": "near", "text": f"spam {i}"})
        err = await flood.expect("error", code="rate_limited")
        assert "chat" in err["msg"]
        mark = len(watcher.ticks)
        await until(lambda: watcher.since(mark) >= 10)
        # the watcher heard at most the burst, never the whole flood
        await asyncio.sleep(0.3)
        heard = [c for c in watcher.bot.chats if c["from"] == flood.user]
        assert 0 < len(heard) <= burst + 2
        assert not flood.closed
        await asyncio.sleep(1.0)
        await flood.say("calm now")          # the bucket refills
        for b in (watcher, ):
            await b.stop()
        await watcher.bot.close()
        await flood.close()


@aio
async def test_persistent_abuse_is_closed_with_4005(tmp_path):
    async with running_server(tmp_path) as srv:
        watcher = Watcher(await Bot.connect(srv.url, "Watcher"))
        abuser = await Bot.connect(srv.url, "Abuser")
        for _ in range(400):
            if abuser.closed:
                break
            try:
                await abuser.send_raw(b"\xc1")
            except Exception:
                break
        code, _ = await abuser.wait_closed()
        assert code == CLOSE["abuse"]
        mark = len(watcher.ticks)
        await until(lambda: watcher.since(mark) >= 10)
        await watcher.stop()
        await watcher.bot.close()


@aio
async def test_stalled_client_is_dropped_and_does_not_slow_the_others(tmp_path):
    async with running_server(tmp_path, stall_timeout=1.0, write_limit=16 * 1024) as srv:
        watcher = Watcher(await Bot.connect(srv.url, "Watcher"))
        partner = await Bot.connect(srv.url, "Partner")
        # A socket with a tiny receive window whose reader then stops reading.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        from websockets.asyncio.client import connect
        stalled = Bot(await connect(srv.url, sock=sock, compression=None, proxy=None), srv.url, "Stalled")
        stalled_bot = await _hello(stalled)
        for i in range(60):   # 60 DMs of 500 characters make each history reply about 33 KB
            await srv.store.call("add_message", "dm", partner.user, f"{i:03d}" + "x" * 497, target=stalled_bot.user)
        stalled.ws.transport.pause_reading()
        mark = len(watcher.ticks)
        t0 = asyncio.get_running_loop().time()
        for rid in range(1, 400):
            try:
                await stalled.send({"t": "history", "rid": rid, "ch": "dm", "to": partner.user, "limit": 100})
            except Exception:
                break
            await asyncio.sleep(1.2 / srv.cfg.rate_request[0])     # stay under the request rate limit
            if stalled_bot.user not in srv.realm.sessions:
                break
        await until(lambda: stalled_bot.user not in srv.realm.sessions, timeout=15)
        elapsed = asyncio.get_running_loop().time() - t0
        # Meanwhile the watcher kept getting snapshots at the tick rate (half of it is plenty).
        assert watcher.since(mark) >= 0.5 * srv.cfg.tick_hz * elapsed
        await watcher.stop()
        await watcher.bot.close()
        await partner.close()


async def _hello(bot: Bot):
    """Finish the handshake on a Bot built around a pre-connected socket."""
    from world.protocol import encode, decode_server
    await bot.ws.send(encode({"t": "hello", "v": 1, "name": bot.name, "kind": "bot"}))
    while True:
        msg = decode_server(await bot.ws.recv())
        if msg["t"] == "welcome":
            class W:
                user = msg["user"]
            return W
