"""The guide and the companion over real sockets (scripted brain, real SQLite, real bots):
directions measured from each asker, walking to an amenity's nearest spot, and a
companion's list and forget-one keeping to its own owner."""

from __future__ import annotations

import asyncio
import math

from client.bot import Bot
from tests.agents.test_agents_live import agent, final_from, follow
from tests.agents.test_guide_companion_dialogues import _go
from tests.conftest import aio, running_server
from world.agents.perception import heading

FAST = {"walk_speed": 12.0, "run_speed": 20.0}


async def ask(bot: Bot, text: str, to: int, dm: bool = False) -> str:
    await asyncio.sleep(0.4)
    mark = bot.mark()
    await (bot.dm(to, text) if dm else bot.say(text))
    reply = await bot.wait_for(lambda m: final_from(to)(m) and m.get("re") == bot.user, timeout=10, since=mark)
    return reply["text"]


@aio
async def test_the_guide_gives_each_asker_directions_from_where_they_stand(tmp_path):
    async with running_server(tmp_path, agents="guide", **FAST) as srv:
        async with await Bot.connect(srv.url, "Alice") as alice, await Bot.connect(srv.url, "Bob") as bob:
            guide = await agent(srv, "guide")
            await asyncio.gather(_go(alice, 12.0, -8.0), _go(bob, -12.0, -8.0))
            a = await ask(alice, "Mira, where is the fountain?", guide.user)
            b = await ask(bob, "Mira, where is the fountain?", guide.user)
            assert "north-west of you" in a and "north-east of you" in b


@aio
async def test_the_guide_walks_to_the_amenity_spot_nearest_the_asker(tmp_path):
    async with running_server(tmp_path, agents="guide", **FAST) as srv:
        async with await Bot.connect(srv.url, "Alice") as alice:
            guide = await agent(srv, "guide")
            await _go(alice, -6.0, -10.0)
            x, y = alice.position()
            gx, gy, _, _ = guide.space.position(guide.entity)
            await alice.wait_ack(await alice.move(0.0, 0.0, heading(gx - x, gy - y)))
            said = await ask(alice, "Mira, is there a bench near here?", guide.user)
            assert "nearest bench" in said and "south-west of you" in said
            said = await ask(alice, "yes please", guide.user)
            assert "Follow me to the bench" in said
            tail = asyncio.create_task(follow(alice, guide.entity))
            await alice.wait_for(lambda m: final_from(guide.user)(m) and "Here we are" in m["text"], timeout=20)
            tail.cancel()
            x, y, _, _ = guide.space.position(guide.entity)
            assert math.hypot(x + 10.0, y + 12.2) < 1.5                      # the plaza's west bench


@aio
async def test_a_companion_lists_and_forgets_only_what_its_own_owner_told_it(tmp_path):
    async with running_server(tmp_path) as srv:
        async with await Bot.connect(srv.url, "Alice") as alice, await Bot.connect(srv.url, "Bob") as bob:
            apip = (await alice.request("summon", agent="companion"))["user"]
            bpip = (await bob.request("summon", agent="companion"))["user"]
            assert "your locker code is 4471" in await ask(alice, "my locker code is 4471", apip, dm=True)
            assert "your bike is red" in await ask(alice, "remember that my bike is red", apip, dm=True)
            assert "your locker code is 1111" in await ask(bob, "my locker code is 1111", bpip, dm=True)
            listed = await ask(bob, "what do you know about me?", bpip, dm=True)
            assert "1111" in listed and "4471" not in listed and "bike" not in listed
            assert "forgotten your locker code" in await ask(alice, "forget my locker code", apip, dm=True)
            assert "don't know" in await ask(alice, "what's my locker code?", apip, dm=True)
            assert "red" in await ask(alice, "what colour is my bike?", apip, dm=True)
            assert "1111" in await ask(bob, "what's my locker code?", bpip, dm=True)
