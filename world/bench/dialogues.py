"""Dialogues as data: a person's lines to an agent and the answers expected, run over the real
protocol against a real server (assets/dialogues/README.md describes the format).

The same runner serves the test suite (scripted brain, `tests/agents/test_dialogues.py`) and
`agora eval agents` (local model). Per reply it measures the time from the line to the agent's
first words (a checked partial or the final), and whether any streamed partial carried a word
the final does not contain.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import statistics
import threading
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AGENTS = ("guide", "barista", "companion")
_VISITORS = itertools.count(1)          # every dialogue's person gets a name of its own
STEP_KEYS = {"say", "via", "has", "any", "lacks", "silent", "rejoin", "restart", "staff", "wait"}
DIALOGUE_KEYS = {"name", "agent", "at", "steps", "order", "orders", "tags"}


class DialogueError(ValueError):
    """A dialogue file that does not follow the format."""


@dataclass(frozen=True)
class Step:
    say: str | None = None
    via: str | None = None
    has: tuple[str, ...] = ()
    any: tuple[str, ...] = ()
    lacks: tuple[str, ...] = ()
    silent: bool = False
    rejoin: bool = False
    restart: bool = False
    staff: str | None = None
    wait: float | None = None


@dataclass(frozen=True)
class Dialogue:
    name: str
    agent: str
    steps: tuple[Step, ...]
    source: str
    at: str | tuple[float, float] | None = None
    order: tuple[tuple[str, int, tuple[str, ...]], ...] | None = None
    orders: int | None = None
    tags: tuple[str, ...] = ()


def dialogues_dir() -> Path:
    from world.space.world_def import assets_dir
    return assets_dir("dialogues")


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DialogueError(f"{what} must be a string or a list of strings")
    return tuple(value)


def parse_dialogue(raw: dict[str, Any], source: str) -> Dialogue:
    where = f"{source}: dialogue {raw.get('name', '?')!r}"
    unknown = set(raw) - DIALOGUE_KEYS
    if unknown:
        raise DialogueError(f"{where}: unknown keys {sorted(unknown)}")
    if not isinstance(raw.get("name"), str) or raw.get("agent") not in AGENTS:
        raise DialogueError(f"{where}: needs a name and an agent ({', '.join(AGENTS)})")
    steps = []
    for i, s in enumerate(raw.get("steps") or []):
        if not isinstance(s, dict) or set(s) - STEP_KEYS:
            raise DialogueError(f"{where}: step {i + 1} has unknown keys {sorted(set(s) - STEP_KEYS)}")
        if ("say" in s) == (s.get("staff") is not None):
            raise DialogueError(f"{where}: step {i + 1} needs exactly one of say and staff")
        if s.get("staff") not in (None, "ready"):
            raise DialogueError(f"{where}: step {i + 1}: staff can only be \"ready\"")
        if s.get("via") not in (None, "near", "dm"):
            raise DialogueError(f"{where}: step {i + 1}: via is near or dm")
        steps.append(Step(say=s.get("say"), via=s.get("via"), has=_strings(s.get("has", []), "has"),
                          any=_strings(s.get("any", []), "any"), lacks=_strings(s.get("lacks", []), "lacks"),
                          silent=bool(s.get("silent", False)), rejoin=bool(s.get("rejoin", False)),
                          restart=bool(s.get("restart", False)), staff=s.get("staff"),
                          wait=float(s["wait"]) if "wait" in s else None))
    if not steps:
        raise DialogueError(f"{where}: no steps")
    at = raw.get("at")
    if isinstance(at, list):
        if len(at) != 2 or not all(isinstance(v, (int, float)) for v in at):
            raise DialogueError(f"{where}: at must be a place name or [x, y]")
        at = (float(at[0]), float(at[1]))
    order = None
    if "order" in raw:
        order = tuple(sorted((str(o["item"]), int(o.get("qty", 1)), tuple(sorted(o.get("options", []))))
                             for o in raw["order"]))
    return Dialogue(name=raw["name"], agent=raw["agent"], steps=tuple(steps), source=source, at=at,
                    order=order, orders=raw.get("orders"), tags=_strings(raw.get("tags", []), "tags"))


def load_dialogues(directory: Path | None = None) -> list[Dialogue]:
    """Every dialogue of every *.toml file in the folder, in file then file order."""
    directory = dialogues_dir() if directory is None else directory
    out: list[Dialogue] = []
    for path in sorted(directory.glob("*.toml")):
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        for raw in data.get("dialogue", []):
            out.append(parse_dialogue(raw, path.name))
    names = [d.name for d in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DialogueError(f"dialogue names must be unique: {dupes}")
    return out


# -- checking one reply ---------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")


def word_set(text: str) -> set[str]:
    return set(_WORD.findall(text.lower().replace("\u2019", "'")))


def stray_words(partials: list[str], final: str) -> list[str]:
    """Words streamed in partials that the final line does not contain."""
    have = word_set(final)
    return sorted({w for p in partials for w in word_set(p)} - have)


def check_reply(step: Step, reply: str | None) -> list[str]:
    """What is wrong with a reply to a step (empty when it is right)."""
    if step.silent:
        return [] if reply is None else [f"answered a line it should not: {reply!r}"]
    if reply is None:
        return ["no reply"]
    low = reply.lower()
    problems = [f"missing {h!r}" for h in step.has if h.lower() not in low]
    if step.any and not any(a.lower() in low for a in step.any):
        problems.append(f"none of {list(step.any)!r}")
    problems += [f"has {x!r}" for x in step.lacks if x.lower() in low]
    return problems


# -- the server side ----------------------------------------------------------------------------

class ServerHandle:
    """A WorldServer and the loop it runs on. Server-side actions (placing a person, reading
    orders) run on that loop, whether the runner shares it (eval) or not (the test suite,
    where a background thread keeps one server up for many tests)."""

    def __init__(self, start: Callable[[Path], Awaitable[Any]], data: Path) -> None:
        self.start, self.data = start, data
        self.srv: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lines_before: dict[str, int] = {}     # agents' line counts of servers restarted away

    async def open(self) -> ServerHandle:
        """Start the server on the running loop."""
        self.loop = asyncio.get_running_loop()
        self.srv = await self.start(self.data)
        return self

    def open_in_thread(self) -> ServerHandle:
        """Start the server on a loop of its own in a background thread."""
        ready = threading.Event()
        self.loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self._boot(ready))
            self.loop.run_forever()

        self._thread = threading.Thread(target=serve, name="dialogue-server", daemon=True)
        self._thread.start()
        if not ready.wait(120) or self.srv is None:
            raise RuntimeError("the dialogue server did not start")
        return self

    async def _boot(self, ready: threading.Event) -> None:
        try:
            self.srv = await self.start(self.data)
        finally:
            ready.set()

    async def do(self, fn: Callable[[Any], Any]) -> Any:
        """fn(server) on the server's loop; awaited if it returns an awaitable."""
        async def call() -> Any:
            out = fn(self.srv)
            return await out if asyncio.iscoroutine(out) else out
        if self.loop is asyncio.get_running_loop():
            return await call()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), self.loop))

    async def lines(self) -> dict[str, int]:
        """Agents' lines so far, phrased by the model or said as drafts, across restarts."""
        now = await self.do(lambda srv: dict(srv.agents.stats().get("lines") or {}))
        return {k: self._lines_before.get(k, 0) + now.get(k, 0) for k in set(now) | set(self._lines_before)}

    async def restart(self) -> None:
        self._lines_before = await self.lines()
        await self.do(lambda srv: srv.stop())

        async def again(_: Any) -> Any:
            self.srv = await self.start(self.data)
        await self.do(again)

    @property
    def url(self) -> str:
        return self.srv.url

    def close(self) -> None:
        """Stop a server started with open_in_thread."""
        if self._thread is None or self.loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.srv.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)


