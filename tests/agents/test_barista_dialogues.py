"""Every barista dialogue in assets/dialogues/barista*.toml, said to Bruno on a real server
with the scripted brain (which says the draft word for word), one new account per dialogue.

A stand-in until the shared runner (world/bench/dialogues.py) lands: lines go by direct
message, so no walking is needed (the barista answers a message exactly as near speech; the
near path and the hearing range are in test_order_queue.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from client.bot import Bot
from tests.agents.test_agents_live import agent, final_from
from tests.conftest import aio, running_server
from world.agents.order_queue import mark_ready
from world.net.server import WorldServer

DIALOGUES = Path(__file__).resolve().parents[2] / "assets" / "dialogues"


def load(pattern: str = "barista*.toml") -> list[dict[str, Any]]:
    out = []
    for path in sorted(DIALOGUES.glob(pattern)):
        with open(path, "rb") as fh:
            out.extend(tomllib.load(fh)["dialogue"])
    return out


def test_dialogue_files_are_well_formed():
    ds = load()
    names = [d["name"] for d in ds]
    assert len(ds) >= 40 and len(set(names)) == len(names)
    for d in ds:
        assert d["agent"] == "barista" and d["steps"], d["name"]
        for step in d["steps"]:
            assert set(step) <= {"say", "via", "has", "any", "lacks", "silent", "rejoin", "restart", "staff",
                                 "wait"}, d["name"]
            assert ("say" in step) != ("staff" in step), d["name"]
        for line in d.get("order", []):
            assert set(line) == {"item", "qty", "options"}, d["name"]


def _lines(items: list[dict]) -> list[tuple]:
    return sorted((i["item"], i["qty"], tuple(sorted(i["options"]))) for i in items)


class Run:
    """One server for all dialogues, restarted on the same data when a step asks."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.cm: Any = None
        self.srv: WorldServer | None = None

    async def start(self) -> WorldServer:
        self.cm = running_server(self.data, agents="barista", rate_chat=(200.0, 200.0))
        self.srv = await self.cm.__aenter__()
        return self.srv

    async def stop(self) -> None:
        if self.cm is not None:
            await self.cm.__aexit__(None, None, None)
            self.cm = self.srv = None

    async def dialogue(self, d: dict[str, Any], n: int) -> list[str]:
        srv = self.srv
        assert srv is not None
        bot = await Bot.connect(srv.url, f"Guest{n}")
        bruno = (await agent(srv, "barista")).user
        before = len(await srv.store.call("orders_of", "barista", bot.user, 50))
        problems: list[str] = []
        try:
            for k, step in enumerate(d["steps"]):
                if step.get("restart") or step.get("rejoin"):
                    token = bot.token
                    await bot.close()
                    if step.get("restart"):
                        await self.stop()
                        srv = await self.start()
                        bruno = (await agent(srv, "barista")).user
                    bot = await Bot.connect(srv.url, f"Guest{n}", token=token)
                bot.mark()
                if "staff" in step:
                    (last, *_) = await srv.store.call("orders_of", "barista", bot.user, 1)
                    await mark_ready(srv.store, last.id)
                else:
                    await bot.dm(bruno, step["say"])
                try:
                    reply = (await bot.wait_for(final_from(bruno), timeout=step.get("wait", 10)))["text"]
                except TimeoutError:
                    problems.append(f"step {k} ({step.get('say', step.get('staff'))!r}): no reply")
                    continue
                low = reply.lower()
                missing = [s for s in step.get("has", []) if s.lower() not in low]
                present = [s for s in step.get("lacks", []) if s.lower() in low]
                if missing or present or (step.get("any") and not any(s.lower() in low for s in step["any"])):
                    problems.append(f"step {k} {step.get('say', step.get('staff'))!r} -> {reply!r}: "
                                    f"missing {missing}, should lack {present}")
            orders = await srv.store.call("orders_of", "barista", bot.user, 50)
            placed = orders[: len(orders) - before]
            if "order" in d:
                got = _lines(placed[0].items) if placed else []
                if got != _lines(d["order"]):
                    problems.append(f"order: placed {got}, expected {_lines(d['order'])}")
            if "orders" in d and len(placed) != d["orders"]:
                problems.append(f"orders: {len(placed)} placed, expected {d['orders']}")
        finally:
            await bot.close()
        return problems


@aio
async def test_barista_dialogues_pass_with_the_scripted_brain(tmp_path):
    run = Run(tmp_path)
    await run.start()
    failed = {}
    try:
        for n, d in enumerate(load()):
            problems = await run.dialogue(d, n)
            if problems:
                failed[d["name"]] = problems
    finally:
        await run.stop()
    assert not failed, "\n".join(f"{name}:\n  " + "\n  ".join(p) for name, p in failed.items())


@aio
async def test_what_the_dialogues_check_is_carried_as_facts(tmp_path, monkeypatch):
    """Whatever a model makes of a draft, the speech layer keeps only lines with every fact (or
    says the draft): so every word a dialogue checks must be a fact or the fixed tail. Here
    Bruno says nothing but his facts and the tail, and the dialogues still pass."""
    from world.agents.agent import Agent
    say = Agent.say

    async def facts_only(self, draft, facts=(), to=None, context=(), tail=""):
        return await say(self, " ".join(facts) or "-", facts, to, context, tail)

    monkeypatch.setattr(Agent, "say", facts_only)
    await test_barista_dialogues_pass_with_the_scripted_brain.__wrapped__(tmp_path)
