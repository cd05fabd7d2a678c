"""The network edge: caps per address and in all (503 at the upgrade), new-account limits, the
byte cap before hello, memory given back when connections go, Origin, the stall watchdog."""

from __future__ import annotations

import asyncio
import gc
import socket
import stat
import weakref

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from client.bot import Bot, BotError
from tests.conftest import aio, running_server, until
from world.net import link as link_module
from world.protocol import CLOSE


async def raw_connect(url: str, **kw):
    return await connect(url, compression=None, proxy=None, open_timeout=5, **kw)


async def hello(ws, name: str, token: str | None = None) -> dict:
    msg = {"t": "hello", "v": 1, "name": name, "kind": "bot"}
    if token:
        msg["token"] = token
    await ws.send(msgpack.packb(msg))
    while True:
        reply = msgpack.unpackb(await ws.recv())
        if reply["t"] in ("welcome", "error"):
            return reply


@aio
async def test_connections_over_the_per_address_cap_get_503_with_the_reason(tmp_path):
    async with running_server(tmp_path, exempt_addresses="", max_connections_per_ip=3,
                              max_handshakes_per_ip=3) as srv:
        held = [await raw_connect(srv.url) for _ in range(3)]
        with pytest.raises(InvalidStatus) as refused:
            await raw_connect(srv.url)
        resp = refused.value.response
        assert resp.status_code == 503
        assert b"too many connections from your address" in resp.body
        assert resp.headers["Retry-After"].isdigit()
        assert srv.stats()["network"]["refused"]["connections_per_ip"] == 1
        await held[0].close()
        await until(lambda: srv.admission.connections["127.0.0.1"] == 2)
        again = await raw_connect(srv.url)           # a place was given back
        for ws in [*held[1:], again]:
            await ws.close()
        await until(lambda: srv.admission.total_connections == 0 and srv.admission.total_handshakes == 0)


@aio
async def test_joining_connections_are_capped_until_their_hello_is_answered(tmp_path):
    async with running_server(tmp_path, exempt_addresses="", max_handshakes_per_ip=2,
                              max_connections_per_ip=10) as srv:
        a, b = await raw_connect(srv.url), await raw_connect(srv.url)
        with pytest.raises(InvalidStatus) as refused:
            await raw_connect(srv.url)
        assert b"joining at once" in refused.value.response.body
        assert (await hello(a, "Ada"))["t"] == "welcome"         # Ada is in: no longer joining
        c = await raw_connect(srv.url)
        assert (await hello(c, "Cy"))["t"] == "welcome"
        for ws in (a, b, c):
            await ws.close()


@aio
async def test_exempt_addresses_skip_the_per_address_caps(tmp_path):
    async with running_server(tmp_path, max_connections_per_ip=1, max_handshakes_per_ip=1) as srv:
        assert srv.admission.exempt("127.0.0.1")
        bots = [await Bot.connect(srv.url, f"Local{i}") for i in range(4)]
        for b in bots:
            await b.close()


@aio
async def test_new_accounts_per_address_are_limited_but_returning_users_get_in(tmp_path):
    async with running_server(tmp_path, exempt_addresses="", accounts_per_ip_per_minute=2) as srv:
        first = await Bot.connect(srv.url, "One")
        second = await Bot.connect(srv.url, "Two")
        with pytest.raises(BotError) as refused:
            await Bot.connect(srv.url, "Three")
        assert refused.value.code == "rate_limited"
        assert refused.value.close_code == CLOSE["try_later"] == 1013
        token = first.token
        await first.close()
        back = await Bot.connect(srv.url, "One", token=token)     # a token creates no account
        assert back.user == first.user
        assert srv.stats()["network"]["refused"]["accounts_per_ip"] == 1
        for b in (second, back):
            await b.close()


@aio
async def test_too_much_data_before_hello_closes_with_4005_and_is_not_kept(tmp_path):
    async with running_server(tmp_path, prehello_max_bytes=32 * 1024) as srv:
        ws = await raw_connect(srv.url)
        junk = msgpack.packb({"t": "chat", "ch": "near", "text": "x" * 15_000})
        for _ in range(3):                         # 45 KB before any hello
            await ws.send(junk)
        await ws.wait_closed()
        assert ws.close_code == CLOSE["abuse"]
        assert "before hello" in ws.close_reason


