"""The guide's and the companion's dialogues (assets/dialogues/guide*.toml, companion*.toml)
over real sockets with the scripted brain, one test per dialogue.

Interim: the shared runner (world/bench/dialogues.py, tests/agents/test_dialogues.py) runs
every dialogue folder the same way once it lands; this file then goes. It follows the format
in assets/dialogues/README.md: a new account per dialogue, `at` as a place name or [x, y]
(default: 3 m in front of the agent), `via`, `has`/`any`/`lacks`, `rejoin`, `restart`.
"""

from __future__ import annotations

import asyncio
import math
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from client.bot import Bot
from tests.conftest import aio, running_server, until
from world.agents.perception import forward, heading
from world.bench.eval_agents import nav
from world.space.world_def import assets_dir, load_world

PLAZA = load_world("plaza")
FOLDER = assets_dir("dialogues")
DIALOGUES = [d for pattern in ("guide*.toml", "companion*.toml") for f in sorted(FOLDER.glob(pattern))
             for d in tomllib.loads(f.read_text())["dialogue"]]
SPEED = {"walk_speed": 12.0, "run_speed": 20.0}
BRAIN = os.environ.get("AGORA_DIALOGUE_BRAIN", "scripted")     # "local": the same dialogues, the real model


def test_there_are_enough_dialogues_with_unique_names():
    kinds = [d["agent"] for d in DIALOGUES]
    assert kinds.count("guide") >= 30 and kinds.count("companion") >= 30
    assert len({d["name"] for d in DIALOGUES}) == len(DIALOGUES)
    assert any(s.get("rejoin") for d in DIALOGUES for s in d["steps"])
    assert any(s.get("restart") for d in DIALOGUES for s in d["steps"])


async def _go(bot: Bot, x: float, y: float, timeout: float = 20.0) -> None:
    """Walk around the walls to (x, y), as a person steering would."""
    await until(lambda: bot.position() is not None)
    path = nav().path(bot.position(), (x, y)) or [(x, y)]
    async with asyncio.timeout(timeout):
        while path:
            px, py = bot.position()
            wx, wy = path[0]
            if math.hypot(wx - px, wy - py) <= (0.3 if len(path) == 1 else 0.5):
                path.pop(0)
                continue
            await bot.move(1.0, 0.0, heading(wx - px, wy - py), run=len(path) > 1 or math.hypot(wx - px, wy - py) > 2)
            await asyncio.sleep(0.02)
    await bot.move(0.0, 0.0, 0.0)


class Person:
    """One dialogue's person: connects, stands where `at` says, talks to the agent."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.d = d
        self.bot: Bot | None = None
        self.token: str | None = None
        self.agent_user = 0

    async def join(self, srv: Any) -> None:
        self.bot = await Bot.connect(srv.url, "Visitor", token=self.token)
        self.token = self.bot.token
        if self.d["agent"] == "companion":
            self.agent_user = (await self.bot.request("summon", agent="companion", timeout=30))["user"]
            return
        guide = await _agent(srv, "guide")
        self.agent_user = guide.user
        hx, hy, hyaw = guide.home
        at = self.d.get("at")
        if at is None:
            fx, fy = forward(hyaw)
            x, y = hx + 3 * fx, hy + 3 * fy
        elif isinstance(at, str):
            x, y = PLAZA.place(at).at
        else:
            x, y = at
        await _go(self.bot, x, y)
        px, py = self.bot.position()
        await self.bot.wait_ack(await self.bot.move(0.0, 0.0, heading(hx - px, hy - py)))

    async def leave(self) -> None:
        if self.bot is not None:
            await self.bot.close()
            self.bot = None

    async def say(self, step: dict[str, Any]) -> str | None:
        bot = self.bot
        assert bot is not None
        await asyncio.sleep(0.4)                    # people type: under the chat rate
        mark = bot.mark()
        via = step.get("via", "dm" if self.d["agent"] == "companion" else "near")
        if via == "dm":
            await bot.dm(self.agent_user, step["say"])
        else:
            await bot.say(step["say"])
        try:
            reply = await bot.wait_for(lambda m: m.get("t") == "chat" and not m.get("partial")
                                       and m.get("from") == self.agent_user and m.get("re") == bot.user,
                                       timeout=step.get("wait", 10 if BRAIN == "scripted" else 40), since=mark)
        except TimeoutError:
            return None
        return str(reply["text"])


async def _agent(srv: Any, persona: str) -> Any:
    def find():
        return next((a for a in srv.agents.agents.values() if a.persona.key == persona and a.session), None)
    await until(find)
    return find()


def check(step: dict[str, Any], reply: str | None) -> list[str]:
    if step.get("silent"):
        return [] if reply is None else [f"expected silence, got {reply!r}"]
    if reply is None:
        return ["no reply"]
    low = reply.lower()
    bad = [f"missing {h!r}" for h in step.get("has", []) if h.lower() not in low]
    if step.get("any") and not any(a.lower() in low for a in step["any"]):
        bad.append(f"none of {step['any']!r}")
    bad += [f"has {x!r}" for x in step.get("lacks", []) if x.lower() in low]
    return bad


@pytest.mark.parametrize("d", DIALOGUES, ids=[d["name"] for d in DIALOGUES])
@aio
async def test_dialogue(d, tmp_path):
    agents = "guide" if d["agent"] == "guide" else ""
    person = Person(d)
    failures = []
    srv_cm = running_server(tmp_path, agents=agents, brain=BRAIN, **SPEED)
    srv = await srv_cm.__aenter__()
    try:
        await person.join(srv)
        for n, step in enumerate(d["steps"]):
            if step.get("restart"):
                await person.leave()
                await srv_cm.__aexit__(None, None, None)
                srv_cm = running_server(tmp_path, agents=agents, brain=BRAIN, **SPEED)
                srv = await srv_cm.__aenter__()
                await person.join(srv)
            elif step.get("rejoin"):
                await person.leave()
                await person.join(srv)
            reply = await person.say(step)
            failures += [f"step {n} {step['say']!r} -> {reply!r}: {b}" for b in check(step, reply)]
    finally:
        await person.leave()
        await srv_cm.__aexit__(None, None, None)
    assert not failures, "\n".join(failures)


if __name__ == "__main__":          # quick look at what the agents say: python -m tests.agents.test_...
    print(Path(__file__).name, len(DIALOGUES))
