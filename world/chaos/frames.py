"""Fuzzed client frames, each with the reply the contract gives it (no socket here).

Families: mutated valid messages (a field dropped, added, retyped, pushed out of range, NaN,
inf, subnormal, oversized or forbidden text, a wrong "t", bytes flipped or cut), random msgpack,
random bytes, text frames, fragmented messages, deep nesting, frames over the 16 KiB message
limit and a few over the 64 KiB transport limit. `expected()` says what the server must answer:
the §11 code of the first failing rule, "valid <type>" for a message that passes (its reply,
if any, depends on the server's state), or "close 1009" above the transport limit (§1).
"""

from __future__ import annotations

import math
import random
import string
from typing import Any, Callable, NamedTuple

import msgpack

from world.config import Config
from world.protocol import ProtocolError, decode_client
from world.protocol.messages import CATALOGUE, EMOTES, MAX_FRAME

TRANSPORT_MAX = Config().transport_max_frame
VALIDATION_CODES = frozenset({"bad_msgpack", "bad_frame", "bad_message", "too_large", "unknown_type",
                              "missing_field", "unknown_field", "bad_field", "out_of_range", "bad_text"})

Data = bytes | str | list[bytes]     # binary frame, text frame, fragments of one binary message


class Frame(NamedTuple):
    family: str
    data: Data
    expect: str          # a §11 code, "valid <type>", or "close 1009"

    @property
    def invalid(self) -> bool:
        return self.expect in VALIDATION_CODES


def expected(data: Data) -> str:
    """What the contract answers to one frame (§1, §1.1, §2.3, §4)."""
    if isinstance(data, str):
        return "bad_frame"
    if isinstance(data, list):
        return "close 1009" if sum(map(len, data)) > TRANSPORT_MAX else "bad_frame"
    if len(data) > TRANSPORT_MAX:
        return "close 1009"
    try:
        msg = decode_client(data)
    except ProtocolError as exc:
        return exc.code
    return f"valid {msg.TYPE}"


def _pack(value: Any, single_float: bool = False) -> bytes:
    """msgpack with bin types; floats as float32 when asked and they fit."""
    if single_float:
        try:
            return msgpack.packb(value, use_bin_type=True, use_single_float=True)
        except OverflowError:
            pass
    return msgpack.packb(value, use_bin_type=True)


# -- valid messages -----------------------------------------------------------------------------
def _name(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 12)))


def _transform(rng: random.Random) -> list[float]:
    q = [rng.uniform(-1, 1) for _ in range(4)]
    n = math.sqrt(sum(v * v for v in q)) or 1.0
    return [rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0), rng.uniform(0.0, 2.0), *(v / n for v in q)]


def valid_message(rng: random.Random, users: int = 8) -> dict[str, Any]:
    """A message that passes validation (its effect may still be refused: not_found, forbidden ...)."""
    t = rng.choice(sorted(CATALOGUE))
    uid = rng.randint(1, users)
    rid = rng.randint(0, 2**31 - 1)
    if t == "hello":
        return {"t": t, "v": 1, "name": _name(rng), "kind": rng.choice(("desktop", "vr", "bot"))}
    if t == "move":
        msg = {"t": t, "seq": rng.randint(0, 2**32 - 1), "fwd": rng.uniform(-1, 1), "side": rng.uniform(-1, 1),
               "yaw": rng.uniform(-6.28, 6.28)}
        if rng.random() < 0.3:
            msg["run"] = rng.random() < 0.5
        return msg
    if t == "pose":
        msg = {"t": t, "seq": rng.randint(0, 2**32 - 1), "head": _transform(rng)}
        if rng.random() < 0.5:
            msg["lh"] = _transform(rng)
        return msg
    if t == "chat":
        ch = rng.choice(("near", "dm", "group"))
        msg = {"t": t, "rid": rid, "ch": ch, "text": _name(rng)}
        if ch != "near":
            msg["to"] = uid
        return msg
    if t == "emote":
        return {"t": t, "e": rng.choice(EMOTES)}
    if t == "ping":
        return {"t": t, "n": rng.randint(0, 2**53)}
    if t == "who":
        return {"t": t, "rid": rid}
    if t == "history":
        return {"t": t, "rid": rid, "ch": rng.choice(("dm", "group")), "to": uid, "limit": rng.randint(1, 100)}
    if t == "group":
        op = rng.choice(("create", "invite", "join", "leave", "list", "members"))
        msg = {"t": t, "rid": rid, "op": op}
        if op == "create":
            msg["name"] = _name(rng)
        if op in ("invite", "join", "leave", "members"):
            msg["group"] = rng.randint(1, 4)
        if op == "invite":
            msg["user"] = uid
        return msg
    if t == "mod":
        return {"t": t, "rid": rid, "op": "ban", "user": uid, "minutes": 1, "reason": "fuzz"}
    if t == "block":
        return {"t": t, "rid": rid, "user": uid, "on": rng.random() < 0.5}
    return {"t": "summon", "rid": rid, "agent": "companion"}