@aio
async def test_a_lost_connection_frees_its_queued_frames_without_the_garbage_collector(tmp_path, monkeypatch):
    links: list[weakref.ref] = []
    original = link_module.Link.__init__

    def recording_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        links.append(weakref.ref(self))

    monkeypatch.setattr(link_module.Link, "__init__", recording_init)
    gc.disable()          # the server freezes its collector in production: freeing must not need it
    try:
        async with running_server(tmp_path, hello_timeout=30.0) as srv:
            ws = await raw_connect(srv.url)
            for _ in range(3):       # queued before hello; the first is taken as a (bad) hello
                await ws.send(b"\x81\xa1t\xa4ping" + b"x" * 10_000)
            await until(lambda: bool(links))
            await ws.close()
            await until(lambda: links[0]() is None, timeout=5)
            assert srv.admission.total_connections == 0
    finally:
        gc.enable()


@aio
async def test_origins_when_listed_refuse_other_browsers_but_not_native_clients(tmp_path):
    async with running_server(tmp_path, origins="https://agora.example") as srv:
        with pytest.raises(InvalidStatus) as refused:
            await raw_connect(srv.url, origin="https://evil.example")
        assert refused.value.response.status_code == 403
        ok = await raw_connect(srv.url, origin="https://agora.example")
        assert (await hello(ok, "Browser"))["t"] == "welcome"
        native = await raw_connect(srv.url)                      # no Origin header at all
        assert (await hello(native, "Native"))["t"] == "welcome"
        for ws in (ok, native):
            await ws.close()


@aio
async def test_any_origin_is_accepted_by_default(tmp_path):
    async with running_server(tmp_path) as srv:
        ws = await raw_connect(srv.url, origin="https://elsewhere.example")
        assert (await hello(ws, "Visitor"))["t"] == "welcome"
        await ws.close()


@aio
async def test_the_data_directory_is_created_private(tmp_path):
    data = tmp_path / "fresh"
    async with running_server(data):
        assert stat.S_IMODE(data.stat().st_mode) == 0o700


@aio
async def test_a_subnormal_move_intent_does_not_stop_the_tick(tmp_path):
    async with running_server(tmp_path) as srv:
        async with await Bot.connect(srv.url, "Tiny") as tiny, await Bot.connect(srv.url, "Other") as other:
            await tiny.send({"t": "move", "seq": 1, "fwd": 4.04e-201, "side": 0.0, "yaw": 0.0})
            await tiny.send({"t": "move", "seq": 2, "fwd": 0.0, "side": -5e-324, "yaw": 0.0})
            ticks = srv.ticks.count
            await other.move(1.0, 0.0, yaw=0.0)
            start = other.position()
            await until(lambda: srv.ticks.count > ticks + 15)
            assert other.position() != start                         # the space still moves
            assert srv.stats()["tick_overruns"] < srv.ticks.count    # and the tick did not fail


@aio
async def test_a_reader_that_stops_is_dropped_by_the_stall_watchdog_before_the_keepalive(tmp_path):
    # Ordinary traffic (walkers' snapshots, a few kB/s), the default write_limit, keepalive far
    # away: only the stall watchdog can drop the reader, once the small buffers are full.
    async with running_server(tmp_path, stall_timeout=1.0, socket_send_buffer=4096,
                              ping_interval=120.0, ping_timeout=120.0) as srv:
        walkers = [await Bot.connect(srv.url, f"Walker{i}") for i in range(6)]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        stalled = await raw_connect(srv.url, sock=sock)
        welcome = await hello(stalled, "Stalled")
        stalled.transport.pause_reading()

        async def walk() -> None:
            for k in range(10_000):
                for w in walkers:
                    await w.move(1.0, 0.0, yaw=(k % 30) * 0.2)
                await asyncio.sleep(0.1)

        walking = asyncio.create_task(walk())
        try:
            await until(lambda: welcome["user"] not in srv.realm.sessions, timeout=60)
        finally:
            walking.cancel()
        assert all(not w.closed for w in walkers)
        for w in walkers:
            await w.close()


def test_memory_is_returned_after_a_wave_of_connections_leaves_not_during_a_steady_crowd():
    from world.net.server import MemoryReturn

    memory = MemoryReturn(drop=100)
    for count in (0, 300, 800, 790, 805, 600, 450):      # a crowd that comes and stays
        memory.after_connections(count)
    assert memory.trims == 0
    memory.after_connections(300)                         # most of it left
    assert memory.trims == 1
    for count in (300, 250, 280):                         # the new level is the new peak
        memory.after_connections(count)
    assert memory.trims == 1