def _agent_of(srv: Any, persona: str) -> Any:
    return next((a for a in srv.agents.agents.values()
                 if a.persona.key == persona and a.owner is None and a.session is not None), None)


def _place_person(srv: Any, user: int, x: float, y: float, yaw: float) -> None:
    """Stand a person (or an agent) at (x, y) facing yaw: what walking there would do, without the walk."""
    session = srv.realm.sessions[user]
    space = session.space
    b = space.bodies
    row = b.row(session.entity)
    b.x[row], b.y[row], b.yaw[row] = x, y, yaw
    b.set_intent(row, 0.0, 0.0, yaw, False)


# -- one dialogue ---------------------------------------------------------------------------------

@dataclass
class StepResult:
    say: str | None
    reply: str | None
    problems: list[str]
    first_ms: float | None = None
    partials: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)


@dataclass
class DialogueResult:
    dialogue: Dialogue
    steps: list[StepResult]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and all(not s.problems for s in self.steps)

    def describe(self) -> str:
        lines = [f"{self.dialogue.source}: {self.dialogue.name}: {'ok' if self.ok else 'WRONG'}"]
        for s in self.steps:
            mark = "  " if not s.problems else "! "
            lines.append(f"{mark}> {s.say or '(staff marks the order ready)'}")
            lines.append(f"{mark}< {s.reply!r}" + (f"   <- {'; '.join(s.problems)}" if s.problems else ""))
        lines += [f"! {p}" for p in self.problems]
        return "\n".join(lines)


