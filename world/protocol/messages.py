"""Client -> server message catalogue of protocol v1, with field validation.

Each message type is a frozen dataclass; `validate(raw)` turns a decoded
msgpack map into one of them or raises ProtocolError with a stable code.
Server -> client messages are plain maps built by the server; their shapes are
documented in docs/protocol.md and a few shared builders live at the bottom.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from world.protocol.errors import ProtocolError

# Limits of v1 (documented in docs/protocol.md).
MAX_FRAME = 16 * 1024          # bytes; larger frames get "too_large" (not a disconnect)
MAX_NAME = 32                  # characters in a display name
MAX_TOKEN = 128
MAX_SPACE = 64
MAX_CHAT = 500                 # characters in a chat line
MAX_GROUP_NAME = 64
MAX_REASON = 200
MAX_HISTORY = 100
NORMALISE_SLACK = 4            # a text field longer than 4x its limit is refused before NFC
                               # (decomposed input, e.g. NFD from macOS, may shrink to fit)
U32 = 2**32 - 1
I31 = 2**31 - 1
MAX_YAW = 2 * math.pi
POSE_LIMIT_XY = 1.5            # metres from the avatar root, horizontally, for head and hands
POSE_LIMIT_Z = (-0.5, 2.6)     # metres above the avatar root
CLIENT_KINDS = ("desktop", "vr", "bot")
AGENT_KINDS = ("companion",)     # agents a user may summon
EMOTES = ("wave", "clap", "laugh", "heart", "dance", "thumbsup", "shrug", "nod")
ROLES = ("member", "moderator", "admin")

# Bidirectional overrides and isolates let a name render as something else.
_BIDI = {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F}


class Field:
    optional = False

    def __init__(self, optional: bool = False) -> None:
        self.optional = optional

    def check(self, value: Any, name: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class Int(Field):
    def __init__(self, lo: int, hi: int, optional: bool = False) -> None:
        super().__init__(optional)
        self.lo, self.hi = lo, hi

    def check(self, value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError("bad_field", f"{name} must be an integer", name)
        if not self.lo <= value <= self.hi:
            raise ProtocolError("out_of_range", f"{name} must be in [{self.lo}, {self.hi}]", name)
        return value


class Float(Field):
    def __init__(self, lo: float, hi: float, optional: bool = False) -> None:
        super().__init__(optional)
        self.lo, self.hi = lo, hi

    def check(self, value: Any, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProtocolError("bad_field", f"{name} must be a number", name)
        value = float(value)
        if not math.isfinite(value):
            raise ProtocolError("out_of_range", f"{name} must be finite", name)
        if not self.lo <= value <= self.hi:
            raise ProtocolError("out_of_range", f"{name} must be in [{self.lo:g}, {self.hi:g}]", name)
        return value


class Bool(Field):
    def check(self, value: Any, name: str) -> bool:
        if not isinstance(value, bool):
            raise ProtocolError("bad_field", f"{name} must be true or false", name)
        return value


class Text(Field):
    """A UTF-8 string: NFC-normalised, length-checked, control characters refused."""

    def __init__(self, lo: int, hi: int, multiline: bool = False, optional: bool = False,
                 strip: bool = False) -> None:
        super().__init__(optional)
        self.lo, self.hi, self.multiline, self.strip = lo, hi, multiline, strip

    def check(self, value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise ProtocolError("bad_field", f"{name} must be a string", name)
        if len(value) > NORMALISE_SLACK * self.hi:   # refused before paying for normalisation
            raise ProtocolError("bad_text", f"{name} must be {self.lo}-{self.hi} characters", name)
        value = unicodedata.normalize("NFC", value)
        if self.strip:
            value = value.strip()
        for ch in value:
            o = ord(ch)
            if o < 0x20 or 0x7F <= o < 0xA0 or o in _BIDI or 0xD800 <= o <= 0xDFFF:
                if self.multiline and ch in "\n\t":
                    continue
                raise ProtocolError("bad_text", f"{name} holds a control character U+{o:04X}", name)
        if not self.lo <= len(value) <= self.hi:
            raise ProtocolError("bad_text", f"{name} must be {self.lo}-{self.hi} characters", name)
        return value


class Choice(Field):
    def __init__(self, values: tuple[str, ...], optional: bool = False) -> None:
        super().__init__(optional)
        self.values = values

    def check(self, value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise ProtocolError("bad_field", f"{name} must be a string", name)
        if value not in self.values:
            raise ProtocolError("out_of_range", f"{name} must be one of {', '.join(self.values)}", name)
        return value


class Transform(Field):
    """[x, y, z, qx, qy, qz, qw]: position (m, relative to the avatar root) and unit quaternion."""

    def check(self, value: Any, name: str) -> tuple[float, ...]:
        if not isinstance(value, list) or len(value) != 7:
            raise ProtocolError("bad_field", f"{name} must be a list of 7 numbers", name)
        nums = [Float(-1e9, 1e9).check(v, name) for v in value]
        x, y, z = nums[:3]
        if abs(x) > POSE_LIMIT_XY or abs(y) > POSE_LIMIT_XY or not POSE_LIMIT_Z[0] <= z <= POSE_LIMIT_Z[1]:
            raise ProtocolError("out_of_range", f"{name} position is outside the avatar's reach", name)
        n = math.sqrt(sum(q * q for q in nums[3:]))
        if not 0.9 <= n <= 1.1:
            raise ProtocolError("out_of_range", f"{name} quaternion must have unit length", name)
        return (x, y, z, *(q / n for q in nums[3:]))


RID = Int(0, I31, optional=True)


@dataclass(frozen=True, slots=True)
class Message:
    TYPE: ClassVar[str] = ""
    SCHEMA: ClassVar[dict[str, Field]] = {}


@dataclass(frozen=True, slots=True)
class Hello(Message):
    TYPE = "hello"
    SCHEMA = {"v": Int(0, I31), "name": Text(1, MAX_NAME, strip=True), "kind": Choice(CLIENT_KINDS),
              "token": Text(1, MAX_TOKEN, optional=True), "space": Text(1, MAX_SPACE, optional=True)}
    v: int
    name: str
    kind: str
    token: str | None = None
    space: str | None = None


@dataclass(frozen=True, slots=True)
class Move(Message):
    """Movement intent: held until the next one; applied once per tick."""
    TYPE = "move"
    SCHEMA = {"seq": Int(0, U32), "fwd": Float(-1.0, 1.0), "side": Float(-1.0, 1.0),
              "yaw": Float(-MAX_YAW, MAX_YAW), "run": Bool(optional=True)}
    seq: int
    fwd: float
    side: float
    yaw: float
    run: bool | None = None


@dataclass(frozen=True, slots=True)
class Pose(Message):
    TYPE = "pose"
    SCHEMA = {"seq": Int(0, U32), "head": Transform(), "lh": Transform(optional=True),
              "rh": Transform(optional=True)}
    seq: int
    head: tuple[float, ...]
    lh: tuple[float, ...] | None = None
    rh: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class Chat(Message):
    TYPE = "chat"
    SCHEMA = {"rid": RID, "ch": Choice(("near", "dm", "group")), "to": Int(1, I31, optional=True),
              "text": Text(1, MAX_CHAT, multiline=True)}
    ch: str
    text: str
    to: int | None = None
    rid: int | None = None


@dataclass(frozen=True, slots=True)
class Emote(Message):
    TYPE = "emote"
    SCHEMA = {"e": Choice(EMOTES)}
    e: str


@dataclass(frozen=True, slots=True)
class Ping(Message):
    TYPE = "ping"
    SCHEMA = {"n": Int(0, 2**53)}
    n: int


@dataclass(frozen=True, slots=True)
class Who(Message):
    TYPE = "who"
    SCHEMA = {"rid": RID}
    rid: int | None = None


@dataclass(frozen=True, slots=True)
class History(Message):
    TYPE = "history"
    SCHEMA = {"rid": RID, "ch": Choice(("dm", "group")), "to": Int(1, I31),
              "before": Int(1, 2**53, optional=True), "limit": Int(1, MAX_HISTORY, optional=True)}
    ch: str
    to: int
    before: int | None = None
    limit: int | None = None
    rid: int | None = None


@dataclass(frozen=True, slots=True)
class Group(Message):
    TYPE = "group"
    SCHEMA = {"rid": RID, "op": Choice(("create", "invite", "join", "leave", "list", "members")),
              "group": Int(1, I31, optional=True), "user": Int(1, I31, optional=True),
              "name": Text(1, MAX_GROUP_NAME, strip=True, optional=True)}
    op: str
    group: int | None = None
    user: int | None = None
    name: str | None = None
    rid: int | None = None


@dataclass(frozen=True, slots=True)
class Mod(Message):
    TYPE = "mod"
    SCHEMA = {"rid": RID, "op": Choice(("mute", "unmute", "kick", "ban", "unban", "role")),
              "user": Int(1, I31), "reason": Text(0, MAX_REASON, optional=True),
              "minutes": Int(1, 525_600, optional=True), "role": Choice(ROLES, optional=True)}
    op: str
    user: int
    reason: str | None = None
    minutes: int | None = None
    role: str | None = None
    rid: int | None = None


@dataclass(frozen=True, slots=True)
class Block(Message):
    TYPE = "block"
    SCHEMA = {"rid": RID, "user": Int(1, I31), "on": Bool()}
    user: int
    on: bool
    rid: int | None = None


@dataclass(frozen=True, slots=True)
class Summon(Message):
    """Call one's own agent (the personal companion) to one's side, or send it away."""
    TYPE = "summon"
    SCHEMA = {"rid": RID, "agent": Choice(AGENT_KINDS), "away": Bool(optional=True)}
    agent: str
    away: bool | None = None
    rid: int | None = None


CATALOGUE: dict[str, type[Message]] = {
    cls.TYPE: cls for cls in (Hello, Move, Pose, Chat, Emote, Ping, Who, History, Group, Mod, Block, Summon)
}

# Which rate-limit bucket each type draws from (see world.net.limits).
RATE_CLASS: dict[str, str] = {
    "hello": "request", "move": "input", "pose": "input", "chat": "chat", "emote": "chat",
    "ping": "request", "who": "request", "history": "request", "group": "request",
    "mod": "request", "block": "request", "summon": "request",
}


def validate(raw: Any) -> Message:
    """Check a decoded msgpack value against the catalogue; return the typed message."""
    if not isinstance(raw, dict) or not isinstance(raw.get("t"), str):
        raise ProtocolError("bad_message", "expected a map with a string field 't'")
    rid = raw.get("rid")
    try:
        return _validate(raw)
    except ProtocolError as exc:
        # Echo a well-formed request id so the client can match the error to its request.
        if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid <= I31:
            exc.rid = rid
        raise


def _validate(raw: dict[str, Any]) -> Message:
    cls = CATALOGUE.get(raw["t"])
    if cls is None:
        raise ProtocolError("unknown_type", f"unknown message type {raw['t'][:32]!r}", "t")
    schema = cls.SCHEMA
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "t":
            continue
        spec = schema.get(key) if isinstance(key, str) else None
        if spec is None:
            raise ProtocolError("unknown_field", f"{cls.TYPE} has no field {str(key)[:32]!r}", str(key)[:32])
        if value is None and spec.optional:
            continue
        values[key] = spec.check(value, key)
    for key, spec in schema.items():
        if key not in values and not spec.optional:
            raise ProtocolError("missing_field", f"{cls.TYPE} needs field {key!r}", key)
    _cross_checks(cls, values)
    return cls(**values)


def _cross_checks(cls: type[Message], v: dict[str, Any]) -> None:
    """Rules that involve more than one field."""
    if cls is Chat and v["ch"] != "near" and "to" not in v:
        raise ProtocolError("missing_field", f"{v['ch']} chat needs field 'to'", "to")
    if cls is Group:
        need = {"create": ("name",), "invite": ("group", "user"), "join": ("group",),
                "leave": ("group",), "members": ("group",), "list": ()}[v["op"]]
        for key in need:
            if key not in v:
                raise ProtocolError("missing_field", f"group {v['op']} needs field {key!r}", key)
    if cls is Mod:
        if v["op"] == "role" and "role" not in v:
            raise ProtocolError("missing_field", "mod role needs field 'role'", "role")
        if v["op"] == "ban" and "minutes" not in v:
            raise ProtocolError("missing_field", "mod ban needs field 'minutes'", "minutes")


def to_map(msg: Message) -> dict[str, Any]:
    """A typed message back to its wire map (used by clients and bots)."""
    out: dict[str, Any] = {"t": msg.TYPE}
    for f in fields(msg):
        value = getattr(msg, f.name)
        if value is not None:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def error(code: str, msg: str, rid: int | None = None, field: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"t": "error", "code": code, "msg": msg}
    if rid is not None:
        out["rid"] = rid
    if field is not None:
        out["field"] = field
    return out
