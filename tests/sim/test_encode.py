"""The numba snapshot encoders write the same bytes as the numpy reference in records.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from world.protocol import records
from world.protocol.records import BODY_DTYPE, POSE_DTYPE
from world.sim.encode import BODY_SIZE, POSE_SIZE, encode_bodies, encode_poses


def reference_bodies(rows, ids, x, y, z, yaw, flags) -> bytes:
    rec = np.zeros(len(rows), BODY_DTYPE)
    rec["id"] = ids[rows]
    rec["x"] = records.quantise_pos(x[rows])
    rec["y"] = records.quantise_pos(y[rows])
    rec["z"] = records.quantise_pos(z[rows])
    rec["yawf"] = records.pack_yaw_flags(yaw[rows], flags[rows])
    return rec.tobytes()


def reference_poses(rows, ids, head, left, right) -> bytes:
    rec = np.zeros(len(rows), POSE_DTYPE)
    rec["id"] = ids[rows]
    for p, t in (("h", head), ("l", left), ("r", right)):
        t = t[rows]
        rec[p + "x"] = records.quantise_pos(t[:, 0])
        rec[p + "y"] = records.quantise_pos(t[:, 1])
        rec[p + "z"] = records.quantise_pos(t[:, 2])
        rec[p + "q"] = records.encode_quat(t[:, 3:7]) if len(t) else 0
    return rec.tobytes()


def some_rows(rng, n):
    """A random subset of rows in random order (what interest hands the encoder)."""
    return rng.permutation(n)[: rng.integers(0, n + 1)].astype(np.int32)


def special_yaws(rng, n):
    """Yaws that sit on quantisation edges: k tenths of a degree, half-steps, wraps, huge."""
    k = rng.integers(-7200, 7200, n)
    choice = rng.integers(0, 5, n)
    return np.select(
        [choice == 0, choice == 1, choice == 2, choice == 3],
        [np.radians(k / 10.0), np.radians((k + 0.5) / 10.0), rng.uniform(-1e4, 1e4, n),
         np.full(n, -0.0)],
        rng.uniform(-4 * math.pi, 4 * math.pi, n),
    )


@settings(deadline=None, max_examples=100)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300))
def test_encode_bodies_matches_numpy_reference(seed, n):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    x = rng.uniform(-2e5, 2e5, n)
    half_mm = rng.integers(-1000, 1000, n) + 0.0005  # rounding ties
    y = np.where(rng.random(n) < 0.3, half_mm, rng.uniform(-500, 500, n))
    z = rng.uniform(-32.7, 32.7, n)
    yaw = special_yaws(rng, n)
    flags = rng.integers(0, 16, n).astype(np.uint8)
    rows = some_rows(rng, n)
    out = np.full(len(rows) * BODY_SIZE + 5, 0xAA, np.uint8)
    written = encode_bodies(rows, ids, x, y, z, yaw, flags, out)
    assert written == len(rows) * BODY_SIZE
    assert out[:written].tobytes() == reference_bodies(rows, ids, x, y, z, yaw, flags)
    assert (out[written:] == 0xAA).all()  # nothing written past the records


def test_body_records_decode_back_within_stated_error():
    ids = np.array([7, 8], np.uint32)
    x = np.array([12.3456, -0.0004])
    y = np.array([-3.2104, 100.0])
    z = np.array([1.7, -0.25])
    yaw = np.array([math.radians(90.0), -math.radians(30.0)])
    flags = np.array([records.FLAG_VR | records.FLAG_MOVING, records.FLAG_SPEAKING], np.uint8)
    out = np.zeros(2 * BODY_SIZE, np.uint8)
    encode_bodies(np.array([0, 1], np.int32), ids, x, y, z, yaw, flags, out)
    rec = records.bodies_from_bytes(out.tobytes())
    assert rec["id"].tolist() == [7, 8]
    np.testing.assert_allclose(rec["x"] / 1000, x, atol=records.POS_ERROR_M)
    np.testing.assert_allclose(rec["y"] / 1000, y, atol=records.POS_ERROR_M)
    got_yaw, got_flags = records.unpack_yaw_flags(rec["yawf"])
    np.testing.assert_allclose(np.cos(got_yaw - yaw), 1.0, atol=1e-6)
    assert got_flags.tolist() == flags.tolist()


def test_out_of_range_positions_clamp_instead_of_wrapping():
    out = np.zeros(BODY_SIZE, np.uint8)
    one = np.array([0], np.int32)
    encode_bodies(one, np.array([1], np.uint32), np.array([3e6]), np.array([-3e6]),
                  np.array([40.0]), np.zeros(1), np.zeros(1, np.uint8), out)
    rec = records.bodies_from_bytes(out.tobytes())
    assert (rec["x"][0], rec["y"][0], rec["z"][0]) == (2**31 - 1, -2**31, 2**15 - 1)


def test_too_small_buffer_is_refused():
    with pytest.raises(ValueError):
        encode_bodies(np.array([0], np.int32), np.zeros(1, np.uint32), np.zeros(1), np.zeros(1),
                      np.zeros(1), np.zeros(1), np.zeros(1, np.uint8), np.zeros(15, np.uint8))


def random_transforms(rng, n):
    """Relative positions within +-2 m, quaternions random, sign-flipped, axis-aligned or tied."""
    t = np.empty((n, 7))
    t[:, :3] = rng.uniform(-2.0, 2.0, (n, 3))
    q = rng.normal(size=(n, 4)) * rng.uniform(0.2, 3.0, (n, 1))  # not normalised on purpose
    kind = rng.integers(0, 4, n)
    axis = np.eye(4)[rng.integers(0, 4, n)] * rng.choice([-1.0, 1.0], (n, 1))
    tie = np.full((n, 4), 0.5) * rng.choice([-1.0, 1.0], (n, 4))
    q = np.where((kind == 1)[:, None], axis, q)
    q = np.where((kind == 2)[:, None], tie, q)
    t[:, 3:] = q
    return t


@settings(deadline=None, max_examples=100)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 200))
def test_encode_poses_matches_numpy_reference(seed, n):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    head, left, right = (random_transforms(rng, n) for _ in range(3))
    rows = some_rows(rng, n)
    out = np.zeros(len(rows) * POSE_SIZE, np.uint8)
    written = encode_poses(rows, ids, head, left, right, out)
    assert written == len(rows) * POSE_SIZE
    assert out.tobytes() == reference_poses(rows, ids, head, left, right)


def test_pose_quaternions_decode_within_stated_error():
    rng = np.random.default_rng(1)
    n = 500
    head, left, right = (random_transforms(rng, n) for _ in range(3))
    out = np.zeros(n * POSE_SIZE, np.uint8)
    rows = np.arange(n, dtype=np.int32)
    encode_poses(rows, rows.astype(np.uint32), head, left, right, out)
    rec = records.poses_from_bytes(out.tobytes())
    q = head[:, 3:] / np.linalg.norm(head[:, 3:], axis=1, keepdims=True)
    assert records.quat_angle(records.decode_quat(rec["hq"]), q).max() < records.QUAT_ERROR_RAD
    np.testing.assert_allclose(rec["rz"] / 1000, right[:, 2], atol=records.POS_ERROR_M)
