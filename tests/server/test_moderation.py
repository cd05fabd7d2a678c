"""Roles, mute, kick, timed ban, refusals for non-moderators, audit log; the admin CLI."""

from __future__ import annotations

import contextlib
import io

import pytest

from client.bot import Bot, BotError
from tests.conftest import aio, running_server
from world.cli import main as agora
from world.protocol import CLOSE
from world.store import Store


def make_admin(data) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert agora(["admin", "create-token", "--data", str(data), "--name", "Root"]) == 0
    return out.getvalue().strip()


@aio
async def test_muted_users_chat_is_dropped_and_unmute_restores_it(tmp_path):
    token = make_admin(tmp_path)
    async with running_server(tmp_path) as srv:
        admin = await Bot.connect(srv.url, "Root", token=token)
        assert admin.welcome["role"] == "admin"
        loud = await Bot.connect(srv.url, "Loud")
        ear = await Bot.connect(srv.url, "Ear")
        await admin.mod("mute", loud.user, reason="spam", minutes=5)
        notice = await loud.expect("notice", code="muted")
        assert notice["until"] > 0
        with pytest.raises(BotError) as err:
            await loud.say("buy now!!!")
        assert err.value.code == "muted"
        await ear.expect_no("chat", within=0.4)
        await admin.mod("unmute", loud.user)
        await loud.say("sorry")
        assert (await ear.expect("chat"))["text"] == "sorry"
        for b in (admin, loud, ear):
            await b.close()


@aio
async def test_mute_survives_reconnect(tmp_path):
    token = make_admin(tmp_path)
    async with running_server(tmp_path) as srv:
        admin = await Bot.connect(srv.url, "Root", token=token)
        loud = await Bot.connect(srv.url, "Loud")
        await admin.mod("mute", loud.user)
        await loud.close()
        loud = await Bot.connect(srv.url, "Loud", token=loud.token)
        with pytest.raises(BotError) as err:
            await loud.say("I'm back")
        assert err.value.code == "muted"
        await admin.close()
        await loud.close()


@aio
async def test_banned_user_is_disconnected_and_refused_until_unbanned(tmp_path):
    token = make_admin(tmp_path)
    async with running_server(tmp_path) as srv:
        admin = await Bot.connect(srv.url, "Root", token=token)
        troll = await Bot.connect(srv.url, "Troll")
        await admin.mod("ban", troll.user, reason="harassment", minutes=60)
        code, reason = await troll.wait_closed()
        assert code == CLOSE["banned"] and "harassment" in reason
        with pytest.raises(BotError) as err:
            await Bot.connect(srv.url, "Troll", token=troll.token)
        assert err.value.code == "banned"
        await admin.mod("unban", troll.user)
        back = await Bot.connect(srv.url, "Troll", token=troll.token)
        assert back.user == troll.user
        await back.close()
        await admin.close()


@aio
async def test_kick_closes_with_reason_and_members_cannot_moderate(tmp_path):
    token = make_admin(tmp_path)
    async with running_server(tmp_path) as srv:
        admin = await Bot.connect(srv.url, "Root", token=token)
        ada = await Bot.connect(srv.url, "Ada")
        bob = await Bot.connect(srv.url, "Bob")
        for op in ("mute", "kick", "ban"):
            with pytest.raises(BotError) as err:
                await ada.mod(op, bob.user, minutes=1)
            assert err.value.code == "forbidden"
        with pytest.raises(BotError) as err:
            await ada.mod("role", ada.user + 100, role="admin")
        assert err.value.code == "forbidden"
        await admin.mod("kick", bob.user, reason="cool off")
        code, reason = await bob.wait_closed()
        assert code == CLOSE["kicked"] and reason == "cool off"
        # a kicked user may come back (a kick is not a ban)
        bob2 = await Bot.connect(srv.url, "Bob", token=bob.token)
        await bob2.close()
        await ada.close()
        await admin.close()


@aio
async def test_moderators_act_on_members_only_and_every_action_is_audited(tmp_path):
    token = make_admin(tmp_path)
    async with running_server(tmp_path) as srv:
        admin = await Bot.connect(srv.url, "Root", token=token)
        mod = await Bot.connect(srv.url, "Mia")
        member = await Bot.connect(srv.url, "Max")
        await admin.mod("role", mod.user, role="moderator")
        assert (await mod.expect("notice", code="role"))["role"] == "moderator"
        await mod.mod("mute", member.user, minutes=1, reason="shouting")
        with pytest.raises(BotError) as err:
            await mod.mod("mute", admin.user)
        assert err.value.code == "forbidden"
        with pytest.raises(BotError) as err:
            await mod.mod("role", member.user, role="moderator")
        assert err.value.code == "forbidden"
        with pytest.raises(BotError) as err:
            await mod.mod("mute", 424242)
        assert err.value.code == "not_found"
        for b in (admin, mod, member):
            await b.close()
    store = Store(tmp_path / "agora.sqlite3")
    log = [(e.action, e.actor, e.target) for e in reversed(store.audit_log())]
    store.close()
    assert ("role", admin.user, mod.user) in log
    assert ("mute", mod.user, member.user) in log
    assert not any(a == "mute" and t == admin.user for a, _, t in log)


@aio
async def test_long_non_ascii_kick_reason_still_closes_the_connection(tmp_path):
    token = make_admin(tmp_path)
    async with running_server(tmp_path) as srv:
        admin = await Bot.connect(srv.url, "Root", token=token)
        bob = await Bot.connect(srv.url, "Bob")
        await admin.mod("kick", bob.user, reason="é" * 100)
        code, reason = await bob.wait_closed()
        assert code == CLOSE["kicked"] and len(reason.encode()) <= 123 and reason.startswith("é")
        await admin.close()


@aio
async def test_muted_user_cannot_emote_and_indefinite_mute_has_no_deadline(tmp_path):
    token = make_admin(tmp_path)
    async with running_server(tmp_path) as srv:
        admin = await Bot.connect(srv.url, "Root", token=token)
        loud = await Bot.connect(srv.url, "Loud")
        await admin.mod("mute", loud.user)
        assert (await loud.expect("notice", code="muted"))["until"] is None
        await loud.emote("wave")
        assert (await loud.expect("error"))["code"] == "muted"
        await admin.close()
        await loud.close()
