"""The realm: every space and instance, every session, presence, and message dispatch.

Inputs arrive here already validated (world.protocol); the realm decides what they
mean, asks the store to commit what must not be lost, and answers through each
session's Sink. No sockets here: the same code serves people, bots and agents.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

import msgpack

from world.config import Config
from world.logs import event
from world.protocol import CLOSE, PROTOCOL_VERSION, encode
from world.protocol import messages as m
from world.space.names import NameRules
from world.space.session import Session, Sink
from world.space.space import Space
from world.space.world_def import World, WorldError, load_world
from world.store import AsyncStore, StoreError


def now_ms() -> int:
    return int(time.time() * 1000)


class Refusal(Exception):
    """A request the realm answers with a coded error (and, for joins, a close code)."""

    def __init__(self, code: str, msg: str, close: str | None = None) -> None:
        super().__init__(msg)
        self.code, self.msg, self.close = code, msg, close


class Realm:
    def __init__(self, cfg: Config, store: AsyncStore, default_world: World) -> None:
        self.cfg = cfg
        self.store = store
        self.default_world = default_world
        self.worlds: dict[str, World] = {default_world.name: default_world}
        self.spaces: dict[str, list[Space]] = {}
        self.sessions: dict[int, Session] = {}          # user id -> live session
        self.mod_epoch: dict[int, int] = {}             # user id -> moderation changes so far
        self._who_cache: tuple[float, bytes] | None = None
        self._who_dirty = True                          # someone joined or left since the cache
        self._presence_on: dict[int, dict[str, Any]] = {}
        self._presence_off: set[int] = set()
        self.space_listeners: list[Callable[[Space], None]] = []   # told when an instance opens
        self.agents: Any = None                          # the AgentHost, when agents are on
        self.names = NameRules()                         # agents' names, refused to people
        from world.space import chat, groups, moderation   # handlers, by message type
        # Instant handlers touch only memory and run inline as frames arrive; the others
        # await the store and run in the connection's own task, in arrival order.
        self.instant: dict[type, Callable[[Realm, Session, Any], None]] = {
            m.Move: self._handle_move, m.Pose: self._handle_pose, m.Ping: self._handle_ping,
            m.Who: self._handle_who, m.Emote: chat.handle_emote,
        }
        self.handlers: dict[type, Callable[[Realm, Session, Any], Awaitable[None]]] = {
            m.Chat: chat.handle_chat, m.History: chat.handle_history, m.Group: groups.handle_group,
            m.Mod: moderation.handle_mod, m.Block: moderation.handle_block, m.Summon: _handle_summon,
        }

    # -- spaces -----------------------------------------------------------------------------------
    def world(self, name: str) -> World:
        if name not in self.worlds:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise Refusal("unknown_space", f"no world named {name!r}", close="unknown_space")
            try:
                self.worlds[name] = load_world(name)
            except WorldError:
                raise Refusal("unknown_space", f"no world named {name!r}", close="unknown_space") from None
        return self.worlds[name]

    def all_spaces(self) -> list[Space]:
        return [s for group in self.spaces.values() for s in group]

    def place_in(self, requested: str | None, saved_world: str | None) -> Space:
        """Choose the instance for a joining user: a named instance, else one with room, else a new one."""
        wanted_instance = None
        if requested:
            world_name, _, inst = requested.partition("#")
            if inst:
                if not (inst.isascii() and inst.isdigit()) or len(inst) > 6:
                    raise Refusal("unknown_space", f"bad instance {requested!r}", close="unknown_space")
                wanted_instance = int(inst)
            world = self.world(world_name)
        else:
            try:    # return people to the world they left, if it still exists
                world = self.world(saved_world) if saved_world else self.default_world
            except Refusal:
                world = self.default_world
        instances = self.spaces.setdefault(world.name, [])
        if wanted_instance is not None:
            for space in instances:
                if space.instance == wanted_instance and space.has_room():
                    return space
        for space in instances:
            if space.has_room():
                return space
        if len(instances) >= self.cfg.max_instances:
            raise Refusal("full", f"every instance of {world.name} is full", close="full")
        number = max((s.instance for s in instances), default=0) + 1
        space = Space(world, number, self.cfg)
        instances.append(space)
        event("space_open", space=space.id, capacity=space.capacity)
        for listener in self.space_listeners:
            listener(space)
        return space

    # -- joining and leaving ----------------------------------------------------------------------
    async def join(self, hello: m.Hello, sink: Sink) -> Session:
        """Authenticate or create the user, place the avatar, send `welcome` and what waited offline.

        Every store read happens before the session is registered, and nothing is awaited
        between registering and returning (except marking DMs delivered, which may fail
        harmlessly), so a failure or a disconnect mid-join leaves no ghost behind.
        """
        try:
            return await self._join(hello, sink)
        except StoreError as exc:
            if exc.code != "unavailable":
                raise
            raise Refusal("unavailable", f"cannot admit you now, {exc.msg}; try again later",
                          close="try_later") from None

    async def _join(self, hello: m.Hello, sink: Sink) -> Session:
        if hello.v != PROTOCOL_VERSION:
            raise Refusal("bad_version", f"server speaks protocol v{PROTOCOL_VERSION}", close="bad_hello")
        reserved = self.names.refusal(hello.name)
        if reserved is not None:
            raise Refusal("reserved_name", reserved, close="bad_hello")
        store = self.store
        token, resumed, user = hello.token, False, None
        if token:
            user = await store.call("user_by_token", token)
            if user is None:
                raise Refusal("bad_token", "unknown session token", close="bad_token")
            resumed = True
            if user.is_banned(now_ms()):
                raise Refusal("banned", f"banned until {user.banned_until} ms: {user.ban_reason}",
                              close="banned")
            old = self.sessions.get(user.id)
            if old is not None:      # leave first, so the old avatar does not hold a place
                old.sink.close(CLOSE["replaced"], "signed in from another connection")
                await self.leave(old)
                user = await store.call("get_user", user.id)     # with the position just saved
        # Choose (and hold a seat in) the instance before creating an account, so a refusal
        # leaves no orphan user and concurrent joins cannot overfill it.
        space = self.place_in(hello.space, user.world if user else None)
        space.reserved += 1
        try:
            if user is None:
                uid, token = await store.call("create_user", hello.name, hello.kind)
                user = await store.call("get_user", uid)
            elif user.name != hello.name:
                await store.call("set_name", user.id, hello.name)
            for _ in range(4):
                # A ban, mute or role change committed while we awaited must not be missed.
                epoch = self.mod_epoch.get(user.id, 0)
                blocks = await store.call("blocked_by", user.id)
                pending = await store.call("pending_dms", user.id)
                invites = await store.call("invites_of", user.id)
                if self.mod_epoch.get(user.id, 0) == epoch:
                    break
                user = await store.call("get_user", user.id)
            if user.is_banned(now_ms()):
                raise Refusal("banned", f"banned until {user.banned_until} ms: {user.ban_reason}",
                              close="banned")
            if user.id in self.sessions:     # a concurrent hello with the same token won the race
                raise Refusal("bad_token", "this session is already signing in", close="replaced")
        finally:
            space.reserved -= 1
        # -- registered from here on: no awaits until the offline DMs are marked ------------------
        session = Session(user=user.id, name=hello.name, kind=hello.kind, role=user.role, sink=sink,
                          token=token, muted_until=user.muted_until, blocks=blocks)
        if user.world == space.world.name:
            x, y, yaw = user.x, user.y, user.yaw
        else:
            x, y, yaw = space.spawn_point()
        space.join(session, x, y, yaw)
        self.sessions[user.id] = session
        if resumed:
            # Observers that still knew this avatar (a quick reconnect) see no leave/enter;
            # an enter for a known id updates its metadata (e.g. a new display name).
            refresh = {"t": "enter", "e": [space.meta[session.entity]]}
            for other in space.knowers(session.entity):
                if other is not session:
                    other.sink.send(refresh)
        sink.send(self.welcome(session, space, token, resumed))
        for msg in pending:
            if msg.sender not in blocks:
                sink.send(chat_map(msg))
        for group, inviter in invites:
            sink.send({"t": "invite", "group": {"id": group.id, "name": group.name, "owner": group.owner},
                       "by": inviter})
        self._presence_on[user.id] = self.presence_entry(session)
        self._presence_off.discard(user.id)
        self._who_dirty = True
        event("join", user=user.id, name=session.name, client=hello.kind, space=space.id, resumed=resumed)
        if pending and self.online(user.id) is session:
            # At least once: sent, then marked; a crash or a dead socket in between means the
            # same ids come again at the next login.
            try:
                await store.call("mark_delivered", [msg.id for msg in pending])
            except Exception:
                event("mark_delivered_failed", level=30, user=user.id)
        return session

    async def join_agent(self, key: str, name: str, space: Space, x: float, y: float, yaw: float,
                         sink: Sink) -> Session:
        """Bring an agent in: an account of kind `agent` (stable id per key), a session and an
        avatar of kind `agent`, like a person's join but without a socket or a seat."""
        uid = await self.store.call("agent_account", key, name)
        user = await self.store.call("get_user", uid)
        old = self.sessions.get(uid)
        if old is not None:
            old.sink.close(CLOSE["replaced"], "agent restarted")
            await self.leave(old)
        if user.is_banned(now_ms()):
            raise Refusal("banned", f"agent {key} is banned", close="banned")
        blocks = await self.store.call("blocked_by", uid)
        session = Session(user=uid, name=name, kind="agent", role=user.role, sink=sink,
                          muted_until=user.muted_until, blocks=blocks)
        space.join(session, x, y, yaw, kind="agent")
        self.sessions[uid] = session
        self._presence_on[uid] = self.presence_entry(session)
        self._presence_off.discard(uid)
        self._who_dirty = True
        event("join", user=uid, name=name, client="agent", space=space.id, resumed=False)
        return session

    def welcome(self, session: Session, space: Space, token: str, resumed: bool) -> dict[str, Any]:
        cfg = self.cfg
        px, py, pz, pyaw = space.position(session.entity)
        return {
            "t": "welcome", "v": PROTOCOL_VERSION, "you": session.entity, "user": session.user,
            "token": token, "name": session.name, "role": session.role, "tick_hz": cfg.tick_hz,
            "resumed": resumed,
            "space": {"id": space.id, "instance": space.instance, **space.world.manifest(),
                      "capacity": space.capacity},
            "pos": [px, py, pz], "yaw": pyaw,
            "limits": {"interest_radius": cfg.interest_radius, "hearing_radius": cfg.hearing_radius,
                       "walk_speed": cfg.walk_speed, "run_speed": cfg.run_speed,
                       "radius": cfg.avatar_radius, "max_chat": m.MAX_CHAT, "max_frame": m.MAX_FRAME,
                       "rates": {"input": list(cfg.rate_input), "chat": list(cfg.rate_chat),
                                 "request": list(cfg.rate_request)}},
        }

    async def leave(self, session: Session) -> None:
        """Remove a session (disconnect, kick, or replacement); its position is saved."""
        if not session.alive:
            return
        session.alive = False
        if self.sessions.get(session.user) is session:
            del self.sessions[session.user]
            self._presence_on.pop(session.user, None)
            self._presence_off.add(session.user)
            self._who_dirty = True
        space = session.space
        if space is not None:
            x, y, z, yaw = space.position(session.entity)
            space.leave(session)
            try:
                await self.store.call("save_positions", [(session.user, space.world.name, x, y, z, yaw)])
            except Exception:   # the store may already be closing at shutdown
                event("position_save_failed", user=session.user)
        event("leave", user=session.user, space=space.id if space else None)

    def presence_entry(self, session: Session) -> dict[str, Any]:
        entry: dict[str, Any] = {"user": session.user, "name": session.name, "kind": session.kind,
                                 "entity": session.entity}
        space = session.space
        if space is not None:
            x, y, _, _ = space.position(session.entity)
            place = space.world.nearest_place(x, y)
            entry.update(space=space.id, place=place.name if place else None)
        return entry

    def flush_presence(self) -> None:
        """Send the joins and leaves since the last flush to everyone, as one message (batched)."""
        if not self._presence_on and not self._presence_off:
            return
        msg = {"t": "presence", "online": list(self._presence_on.values()), "offline": sorted(self._presence_off)}
        self._presence_on, self._presence_off = {}, set()
        frame = encode(msg)
        for s in self.sessions.values():
            s.sink.send_frame(frame)

    def online(self, user: int) -> Session | None:
        """The user's live session, if its connection is still open (not closing or lost)."""
        s = self.sessions.get(user)
        if s is None or not s.alive or getattr(s.sink, "closing", None) or getattr(s.sink, "closed", False):
            return None
        return s

    # -- inputs -----------------------------------------------------------------------------------
    def handle_now(self, session: Session, msg: m.Message) -> bool:
        """Run an instant handler; False if this message type needs `handle` (awaits the store)."""
        handler = self.instant.get(type(msg))
        if handler is None:
            return False
        handler(self, session, msg)
        return True

    async def handle(self, session: Session, msg: m.Message) -> None:
        if self.handle_now(session, msg):
            return
        handler = self.handlers.get(type(msg))
        if handler is None:      # hello twice
            raise Refusal("already_joined", "hello was already accepted on this connection")
        try:
            await handler(self, session, msg)
        except StoreError as exc:
            if exc.code == "unavailable":
                raise Refusal("unavailable", f"not stored, {exc.msg}; try again later") from None
            code = exc.code if exc.code in ("not_found", "not_member", "not_invited") else "internal"
            raise Refusal(code, exc.msg or code) from None

    @staticmethod
    def _handle_move(realm: Realm, session: Session, msg: m.Move) -> None:
        if session.space is not None:
            session.space.set_intent(session, msg)

    @staticmethod
    def _handle_pose(realm: Realm, session: Session, msg: m.Pose) -> None:
        if session.space is not None:
            session.space.set_pose(session, msg)

    @staticmethod
    def _handle_ping(realm: Realm, session: Session, msg: m.Ping) -> None:
        tick = session.space.tick_no if session.space else 0
        session.sink.send({"t": "pong", "n": msg.n, "tick": tick, "ts": now_ms()})

    @staticmethod
    def _handle_who(realm: Realm, session: Session, msg: m.Who) -> None:
        session.sink.send_frame(realm.who_frame(msg.rid))

    def who_frame(self, rid: int | None) -> bytes:
        """The `who` reply. The user list is packed once and reused until someone joins or
        leaves, or a second passes (places drift), so a burst of requests costs one pass over
        the sessions; only the map around it is packed per request."""
        now = time.monotonic()
        if self._who_cache is None or now - self._who_cache[0] >= 1.0 or self._who_dirty:
            users = [self.presence_entry(s) for s in self.sessions.values()]
            self._who_cache = (now, msgpack.packb(users, use_bin_type=True))
            self._who_dirty = False
        head = [("t", "who")] + ([("rid", rid)] if rid is not None else []) + [("users", None)]
        out = bytearray([0x80 | len(head)])
        for key, value in head[:-1]:
            out += msgpack.packb(key) + msgpack.packb(value)
        out += msgpack.packb("users") + self._who_cache[1]
        return bytes(out)

    # -- the tick and housekeeping ----------------------------------------------------------------
    def tick(self) -> None:
        for space in self.all_spaces():
            space.tick()

    def positions(self) -> list[tuple[int, str, float, float, float, float]]:
        rows = []
        for s in self.sessions.values():
            if s.space is not None:
                x, y, z, yaw = s.space.position(s.entity)
                rows.append((s.user, s.space.world.name, x, y, z, yaw))
        return rows

    async def save_positions(self) -> None:
        rows = self.positions()
        if rows:
            await self.store.call("save_positions", rows)

    async def shutdown(self, reason: str = "server shutting down") -> None:
        """Save every position, then close every session with 1001."""
        await self.save_positions()
        for s in list(self.sessions.values()):
            s.sink.close(CLOSE["going_away"], reason)
            s.alive = False
        self.sessions.clear()


