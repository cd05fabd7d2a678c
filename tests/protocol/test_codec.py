"""The decoder and validators: any bytes give a typed message or a ProtocolError with a known code."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from world.protocol import ERRORS, ProtocolError, decode_client, encode
from world.protocol import messages as m

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(allow_nan=True),
                    st.text(max_size=40), st.binary(max_size=20))
values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=8),
                                                      st.dictionaries(st.text(max_size=8), kids, max_size=6)),
                      max_leaves=20)
field_names = st.sampled_from(["t", "v", "name", "kind", "seq", "fwd", "side", "yaw", "run", "head", "lh", "rh",
                               "ch", "to", "text", "rid", "e", "n", "op", "group", "user", "before", "limit",
                               "reason", "minutes", "role", "on", "token", "space", "x"])
type_names = st.sampled_from(sorted(m.CATALOGUE) + ["nope", ""])


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_other_exceptions(data):
    try:
        decode_client(data)
    except ProtocolError as exc:
        assert exc.code in ERRORS


@settings(max_examples=300, deadline=None)
@given(type_names, st.dictionaries(field_names, values, max_size=8))
def test_structured_junk_is_either_valid_or_a_coded_error(t, fields):
    frame = msgpack.packb({**fields, "t": t}, use_bin_type=True)
    try:
        msg = decode_client(frame)
    except ProtocolError as exc:
        assert exc.code in ERRORS
    else:
        # Whatever validated round-trips through the client-side encoder to the same message.
        assert decode_client(encode(m.to_map(msg))) == msg


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_move_numbers_outside_their_range_are_refused(x):
    frame = encode({"t": "move", "seq": 1, "fwd": x, "side": 0.0, "yaw": 0.0})
    if math.isfinite(x) and -1.0 <= x <= 1.0:
        assert decode_client(frame).fwd == x
    else:
        with pytest.raises(ProtocolError) as err:
            decode_client(frame)
        assert err.value.code == "out_of_range" and err.value.field == "fwd"


@pytest.mark.parametrize("name,code", [
    ("", "bad_text"), ("   ", "bad_text"), ("x" * 33, "bad_text"), ("a\nb", "bad_text"),
    ("evil\u202egnp.exe", "bad_text"), ("tab\there", "bad_text"), ("\x7f", "bad_text"),
])
def test_display_names_are_checked(name, code):
    with pytest.raises(ProtocolError) as err:
        decode_client(encode({"t": "hello", "v": 1, "name": name, "kind": "bot"}))
    assert err.value.code == code


def test_names_are_normalised_and_stripped():
    msg = decode_client(encode({"t": "hello", "v": 1, "name": "  Ame\u0301lie ", "kind": "vr"}))
    assert msg.name == "Am\u00e9lie"


def test_chat_allows_newlines_but_not_other_controls():
    assert decode_client(encode({"t": "chat", "ch": "near", "text": "two\nlines"})).text == "two\nlines"
    with pytest.raises(ProtocolError) as err:
        decode_client(encode({"t": "chat", "ch": "near", "text": "esc\x1b[2J"}))
    assert err.value.code == "bad_text"


@pytest.mark.parametrize("msg,code,field", [
    ({"t": "chat", "ch": "dm", "text": "hi"}, "missing_field", "to"),
    ({"t": "chat", "ch": "shout", "text": "hi"}, "out_of_range", "ch"),
    ({"t": "group", "op": "invite", "group": 1}, "missing_field", "user"),
    ({"t": "mod", "op": "ban", "user": 3}, "missing_field", "minutes"),
    ({"t": "mod", "op": "role", "user": 3}, "missing_field", "role"),
    ({"t": "mod", "op": "role", "user": 3, "role": "god"}, "out_of_range", "role"),
    ({"t": "move", "seq": True, "fwd": 0, "side": 0, "yaw": 0}, "bad_field", "seq"),
    ({"t": "move", "seq": -1, "fwd": 0, "side": 0, "yaw": 0}, "out_of_range", "seq"),
    ({"t": "history", "ch": "dm", "to": 2, "limit": 101}, "out_of_range", "limit"),
    ({"t": "pose", "seq": 1, "head": [0, 0, 1.6, 0, 0, 0, 2]}, "out_of_range", "head"),
    ({"t": "pose", "seq": 1, "head": [0, 0, 1.6, 0, 0, 1]}, "bad_field", "head"),
    ({"t": "ping"}, "missing_field", "n"),
    ({"t": "emote", "e": "explode"}, "out_of_range", "e"),
])
def test_cross_field_and_range_rules(msg, code, field):
    with pytest.raises(ProtocolError) as err:
        decode_client(encode(msg))
    assert (err.value.code, err.value.field) == (code, field)


def test_non_string_keys_and_deep_nesting_are_refused():
    with pytest.raises(ProtocolError) as err:
        decode_client(msgpack.packb({"t": "ping", 5: 1}))
    assert err.value.code == "unknown_field"
    deep = b"\x91" * 5000 + b"\x00"
    with pytest.raises(ProtocolError) as err:
        decode_client(deep)
    assert err.value.code in ("bad_msgpack", "bad_message")


def test_every_catalogue_type_has_a_rate_class():
    assert set(m.RATE_CLASS) == set(m.CATALOGUE)
