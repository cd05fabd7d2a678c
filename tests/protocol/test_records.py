"""Quantisation round trips stay within the stated error bounds."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from world.protocol import records as r


@given(st.floats(-2_000_000.0, 2_000_000.0))
def test_position_round_trip_within_half_a_millimetre(x):
    assert abs(r.quantise_pos(x) / r.POS_SCALE - x) <= r.POS_ERROR_M + 1e-9


@given(st.floats(-100.0, 100.0), st.integers(0, 15))
def test_yaw_and_flags_round_trip(yaw, flags):
    packed = r.pack_yaw_flags(np.array([yaw]), np.array([flags]))
    back, f = r.unpack_yaw_flags(packed)
    err = abs((back[0] - yaw + math.pi) % (2 * math.pi) - math.pi)
    assert err <= r.YAW_ERROR_RAD + 1e-9 and f[0] == flags


@settings(max_examples=300)
@given(arrays(np.float64, (4,), elements=st.floats(-1.0, 1.0)))
def test_smallest_three_quaternions_within_001_rad(q):
    if np.linalg.norm(q) < 1e-3:
        return
    q = q / np.linalg.norm(q)
    back = r.decode_quat(r.encode_quat(q))
    assert abs(np.linalg.norm(back) - 1.0) < 1e-6
    assert r.quat_angle(q, back) <= r.QUAT_ERROR_RAD


def test_record_sizes_match_the_contract():
    assert r.BODY_DTYPE.itemsize == 16 and r.POSE_DTYPE.itemsize == 34
    rec = np.zeros(1, r.BODY_DTYPE)
    rec["id"], rec["x"], rec["y"], rec["z"], rec["yawf"] = 7, -1500, 2500, 30, r.pack_yaw_flags(math.pi, 1)
    raw = rec.tobytes()
    assert raw[:4] == (7).to_bytes(4, "little") and raw[4:8] == (-1500).to_bytes(4, "little", signed=True)
    assert int.from_bytes(raw[14:16], "little") == (1800 | 1 << 12)
