"""The agent host: brings agents into spaces, steers them, and runs their thoughts off the tick.

One host per server. It spawns the stationed personas (guide, barista) into every instance of
a world that has their station, summons personal companions on request, moves every agent
about ten times a second through `Space.set_intent` (the tick itself never waits on an agent),
and owns the brains (loaded once) and the memory bank.
"""

from __future__ import annotations

import asyncio
import collections
import random
import statistics
import time
from typing import TYPE_CHECKING, Any, Callable

from world.agents.agent import Agent
from world.agents.behaviours import BEHAVIOURS, Behaviour
from world.agents.memory import MemoryBank
from world.agents.nav import NavGrid
from world.agents.persona import Persona, load_personas
from world.logs import event
from world.protocol.messages import MAX_NAME

if TYPE_CHECKING:
    from world.agents.brain import Brain
    from world.agents.speech import Voice
    from world.config import Config
    from world.space.realm import Realm
    from world.space.session import Session
    from world.space.space import Space


class AgentHost:
    def __init__(self, realm: Realm, cfg: Config, brain: str | None = None,
                 personas: dict[str, Persona] | None = None) -> None:
        self.realm = realm
        self.cfg = cfg
        self.store = realm.store
        self.brain_kind = brain or cfg.brain
        self.personas = personas if personas is not None else load_personas()
        self.stationed = [k.strip() for k in cfg.agents.split(",") if k.strip()]
        for k in self.stationed:
            if k not in self.personas:
                raise ValueError(f"no persona {k!r} (have: {', '.join(sorted(self.personas))})")
        realm.names.reserve(p.name for p in self.personas.values())
        self.memory = MemoryBank(self.store)
        self.brains: dict[str, Brain] = {}
        self.agents: dict[str, Agent] = {}              # account key -> agent
        self.companions: dict[int, Agent] = {}          # owner user id -> companion
        self.partner: dict[int, tuple[str, float]] = {}  # user id -> (agent they last talked with, when)
        self._navs: dict[str, NavGrid] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._pending: set[asyncio.Task[Any]] = set()
        self.thought_timeout_s = cfg.agent_thought_timeout
        self.phrase_timeout_s = cfg.agent_thought_timeout * 0.6
        self.max_tokens = 60
        self.return_after_s = 20.0
        self.progress: Callable[[str], None] | None = None
        self._phrasing: dict[int, int] = {}           # id(brain) -> lines being phrased or waiting
        self.drafts_direct = 0                        # lines said as drafts because the brain was busy
        # Every line said through `Agent.say`, by who worded it: the model alone ("model", of
        # which "verbatim" repeated the draft word for word), the model plus draft sentences
        # for facts it lost ("mixed"), the draft because the model's first sentence failed the
        # checks ("draft") or because the brain was busy ("busy").
        # "cached": the brain was busy, and the model's own checked wording of the same draft,
        # from an earlier line, was said.
        self.lines = {"total": 0, "model": 0, "verbatim": 0, "mixed": 0, "cached": 0, "draft": 0, "busy": 0}
        self.wordings: collections.OrderedDict[tuple[str, str, tuple[str, ...]], list[str]] = \
            collections.OrderedDict()                 # (persona, draft, facts) -> the model's finals
        self.first_words: collections.deque[float] = collections.deque(maxlen=1000)   # seconds
        self.started = False

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self, progress: Callable[[str], None] | None = None) -> None:
        self.progress = progress
        if self.stationed:
            await self._brain(self.brain_kind)       # loaded once, before anyone talks
        self.realm.space_listeners.append(self._space_opened)
        self._tasks.append(asyncio.get_running_loop().create_task(self._motion_loop(), name="agents"))
        if any(self.personas[k].kind == "business" for k in self.stationed):
            self.track_order()                       # the staff queue's poll
        self.started = True
        if self.stationed:
            self.realm.place_in(None, None)          # the default world's first instance, with its staff

    async def stop(self) -> None:
        for t in self._tasks + list(self._pending):
            t.cancel()
        for a in list(self.agents.values()):
            a.alive = False
            if a.thinking is not None:
                a.thinking.cancel()
        await asyncio.gather(*self._tasks, *self._pending, return_exceptions=True)
        for b in self.brains.values():
            try:
                await b.close()
            except Exception:
                pass

    async def _brain(self, kind: str) -> Brain:
        brain = self.brains.get(kind)
        if brain is None:
            from world.agents.brain import make_brain
            brain = make_brain(kind)
            await brain.start(self.progress)
            self.brains[kind] = brain
        return brain

    def brain_for(self, persona: Persona) -> Brain:
        return self.brains.get(persona.brain or self.brain_kind) or self.brains[self.brain_kind]

    def take_phrasing(self, brain: Brain) -> bool:
        """A place in the brain's queue for one line. A small model answers one line at a
        time; when `agent_phrasing_queue` lines already wait on it, the next agent says its
        factual draft at once instead of waiting seconds for nicer words."""
        key = id(brain)
        if self._phrasing.get(key, 0) >= self.cfg.agent_phrasing_queue:
            self.drafts_direct += 1
            return False
        self._phrasing[key] = self._phrasing.get(key, 0) + 1
        return True

    def give_phrasing(self, brain: Brain) -> None:
        self._phrasing[id(brain)] -= 1

    def count_line(self, kind: str, first_word_s: float | None, verbatim: bool = False) -> None:
        """One line said: who worded it, and how long until its first words went out."""
        self.lines["total"] += 1
        self.lines[kind] = self.lines.get(kind, 0) + 1
        self.lines["verbatim"] += verbatim
        if first_word_s is not None:
            self.first_words.append(first_word_s)

    WORDINGS = 512          # drafts whose model wordings are kept
    WORDINGS_EACH = 3       # wordings kept per draft

    def keep_wording(self, persona: str, draft: str, facts: tuple[str, ...], final: str) -> None:
        """Remember a line the model worded and the checks passed, for when the brain is busy."""
        key = (persona, draft, facts)
        kept = self.wordings.setdefault(key, [])
        if final not in kept:
            kept.append(final)
            del kept[:-self.WORDINGS_EACH]
        self.wordings.move_to_end(key)
        while len(self.wordings) > self.WORDINGS:
            self.wordings.popitem(last=False)

    def kept_wording(self, persona: str, draft: str, facts: tuple[str, ...]) -> str | None:
        """A wording the model gave this very draft before (checked then), or None. The
        draft is the whole source of a line's claims, so its checked wording is as true now."""
        kept = self.wordings.get((persona, draft, facts))
        if not kept:
            return None
        self.wordings.move_to_end((persona, draft, facts))
        return random.choice(kept)

    def voice(self, agent: Agent) -> Voice:
        """The persona's voice, the same for every agent of the persona (every companion is
        "Pip"): the brain keeps one evaluated prompt prefix per voice, and an owner's name
        would make one per owner."""
        from world.agents.speech import Voice
        p = agent.persona
        return Voice(p.name, p.role, p.style)

    def behaviour(self, agent: Agent) -> Behaviour:
        return BEHAVIOURS[agent.persona.kind]

    def nav(self, space: Space) -> NavGrid:
        grid = self._navs.get(space.world.name)
        if grid is None:
            grid = self._navs[space.world.name] = NavGrid(space.world.bounds_array(), space.world.solid_rects())
        return grid

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def stats(self) -> dict[str, Any]:
        """For /stats: how many agents, how busy, and how their brains fare."""
        agents = list(self.agents.values())
        return {"count": len(agents), "companions": len(self.companions), "brain": self.brain_kind,
                "thinking": sum(1 for a in agents if a.thinking is not None),
                "waiting": sum(len(a.queue) for a in agents),
                "brain_down": sum(1 for a in agents if a.down_said),
                "refused_actions": sum(len(a.refused) for a in agents),
                "drafts_direct": self.drafts_direct,
                "lines": dict(self.lines),
                "first_word_p50_ms": (round(statistics.median(self.first_words) * 1000, 1)
                                      if self.first_words else None),
                "generations": {k: getattr(b, "generations", None) for k, b in self.brains.items()},
                "prompt_prefix": {k: dict(b.prefix) for k, b in self.brains.items() if hasattr(b, "prefix")}}

    # -- stationed agents -------------------------------------------------------------------------
    def _space_opened(self, space: Space) -> None:
        self._spawn_task(self.populate(space))

    async def populate(self, space: Space) -> None:
        for key in self.stationed:
            persona = self.personas[key]
            place = space.world.place(persona.station) if persona.station else None
            if place is None and persona.at is None:
                continue                  # this world has no station for it
            x, y = persona.at or place.at
            yaw = persona.yaw
            if yaw is None:
                from world.agents.perception import heading
                yaw = heading(place.at[0] - x, place.at[1] - y) if place is not None and place.at != (x, y) else 0.0
            try:
                await self.spawn(persona, f"{key}@{space.id}", space, x, y, yaw)
            except Exception as exc:
                event("agent_spawn_failed", agent=key, space=space.id, error=repr(exc), level=40)

    async def spawn(self, persona: Persona, key: str, space: Space, x: float, y: float, yaw: float,
                    owner: int | None = None, owner_name: str = "", name: str | None = None) -> Agent:
        await self._brain(persona.brain or self.brain_kind)
        agent = Agent(self, persona, key, owner, owner_name)
        session = await self.realm.join_agent(key, name or persona.name, space, x, y, yaw, agent.sink)
        agent.session = session
        agent.home = None if owner is not None else (x, y, yaw)
        self.agents[key] = agent
        event("agent_spawn", agent=key, name=session.name, space=space.id, entity=session.entity)
        return agent

    def forget(self, agent: Agent) -> None:
        if self.agents.get(agent.key) is agent:
            del self.agents[agent.key]
        if agent.owner is not None and self.companions.get(agent.owner) is agent:
            del self.companions[agent.owner]

    async def remove(self, agent: Agent) -> None:
        agent.alive = False
        if agent.thinking is not None:
            agent.thinking.cancel()
        self.forget(agent)
        if agent.session is not None:
            await self.realm.leave(agent.session)

    # -- companions -------------------------------------------------------------------------------
    async def summon(self, owner: Session, away: bool = False) -> Agent | None:
        persona = next((p for p in self.personas.values() if p.kind == "companion"), None)
        if not self.cfg.companions and not away:
            raise LookupError("companions are turned off on this server")
        if persona is None:
            raise LookupError("this server has no companion persona")
        agent = self.companions.get(owner.user)
        if away:
            if agent is not None:
                await self.remove(agent)
            return agent
        space = owner.space
        if space is None:
            raise LookupError("you are not in a space")
        if agent is not None and agent.space is space and agent.alive:
            agent.follow(owner.entity)
            return agent
        if agent is not None:                       # in another instance: bring it over
            await self.remove(agent)
        if sum(1 for a in self.agents.values() if a.space is space) >= self.cfg.agent_max_per_space:
            raise OverflowError("too many agents in this space")
        x, y, _, yaw = space.position(owner.entity)
        from world.agents.perception import forward
        fx, fy = forward(yaw)
        taken = {s.name for s in self.realm.sessions.values() if s.user != owner.user}
        name = companion_name(persona.name, owner.name, owner.user, taken)
        agent = await self.spawn(persona, f"companion:{owner.user}", space, x - 1.5 * fx, y - 1.5 * fy, yaw,
                                 owner=owner.user, owner_name=owner.name, name=name)
        self.companions[owner.user] = agent
        agent.follow(owner.entity)
        return agent

    # -- orders -----------------------------------------------------------------------------------
    def track_order(self, agent: Agent | None = None, order_id: int | None = None, customer: int | None = None) -> None:
        """Placed orders wait in the staff queue (world/agents/order_queue.py); this keeps the
        poll that tells customers when staff changed one running (from start, so an order made
        ready while the server was down is still told). In demo mode (`orders_demo_ready_s`)
        a placed order gets ready by itself."""
        from world.agents import order_queue
        if not any(t.get_name() == "orders" and not t.done() for t in self._tasks):
            self._tasks.append(asyncio.get_running_loop().create_task(order_queue.watch(self), name="orders"))
        if order_id is not None and self.cfg.orders_demo_ready_s > 0:
            self._spawn_task(order_queue.demo_progress(self.store, order_id, self.cfg.orders_demo_ready_s))

    # -- motion -----------------------------------------------------------------------------------
    async def _motion_loop(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            for agent in list(self.agents.values()):
                if agent.owner is not None and self.realm.online(agent.owner) is None:
                    self._spawn_task(self.remove(agent))        # the owner left: so does the companion
                    continue
                try:
                    agent.step_motion(now)
                except Exception as exc:
                    event("agent_motion_error", agent=agent.key, error=repr(exc), level=40)


def companion_name(persona: str, owner_name: str, owner: int, taken: set[str]) -> str:
    """'Pip (Alice)', or 'Pip (Alice #12)' when that name is already someone else's: two
    people may share a display name, their companions may not."""
    name = f"{persona} ({owner_name})"
    if len(name) <= MAX_NAME and name not in taken:
        return name
    tail = f" #{owner})"
    room = MAX_NAME - len(persona) - 2 - len(tail)
    return f"{persona} ({owner_name[:max(room, 1)].rstrip()}{tail}"
