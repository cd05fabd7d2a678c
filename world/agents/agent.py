"""One AI agent: a user whose client runs inside the server.

It perceives what its session receives (chat lines addressed to it or said near it) and reads
its space the way a client reads snapshots; it decides what to do with explicit logic
(world/agents/intent.py, the order state machine, memory retrieval); the brain only phrases
the reply. Everything it does goes through the paths people use: `Space.set_intent` for
movement, the realm's chat paths for speech (the same blocks, mutes and validation), and the
rate buckets of a connection. Speech and emotes go through world/space/chat.py, the functions
that serve people's `chat` and `emote` messages.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from world.agents import intent as I
from world.agents import perception as P
from world.agents.orders import OrderBook
from world.agents.persona import Persona
from world.logs import event
from world.net.limits import Limits
from world.protocol import ProtocolError, decode_server
from world.protocol.messages import RATE_CLASS, Move, validate
from world.space.realm import Refusal

if TYPE_CHECKING:
    from world.agents.host import AgentHost
    from world.space.session import Session
    from world.space.space import Space

CONVERSATION_S = 25.0        # a person who spoke with an agent this recently may go on without its name
FACING_RANGE = 6.0           # metres: facing an agent this close addresses it
QUEUE_MAX = 4                # lines waiting for one agent (one per speaker)
STALE_S = 20.0               # waiting lines older than this are dropped, not answered late
AGENT_TURNS = 3              # replies one agent gives another per AGENT_WINDOW_S
AGENT_WINDOW_S = 60.0


class ActionRefused(Exception):
    """An agent tried something its persona does not allow, or with data the server rejects."""


@dataclass
class Heard:
    speaker: int                   # user id
    entity: int | None             # speaker's entity (near chat), for facing and walking
    name: str
    text: str
    ch: str                        # near | dm
    kind: str                      # avatar | agent
    at: float = field(default_factory=time.monotonic)
    retries: int = 0


@dataclass
class Conversation:
    last: float = 0.0
    offer: Any = None              # a place the guide offered to walk to
    book: OrderBook | None = None


@dataclass
class Motion:
    mode: str = "idle"             # idle | walk | follow
    waypoints: list[tuple[float, float]] = field(default_factory=list)
    target: int | None = None      # entity to follow or face
    goal: tuple[float, float] | None = None
    on_arrive: Any = None          # coroutine factory run once the walk ends
    replan_at: float = 0.0
    idle_since: float = field(default_factory=time.monotonic)
    stuck_since: float = 0.0
    last_pos: tuple[float, float] = (0.0, 0.0)


class AgentSink:
    """The session's outbound side: what the realm sends a client, handed to the agent."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.closing = False
        self.closed = False

    def send(self, msg: dict[str, Any]) -> None:
        self.agent.perceive(msg)

    def send_frame(self, frame: bytes) -> None:
        # Frames fan out to many sessions pre-encoded; an agent only cares about chat.
        if b"chat" in frame[:40]:
            try:
                self.agent.perceive(decode_server(frame))
            except Exception:
                pass

    def send_snapshot(self, frame: Any, framed: Any = None) -> None:
        return None          # agents read their space directly

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closing = self.closed = True
            self.agent.closed(code, reason)


