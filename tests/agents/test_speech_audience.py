"""Who hears an agent's streamed line, over real sockets with real bots: pieces go to the
audience fixed at the first piece, the final to that audience plus whoever hears it at the
end; and agents speak through the realm's one chat path, so mutes and blocks apply to them
the way they apply to people."""

from __future__ import annotations

import asyncio
import inspect
import math

from client.bot import Bot
from tests.agents.test_agents_live import agent
from tests.conftest import aio, running_server, until
from tests.server.test_moderation import make_admin
from world.agents import agent as agent_module
from world.agents.brain import ScriptedBrain
from world.space import chat
from world.bench.eval_agents import walk     # around the plaza's boxes, as a person steers
from world.space.realm import now_ms

DRAFT = "The Cafe is north-east of here. The Garden is north-west of here. The Stage is north of here."
FACTS = ["Cafe", "Garden", "Stage"]


def of(bot: Bot, uid: int, sid: int, partial: bool) -> list[dict]:
    return [m for m in bot.inbox["chat"] if m.get("from") == uid and m.get("sid") == sid
            and bool(m.get("partial")) is partial]


@aio
async def test_who_saw_the_first_piece_gets_the_final_and_who_came_later_gets_no_pieces(tmp_path):
    async with running_server(tmp_path, agents="guide", walk_speed=12.0, run_speed=30.0) as srv:
        guide = await agent(srv, "guide")
        srv.agents.brains["scripted"] = ScriptedBrain(delay_s=0.25)     # ~4.5 s for three sentences
        gx, gy, _, _ = guide.space.position(guide.entity)
        radius = srv.cfg.hearing_radius
        async with await Bot.connect(srv.url, "Bob") as bob, await Bot.connect(srv.url, "Carol") as carol:
            await asyncio.gather(walk(bob, gx + 4, gy), walk(carol, gx + 45, gy))
            line = asyncio.create_task(guide.say(DRAFT, FACTS))
            first = await bob.wait_for(lambda m: m.get("from") == guide.user and m.get("partial"), timeout=10)
            sid = first["sid"]
            # Bob walks out of hearing range, Carol walks in, while the line is still being said.
            await asyncio.gather(walk(bob, gx + 45, gy), walk(carol, gx + 4, gy))
            assert not line.done(), "the line ended before the listeners swapped places"
            final_text = await line
            await bob.wait_for(lambda m: m.get("sid") == sid and not m.get("partial"), timeout=5)
            await carol.wait_for(lambda m: m.get("sid") == sid and not m.get("partial"), timeout=5)
            bx, by = bob.position()
            assert math.hypot(bx - gx, by - gy) > radius                       # out of range at the end
            (bob_final,) = of(bob, guide.user, sid, False)
            assert bob_final["text"] == final_text
            pieces = of(bob, guide.user, sid, True)
            assert bob_final["text"].startswith("".join(p["text"] for p in pieces))
            assert len(pieces) >= 2                                             # he heard it stream
            assert of(carol, guide.user, sid, True) == []                       # no half line
            assert [m["text"] for m in of(carol, guide.user, sid, False)] == [final_text]


@aio
async def test_a_muted_agent_says_nothing_and_an_unmuted_one_speaks_again(tmp_path):
    token = make_admin(tmp_path)
    async with running_server(tmp_path, agents="guide") as srv:
        guide = await agent(srv, "guide")
        async with await Bot.connect(srv.url, "Root", token=token) as admin, \
                await Bot.connect(srv.url, "Alice") as alice:
            await admin.mod("mute", guide.user, reason="testing", minutes=5)
            await until(lambda: guide.session.is_muted(now_ms()))
            await guide.say("The Cafe is north-east of here.", ["Cafe"])
            guide.emote("wave")
            await asyncio.sleep(0.3)
            assert not [m for m in alice.inbox["chat"] + alice.inbox["emote"] if m.get("from") == guide.user
                        or m.get("e") == guide.entity]
            await admin.mod("unmute", guide.user)
            await until(lambda: not guide.session.is_muted(now_ms()))
            await alice.say("Mira, where is the cafe?")
            reply = await alice.wait_for(lambda m: m.get("from") == guide.user and not m.get("partial"), timeout=10)
            assert "Cafe" in reply["text"]


@aio
async def test_a_blocked_agent_reaches_no_one_who_blocks_it_pieces_included(tmp_path):
    async with running_server(tmp_path, agents="guide") as srv:
        guide = await agent(srv, "guide")
        async with await Bot.connect(srv.url, "Alice") as alice, await Bot.connect(srv.url, "Bob") as bob:
            await alice.block(guide.user)
            await guide.say(DRAFT, FACTS)
            await bob.wait_for(lambda m: m.get("from") == guide.user and not m.get("partial"), timeout=10)
            assert [m for m in bob.inbox["chat"] if m.get("from") == guide.user and m.get("partial")]
            await asyncio.sleep(0.2)
            assert not [m for m in alice.inbox["chat"] if m.get("from") == guide.user]


@aio
async def test_agents_speak_and_emote_only_through_the_realms_chat_paths(tmp_path, monkeypatch):
    calls: dict[str, int] = {"say": 0, "say_piece": 0, "emote": 0}

    def counted(name):
        real = getattr(chat, name)
        if inspect.iscoroutinefunction(real):
            async def wrapper(*a, **kw):
                calls[name] += 1
                return await real(*a, **kw)
        else:
            def wrapper(*a, **kw):
                calls[name] += 1
                return real(*a, **kw)
        return wrapper

    for name in calls:
        monkeypatch.setattr(chat, name, counted(name))
    async with running_server(tmp_path, agents="guide") as srv, await Bot.connect(srv.url, "Alice") as alice:
        await alice.say("Mira, hello!")                         # a wave and a greeting
        await alice.wait_for(lambda m: m.get("name") == "Mira" and not m.get("partial"), timeout=10)
        await alice.say("hello everyone")                       # a person's line: the same path
        await asyncio.sleep(0.2)
    assert calls["say"] >= 2 and calls["say_piece"] >= 1 and calls["emote"] >= 1
    # No second copy of the fan-out: the agent module never sends frames or stores lines itself.
    source = inspect.getsource(agent_module.Agent)
    assert "send_frame" not in source and "add_message" not in source and "hearers(" not in source


@aio
async def test_a_busy_brain_reuses_the_models_checked_wording_of_the_same_draft(tmp_path):
    async with running_server(tmp_path, agents="guide") as srv:
        guide = await agent(srv, "guide")
        host = srv.agents
        host.brains["scripted"] = brain = ScriptedBrain(replies=["Sure! The Cafe is north-east of here."])
        async with await Bot.connect(srv.url, "Alice") as alice:
            first = await guide.say("The Cafe is north-east of here.", ["Cafe", "north-east"])
            assert first == "Sure! The Cafe is north-east of here."
            host._phrasing[id(brain)] = srv.cfg.agent_phrasing_queue        # the model is busy now
            again = await guide.say("The Cafe is north-east of here.", ["Cafe", "north-east"])
            other = await guide.say("The Garden is north-west of here.", ["Garden"])
            assert again == first and other == "The Garden is north-west of here."
            await until(lambda: [m["text"] for m in alice.inbox["chat"] if m.get("from") == guide.user
                                 and not m.get("partial")] == [first, first, other])
        lines = host.stats()["lines"]
        assert lines["model"] == 1 and lines["cached"] == 1 and lines["busy"] == 1 and lines["total"] == 3
        assert brain.calls == 1
