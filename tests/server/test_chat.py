"""Near chat by hearing range, DMs (also to offline users), groups with history, blocks, who/presence."""

from __future__ import annotations


import pytest

from client.bot import Bot, BotError
from tests.conftest import aio, running_server
from tests.server.worlds import TWO_ENDS, write_world


@aio
async def test_near_chat_reaches_the_near_and_not_the_far(tmp_path):
    world = write_world(tmp_path, TWO_ENDS, "twoends")
    async with running_server(tmp_path, world=world) as srv:
        ada = await Bot.connect(srv.url, "Ada")      # west end
        far = await Bot.connect(srv.url, "Far")      # east end, 60 m away
        near = await Bot.connect(srv.url, "Near")    # west end, next to Ada
        ack = await ada.say("hello neighbours")
        assert ack["id"] > 0
        got = await near.expect("chat", text="hello neighbours")
        assert got["from"] == ada.user and got["name"] == "Ada" and got["ch"] == "near" and got["e"] == ada.entity
        await far.expect_no("chat", within=0.5)
        await ada.expect_no("chat", within=0.1)     # no echo: the sender has its ack
        for b in (ada, far, near):
            await b.close()


@aio
async def test_dm_to_offline_user_is_delivered_on_login_once(tmp_path):
    async with running_server(tmp_path) as srv:
        ada = await Bot.connect(srv.url, "Ada")
        bob = await Bot.connect(srv.url, "Bob")
        bob_user, bob_token = bob.user, bob.token
        await bob.close()
        ack = await ada.dm(bob_user, "see you tomorrow")
        bob = await Bot.connect(srv.url, "Bob", token=bob_token)
        got = await bob.expect("chat", ch="dm")
        assert got["text"] == "see you tomorrow" and got["from"] == ada.user and got["id"] == ack["id"]
        await bob.close()
        bob = await Bot.connect(srv.url, "Bob", token=bob_token)
        await bob.expect_no("chat", within=0.4)         # delivered exactly once
        # online delivery and history in both directions
        await bob.dm(ada.user, "hi back")
        assert (await ada.expect("chat", ch="dm"))["text"] == "hi back"
        hist = await ada.history("dm", bob_user)
        assert [m["text"] for m in hist["msgs"]] == ["hi back", "see you tomorrow"]
        with pytest.raises(BotError) as err:
            await ada.dm(999_999, "nobody")
        assert err.value.code == "not_found"
        for b in (ada, bob):
            await b.close()


@aio
async def test_group_chat_invitation_membership_and_history_after_restart(tmp_path):
    async with running_server(tmp_path) as srv:
        ada = await Bot.connect(srv.url, "Ada")
        bob = await Bot.connect(srv.url, "Bob")
        eve = await Bot.connect(srv.url, "Eve")
        g = (await ada.group("create", name="Book club"))["group"]
        with pytest.raises(BotError) as err:
            await eve.group("join", group=g["id"])
        assert err.value.code == "not_invited"
        await ada.group("invite", group=g["id"], user=bob.user)
        inv = await bob.expect("invite")
        assert inv["group"]["id"] == g["id"] and inv["by"] == ada.user
        await bob.group("join", group=g["id"])
        assert (await ada.expect("member"))["user"] == bob.user
        for i in range(5):
            await (ada if i % 2 == 0 else bob).group_say(g["id"], f"line {i}")
        got = await bob.expect("chat", ch="group", text="line 0")
        assert got["to"] == g["id"]
        with pytest.raises(BotError) as err:
            await eve.group_say(g["id"], "let me in")
        assert err.value.code == "not_member"
        with pytest.raises(BotError) as err:
            await eve.history("group", g["id"])
        assert err.value.code == "not_member"
        tokens = (ada.token, bob.token)
    async with running_server(tmp_path) as srv:
        bob = await Bot.connect(srv.url, "Bob", token=tokens[1])
        page1 = await bob.history("group", g["id"], limit=3)
        assert [m["text"] for m in page1["msgs"]] == ["line 4", "line 3", "line 2"] and page1["more"]
        page2 = await bob.history("group", g["id"], before=page1["cursor"], limit=3)
        assert [m["text"] for m in page2["msgs"]] == ["line 1", "line 0"] and not page2["more"]
        groups = (await bob.group("list"))["groups"]
        assert [x["name"] for x in groups] == ["Book club"]
        await bob.group("leave", group=g["id"])
        with pytest.raises(BotError) as err:
            await bob.group_say(g["id"], "still here?")
        assert err.value.code == "not_member"
        await bob.close()


@aio
async def test_block_stops_near_chat_and_refuses_dms(tmp_path):
    async with running_server(tmp_path) as srv:
        ada = await Bot.connect(srv.url, "Ada")
        bob = await Bot.connect(srv.url, "Bob")
        await bob.block(ada.user, True)
        await ada.say("can you hear me?")
        await bob.expect_no("chat", within=0.4)
        with pytest.raises(BotError) as err:
            await ada.dm(bob.user, "hello?")
        assert err.value.code == "blocked"
        await bob.block(ada.user, False)
        await ada.say("and now?")
        assert (await bob.expect("chat"))["text"] == "and now?"
        with pytest.raises(BotError) as err:
            await bob.block(bob.user, True)
        assert err.value.code == "self"
        await ada.close()
        await bob.close()


@aio
async def test_who_and_presence_say_who_is_online_and_where(tmp_path):
    async with running_server(tmp_path) as srv:
        ada = await Bot.connect(srv.url, "Ada")
        bob = await Bot.connect(srv.url, "Bob", kind="vr")
        users = {u["name"]: u for u in await ada.who()}
        assert set(users) == {"Ada", "Bob"}
        assert users["Bob"]["space"] == "plaza#1" and users["Bob"]["kind"] == "vr"
        assert users["Bob"]["place"] in {"Fountain", "Plaza"}
        online = await ada.wait_for("presence", timeout=3)
        assert {u["name"] for u in online["online"]} >= {"Bob"}
        await bob.close()
        off = await ada.wait_for("presence", timeout=3, offline=lambda ids: bob.user in ids)
        assert bob.user in off["offline"]
        await ada.close()


@aio
async def test_emote_is_seen_by_those_in_view(tmp_path):
    async with running_server(tmp_path) as srv:
        ada = await Bot.connect(srv.url, "Ada")
        bob = await Bot.connect(srv.url, "Bob")
        await ada.emote("wave")
        got = await bob.expect("emote")
        assert got["e"] == ada.entity and got["emote"] == "wave"
        await ada.close()
        await bob.close()


@aio
async def test_invitation_to_an_offline_user_waits_for_their_login(tmp_path):
    async with running_server(tmp_path) as srv:
        ada = await Bot.connect(srv.url, "Ada")
        bob = await Bot.connect(srv.url, "Bob")
        await bob.close()
        g = (await ada.group("create", name="Later"))["group"]
        await ada.group("invite", group=g["id"], user=bob.user)
        bob = await Bot.connect(srv.url, "Bob", token=bob.token)
        inv = await bob.expect("invite")
        assert inv["group"]["id"] == g["id"] and inv["by"] == ada.user
        await bob.group("join", group=g["id"])
        await bob.close()
        await ada.close()