class Runner:
    """Runs dialogues one after another against one server; each with a new account."""

    def __init__(self, handle: ServerHandle, *, wait_s: float = 10.0, silent_s: float = 2.0) -> None:
        self.handle = handle
        self.wait_s = wait_s
        self.silent_s = silent_s

    async def run(self, d: Dialogue) -> DialogueResult:
        from client.bot import Bot

        name = f"Visitor{next(_VISITORS)}"
        bot = await Bot.connect(self.handle.url, name)
        steps: list[StepResult] = []
        problems: list[str] = []
        try:
            agent_user = await self._meet(bot, d)
            for index, step in enumerate(d.steps):
                if step.restart or step.rejoin:
                    bot, agent_user = await self._come_back(bot, d, name, restart=step.restart)
                steps.append(await self._step(bot, agent_user, d, step, index))
            if d.agent == "barista" and (d.order is not None or d.orders is not None):
                problems += await self._check_orders(bot, d)
        except Exception as exc:           # a broken connection or server: the dialogue fails, loudly
            problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            await bot.close()
        return DialogueResult(d, steps, problems)

    async def _meet(self, bot: Any, d: Dialogue) -> int:
        """Summon the companion, or stand where the dialogue says, facing the agent."""
        if d.agent == "companion":
            reply = await bot.request("summon", agent="companion", timeout=30)
            return int(reply["user"])
        persona = d.agent
        for _ in range(100):             # right after a (re)start the stationed agents are still arriving
            if await self.handle.do(lambda srv: _agent_of(srv, persona) is not None):
                break
            await asyncio.sleep(0.1)

        def place(srv: Any) -> int:
            agent = _agent_of(srv, persona)
            if agent is None:
                raise RuntimeError(f"no stationed {persona} on the server")
            if agent.home is not None:
                # Every dialogue finds the agent at its post, whatever an earlier one asked of it
                # (a walk to the Garden, turning to face someone).
                hx, hy, hyaw = agent.home
                agent.stop()
                _place_person(srv, agent.user, hx, hy, hyaw)
            ax, ay, _, yaw = agent.space.position(agent.entity)
            if d.at is None:
                x, y = ax - 3.0 * math.sin(yaw), ay + 3.0 * math.cos(yaw)       # 3 m in front of it
            elif isinstance(d.at, tuple):
                x, y = d.at
            else:
                p = agent.space.world.place(d.at)
                if p is None:
                    raise RuntimeError(f"no place {d.at!r} in {agent.space.world.name}")
                x, y = p.at
            from world.agents.perception import heading
            _place_person(srv, bot.user, x, y, heading(ax - x, ay - y))
            return int(agent.user)

        agent_user = await self.handle.do(place)
        await asyncio.sleep(0.15)            # a few ticks: everyone sees the person where they stand
        return agent_user

    async def _come_back(self, bot: Any, d: Dialogue, name: str, *, restart: bool) -> tuple[Any, int]:
        from client.bot import Bot

        token = bot.token
        await bot.close()
        if restart:
            await self.handle.restart()
        bot = await Bot.connect(self.handle.url, name, token=token)
        return bot, await self._meet(bot, d)

    async def _step(self, bot: Any, agent_user: int, d: Dialogue, step: Step, index: int) -> StepResult:
        wait = step.wait or self.wait_s
        if index >= 8:       # a new account's chat bucket holds 10 lines; then stay under 3 a second
            await asyncio.sleep(0.35)
        mark = bot.mark()
        t0 = time.monotonic()
        if step.staff == "ready":
            await self._staff_ready(bot, d)
        elif (step.via or ("dm" if d.agent == "companion" else "near")) == "dm":
            await bot.dm(agent_user, step.say)
        else:
            await bot.say(step.say)
        mine = self._from(agent_user, bot.user)
        first_ms = None
        final: dict[str, Any] | None = None
        try:
            first = await bot.wait_for(mine, timeout=self.silent_s if step.silent else wait, since=mark)
            first_ms = (time.monotonic() - t0) * 1000.0
            final = first if not first.get("partial") else await bot.wait_for(
                lambda m: mine(m) and not m.get("partial") and m.get("sid") == first.get("sid"),
                timeout=wait, since=mark)
        except TimeoutError:
            pass
        reply = None if final is None else str(final.get("text", ""))
        sid = final.get("sid") if final is not None else None
        partials = [str(m.get("text", "")) for m in bot.log_since(mark)
                    if mine(m) and m.get("partial") and (sid is None or m.get("sid") == sid)]
        stray = stray_words(partials, reply or "")
        problems = check_reply(step, reply)
        if stray:
            problems.append(f"partials carried words the final lacks: {stray}")
        return StepResult(step.say, reply, problems, first_ms, partials, stray)

    @staticmethod
    def _from(agent_user: int, me: int) -> Callable[[dict[str, Any]], bool]:
        return lambda m: m.get("t") == "chat" and m.get("from") == agent_user and m.get("re") == me

    async def _staff_ready(self, bot: Any, d: Dialogue) -> None:
        from world.agents.order_queue import mark_ready

        async def ready(srv: Any) -> None:
            agent = _agent_of(srv, "barista")
            orders = await srv.store.call("orders_of", agent.memory_key, bot.user, 1)
            if not orders:
                raise RuntimeError("staff: this person has no order to mark ready")
            await mark_ready(srv.store, orders[0].id)
        await self.handle.do(ready)

    async def _check_orders(self, bot: Any, d: Dialogue) -> list[str]:
        async def placed(srv: Any) -> list[Any]:
            agent = _agent_of(srv, "barista")
            return await srv.store.call("orders_of", agent.memory_key, bot.user, 50)
        orders = await self.handle.do(placed)
        problems = []
        if d.orders is not None and len(orders) != d.orders:
            problems.append(f"{len(orders)} orders placed, expected {d.orders}")
        if d.order is not None:
            got = () if not orders else tuple(sorted(
                (i["item"], int(i["qty"]), tuple(sorted(i.get("options", [])))) for i in orders[0].items))
            if got != d.order:
                problems.append(f"placed {list(got) or 'nothing'}, expected {list(d.order) or 'nothing'}")
        return problems