async def _handle_summon(realm: Realm, s: Session, msg: m.Summon) -> None:
    host = realm.agents
    if host is None:
        raise Refusal("unavailable", "agents are turned off on this server")
    try:
        agent = await host.summon(s, away=bool(msg.away))
    except (LookupError, OverflowError) as exc:
        raise Refusal("unavailable", str(exc)) from None
    except Exception as exc:          # e.g. the brain cannot load
        raise Refusal("unavailable", f"the companion cannot come: {exc}") from None
    fields: dict[str, Any] = {"agent": msg.agent}
    if agent is not None and agent.session is not None:
        fields.update(e=agent.entity, user=agent.user, name=agent.name)
    if msg.away:
        fields["away"] = True
    s.sink.send(reply("summoned", msg.rid, **fields))


def reply(t: str, rid: int | None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"t": t}
    if rid is not None:
        out["rid"] = rid
    out.update(fields)
    return out


def chat_map(msg: Any, entity: int | None = None) -> dict[str, Any]:
    """A stored chat line as the wire `chat` message."""
    out: dict[str, Any] = {"t": "chat", "id": msg.id, "ch": msg.ch, "from": msg.sender,
                           "name": msg.sender_name, "text": msg.text, "ts": msg.ts}
    if msg.target is not None:
        out["to"] = msg.target
    if entity is not None:
        out["e"] = entity
    return out
