"""Frame <-> message codec: msgpack maps in binary WebSocket frames."""

from __future__ import annotations

from typing import Any

import msgpack

from world.protocol.errors import ProtocolError
from world.protocol.messages import MAX_FRAME, Message, validate

# Hard caps on what the decoder will even allocate for a client frame.
_UNPACK_LIMITS = dict(max_str_len=MAX_FRAME, max_bin_len=0, max_array_len=64, max_map_len=32,
                      max_ext_len=0)


def encode(msg: dict[str, Any]) -> bytes:
    """Pack a server or client map into one frame."""
    return msgpack.packb(msg, use_bin_type=True)


def decode_client(frame: bytes | str) -> Message:
    """Decode and validate one client frame; raise ProtocolError with a stable code."""
    if isinstance(frame, str):
        raise ProtocolError("bad_frame", "send msgpack in binary frames")
    if len(frame) > MAX_FRAME:
        raise ProtocolError("too_large", f"frame of {len(frame)} bytes exceeds {MAX_FRAME}")
    try:
        raw = msgpack.unpackb(frame, raw=False, strict_map_key=False, **_UNPACK_LIMITS)
    except UnicodeDecodeError:
        raise ProtocolError("bad_text", "a string is not valid UTF-8") from None
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, TypeError) as exc:
        raise ProtocolError("bad_msgpack", f"cannot decode frame: {type(exc).__name__}") from None
    return validate(raw)


def decode_server(frame: bytes) -> dict[str, Any]:
    """Decode one server frame (used by clients and bots); binary fields stay bytes."""
    msg = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    if not isinstance(msg, dict) or not isinstance(msg.get("t"), str):
        raise ProtocolError("bad_message", "server frame is not a map with 't'")
    return msg
