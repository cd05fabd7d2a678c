"""Error codes and WebSocket close codes of protocol v1 (the wire contract)."""

from __future__ import annotations

# Stable error codes sent as {"t": "error", "code": ..., "msg": ...}.
ERRORS: dict[str, str] = {
    "bad_msgpack": "frame is not valid msgpack",
    "bad_frame": "text frame received; only binary frames are accepted",
    "bad_message": "message is not a map with a string 't'",
    "too_large": "frame larger than the per-message limit",
    "unknown_type": "no message type with this name",
    "missing_field": "a required field is absent",
    "unknown_field": "a field that this message type does not have",
    "bad_field": "a field has the wrong type",
    "out_of_range": "a number is outside its allowed range or not finite",
    "bad_text": "a string is too long, too short, or holds forbidden characters",
    "not_ready": "message sent before a successful hello",
    "already_joined": "hello sent twice on one connection",
    "bad_version": "protocol version not supported",
    "bad_token": "session token unknown",
    "banned": "this user is banned",
    "unknown_space": "no world or instance with this name",
    "full": "every instance of this world is full",
    "rate_limited": "too many messages of this class; message dropped",
    "muted": "you are muted; chat dropped",
    "forbidden": "your role does not allow this action",
    "not_found": "the user, group or message does not exist",
    "not_member": "you are not a member of this group",
    "not_invited": "you have no invitation to this group",
    "blocked": "the recipient does not accept messages from you",
    "self": "the action cannot target yourself",
    "unavailable": "the server cannot do this now: the agent cannot come, or storage is failing (retry later)",
    "reserved_name": "the display name belongs to an agent or looks like one",
    "internal": "server error; the message was not processed",
}

# WebSocket close codes. 1000-1011 are RFC 6455; 4000-4999 are Agora's own.
CLOSE: dict[str, int] = {
    "normal": 1000,
    "going_away": 1001,        # server shutting down
    "protocol": 1002,
    "too_big": 1009,           # frame above the hard transport limit
    "internal": 1011,
    "bad_hello": 4000,         # first message was not an acceptable hello
    "bad_token": 4001,
    "banned": 4002,
    "kicked": 4003,
    "too_slow": 4004,          # the client fell too far behind its send queue
    "abuse": 4005,             # rate limits or malformed input persisted
    "replaced": 4006,          # the same user connected again elsewhere
    "hello_timeout": 4007,
    "full": 4008,
    "unknown_space": 4009,
    "try_later": 1013,         # RFC 6455 "Try Again Later": storage failing, or too many new accounts
}


class ProtocolError(Exception):
    """A coded protocol error; `code` is one of ERRORS."""

    def __init__(self, code: str, msg: str = "", field: str | None = None) -> None:
        assert code in ERRORS, code
        super().__init__(f"{code}: {msg}" if msg else code)
        self.code = code
        self.msg = msg or ERRORS[code]
        self.field = field
        self.rid: int | None = None