# -- a whole set ----------------------------------------------------------------------------------

def summary(results: list[DialogueResult], lines: dict[str, int] | None = None) -> dict[str, Any]:
    """The figures `agora eval agents` reports for the dialogues."""
    steps = [s for r in results for s in r.steps]
    firsts = [s.first_ms for s in steps if s.first_ms is not None]
    out: dict[str, Any] = {
        "dialogues": len(results),
        "dialogues_correct": sum(r.ok for r in results),
        "bad_partials": sum(1 for s in steps if s.stray),
        "replies": sum(1 for s in steps if s.reply is not None),
        "first_checked_word_p50_ms": round(statistics.median(firsts), 1) if firsts else None,
    }
    if lines and lines.get("total"):
        # Worded by the model: alone, or with the draft's sentences added for facts it lost.
        # `verbatim` (a model line identical to the draft) and `cached` (an earlier checked
        # wording reused while the model was busy) are reported, not counted.
        out["model_phrased_share"] = round((lines.get("model", 0) + lines.get("mixed", 0)) / lines["total"], 3)
        out["lines"] = {k: lines.get(k, 0) for k in ("total", "model", "mixed", "verbatim", "cached", "draft", "busy")}
    by_agent: dict[str, list[int]] = {}
    for r in results:
        by_agent.setdefault(r.dialogue.agent, [0, 0])
        by_agent[r.dialogue.agent][0] += r.ok
        by_agent[r.dialogue.agent][1] += 1
    out["by_agent"] = {k: f"{a}/{n}" for k, (a, n) in sorted(by_agent.items())}
    return out
