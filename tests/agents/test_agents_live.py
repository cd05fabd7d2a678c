"""The three shipped personas over real sockets: a real server on an ephemeral port, a real
SQLite file, real bots. The scripted brain (deterministic phrasing) is used where the test
checks logic; tests/agents/test_agents_local.py runs the same paths with the local model."""

from __future__ import annotations

import asyncio
import math
import os
import socket

from client.bot import Bot
from tests.conftest import aio, running_server, until
from world.agents.agent import ActionRefused
from world.agents.brain import ScriptedBrain
from world.agents.perception import compass, heading
from world.space.world_def import load_world

PLAZA = load_world("plaza")


def final_from(name_or_user):
    key = "name" if isinstance(name_or_user, str) else "from"
    return lambda m: m.get("t") == "chat" and not m.get("partial") and m.get(key) == name_or_user


async def agent(srv, persona):
    """The stationed agent of this persona, once it has joined (spawning is asynchronous)."""
    def find():
        return next((a for a in srv.agents.agents.values() if a.persona.key == persona and a.session), None)
    await until(lambda: find() is not None)
    return find()


async def walk(bot: Bot, x: float, y: float, within: float = 1.5, run: bool = True, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            pos = bot.position()
            if pos is not None:
                dx, dy = x - pos[0], y - pos[1]
                if math.hypot(dx, dy) <= within:
                    break
                await bot.move(1.0, 0.0, heading(dx, dy), run=run)
            await asyncio.sleep(0.05)
    await bot.move(0.0, 0.0, heading(x - pos[0], y - pos[1]) if pos else 0.0)


async def follow(bot: Bot, entity: int, gap: float = 2.0) -> None:
    """Keep walking after an entity (cancel the task to stop)."""
    while True:
        me, it = bot.position(), bot.position(entity)
        if me is not None and it is not None:
            dx, dy = it[0] - me[0], it[1] - me[1]
            await bot.move(1.0 if math.hypot(dx, dy) > gap else 0.0, 0.0, heading(dx, dy), run=True)
        await asyncio.sleep(0.05)


async def face(bot: Bot, x: float, y: float) -> None:
    """Turn on the spot to face a point, and wait until the server applied it."""
    pos = bot.position()
    seq = await bot.move(0.0, 0.0, heading(x - pos[0], y - pos[1]))
    await bot.wait_ack(seq)


@aio
async def test_guide_gives_directions_from_world_data_then_walks_there(tmp_path):
    async with running_server(tmp_path, agents="guide", walk_speed=12.0, run_speed=15.0) as srv:
        async with await Bot.connect(srv.url, "Alice") as alice:
            guide = await agent(srv, "guide")
            garden = PLAZA.place("Garden")
            await until(lambda: alice.position() is not None)
            ax, ay = alice.position()                  # directions are from where the asker stands
            await alice.say("Mira, where is the garden?")
            reply = await alice.wait_for(final_from("Mira"), timeout=10)
            assert "Garden" in reply["text"]
            assert compass(garden.at[0] - ax, garden.at[1] - ay) in reply["text"]     # north-west
            d = math.hypot(garden.at[0] - ax, garden.at[1] - ay)
            assert f"{d:.0f} m" in reply["text"] and "of you" in reply["text"]
            await alice.say("yes please")
            reply = await alice.wait_for(final_from("Mira"), timeout=10)
            assert "Garden" in reply["text"] and "Follow" in reply["text"]
            await alice.wait_for(lambda m: m.get("t") == "emote" and m.get("e") == guide.entity
                                 and m.get("emote") == "nod", timeout=5)
            # The guide walks around the hedges, Alice follows, and it says where they arrived.
            tail = asyncio.create_task(follow(alice, guide.entity))
            arrived = await alice.wait_for(lambda m: final_from("Mira")(m) and "Here we are" in m["text"],
                                           timeout=25)
            tail.cancel()
            assert "Garden" in arrived["text"]
            x, y, _, _ = guide.space.position(guide.entity)
            assert math.hypot(x - garden.at[0], y - garden.at[1]) < 2.0
            assert guide.home is not None and math.hypot(x - guide.home[0], y - guide.home[1]) > 30


@aio
async def test_guide_answers_events_and_unknown_places(tmp_path):
    async with running_server(tmp_path, agents="guide") as srv:
        async with await Bot.connect(srv.url, "Alice") as alice:
            await alice.say("Mira, what's on at the stage?")
            reply = await alice.wait_for(final_from("Mira"), timeout=10)
            assert "Open mic night" in reply["text"] and "Fridays at 19:00" in reply["text"]
            await alice.say("Mira, where is the moon base?")
            reply = await alice.wait_for(final_from("Mira"), timeout=10)
            assert "don't know" in reply["text"] and "Cafe" in reply["text"]


@aio
async def test_guide_takes_turns_and_ignores_lines_not_for_it(tmp_path):
    async with running_server(tmp_path, agents="guide") as srv:
        async with await Bot.connect(srv.url, "Alice") as alice, await Bot.connect(srv.url, "Bob") as bob:
            guide = await agent(srv, "guide")
            gx, gy, _, _ = guide.space.position(guide.entity)
            await bob.say("nice weather today, isn't it")        # people chatting near the guide
            await bob.say("I like the fountain")
            await alice.say("Mira, where is the stage?")
            await bob.say("Mira, where is the lookout?")
            a = await alice.wait_for(lambda m: final_from("Mira")(m) and "Stage" in m["text"], timeout=10)
            b = await bob.wait_for(lambda m: final_from("Mira")(m) and "Lookout" in m["text"], timeout=10)
            assert a["sid"] < b["sid"]                            # in turn, in the order asked
            await asyncio.sleep(0.5)
            assert len(guide.said) == 2                           # nothing said to the small talk


@aio
async def test_speech_streams_partials_in_order_then_a_final(tmp_path):
    async with running_server(tmp_path, agents="guide") as srv:
        srv.agents.brains["scripted"] = ScriptedBrain(delay_s=0.01)
        async with await Bot.connect(srv.url, "Alice") as alice:
            mark = alice.mark()
            await alice.say("Mira, where is the lookout?")
            final = await alice.wait_for(final_from("Mira"), timeout=10)
            chunks = [m for _, m in alice._log if _ >= mark and m.get("t") == "chat" and m.get("partial")
                      and m.get("sid") == final["sid"]]
            assert chunks                                 # a checked sentence at a time
            assert [c["seq"] for c in chunks] == list(range(len(chunks)))
            streamed = "".join(c["text"] for c in chunks)
            assert final["text"].startswith(streamed) and "Lookout" in streamed
            assert final["text"].endswith("Would you like me to walk you there?")      # the fixed tail
            assert all("id" not in c for c in chunks) and isinstance(final["id"], int)


@aio
async def test_barista_builds_reads_back_confirms_then_places_and_remembers_usual(tmp_path):
    async with running_server(tmp_path, agents="barista") as srv:
        barista = await agent(srv, "barista")
        async with await Bot.connect(srv.url, "Carol") as carol:
            bx, by, _, _ = barista.space.position(barista.entity)
            await walk(carol, bx, by - 2.5)
            await face(carol, bx, by)

            async def turn(text: str) -> str:
                await carol.say(text)
                return (await carol.wait_for(final_from("Bruno"), timeout=10))["text"]

            assert "3.40" in await turn("How much is a latte?")
            assert "07:00" in await turn("When are you open?")
            said = await turn("I'd like a flat white with oat milk and two croissants for 0.01 each")
            assert "flat white with oat milk" in said and "2 croissants" in said
            assert "Shall I" not in said
            assert await srv.store.call("orders_of", "barista", carol.user) == []
            said = await turn("that's all")
            assert "9.20" in said and "Shall I place" in said            # 3.20 + 0.40 + 2 x 2.80
            assert await srv.store.call("orders_of", "barista", carol.user) == []   # asked first
            said = await turn("yes please")
            orders = await srv.store.call("orders_of", "barista", carol.user)
            assert len(orders) == 1 and f"#{orders[0].id}" in said
            o = orders[0]
            assert o.total_cents == 920                                   # from the catalog, not the customer
            assert sorted((i["item"], i["qty"], tuple(i["options"])) for i in o.items) == \
                [("croissant", 2, ()), ("flat_white", 1, ("oat milk",))]
            said = await turn("is my order ready?")
            assert f"#{o.id}" in said and ("placed" in said or "preparing" in said)
            # the usual: read back, confirmed, placed again
            said = await turn("the usual please")
            assert "9.20" in said and "Shall I place" in said
            said = await turn("yes")
            orders = await srv.store.call("orders_of", "barista", carol.user)
            assert len(orders) == 2 and orders[0].items == o.items


@aio
async def test_barista_change_of_mind_before_confirming(tmp_path):
    async with running_server(tmp_path, agents="barista") as srv:
        barista = await agent(srv, "barista")
        async with await Bot.connect(srv.url, "Dan") as dan:
            async def turn(text: str) -> str:
                await dan.dm(barista.user, text)          # ordering by message works too
                return (await dan.wait_for(final_from("Bruno"), timeout=10))["text"]

            await turn("a latte and a blueberry muffin please")
            said = await turn("that's it")
            assert "6.30" in said
            said = await turn("no")
            assert "change" in said
            await turn("no muffin")
            said = await turn("done")
            assert "3.40" in said and "muffin" not in said
            assert await srv.store.call("orders_of", "barista", dan.user) == []
            await turn("yes")
            (o,) = await srv.store.call("orders_of", "barista", dan.user)
            assert o.total_cents == 340 and [i["item"] for i in o.items] == ["latte"]


@aio
async def test_companion_is_private_follows_and_remembers_across_restart(tmp_path):
    async with running_server(tmp_path) as srv:
        alice = await Bot.connect(srv.url, "Alice")
        async with await Bot.connect(srv.url, "Bob") as bob:
            r = await alice.request("summon", agent="companion")
            pip = r["user"]
            assert r["name"] == "Pip (Alice)"
            await alice.dm(pip, "remember that my locker code is 4471")
            said = await alice.wait_for(final_from(pip), timeout=10)
            assert "4471" in said["text"] and said["ch"] == "dm" and said["to"] == alice.user
            await alice.say("Pip, my sister is called Ana")           # near, by name: still private
            said = await alice.wait_for(final_from(pip), timeout=10)
            assert "Ana" in said["text"] and said["ch"] == "dm"
            # Bob hears Alice's near line, but never the companion; asking it gets nothing.
            await bob.dm(pip, "Pip, what is Alice's locker code?")
            await bob.say("Pip, what is the locker code?")
            await asyncio.sleep(1.0)
            assert not [m for m in bob.inbox["chat"] if m.get("from") == pip]
            # It follows Alice.
            x0, y0 = alice.position()
            await walk(alice, x0 + 12, y0, run=False)
            await until(lambda: bob.position(r["e"]) is not None
                        and math.hypot(bob.position(r["e"])[0] - alice.position()[0],
                                       bob.position(r["e"])[1] - alice.position()[1]) < 3.5, timeout=10)
        token = alice.token
        await alice.close()
    async with running_server(tmp_path) as srv:                  # a restart: memory is in the store
        async with await Bot.connect(srv.url, "Alice", token=token) as alice:
            r = await alice.request("summon", agent="companion")
            assert r["user"] == pip                                 # the same companion account
            await alice.dm(pip, "what is my locker code?")
            said = await alice.wait_for(final_from(pip), timeout=10)
            assert "4471" in said["text"]
            await alice.dm(pip, "what's my sister called?")
            said = await alice.wait_for(final_from(pip), timeout=10)
            assert "Ana" in said["text"]


@aio
async def test_companion_says_what_its_owner_looks_at(tmp_path):
    async with running_server(tmp_path, agents="guide") as srv:
        async with await Bot.connect(srv.url, "Alice") as alice:
            r = await alice.request("summon", agent="companion")
            await face(alice, 0.0, 0.0)                                 # the fountain
            await alice.dm(r["user"], "what am I looking at?")
            said = await alice.wait_for(final_from(r["user"]), timeout=10)
            assert "fountain" in said["text"]
            guide = await agent(srv, "guide")
            gx, gy, _, _ = guide.space.position(guide.entity)
            ax, ay = alice.position()
            if math.hypot(gx - ax, gy - ay) > 1.0:
                await face(alice, gx, gy)
                await alice.dm(r["user"], "who is that?")
                said = await alice.wait_for(final_from(r["user"]), timeout=10)
                assert "Mira" in said["text"]


@aio
async def test_summon_errors_and_dismiss(tmp_path):
    async with running_server(tmp_path, agent_max_per_space=1) as srv:
        async with await Bot.connect(srv.url, "Alice") as alice, await Bot.connect(srv.url, "Bob") as bob:
            r = await alice.request("summon", agent="companion")
            try:
                await bob.request("summon", agent="companion")
                raise AssertionError("a second companion fit in a space capped at one agent")
            except Exception as exc:
                assert getattr(exc, "code", None) == "unavailable"
            try:
                await bob.request("summon", agent="shopkeeper")
                raise AssertionError("an unknown agent kind was accepted")
            except Exception as exc:
                assert getattr(exc, "code", None) == "out_of_range"      # not one of the choices
            gone = await alice.request("summon", agent="companion", away=True)
            assert gone["away"] is True
            await until(lambda: r["e"] not in srv.realm.all_spaces()[0].meta)
            await bob.request("summon", agent="companion")           # room again


@aio
async def test_agent_actions_outside_the_persona_are_refused(tmp_path):
    async with running_server(tmp_path, agents="guide,barista") as srv:
        guide, barista = await agent(srv, "guide"), await agent(srv, "barista")
        for a, action in ((guide, "place_order"), (guide, "follow"), (barista, "walk_to"), (barista, "recall")):
            try:
                a.allow(action)
                raise AssertionError(f"{a.persona.key} was allowed to {action}")
            except ActionRefused:
                pass
        try:
            barista.walk_to((0.0, 0.0))
            raise AssertionError("the barista walked off")
        except ActionRefused:
            pass
        assert barista.motion.mode == "idle"
        assert set(barista.refused) == {"walk_to", "recall"}
        stats = srv.stats()["agents"]                       # what /stats reports
        assert stats["count"] == 2 and stats["refused_actions"] == 5 and stats["brain"] == "scripted"


@aio
async def test_agents_do_not_talk_to_each_other_without_end(tmp_path):
    async with running_server(tmp_path, agents="guide") as srv:
        async with await Bot.connect(srv.url, "Alice") as alice:
            guide = await agent(srv, "guide")
            r = await alice.request("summon", agent="companion")
            # Another agent naming the guide is answered, but only a few times a minute.
            comp = srv.agents.companions[alice.user]
            from world.agents.agent import Heard
            answered = [guide.addressed(Heard(comp.user, comp.entity, comp.name, "Mira, hello!", "near", "agent"))
                        for _ in range(6)]
            assert answered == [True, True, True, False, False, False]
            assert not guide.addressed(Heard(comp.user, comp.entity, comp.name, "hello there", "near", "agent"))
            assert r["user"] == comp.user


@aio
async def test_blocked_or_muted_agents_reach_no_one(tmp_path):
    async with running_server(tmp_path, agents="guide") as srv:
        async with await Bot.connect(srv.url, "Alice") as alice:
            guide = await agent(srv, "guide")
            await alice.block(guide.user)
            await alice.say("Mira, where is the cafe?")
            await until(lambda: len(guide.said) == 1, timeout=10)
            await asyncio.sleep(0.3)
            assert not [m for m in alice.inbox["chat"] if m.get("from") == guide.user]


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@aio
async def test_backend_down_says_so_once_retries_with_backoff_and_recovers(tmp_path):
    os.environ["AGORA_OPENAI_BASE_URL"] = f"http://127.0.0.1:{_dead_port()}/v1"
    try:
        async with running_server(tmp_path, agents="guide", brain="openai") as srv:
            async with await Bot.connect(srv.url, "Alice") as alice:
                guide = await agent(srv, "guide")
                snaps = alice.snaps_received
                await alice.say("Mira, where is the cafe?")
                sorry = await alice.wait_for(final_from("Mira"), timeout=20)
                assert "can't think" in sorry["text"]
                await alice.say("Mira, where is the stage?")
                await until(lambda: guide.backoff_s >= 2.0, timeout=20)       # failed again, backing off
                apologies = [m for m in alice.inbox["chat"] if m.get("from") == guide.user and not m.get("partial")]
                assert len(apologies) == 1                                      # said once, not per failure
                assert alice.snaps_received - snaps > 30                        # the tick went on
                # The backend comes back: the waiting question is answered.
                srv.agents.brains["openai"] = ScriptedBrain()
                answer = await alice.wait_for(lambda m: final_from("Mira")(m) and "can't" not in m["text"],
                                              timeout=40)
                assert "Stage" in answer["text"] or "Cafe" in answer["text"]
                await until(lambda: guide.down_said is False)
    finally:
        del os.environ["AGORA_OPENAI_BASE_URL"]


@aio
async def test_slow_backend_does_not_hold_the_tick(tmp_path):
    async with running_server(tmp_path, agents="guide") as srv:
        srv.agents.brains["scripted"] = ScriptedBrain(delay_s=0.25)         # ~3 s per line
        async with await Bot.connect(srv.url, "Alice") as alice:
            snaps, tick = alice.snaps_received, srv.realm.all_spaces()[0].tick_no
            await alice.say("Mira, where is the lookout?")
            final = await alice.wait_for(final_from("Mira"), timeout=20)
            assert "Lookout" in final["text"]
            # while the brain was slow, ticks and snapshots kept their rate (about 30 a second)
            ticks = srv.realm.all_spaces()[0].tick_no - tick
            assert ticks > 30 and alice.snaps_received - snaps >= ticks * 0.8


@aio
async def test_a_busy_brain_makes_agents_say_their_draft_at_once(tmp_path):
    async with running_server(tmp_path, agent_phrasing_queue=1) as srv:
        srv.agents.brains["scripted"] = ScriptedBrain(delay_s=0.1)
        async with await Bot.connect(srv.url, "Alice") as alice, await Bot.connect(srv.url, "Bob") as bob:
            pa = (await alice.request("summon", agent="companion"))["user"]
            pb = (await bob.request("summon", agent="companion"))["user"]
            await asyncio.gather(alice.dm(pa, "my locker code is 4471"), bob.dm(pb, "my locker code is 1234"))
            ra = await alice.wait_for(final_from(pa), timeout=10)
            rb = await bob.wait_for(final_from(pb), timeout=10)
            assert "4471" in ra["text"] and "1234" in rb["text"]
            streamed = [bool([m for m in bot.inbox["chat"] if m.get("partial") and m.get("sid") == r["sid"]
                              and m.get("from") == r["from"]]) for bot, r in ((alice, ra), (bob, rb))]
            assert sorted(streamed) == [False, True]          # one phrased by the model, one said as drafted
            assert srv.stats()["agents"]["drafts_direct"] == 1
