"""Fixed-size little-endian snapshot records and their quantisation.

Snapshots carry entity state as packed arrays of these records in one msgpack
`bin` field, so a client decodes a tick with one `numpy.frombuffer` call.
The numba encoders in `world.sim` write the same bytes; the numpy functions
here are the reference they are tested against.
"""

from __future__ import annotations

import math

import numpy as np

# Body: 16 bytes per entity.
#   id      u32  entity id
#   x, y    i32  position in millimetres (world frame, z up)
#   z       i16  height in millimetres (+-32.767 m)
#   yawf    u16  low 12 bits: yaw in tenths of a degree [0, 3600); high 4 bits: flags
BODY_DTYPE = np.dtype([("id", "<u4"), ("x", "<i4"), ("y", "<i4"), ("z", "<i2"), ("yawf", "<u2")])
assert BODY_DTYPE.itemsize == 16

FLAG_VR = 1        # the entity has a VR pose record this tick or earlier
FLAG_SPEAKING = 2  # the entity is streaming speech
FLAG_MOVING = 4    # the entity moved this tick
FLAG_RESERVED = 8

POS_SCALE = 1000.0             # metres -> millimetres
YAW_UNITS = 3600               # tenths of a degree per turn
YAW_MASK = 0x0FFF
FLAGS_SHIFT = 12

# VR pose: 34 bytes per entity. Positions relative to the avatar root, in mm
# (i16); orientations as smallest-three quaternions packed in a u32:
#   bits 30-31 index of the dropped (largest) component, then three 10-bit
#   fields, each the remaining component in [-1/sqrt2, 1/sqrt2] mapped to 0..1023.
POSE_DTYPE = np.dtype([
    ("id", "<u4"),
    ("hx", "<i2"), ("hy", "<i2"), ("hz", "<i2"), ("hq", "<u4"),
    ("lx", "<i2"), ("ly", "<i2"), ("lz", "<i2"), ("lq", "<u4"),
    ("rx", "<i2"), ("ry", "<i2"), ("rz", "<i2"), ("rq", "<u4"),
])
assert POSE_DTYPE.itemsize == 34

UNTRACKED_Z = -32768            # a hand position z of this value means "not tracked"

QUAT_BITS = 10
QUAT_MAX = (1 << QUAT_BITS) - 1
QUAT_RANGE = 1.0 / math.sqrt(2.0)

# Stated error bounds (tested by property tests).
POS_ERROR_M = 0.0005           # half a millimetre
YAW_ERROR_RAD = math.radians(0.05)
QUAT_ERROR_RAD = 0.01


def quantise_yaw(yaw: np.ndarray | float) -> np.ndarray:
    """Radians (any finite value) -> tenths of a degree in [0, 3600)."""
    units = np.rint(np.mod(np.degrees(yaw) * 10.0, YAW_UNITS)).astype(np.int64)
    return (units % YAW_UNITS).astype(np.uint16)


def dequantise_yaw(units: np.ndarray | int) -> np.ndarray:
    """Tenths of a degree -> radians in [0, 2pi)."""
    return np.radians(np.asarray(units, dtype=np.float64) / 10.0)


def pack_yaw_flags(yaw: np.ndarray | float, flags: np.ndarray | int) -> np.ndarray:
    return (quantise_yaw(yaw) | (np.asarray(flags, dtype=np.uint16) << FLAGS_SHIFT)).astype(np.uint16)


def unpack_yaw_flags(yawf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    yawf = np.asarray(yawf, dtype=np.uint16)
    return dequantise_yaw(yawf & YAW_MASK), (yawf >> FLAGS_SHIFT).astype(np.uint8)


def quantise_pos(metres: np.ndarray | float) -> np.ndarray:
    return np.rint(np.asarray(metres, dtype=np.float64) * POS_SCALE).astype(np.int64)


def encode_quat(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) as x, y, z, w -> packed smallest-three u32 (...)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    largest = np.argmax(np.abs(q), axis=-1)
    sign = np.where(np.take_along_axis(q, largest[..., None], -1)[..., 0] < 0, -1.0, 1.0)
    q = q * sign[..., None]
    out = (largest.astype(np.uint32) << 30)
    shift = 20
    # The three kept components, in index order, skipping the largest.
    idx = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[largest]
    kept = np.take_along_axis(q, idx, -1)
    ints = np.clip(np.rint((kept + QUAT_RANGE) / (2 * QUAT_RANGE) * QUAT_MAX), 0, QUAT_MAX).astype(np.uint32)
    for j in range(3):
        out = out | (ints[..., j] << np.uint32(shift))
        shift -= QUAT_BITS
    return out.astype(np.uint32)


def decode_quat(packed: np.ndarray) -> np.ndarray:
    """Packed smallest-three u32 (...) -> unit quaternions (..., 4) as x, y, z, w."""
    packed = np.asarray(packed, dtype=np.uint32)
    largest = (packed >> 30).astype(np.int64)
    kept = np.stack([(packed >> np.uint32(s)) & QUAT_MAX for s in (20, 10, 0)], -1).astype(np.float64)
    kept = kept / QUAT_MAX * (2 * QUAT_RANGE) - QUAT_RANGE
    w = np.sqrt(np.clip(1.0 - np.sum(kept * kept, -1), 0.0, 1.0))
    out = np.empty(packed.shape + (4,), dtype=np.float64)
    idx = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[largest]
    np.put_along_axis(out, idx, kept, -1)
    np.put_along_axis(out, largest[..., None], w[..., None], -1)
    return out


def quat_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle between unit quaternions a and b (radians)."""
    d = np.abs(np.sum(np.asarray(a) * np.asarray(b), -1))
    return 2.0 * np.arccos(np.clip(d, 0.0, 1.0))


def bodies_from_bytes(buf: bytes) -> np.ndarray:
    return np.frombuffer(buf, dtype=BODY_DTYPE)


def poses_from_bytes(buf: bytes) -> np.ndarray:
    return np.frombuffer(buf, dtype=POSE_DTYPE)
