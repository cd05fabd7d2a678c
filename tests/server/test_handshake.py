"""Handshake, identity and resume, instances (real server, real sockets, real SQLite)."""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from client.bot import Bot, BotError
from tests.conftest import aio, running_server, until
from world.protocol import CLOSE


@aio
async def test_hello_gets_welcome_with_identity_and_manifest(tmp_path):
    async with running_server(tmp_path) as srv:
        bot = await Bot.connect(srv.url, "Ada", kind="desktop")
        w = bot.welcome
        assert w["v"] == 1 and w["you"] == w["user"] and isinstance(w["token"], str) and len(w["token"]) >= 32
        assert w["tick_hz"] == 30 and w["resumed"] is False and w["role"] == "member"
        assert w["space"]["id"] == "plaza#1" and w["space"]["world"] == "plaza"
        names = {p["name"] for p in w["space"]["places"]}
        assert {"Plaza", "Cafe", "Fountain"} <= names
        assert any(b["name"].startswith("cafe-wall") for b in w["space"]["boxes"])
        snap = await bot.wait_for("snap")
        assert bot.bodies(None)["id"][0] == bot.entity      # own record first
        assert snap["tick"] > 0
        await bot.close()


@aio
async def test_resume_with_token_keeps_user_avatar_and_position(tmp_path):
    async with running_server(tmp_path) as srv:
        a = await Bot.connect(srv.url, "Ada")
        seq = await a.move(1.0, 0.0, 0.0)
        await a.wait_ack(seq)
        await asyncio.sleep(0.5)
        await a.move(0.0, 0.0, 0.0)
        await asyncio.sleep(0.2)
        before = a.position()
        await a.close()
        b = await Bot.connect(srv.url, "Ada again", token=a.token)
        assert b.user == a.user and b.entity == a.entity and b.welcome["resumed"] is True
        pos = b.welcome["pos"]
        assert abs(pos[0] - before[0]) < 0.05 and abs(pos[1] - before[1]) < 0.05
        await b.close()


@aio
async def test_resume_across_server_restart(tmp_path):
    async with running_server(tmp_path) as srv:
        a = await Bot.connect(srv.url, "Ada")
        seq = await a.move(0.0, 1.0, 0.0)
        await a.wait_ack(seq)
        await asyncio.sleep(0.4)
        await a.move(0.0, 0.0, 0.0)
        await asyncio.sleep(0.2)
        before = a.position()
        token, user = a.token, a.user
    # the server shut down with the client still connected: its position was saved
    async with running_server(tmp_path) as srv:
        b = await Bot.connect(srv.url, "Ada", token=token)
        assert b.user == user and b.welcome["resumed"]
        pos = b.welcome["pos"]
        assert abs(pos[0] - before[0]) < 0.05 and abs(pos[1] - before[1]) < 0.05
        await b.close()


@aio
async def test_unknown_token_is_refused_with_close_code(tmp_path):
    async with running_server(tmp_path) as srv:
        with pytest.raises(BotError) as err:
            await Bot.connect(srv.url, "Eve", token="not-a-real-token")
        assert err.value.code == "bad_token"


@aio
async def test_wrong_version_and_message_before_hello(tmp_path):
    from websockets.asyncio.client import connect

    async with running_server(tmp_path) as srv:
        async with connect(srv.url, compression=None, proxy=None) as ws:
            await ws.send(msgpack.packb({"t": "hello", "v": 2, "name": "x", "kind": "bot"}))
            reply = msgpack.unpackb(await ws.recv())
            assert reply["code"] == "bad_version"
            await ws.wait_closed()
            assert ws.close_code == CLOSE["bad_hello"]
        async with connect(srv.url, compression=None, proxy=None) as ws:
            await ws.send(msgpack.packb({"t": "chat", "ch": "near", "text": "hi"}))
            reply = msgpack.unpackb(await ws.recv())
            assert reply["t"] == "error" and reply["code"] == "not_ready"
            await ws.wait_closed()
            assert ws.close_code == CLOSE["bad_hello"]


@aio
async def test_silent_connection_is_closed_after_hello_timeout(tmp_path):
    from websockets.asyncio.client import connect

    async with running_server(tmp_path, hello_timeout=0.5) as srv:
        async with connect(srv.url, compression=None, proxy=None) as ws:
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.close_code == CLOSE["hello_timeout"]


@aio
async def test_second_login_replaces_the_first(tmp_path):
    async with running_server(tmp_path) as srv:
        a = await Bot.connect(srv.url, "Ada")
        b = await Bot.connect(srv.url, "Ada", token=a.token)
        code, _ = await a.wait_closed()
        assert code == CLOSE["replaced"]
        assert len(srv.realm.sessions) == 1
        await b.close()


