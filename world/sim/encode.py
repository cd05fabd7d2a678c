"""Snapshot encoders: rows -> packed BODY_DTYPE / POSE_DTYPE records.

The numba kernels write little-endian bytes one field at a time into a uint8
buffer, so the output does not depend on the host's byte order or on numba's
support for packed (unaligned) record types. The bytes equal what the numpy
reference in `world.protocol.records` produces for in-range values; out of
range positions are clamped to the field's range (the reference would wrap)
and non-finite values encode as 0 (quaternions as identity).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from world.protocol.records import (
    BODY_DTYPE, FLAGS_SHIFT, POS_SCALE, POSE_DTYPE, QUAT_BITS, QUAT_MAX, QUAT_RANGE, YAW_UNITS,
)

BODY_SIZE = BODY_DTYPE.itemsize   # 16
POSE_SIZE = POSE_DTYPE.itemsize   # 34
_DEG_PER_RAD = 180.0 / math.pi    # the factor numpy.degrees multiplies by
_QUAT_SPAN = 2.0 * QUAT_RANGE
_I16_LO, _I16_HI = -32768, 32767
_I32_LO, _I32_HI = -2147483648, 2147483647


@numba.njit(cache=True, nogil=True)
def put_u16(out, o, v):
    """Little-endian 16-bit write of the low bits of v at out[o]."""
    out[o] = v & 0xFF
    out[o + 1] = (v >> 8) & 0xFF


@numba.njit(cache=True, nogil=True)
def put_u32(out, o, v):
    """Little-endian 32-bit write of the low bits of v at out[o]."""
    out[o] = v & 0xFF
    out[o + 1] = (v >> 8) & 0xFF
    out[o + 2] = (v >> 16) & 0xFF
    out[o + 3] = (v >> 24) & 0xFF


@numba.njit(cache=True, nogil=True)
def quantise_mm(metres, lo, hi):
    """Metres -> rounded millimetres (half to even, like np.rint), clamped to [lo, hi]."""
    if not math.isfinite(metres):
        return 0
    q = np.rint(metres * POS_SCALE)
    if q < lo:
        return lo
    if q > hi:
        return hi
    return int(q)


@numba.njit(cache=True, nogil=True)
def yaw_units(yaw):
    """Radians -> tenths of a degree in [0, 3600), as records.quantise_yaw."""
    if not math.isfinite(yaw):
        return 0
    a = yaw * _DEG_PER_RAD * 10.0
    m = a % float(YAW_UNITS)         # Python float %, the same rule as numpy.mod
    return int(np.rint(m)) % YAW_UNITS


@numba.njit(cache=True, nogil=True)
def quat_bits(qx, qy, qz, qw):
    """Quaternion (x, y, z, w) -> smallest-three u32, as records.encode_quat."""
    norm = math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
    if not (norm > 0.0 and math.isfinite(norm)):
        qx, qy, qz, qw, norm = 0.0, 0.0, 0.0, 1.0, 1.0
    q = (qx / norm, qy / norm, qz / norm, qw / norm)
    largest = 0
    for c in range(1, 4):
        if abs(q[c]) > abs(q[largest]):
            largest = c
    sign = -1.0 if q[largest] < 0.0 else 1.0
    bits = largest << 30
    shift = 2 * QUAT_BITS
    for c in range(4):
        if c == largest:
            continue
        v = np.rint((q[c] * sign + QUAT_RANGE) / _QUAT_SPAN * QUAT_MAX)
        v = min(max(v, 0.0), float(QUAT_MAX))
        bits |= int(v) << shift
        shift -= QUAT_BITS
    return bits


@numba.njit(cache=True, nogil=True)
def encode_bodies(rows: np.ndarray, ids: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray,
                  yaw: np.ndarray, flags: np.ndarray, out: np.ndarray) -> int:
    """Write one 16-byte BODY_DTYPE record per row into out (uint8); returns bytes written."""
    m = rows.shape[0]
    if out.shape[0] < m * BODY_SIZE:
        raise ValueError("encode_bodies: output buffer too small")
    for k in range(m):
        i = rows[k]
        o = k * BODY_SIZE
        put_u32(out, o, np.int64(ids[i]))
        put_u32(out, o + 4, quantise_mm(x[i], _I32_LO, _I32_HI))
        put_u32(out, o + 8, quantise_mm(y[i], _I32_LO, _I32_HI))
        put_u16(out, o + 12, quantise_mm(z[i], _I16_LO, _I16_HI))
        put_u16(out, o + 14, yaw_units(yaw[i]) | ((np.int64(flags[i]) & 0xF) << FLAGS_SHIFT))
    return m * BODY_SIZE


@numba.njit(cache=True, nogil=True)
def put_transform(out, o, t, i):
    """Write one relative transform t[i] = (px, py, pz, qx, qy, qz, qw) as 3 x i16 mm + u32."""
    put_u16(out, o, quantise_mm(t[i, 0], _I16_LO, _I16_HI))
    put_u16(out, o + 2, quantise_mm(t[i, 1], _I16_LO, _I16_HI))
    put_u16(out, o + 4, quantise_mm(t[i, 2], _I16_LO, _I16_HI))
    put_u32(out, o + 6, quat_bits(t[i, 3], t[i, 4], t[i, 5], t[i, 6]))


@numba.njit(cache=True, nogil=True)
def encode_poses(rows: np.ndarray, ids: np.ndarray, head: np.ndarray, left: np.ndarray,
                 right: np.ndarray, out: np.ndarray) -> int:
    """Write one 34-byte POSE_DTYPE record per row into out (uint8); returns bytes written.

    head, left, right: float64 (N, 7) per row, position (m) relative to the
    avatar root then quaternion x, y, z, w.
    """
    m = rows.shape[0]
    if out.shape[0] < m * POSE_SIZE:
        raise ValueError("encode_poses: output buffer too small")
    for k in range(m):
        i = rows[k]
        o = k * POSE_SIZE
        put_u32(out, o, np.int64(ids[i]))
        put_transform(out, o + 4, head, i)
        put_transform(out, o + 14, left, i)
        put_transform(out, o + 24, right, i)
    return m * POSE_SIZE