# -- building blocks of bad input ---------------------------------------------------------------
WRONG_TYPES: tuple[Any, ...] = (None, True, False, 0, -1, 1.5, "x", "", [], {}, [1, 2], {"a": 1}, b"bin",
                                2**64 - 1, -(2**63), [[[]]])
NUMBERS: tuple[float | int, ...] = (math.nan, math.inf, -math.inf, 5e-324, -5e-324, 2.2250738585072014e-308,
                                    -0.0, 1e-7, 1e308, -1e308, 1.0000001, -1.0000001, 2**31, 2**32, 2**53 + 1,
                                    -1, 2**63 - 1, 2**64 - 1, -(2**63), 7.0)
TEXTS: tuple[str, ...] = ("", " ", "bell\x07", "nul\x00x", "\u202eevil", "\u200f", "tab\tand\nnewline",
                          "e\u0301", "\U0001F30A" * 501, "x" * 33, "x" * 501, "\ufeffbom", "\u2066iso",
                          "a" * 5000, "\x7f", "\x9f")


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """Any msgpack value, nested a little."""
    roll = rng.random()
    if depth > 3 or roll < 0.45:
        return rng.choice((None, True, rng.randint(-2**63, 2**64 - 1), rng.randint(-40, 200), rng.random() * 1e6,
                           rng.choice(NUMBERS), _name(rng), rng.choice(TEXTS[:8]), rng.randbytes(rng.randint(0, 8)),
                           msgpack.ExtType(rng.randint(0, 127), rng.randbytes(rng.randint(0, 6)))))
    if roll < 0.7:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 6))]
    out: dict[Any, Any] = {}
    for _ in range(rng.randint(0, 6)):
        key = rng.choice(("t", "rid", "seq", "text", _name(rng), rng.randint(0, 9)))
        out[key] = random_value(rng, depth + 1)
    if rng.random() < 0.5:
        out["t"] = rng.choice(sorted(CATALOGUE) + ["", "fly", "HELLO"])
    return out


def _invalid_utf8(msg: dict[str, Any], key: str) -> bytes:
    """The message with `key`'s value replaced by a string whose bytes are not UTF-8."""
    marker = "\u00a7" * 4                       # 8 bytes of UTF-8, swapped for 8 that are not
    return _pack({**msg, key: marker}).replace(marker.encode(), b"\xff\xfe\xc0\xaf\xed\xa0\x80\xf8", 1)