@aio
async def test_full_space_sends_newcomers_to_an_overflow_instance(tmp_path):
    async with running_server(tmp_path, capacity=2) as srv:
        bots = [await Bot.connect(srv.url, f"b{i}") for i in range(3)]
        spaces = [b.welcome["space"]["id"] for b in bots]
        assert spaces == ["plaza#1", "plaza#1", "plaza#2"]
        assert bots[2].welcome["space"]["instance"] == 2
        # the overflow avatar is not visible from the first instance
        await asyncio.sleep(0.3)
        assert bots[2].entity not in bots[0].entities
        for b in bots:
            await b.close()


@aio
async def test_unknown_space_is_refused(tmp_path):
    async with running_server(tmp_path) as srv:
        with pytest.raises(BotError) as err:
            await Bot.connect(srv.url, "Ada", space="atlantis")
        assert err.value.code == "unknown_space"


@aio
async def test_enter_and_leave_events_carry_kind_and_name(tmp_path):
    async with running_server(tmp_path) as srv:
        a = await Bot.connect(srv.url, "Ada")
        b = await Bot.connect(srv.url, "Bob", kind="vr")
        enter = await a.expect("enter", timeout=3)
        rec = next(e for e in enter["e"] if e["id"] == b.entity)
        assert rec["kind"] == "avatar" and rec["name"] == "Bob" and rec["client"] == "vr"
        await b.close()
        leave = await a.expect("leave", timeout=3)
        assert b.entity in leave["e"]
        await until(lambda: b.entity not in a.positions())
        await a.close()


@aio
async def test_refused_join_creates_no_account_and_odd_instances_are_unknown(tmp_path):
    async with running_server(tmp_path) as srv:
        for space in ("atlantis", "plaza#²", "plaza#x", "plaza#1234567"):
            with pytest.raises(BotError) as err:
                await Bot.connect(srv.url, "Ghost", space=space)
            assert err.value.code == "unknown_space"
        ok = await Bot.connect(srv.url, "Real")
        assert ok.user == 1              # no account was made for the refused hellos
        await ok.close()


@aio
async def test_resume_into_a_full_instance_keeps_your_place(tmp_path):
    async with running_server(tmp_path, capacity=2) as srv:
        a = await Bot.connect(srv.url, "A")
        b = await Bot.connect(srv.url, "B")
        again = await Bot.connect(srv.url, "A", token=a.token)      # replaces A's own session
        assert again.welcome["space"]["id"] == "plaza#1"
        enter = await b.expect("enter", timeout=3)                 # metadata refresh for the known id
        assert any(e["id"] == a.entity for e in enter["e"])
        await again.close()
        await b.close()


@aio
async def test_validation_errors_echo_the_request_id(tmp_path):
    async with running_server(tmp_path) as srv:
        bot = await Bot.connect(srv.url, "Ada")
        await bot.send({"t": "history", "rid": 41, "ch": "dm", "to": 2, "limit": 1000})
        err = await bot.expect("error", rid=41)
        assert err["code"] == "out_of_range" and err["field"] == "limit"
        await bot.close()


@aio
async def test_concurrent_joins_respect_capacity(tmp_path):
    async with running_server(tmp_path, capacity=2) as srv:
        bots = await asyncio.gather(*(Bot.connect(srv.url, f"b{i}") for i in range(10)))
        per_space = {}
        for b in bots:
            per_space[b.welcome["space"]["id"]] = per_space.get(b.welcome["space"]["id"], 0) + 1
        assert max(per_space.values()) <= 2 and sum(per_space.values()) == 10
        assert all(s.population() <= 2 for s in srv.realm.all_spaces())
        await asyncio.gather(*(b.close() for b in bots))


@aio
async def test_a_join_that_fails_midway_leaves_no_ghost(tmp_path):
    async with running_server(tmp_path) as srv:
        real_call = srv.store.call

        async def failing(method, *args, **kw):
            if method == "pending_dms":
                raise RuntimeError("disk full")
            return await real_call(method, *args, **kw)
        srv.store.call = failing
        with pytest.raises(BotError) as err:
            await Bot.connect(srv.url, "Ghost")
        assert err.value.code == "internal"
        srv.store.call = real_call
        assert srv.realm.sessions == {} and all(s.population() == 0 for s in srv.realm.all_spaces())
        ok = await Bot.connect(srv.url, "Real")
        await ok.close()
