"""Structure-of-arrays store of the entities of one space.

Rows 0..n-1 are live and compact; removal swaps the last row into the hole so
kernels can always run over plain slices ``[:n]``. Only add/remove/lookup are
Python; everything a tick does goes to the kernels in this package.
"""

from __future__ import annotations

import math

import numpy as np

from world.sim.movement import intent_direction, wrap_angle

KIND_AVATAR = 0
KIND_AGENT = 1
KIND_OBJECT = 2

START_CAPACITY = 64
POSE_SIZE = 34   # == records.POSE_DTYPE.itemsize

# name -> dtype of every per-row array; the single place the layout is named.
FIELDS: dict[str, np.dtype] = {
    "ids": np.dtype(np.uint32),
    "kind": np.dtype(np.uint8),
    "x": np.dtype(np.float64),
    "y": np.dtype(np.float64),
    "z": np.dtype(np.float64),
    "yaw": np.dtype(np.float64),
    "radius": np.dtype(np.float32),
    "fwd": np.dtype(np.float32),
    "side": np.dtype(np.float32),
    "ux": np.dtype(np.float64),                       # world-frame direction of the intent (|u| <= 1)
    "uy": np.dtype(np.float64),
    "iyaw": np.dtype(np.float64),
    "run": np.dtype(np.bool_),
    "flags": np.dtype(np.uint8),
    "observer": np.dtype(np.bool_),
    "moved": np.dtype(np.bool_),
    "slot": np.dtype(np.int32),                       # interest slot of an observer, -1 if none
    "pose": np.dtype((np.uint8, (POSE_SIZE,))),       # latest packed VR pose record (rows x 34 bytes)
    "pose_tick": np.dtype(np.int64),                  # tick at which `pose` last changed
}


def _unit(v: float) -> float:
    """Clamp an intent component to [-1, 1]; non-finite becomes 0."""
    v = float(v)
    if not math.isfinite(v):
        return 0.0
    return min(1.0, max(-1.0, v))


class Bodies:
    """Growable SoA arrays (ids, kind, x, y, z, yaw, radius, intent, flags...) for one space.

    Arrays are reallocated when capacity doubles: re-read ``bodies.x`` etc. after
    ``add`` instead of keeping references across additions.
    """

    ids: np.ndarray
    kind: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    yaw: np.ndarray
    radius: np.ndarray
    fwd: np.ndarray
    side: np.ndarray
    ux: np.ndarray
    uy: np.ndarray
    iyaw: np.ndarray
    run: np.ndarray
    flags: np.ndarray
    observer: np.ndarray
    moved: np.ndarray
    slot: np.ndarray
    pose: np.ndarray
    pose_tick: np.ndarray

    def __init__(self, capacity: int = START_CAPACITY) -> None:
        self.capacity = max(1, int(capacity))
        self.n = 0
        self.row_of: dict[int, int] = {}
        for name, dtype in FIELDS.items():
            setattr(self, name, np.zeros(self.capacity, dtype=dtype))

    def __len__(self) -> int:
        return self.n

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self.row_of

    def _grow(self) -> None:
        new_cap = self.capacity * 2
        for name, dtype in FIELDS.items():
            old = getattr(self, name)
            arr = np.zeros(new_cap, dtype=dtype)
            arr[: self.n] = old[: self.n]
            setattr(self, name, arr)
        self.capacity = new_cap

    def add(self, entity_id: int, kind: int, x: float, y: float, z: float = 0.0,
            yaw: float = 0.0, radius: float = 0.3, observer: bool = True) -> int:
        """Append an entity and return its row; raises ValueError if the id is present."""
        entity_id = int(entity_id)
        if entity_id in self.row_of:
            raise ValueError(f"entity {entity_id} already in this space")
        if self.n == self.capacity:
            self._grow()
        r = self.n
        self.ids[r] = entity_id
        self.kind[r] = kind
        self.x[r] = x
        self.y[r] = y
        self.z[r] = z
        self.yaw[r] = yaw
        self.iyaw[r] = yaw
        self.radius[r] = radius
        self.fwd[r] = 0.0
        self.side[r] = 0.0
        self.ux[r] = 0.0
        self.uy[r] = 0.0
        self.run[r] = False
        self.flags[r] = 0
        self.observer[r] = observer
        self.moved[r] = False
        self.slot[r] = -1
        self.pose[r] = 0
        self.pose_tick[r] = -1
        self.row_of[entity_id] = r
        self.n = r + 1
        return r

    def remove(self, entity_id: int) -> None:
        """Swap-remove an entity: the last row moves into its hole. KeyError if absent."""
        r = self.row_of.pop(int(entity_id))
        last = self.n - 1
        if r != last:
            for name in FIELDS:
                arr = getattr(self, name)
                arr[r] = arr[last]
            self.row_of[int(self.ids[r])] = r
        for name in FIELDS:
            getattr(self, name)[last] = 0
        self.n = last

    def permute(self, order: np.ndarray) -> None:
        """Reorder the live rows: new row k is old row order[k] (e.g. the grid's cell order,
        so that entities near each other in space are near each other in memory)."""
        n = self.n
        for name in FIELDS:
            arr = getattr(self, name)
            arr[:n] = arr[:n][order]
        self.row_of = dict(zip(self.ids[:n].tolist(), range(n)))

    def row(self, entity_id: int) -> int:
        """Row of a live entity; KeyError if absent."""
        return self.row_of[int(entity_id)]

    def set_intent(self, row: int, fwd: float, side: float, yaw: float, run: bool) -> None:
        """Store a movement intent: fwd/side clamped to [-1, 1], yaw in radians."""
        self.fwd[row] = _unit(fwd)
        self.side[row] = _unit(side)
        yaw = float(yaw)
        if math.isfinite(yaw):
            self.iyaw[row] = yaw
        self.run[row] = bool(run)
        # The direction is fixed until the next intent: computed here once, not every tick.
        self.ux[row], self.uy[row] = intent_direction(float(self.fwd[row]), float(self.side[row]),
                                                      wrap_angle(float(self.iyaw[row])))
