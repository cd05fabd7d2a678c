"""The fuzzer's frames and the answers the contract gives them (no socket)."""

from __future__ import annotations

import random

import msgpack

from world.chaos.frames import TRANSPORT_MAX, VALIDATION_CODES, expected, frames


def test_fuzzed_frames_reach_every_validation_code_valid_messages_and_the_transport_limit():
    answers = {f.expect for f in frames(random.Random(7), 4000)}
    assert VALIDATION_CODES <= answers
    assert any(a.startswith("valid ") for a in answers)
    assert "close 1009" in answers


def test_expected_answers_follow_the_contract():
    assert expected("a text frame") == "bad_frame"
    assert expected([b"\x81", b"\xa1t"]) == "bad_frame"                      # fragmented
    assert expected(b"\x00" * (TRANSPORT_MAX + 1)) == "close 1009"
    assert expected(b"\x91" * 5000 + b"\xc0") == "bad_msgpack"               # too deep
    assert expected(msgpack.packb({"t": "move", "seq": 1, "fwd": float("nan"), "side": 0, "yaw": 0})) \
        == "out_of_range"
    assert expected(msgpack.packb({"t": "move", "seq": 1, "fwd": 5e-324, "side": 0, "yaw": 0})) == "valid move"