def mutate(rng: random.Random, msg: dict[str, Any]) -> bytes:
    """One to three mutations of a valid message, then packed (some mutations work on the bytes)."""
    msg = dict(msg)
    fields = [k for k in msg if k != "t"]
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(9)
        key = rng.choice(fields) if fields else "t"
        if op == 0 and fields:
            msg.pop(key, None)
        elif op == 1:
            msg[rng.choice((_name(rng), "x", "pos", "admin", rng.randint(0, 99)))] = rng.choice(WRONG_TYPES)
        elif op == 2:
            msg[key] = rng.choice(WRONG_TYPES)
        elif op == 3:
            msg[key] = rng.choice(NUMBERS)
        elif op == 4:
            msg[key] = rng.choice(TEXTS)
        elif op == 5:
            msg["t"] = rng.choice((None, 1, "", "fly", "Hello", "hello ", ["chat"], "welcome", "x" * 40))
        elif op == 6:
            msg["rid"] = rng.choice((-1, 2**31, 1.0, "7", None, True))
        elif op == 7 and key != "t":
            return _invalid_utf8(msg, key)
        else:
            raw = bytearray(_pack(msg, single_float=rng.random() < 0.5))
            cut = rng.randrange(3)
            if cut == 0 and len(raw) > 1:
                return bytes(raw[:rng.randrange(1, len(raw))])                    # truncated
            if cut == 1:
                return bytes(raw) + rng.randbytes(rng.randint(1, 4))              # trailing bytes
            raw[rng.randrange(len(raw))] = rng.randrange(256)                     # one byte flipped
            return bytes(raw)
    try:
        return _pack(msg)
    except (OverflowError, TypeError, ValueError):
        return _pack({"t": msg.get("t") if isinstance(msg.get("t"), str) else "who", "bad": "unpackable"})


def deep(rng: random.Random) -> bytes:
    """Arrays nested hundreds to tens of thousands deep, bare or inside a field."""
    depth = rng.choice((100, 600, 1100, 5000, 20000))
    nest = b"\x91" * depth + b"\xc0"
    if rng.random() < 0.5:
        return nest
    return b"\x82" + _pack("t") + _pack("who") + _pack("rid") + nest


def oversized(rng: random.Random) -> bytes:
    """Above the 16 KiB message limit and below the 64 KiB transport limit: too_large."""
    size = rng.randint(MAX_FRAME + 1, TRANSPORT_MAX - 64)
    return _pack({"t": "chat", "ch": "near", "text": "y" * (size - 32)})[:size]


def huge(rng: random.Random) -> bytes:
    """Above the 64 KiB transport limit: the WebSocket layer closes with 1009 (§1)."""
    return rng.randbytes(rng.randint(TRANSPORT_MAX + 1024, TRANSPORT_MAX + 8192))


FAMILIES: tuple[tuple[str, float, Callable[[random.Random], Data]], ...] = (
    ("mutated", 44.0, lambda r: mutate(r, valid_message(r))),
    ("valid", 6.0, lambda r: _pack(valid_message(r))),
    ("random msgpack", 14.0, lambda r: _pack(random_value(r))),
    ("random bytes", 10.0, lambda r: r.randbytes(r.choice((0, 1, 2, 5, 17, 100, 1000, 4000)))),
    ("wrong top-level type", 5.0, lambda r: _pack(r.choice(([], [1, "t"], "hello", 42, None, 1.5, b"\x00",
                                                             {1: 2}, {"t": 7}, {"t": None}, {"x": "chat"})))),
    ("numbers", 7.0, lambda r: _pack({"t": "move", "seq": 1, "fwd": r.choice(NUMBERS), "side": r.choice(NUMBERS),
                                      "yaw": r.choice(NUMBERS)})),
    ("strings", 5.0, lambda r: _pack({"t": "chat", "ch": "near", "text": r.choice(TEXTS)})),
    ("text frame", 3.0, lambda r: r.choice(("hello", '{"t": "hello"}', "", "\u00e9" * 100))),
    ("fragmented", 1.5, lambda r: [_pack({"t": "who"})[:2], _pack({"t": "who"})[2:]]),
    ("deep nesting", 2.0, deep),
    ("over 16 KiB", 2.2, oversized),
    ("over 64 KiB", 0.3, huge),
)


def frames(rng: random.Random, count: int) -> list[Frame]:
    """`count` fuzzed frames with their expected answers."""
    names = [f[0] for f in FAMILIES]
    weights = [f[1] for f in FAMILIES]
    makers = {f[0]: f[2] for f in FAMILIES}
    out = []
    for family in rng.choices(names, weights, k=count):
        data = makers[family](rng)
        out.append(Frame(family, data, expected(data)))
    return out
