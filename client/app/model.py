"""Everything the client knows, fed by server maps; no I/O and no Panda3D.

`ClientModel.handle(msg)` applies one decoded server map (the network thread delivers
them); a map that does not fit the protocol is logged, counted in `bad_messages` and
skipped, never raised. Requests the user makes (chat, emote, summon, who, history)
come back as maps in `outbox` for the network thread to send. The view reads
entities, the interpolated sample, the predicted own avatar, chat, people and the
connection state.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from client.app.chat import ChatModel
from client.app.interp import Interpolator, ServerClock
from client.app.predict import Intent, Predictor, solid_boxes
from world.protocol.records import (
    BODY_DTYPE,
    POS_SCALE,
    POSE_DTYPE,
    UNTRACKED_Z,
    decode_quat,
)

log = logging.getLogger("agora.client")

EMOTE_S = 3.0             # an emote shows over the head this long
EMOTES = ("wave", "clap", "laugh", "heart", "dance", "thumbsup", "shrug", "nod")


class Status:
    """Connection states the HUD shows."""

    CONNECTING = "connecting"
    ONLINE = "online"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"          # given up (refused, kicked, banned, replaced) or stopped


@dataclass
class Entity:
    id: int
    kind: str = "avatar"       # avatar | agent | object
    name: str = ""
    user: int = 0
    client: str = ""
    emote: str | None = None
    emote_until: float = 0.0
    pose: dict[str, Any] | None = None   # head/lh/rh: (pos (3,), quat (4,) xyzw) or None if untracked
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def vr(self) -> bool:
        return self.client == "vr" or self.pose is not None


class ClientModel:
    """World, own avatar, chat, people and connection state of one client."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.now = clock
        self.status = Status.CONNECTING
        self.status_detail = ""
        self.welcome: dict[str, Any] = {}
        self.space: dict[str, Any] = {}
        self.limits: dict[str, Any] = {}
        self.me = 0
        self.tick_hz = 30
        self.entities: dict[int, Entity] = {}
        self.interp = Interpolator(30)
        self.clock = ServerClock(30)
        self.predictor: Predictor | None = None
        self.chat = ChatModel()
        self.people: dict[int, dict[str, Any]] = {}
        self.outbox: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.bad_messages = 0
        self.snapshots = 0
        self.last_tick = 0
        self.last_ack: int | None = None
        self.companion: int | None = None
        self.welcomes = 0
        self.dirty: set[int] = set()            # entities whose metadata, emote or pose changed
        self.entity_set_version = 0             # bumped when entities enter or leave
        self.predict_boxes = True               # tests may predict without the world's boxes
        self._rids = itertools.count(1_000_000)
        self._summons: set[int] = set()
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "welcome": self._on_welcome, "snap": self._on_snap, "enter": self._on_enter,
            "leave": self._on_leave, "chat": self._on_chat, "ack": self._on_ack,
            "error": self._on_error, "who": self._on_who, "presence": self._on_presence,
            "history": self.chat.on_history, "emote": self._on_emote, "notice": self._on_notice,
            "summoned": self._on_summoned, "invite": self._on_invite, "member": self._on_member,
            "ok": self._on_ok, "pong": lambda m: None,
        }

    # -- applying server messages ---------------------------------------------------------------
    def handle(self, msg: Any) -> bool:
        """Apply one server map; a malformed one is logged and skipped (returns False)."""
        try:
            if not isinstance(msg, dict) or not isinstance(msg.get("t"), str):
                raise ValueError("not a map with a string 't'")
            handler = self._handlers.get(msg["t"])
            if handler is not None:          # unknown types are ignored (protocol §13)
                handler(msg)
            return True
        except Exception as exc:
            self.bad_messages += 1
            t = msg.get("t") if isinstance(msg, dict) else type(msg).__name__
            log.warning("skipped malformed server message t=%s: %s: %s", t, type(exc).__name__, exc)
            return False

    def apply(self, event: tuple[Any, ...]) -> None:
        """One event from the network thread: ("msg", map), ("status", state, detail) or ("note", text)."""
        if event[0] == "msg":
            self.handle(event[1])
        elif event[0] == "status":
            self.set_status(event[1], event[2])
        elif event[0] == "note":
            self.chat.note(str(event[1]), "near")

    def known_others(self) -> int:
        """Other entities in this client's view of the server's interest (from enter/leave), wherever the camera is."""
        return sum(1 for i in self.entities if i != self.me)

    def set_status(self, status: str, detail: str = "") -> None:
        if status != self.status:
            log.info("connection %s %s", status, detail)
            if status == Status.RECONNECTING:
                self.chat.note(f"connection lost ({detail}); reconnecting...", "near")
        self.status, self.status_detail = status, detail

    def _on_welcome(self, msg: dict[str, Any]) -> None:
        space = msg["space"]
        pos = msg["pos"]
        tick_hz = int(msg["tick_hz"])
        boxes = solid_boxes(space) if self.predict_boxes else np.zeros((0, 4))
        predictor = Predictor(float(pos[0]), float(pos[1]), float(msg.get("yaw", 0.0)), tick_hz=tick_hz,
                              limits=msg.get("limits") or {}, boxes=boxes, bounds=space["bounds"])
        self.welcome, self.space, self.limits = msg, space, msg.get("limits") or {}
        self.me = int(msg["you"])
        self.tick_hz = tick_hz
        self.predictor = predictor
        self.entities.clear()                 # the server re-announces everyone in view
        self.entity_set_version += 1
        self.interp = Interpolator(tick_hz)
        self.clock = ServerClock(tick_hz)
        self.chat.me = int(msg["user"])
        self.last_ack = None
        self.welcomes += 1
        self.set_status(Status.ONLINE, "resumed" if msg.get("resumed") else "")
        if self.welcomes > 1:
            self.chat.note("reconnected" + (" (session resumed)" if msg.get("resumed") else ""), "near")
        self.request("who")

    def _on_snap(self, msg: dict[str, Any]) -> None:
        b = msg["b"]
        if not isinstance(b, (bytes, bytearray)) or len(b) % BODY_DTYPE.itemsize or not b:
            raise ValueError(f"snap.b is not whole body records ({type(b).__name__})")
        p = msg.get("p")
        if p is not None and (not isinstance(p, (bytes, bytearray)) or len(p) % POSE_DTYPE.itemsize):
            raise ValueError("snap.p is not whole pose records")
        tick = int(msg["tick"])
        ack = msg.get("ack")
        bodies = np.frombuffer(b, BODY_DTYPE)
        self.snapshots += 1
        self.last_tick = tick
        self.last_ack = ack
        self.clock.on_snapshot(tick, self.now())
        own = bodies[0]
        if self.predictor is not None and int(own["id"]) == self.me:
            self.predictor.reconcile(None if ack is None else int(ack), own["x"] / POS_SCALE,
                                     own["y"] / POS_SCALE)
        others = bodies[1:]
        if len(others):
            self.interp.push(tick, others)      # keeps each entity's flags too (see flags())
        if p:
            self._apply_poses(np.frombuffer(p, POSE_DTYPE))

    def _apply_poses(self, poses: np.ndarray) -> None:
        quats = {part: decode_quat(poses[part + "q"]) for part in "hlr"}
        for k, rec in enumerate(poses):
            e = self.entities.get(int(rec["id"]))
            if e is None:
                continue
            pose: dict[str, Any] = {}
            for part, key in (("h", "head"), ("l", "lh"), ("r", "rh")):
                z = int(rec[part + "z"])
                if part != "h" and z == UNTRACKED_Z:
                    pose[key] = None
                    continue
                pos = np.array([rec[part + "x"], rec[part + "y"], z], np.float64) / POS_SCALE
                pose[key] = (pos, quats[part][k])
            e.pose = pose
            self.dirty.add(e.id)

    def _on_enter(self, msg: dict[str, Any]) -> None:
        for m in msg["e"]:
            i = int(m["id"])
            e = self.entities.get(i)
            if e is None:
                e = self.entities[i] = Entity(i)
                self.interp.add(i)
                self.entity_set_version += 1
            e.kind = str(m.get("kind") or "avatar")
            e.name = str(m.get("name") or "")
            e.user = int(m.get("user") or 0)
            e.client = str(m.get("client") or "")
            e.meta = m
            self.dirty.add(i)
            if e.user:
                self.chat.names[e.user] = e.name

    def _on_leave(self, msg: dict[str, Any]) -> None:
        for i in msg["e"]:
            self.entity_set_version += 1
            self.entities.pop(int(i), None)
            self.interp.remove(int(i))
            self.chat.bubbles.pop(int(i), None)

    def _on_chat(self, msg: dict[str, Any]) -> None:
        self.chat.on_chat(msg, self.now())

    def flags(self, entity: int) -> int:
        """The flags of an entity's newest record (records.FLAG_*)."""
        row = self.interp.slot.get(entity)
        return 0 if row is None else int(self.interp.flags[row])

    def _on_ack(self, msg: dict[str, Any]) -> None:
        self.chat.on_ack(msg)

    def _on_error(self, msg: dict[str, Any]) -> None:
        self.errors.append(msg)
        del self.errors[:-100]
        log.warning("server error code=%s msg=%s rid=%s", msg.get("code"), msg.get("msg"), msg.get("rid"))
        rid = msg.get("rid")
        if rid in self._summons:
            self._summons.discard(rid)
            self.chat.note(f"companion unavailable: {msg.get('code')} {msg.get('msg', '')}".strip())
            return
        if not self.chat.on_error(msg):
            self.chat.note(f"server: {msg.get('code')} {msg.get('msg', '')}".strip())

    def _on_who(self, msg: dict[str, Any]) -> None:
        self.people = {int(u["user"]): u for u in msg["users"]}

    def _on_presence(self, msg: dict[str, Any]) -> None:
        for u in msg.get("online") or ():
            self.people[int(u["user"])] = u
        for uid in msg.get("offline") or ():
            self.people.pop(int(uid), None)

    def _on_emote(self, msg: dict[str, Any]) -> None:
        i = int(msg["e"])
        e = self.entities.get(i)
        if e is not None:
            e.emote, e.emote_until = str(msg["emote"]), self.now() + EMOTE_S
            self.dirty.add(i)
        elif i == self.me:
            self.own_emote = (str(msg["emote"]), self.now() + EMOTE_S)

    def _on_notice(self, msg: dict[str, Any]) -> None:
        self.chat.note(f"{msg.get('code')}: {msg.get('msg', '')}", "near")

    def _on_summoned(self, msg: dict[str, Any]) -> None:
        self._summons.discard(msg.get("rid"))
        self.companion = int(msg["e"])
        self.chat.note("your companion is on its way")

    def _on_invite(self, msg: dict[str, Any]) -> None:
        g = msg["group"]
        who = msg.get("by_name") or msg.get("by")
        self.chat.note(f"{who} invited you to group #{g['id']} {g.get('name', '')}", "near")

    def _on_member(self, msg: dict[str, Any]) -> None:
        verb = "joined" if msg.get("joined") else "left"
        self.chat.note(f"{msg.get('name')} {verb}", f"group:{int(msg['group'])}")

    def _on_ok(self, msg: dict[str, Any]) -> None:
        if msg.get("op") == "create":
            g = msg["group"]
            self.chat.tab(f"group:{int(g['id'])}", f"#{g.get('name', g['id'])}")

    # -- user requests --------------------------------------------------------------------------
    own_emote: tuple[str, float] | None = None

    def request(self, t: str, **fields: Any) -> int:
        rid = next(self._rids)
        self.outbox.append({"t": t, "rid": rid, **fields})
        return rid

    def say(self, text: str, key: str | None = None) -> None:
        text = text.strip("\r\n")
        if text:
            self.outbox.append(self.chat.compose(text, self.name, key))

    def open_dm(self, user: int) -> str:
        key = f"dm:{user}"
        self.chat.tab(key)
        self.chat.active = key
        msg = self.chat.history_request(key)
        if msg is not None:
            self.request("history", **{k: v for k, v in msg.items() if k != "t"})
        return key

    def emote(self, name: str) -> None:
        if name in EMOTES:
            self.outbox.append({"t": "emote", "e": name})

    def summon(self, agent: str = "companion") -> int:
        """Ask the server for the personal companion; the answer is `summoned` or an error."""
        rid = self.request("summon", agent=agent)
        self._summons.add(rid)
        return rid

    # -- per frame --------------------------------------------------------------------------------
    def tick(self, intent: Intent) -> dict[str, Any] | None:
        """One local prediction tick; returns the `move` to send (None if nothing changed)."""
        if self.predictor is None or self.status != Status.ONLINE:
            return None
        return self.predictor.step(intent)

    def sample(self, now: float | None = None) -> tuple[np.ndarray, ...] | None:
        """Interpolated remote entities for a frame: (ids, x, y, z, yaw, ahead_s), or None."""
        render_tick = self.clock.advance(self.now() if now is None else now)
        if render_tick is None:
            return None
        rows, x, y, z, yaw, ahead = self.interp.sample(render_tick)
        return self.interp.ids[rows], x, y, z, yaw, ahead

    def own_position(self, frame_dt: float = 0.0) -> tuple[float, float, float] | None:
        if self.predictor is None:
            return None
        x, y = self.predictor.shown(frame_dt)
        return float(x), float(y), float(self.predictor.yaw)

    def people_list(self) -> list[dict[str, Any]]:
        return sorted(self.people.values(), key=lambda u: (str(u.get("name", "")).lower(), u.get("user", 0)))


def yaw_degrees(yaw: float) -> float:
    """Protocol yaw (0 faces +y, counter-clockwise) -> Panda3D heading (the same convention)."""
    return math.degrees(yaw)