class Agent:
    def __init__(self, host: AgentHost, persona: Persona, key: str, owner: int | None = None,
                 owner_name: str = "") -> None:
        self.host = host
        self.persona = persona
        self.key = key                  # account key: "guide@plaza#1", "companion:42"
        self.memory_key = persona.key   # memory partition: (persona, user)
        self.owner = owner
        self.owner_name = owner_name
        self.session: Session | None = None
        self.sink = AgentSink(self)
        self.queue: collections.deque[Heard] = collections.deque()
        self.thinking: asyncio.Task[None] | None = None
        self.convs: dict[int, Conversation] = {}
        self.motion = Motion()
        self.home: tuple[float, float, float] | None = None      # x, y, yaw of its station
        self.seq = 0
        self.sid = 0
        cfg = host.cfg     # the rate buckets of a connection, with the server's own settings
        self.limits = Limits({"input": cfg.rate_input, "chat": cfg.rate_chat, "request": cfg.rate_request},
                             cfg.strikes, cfg.rate_errors_shown)
        self.agent_turns: dict[int, collections.deque[float]] = {}
        self.down_said = False          # said "I cannot think right now" since the last success
        self.backoff_s = 0.0
        self.retry_at = 0.0
        self.said: list[str] = []       # finals, newest last (tests and the eval read these)
        self.refused: list[str] = []    # refused actions, for the log and the tests
        self.alive = True

    # -- identity ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.session.name if self.session else self.persona.name

    @property
    def user(self) -> int:
        assert self.session is not None
        return self.session.user

    @property
    def entity(self) -> int:
        assert self.session is not None
        return self.session.entity

    @property
    def space(self) -> Space | None:
        return self.session.space if self.session else None

    @property
    def private_only(self) -> bool:
        """It speaks only by direct message to its owner (the companion)."""
        return self.persona.allows("say_private") and not self.persona.allows("say")

    def allow(self, action: str) -> None:
        """The server's check on every action an agent takes."""
        if not self.persona.allows(action):
            self.refused.append(action)
            event("agent_action_refused", agent=self.key, action=action, level=30)
            raise ActionRefused(f"{self.persona.key} may not {action}")

    # -- perception -------------------------------------------------------------------------------
    def perceive(self, msg: dict[str, Any]) -> None:
        if msg.get("t") != "chat" or msg.get("partial") or self.session is None:
            return
        sender = msg.get("from")
        if sender == self.user or not isinstance(sender, int):
            return
        ch = msg.get("ch")
        if ch not in ("near", "dm"):
            return
        speaker = self.host.realm.sessions.get(sender)
        kind = "agent" if speaker is not None and speaker.kind == "agent" else "avatar"
        heard = Heard(sender, msg.get("e") if ch == "near" else (speaker.entity if speaker else None),
                      str(msg.get("name", "")), str(msg.get("text", "")), ch, kind)
        if self.addressed(heard):
            heard.text = I.strip_address(heard.text, (self.persona.name, self.name)) or heard.text
            self.enqueue(heard)

    def addressed(self, h: Heard) -> bool:
        """Whether a line is for this agent. People talk near agents all the time; an agent
        answers lines with its name, direct messages, a speaker facing it up close, or a
        speaker already in conversation with it (and not naming someone else)."""
        p = self.persona
        if p.kind == "companion" and h.speaker != self.owner:
            return False                       # a companion talks with its owner only
        named = I.mentions(h.text, p.name) or I.mentions(h.text, self.name)
        if h.kind == "agent":
            if not named:
                return False
            turns = self.agent_turns.setdefault(h.speaker, collections.deque())
            now = time.monotonic()
            while turns and now - turns[0] > AGENT_WINDOW_S:
                turns.popleft()
            if len(turns) >= AGENT_TURNS:
                return False
            turns.append(now)
            return True
        if h.ch == "dm" or named:
            return True
        if self._names_another(h):
            return False                       # "Mira, ..." said facing Bruno is for Mira
        space = self.space
        if space is None or h.entity is None or h.entity not in space.meta:
            return False
        sx, sy, _, _ = space.position(h.entity)
        ax, ay, _, _ = space.position(self.entity)
        d = math.hypot(sx - ax, sy - ay)
        partner, since = self.host.partner.get(h.speaker, (None, 0.0))
        talking_elsewhere = partner not in (None, self.key) and time.monotonic() - since < CONVERSATION_S
        if d <= FACING_RANGE and P.faces(space, h.entity, self.entity, 30.0) and not talking_elsewhere:
            return True
        conv = self.convs.get(h.speaker)
        if (conv is not None and time.monotonic() - conv.last < CONVERSATION_S
                and partner == self.key and d <= self.host.cfg.hearing_radius):
            # a conversation goes on with the agent last spoken with, until someone else is named
            return not any(I.mentions(h.text, s.name) for s in P.nearby(space, h.entity, 20.0)
                           if s.entity != self.entity and s.kind == "avatar")
        return False

    def _names_another(self, h: Heard) -> bool:
        """The line names another agent that is here (so it is for that one, not this one)."""
        space = self.space
        if space is None:
            return False
        first = I.norm(h.text).split(" ")[:3]          # a name used as address comes first
        for meta in space.meta.values():
            if meta["kind"] == "agent" and meta["id"] != self.entity:
                name = I.norm(str(meta["name"]).split(" (")[0])
                if name and (name in first or I.mentions(h.text, name)):
                    return True
        return False

    def enqueue(self, h: Heard) -> None:
        for i, old in enumerate(self.queue):       # one waiting line per speaker: the newest
            if old.speaker == h.speaker:
                del self.queue[i]
                break
        if len(self.queue) >= QUEUE_MAX:
            self.queue.popleft()
        self.queue.append(h)
        self.pump()

    def pump(self) -> None:
        """Start the next thought if none is in flight (one per agent)."""
        if not self.alive or self.thinking is not None or not self.queue:
            return
        if time.monotonic() < self.retry_at:
            return                                   # backing off after a brain failure
        h = self.queue.popleft()
        if time.monotonic() - h.at > STALE_S and h.retries == 0:
            self.pump()
            return
        self.thinking = asyncio.get_running_loop().create_task(self._think(h), name=f"think:{self.key}")

    async def _think(self, h: Heard) -> None:
        from world.agents.brain import BrainError
        try:
            conv = self.convs.setdefault(h.speaker, Conversation())
            conv.last = time.monotonic()
            self.host.partner[h.speaker] = (self.key, time.monotonic())
            if h.entity is not None and self.space is not None and h.entity in self.space.meta:
                self.face(h.entity)
            await asyncio.wait_for(self.host.behaviour(self).respond(self, h, conv), self.host.thought_timeout_s)
            conv.last = time.monotonic()
            self.host.partner[h.speaker] = (self.key, conv.last)
            if self.down_said:
                event("agent_brain_back", agent=self.key)
            self.down_said, self.backoff_s = False, 0.0
        except (BrainError, asyncio.TimeoutError) as exc:
            event("agent_brain_failed", agent=self.key, error=str(exc) or type(exc).__name__, level=30)
            if not self.down_said:
                self.down_said = True
                await self.say_plain("Sorry, I can't think right now. Give me a moment.", h)
            self.backoff_s = min(30.0, max(1.0, self.backoff_s * 2))
            self.retry_at = time.monotonic() + self.backoff_s
            if h.retries < 4:
                h.retries += 1
                self.queue.appendleft(h)
            asyncio.get_running_loop().call_later(self.backoff_s, self.pump)
        except ActionRefused:
            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:     # a bug in one agent must not take the server down
            event("agent_error", agent=self.key, error=repr(exc), level=40)
        finally:
            self.thinking = None
            if self.alive:
                self.pump()

    # -- speech -----------------------------------------------------------------------------------
    def _channel(self, to: Heard | None) -> tuple[str, int | None]:
        """Channel and DM target of the agent's next line: a companion speaks to its owner by
        DM, an answer to a DM is a DM, anything else is said out loud."""
        if self.private_only:
            return "dm", self.owner
        if to is not None and to.ch == "dm":
            return "dm", to.speaker
        return "near", None

    async def _may_speak(self) -> bool:
        """The same rules as a person's connection: no line while muted, and one token of the
        chat rate per line (an agent waits for it where a person would be refused)."""
        from world.space.realm import now_ms
        session = self.session
        if session is None or not session.alive:
            return False
        if session.is_muted(now_ms()):
            event("agent_muted", agent=self.key)
            return False
        while not self.limits.allow(RATE_CLASS["chat"]):
            await asyncio.sleep(0.2)
            if self.session is None or not self.session.alive:
                return False
        return True

    async def say(self, draft: str, facts: tuple[str, ...] | list[str] = (), to: Heard | None = None,
                  context: tuple[str, ...] = (), tail: str = "") -> str:
        """Phrase a draft with the brain and say it: each sentence the checks let through is
        streamed at once to those who hear the agent then; the final line (those sentences,
        plus the draft's sentences for any fact the model lost, plus `tail` word for word) is
        stored, then sent to them and whoever hears it now. `tail` is a question the logic
        depends on ("Shall I place the order?"): it is never left to the model's wording."""
        from world.agents.speech import Phrasing, phrase
        from world.space import chat
        self.allow("say_private" if self.private_only else "say")
        ch, target = self._channel(to)
        self.sid += 1
        speech = chat.Speech(self.sid, re=to.speaker if to is not None else None)
        started = time.monotonic()
        if not await self._may_speak():
            return ""
        report = Phrasing()
        final = draft
        first_word: float | None = None
        brain = self.host.brain_for(self.persona)
        phrased = self.host.take_phrasing(brain)     # else too many lines wait on the model: say the draft
        try:
            if phrased:
                lines = phrase(brain, self.host.voice(self), draft, tuple(facts),
                               heard=to.text if to else None, context=context, max_tokens=self.host.max_tokens,
                               timeout_s=self.host.phrase_timeout_s, report=report)
                async with contextlib.aclosing(lines):      # the model stops when we stop listening
                    async for text, done in lines:
                        if done:
                            final = text
                            break
                        if self.session is None:
                            return ""
                        chat.say_piece(self.host.realm, self.session, ch, target, speech, text)
                        if first_word is None:
                            first_word = time.monotonic() - started
        except asyncio.CancelledError:
            if speech.started:                        # those who saw pieces get the line they started
                await asyncio.shield(self._deliver(speech.text.strip(), ch, target, speech))
            raise
        except Refusal as exc:
            event("agent_line_refused", agent=self.key, code=exc.code, level=30)
            return ""
        finally:
            if phrased:
                self.host.give_phrasing(brain)
        kind = report.kind if phrased else "busy"
        wording = (self.persona.key, draft, tuple(facts))
        if kind in ("model", "mixed"):
            self.host.keep_wording(*wording, final)
        elif not phrased:
            kept = self.host.kept_wording(*wording)
            if kept is not None:
                final, kind = kept, "cached"
        if tail:
            final = f"{final} {tail}"
        if await self._deliver(final, ch, target, speech):
            if first_word is None:
                first_word = time.monotonic() - started
            self.host.count_line(kind, first_word,
                                 verbatim=kind == "model" and final.strip() == f"{draft} {tail}".strip())
        return final

    async def say_plain(self, text: str, to: Heard | None = None, re_: int | None = None) -> None:
        """A line without the brain (the brain failed, or the words are fixed)."""
        from world.space import chat
        ch, target = self._channel(to)
        self.sid += 1
        if await self._may_speak():
            await self._deliver(text, ch, target, chat.Speech(self.sid, re=to.speaker if to is not None else re_))

    async def _deliver(self, text: str, ch: str, target: int | None, speech: Any) -> bool:
        """Store and send a final line through the realm's one chat path, validated like a
        person's `chat` message. False if nothing was said (refused, or no one to say it to)."""
        from world.space import chat
        session = self.session
        if session is None or not session.alive or (ch == "dm" and target is None):
            return False
        try:
            msg = validate({"t": "chat", "ch": ch, "text": text, **({"to": target} if ch == "dm" else {})})
            await chat.say(self.host.realm, session, msg, speech)   # type: ignore[arg-type]
        except ProtocolError as exc:
            event("agent_line_invalid", agent=self.key, code=exc.code, level=40)
            return False
        except Refusal as exc:
            event("agent_line_refused", agent=self.key, code=exc.code, level=30)
            return False
        self.said.append(text)
        del self.said[:-50]
        return True

    def emote(self, e: str) -> None:
        """An emote through the realm's emote path (as a person's `emote`), if the chat rate allows."""
        from world.space import chat
        self.allow("emote")
        if self.session is None or self.space is None or not self.limits.allow(RATE_CLASS["emote"]):
            return
        try:
            chat.emote(self.host.realm, self.session, validate({"t": "emote", "e": e}).e)  # type: ignore[attr-defined]
        except Refusal as exc:
            event("agent_emote_refused", agent=self.key, code=exc.code)

    # -- movement ---------------------------------------------------------------------------------
    def _intent(self, fwd: float, yaw: float) -> None:
        space, session = self.space, self.session
        if space is None or session is None:
            return
        self.seq = (self.seq + 1) % 2**32
        space.set_intent(session, Move(self.seq, fwd, 0.0, P.wrap(yaw), False))

    def face(self, entity: int) -> None:
        space = self.space
        if space is None or entity not in space.meta or not self.persona.allows("face"):
            return
        ax, ay, _, _ = space.position(self.entity)
        ex, ey, _, _ = space.position(entity)
        if math.hypot(ex - ax, ey - ay) > 0.05 and self.motion.mode == "idle":
            self._intent(0.0, P.heading(ex - ax, ey - ay))

    def walk_to(self, goal: tuple[float, float], on_arrive: Any = None) -> bool:
        """Plan a path around the world's solid boxes and start walking it."""
        self.allow("walk_to")
        return self._walk(goal, on_arrive)

    def _walk(self, goal: tuple[float, float], on_arrive: Any = None) -> bool:
        space = self.space
        if space is None:
            return False
        ax, ay, _, _ = space.position(self.entity)
        path = self.host.nav(space).path((ax, ay), goal)
        if path is None:
            return False
        self.motion = Motion("walk", path, None, goal, on_arrive, last_pos=(ax, ay))
        return True

    def follow(self, entity: int) -> None:
        self.allow("follow")
        self.motion = Motion("follow", [], entity)

    def stop(self) -> None:
        space = self.space
        yaw = space.position(self.entity)[3] if space is not None else 0.0
        self.motion = Motion()
        self._intent(0.0, yaw)

    def step_motion(self, now: float) -> None:
        """Steer along the current path (called ~10 times a second by the host)."""
        space, mo = self.space, self.motion
        if space is None:
            return
        ax, ay, _, ayaw = space.position(self.entity)
        if mo.mode == "follow":
            if mo.target is None or mo.target not in space.meta:
                self.stop()
                return
            tx, ty, _, tyaw = space.position(mo.target)
            d = math.hypot(tx - ax, ty - ay)
            if d <= 2.5:
                if mo.waypoints:
                    mo.waypoints = []
                    self._intent(0.0, P.heading(tx - ax, ty - ay))
                elif abs(P.wrap(P.heading(tx - ax, ty - ay) - ayaw)) > 0.3:
                    self._intent(0.0, P.heading(tx - ax, ty - ay))
                return
            if not mo.waypoints or now >= mo.replan_at:
                fx, fy = P.forward(tyaw)
                path = self.host.nav(space).path((ax, ay), (tx - 1.5 * fx, ty - 1.5 * fy))
                mo.waypoints = path or []
                mo.replan_at = now + 1.0
        if mo.mode in ("walk", "follow") and mo.waypoints:
            wx, wy = mo.waypoints[0]
            while math.hypot(wx - ax, wy - ay) < 0.4 and mo.waypoints:
                mo.waypoints.pop(0)
                if mo.waypoints:
                    wx, wy = mo.waypoints[0]
            if mo.waypoints:
                self._intent(1.0, P.heading(wx - ax, wy - ay))
                if math.hypot(ax - mo.last_pos[0], ay - mo.last_pos[1]) > 0.2:
                    mo.last_pos, mo.stuck_since = (ax, ay), now
                elif mo.stuck_since and now - mo.stuck_since > 3.0 and mo.goal is not None:
                    self._walk(mo.goal, mo.on_arrive)      # pushed off the path: plan again
                elif not mo.stuck_since:
                    mo.stuck_since = now
                return
        if mo.mode == "walk":
            arrive = mo.on_arrive
            self.stop()
            self.motion.idle_since = now
            if arrive is not None:
                asyncio.get_running_loop().create_task(arrive())
        elif mo.mode == "idle" and self.home is not None and self.thinking is None and not self.queue:
            hx, hy, hyaw = self.home
            if math.hypot(hx - ax, hy - ay) > 1.5 and now - mo.idle_since > self.host.return_after_s:
                self._walk((hx, hy), self._face_home)

    async def _face_home(self) -> None:
        if self.home is not None:
            self._intent(0.0, self.home[2])

    # -- lifecycle --------------------------------------------------------------------------------
    def closed(self, code: int, reason: str) -> None:
        """Kicked, banned or replaced: the realm closed this agent's session."""
        event("agent_closed", agent=self.key, code=code, reason=reason)
        self.alive = False
        if self.thinking is not None:
            self.thinking.cancel()
        self.host.forget(self)

    def __repr__(self) -> str:
        return f"<Agent {self.key} {self.name!r}>"

