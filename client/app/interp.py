"""Remote entities: snapshot records -> smooth positions, without I/O or Panda3D.

Records carry no timestamp of their own: a record is the state as of its snapshot's
`tick`. `ServerClock` maps local arrival times to server ticks and chooses a render
time that lags the newest tick by the interpolation delay (~100 ms) plus the jitter it
has seen, so a late snapshot still arrives before it is needed. `Interpolator` keeps the
last few samples of every entity in numpy rows (one row per entity slot) and samples all
of them at once: between the two samples around the render time, or, past the newest
sample of a moving entity, along its last velocity for at most `EXTRAPOLATE_LIMIT_S`
(then it holds). An entity whose newest record lacks the MOVING flag holds still: the
server resends a record whenever flags change, so "not moving" is always announced.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from world.protocol.records import FLAG_MOVING, FLAGS_SHIFT, POS_SCALE, YAW_MASK

INTERP_DELAY_S = 0.1          # base delay behind the newest snapshot
MAX_EXTRA_DELAY_S = 0.25      # jitter allowance on top of the base delay, at most
EXTRAPOLATE_LIMIT_S = 0.1     # how far past its newest sample an entity may be carried
CLOCK_WINDOW = 90             # snapshot arrivals kept for the clock (3 s at 30 Hz)
CLOCK_SLEW = 0.1              # fraction of the render-time error corrected per frame
SAMPLES = 8                   # samples kept per entity
FAR_PAST = -1e18              # tick of an unused sample


class ServerClock:
    """Estimates the server tick 'now' from snapshot arrivals and picks the render tick."""

    def __init__(self, tick_hz: float) -> None:
        self.tick_hz = float(tick_hz)
        self.offsets: deque[float] = deque(maxlen=CLOCK_WINDOW)   # arrival - tick time (s)
        self.delay_s = INTERP_DELAY_S
        self.render_tick: float | None = None
        self._last_now: float | None = None

    def on_snapshot(self, tick: int, now: float) -> None:
        """Record one snapshot's arrival (local monotonic seconds)."""
        self.offsets.append(now - tick / self.tick_hz)
        base = min(self.offsets)
        spread = sorted(o - base for o in self.offsets)
        jitter = spread[int(0.95 * (len(spread) - 1))]
        self.delay_s = INTERP_DELAY_S + min(jitter, MAX_EXTRA_DELAY_S)

    def target_tick(self, now: float) -> float | None:
        """Where the render time should be: the least-delayed arrival's clock, minus the delay."""
        if not self.offsets:
            return None
        return (now - min(self.offsets) - self.delay_s) * self.tick_hz

    def advance(self, now: float) -> float | None:
        """Render tick for a frame at `now`: runs at real speed, slewed toward the target, never back."""
        target = self.target_tick(now)
        if target is None:
            return None
        if self.render_tick is None or self._last_now is None or abs(target - self.render_tick) > self.tick_hz:
            self.render_tick = target            # first frame, or a jump (restart, long stall)
        else:
            t = self.render_tick + (now - self._last_now) * self.tick_hz
            t += (target - t) * CLOCK_SLEW
            self.render_tick = max(self.render_tick, t)
        self._last_now = now
        return self.render_tick

    def reset(self) -> None:
        self.offsets.clear()
        self.render_tick = None
        self._last_now = None


class Interpolator:
    """Sample buffers for every entity in view, as rows of numpy arrays."""

    def __init__(self, tick_hz: float, capacity: int = 256) -> None:
        self.tick_hz = float(tick_hz)
        self.limit_ticks = EXTRAPOLATE_LIMIT_S * self.tick_hz
        self.slot: dict[int, int] = {}          # entity id -> row
        self.ids = np.zeros(capacity, np.int64)
        self.used = np.zeros(capacity, bool)
        self._alloc(capacity)
        self._free: list[int] = list(range(capacity - 1, -1, -1))

    def _alloc(self, n: int) -> None:
        self.tick = np.full((n, SAMPLES), FAR_PAST)
        self.x = np.zeros((n, SAMPLES))
        self.y = np.zeros((n, SAMPLES))
        self.z = np.zeros((n, SAMPLES))
        self.yaw = np.zeros((n, SAMPLES))
        self.moving = np.zeros(n, bool)
        self.flags = np.zeros(n, np.uint8)

    def _grow(self) -> None:
        old = len(self.ids)
        new = old * 2
        arrays = {k: getattr(self, k) for k in ("tick", "x", "y", "z", "yaw", "moving", "flags")}
        self._alloc(new)
        for k, a in arrays.items():
            getattr(self, k)[:old] = a
        self.tick[old:] = FAR_PAST
        self.ids = np.concatenate((self.ids, np.zeros(old, np.int64)))
        self.used = np.concatenate((self.used, np.zeros(old, bool)))
        self._free.extend(range(new - 1, old - 1, -1))

    def add(self, entity: int) -> int:
        row = self.slot.get(entity)
        if row is None:
            if not self._free:
                self._grow()
            row = self._free.pop()
            self.slot[entity] = row
            self.ids[row] = entity
            self.used[row] = True
            self.tick[row] = FAR_PAST
        return row

    def remove(self, entity: int) -> None:
        row = self.slot.pop(entity, None)
        if row is not None:
            self.used[row] = False
            self.tick[row] = FAR_PAST
            self._free.append(row)

    def clear(self) -> None:
        for entity in list(self.slot):
            self.remove(entity)

    def push(self, tick: int, records: np.ndarray) -> None:
        """Append one snapshot's body records (records.BODY_DTYPE) for known entities."""
        if len(records) == 0:
            return
        slot = self.slot
        rows_l = [slot.get(i, -1) for i in records["id"].tolist()]
        rows = np.fromiter(rows_l, np.int64, len(rows_l))
        keep = rows >= 0
        if not keep.all():
            rows, records = rows[keep], records[keep]
        if len(rows) == 0:
            return
        # An out-of-order or repeated tick for a row is ignored (TCP keeps order; a resumed
        # session restarts ticks and comes with a clear()).
        fresh = self.tick[rows, -1] < tick
        rows, records = rows[fresh], records[fresh]
        x = records["x"] / POS_SCALE
        y = records["y"] / POS_SCALE
        z = records["z"] / POS_SCALE
        yawf = records["yawf"]
        yaw = np.radians((yawf & YAW_MASK) / 10.0)
        flags = (yawf >> FLAGS_SHIFT).astype(np.uint8)
        first = self.tick[rows, -1] == FAR_PAST
        for arr, val in ((self.tick, float(tick)), (self.x, x), (self.y, y), (self.z, z), (self.yaw, yaw)):
            arr[rows, :-1] = arr[rows, 1:]
            arr[rows, -1] = val
        if first.any():
            # A new entity: its only sample stands for all of history (no sliding in from 0,0).
            fr = rows[first]
            for arr in (self.x, self.y, self.z, self.yaw):
                arr[fr, :-1] = arr[fr, -1:]
            self.tick[fr, :-1] = FAR_PAST
        self.flags[rows] = flags
        self.moving[rows] = (flags & FLAG_MOVING) != 0

    def sample(self, render_tick: float) -> tuple[np.ndarray, ...]:
        """(rows, x, y, z, yaw, ahead_s) for every used row at `render_tick`.

        ahead_s is how far past its newest sample each entity was carried (0 when
        interpolated or holding); it never exceeds EXTRAPOLATE_LIMIT_S.
        """
        rows = np.flatnonzero(self.used)
        ticks = self.tick[rows]
        n = len(rows)
        k = (ticks <= render_tick).sum(1)                   # samples at or before the render time
        b = np.clip(k, 1, SAMPLES - 1)
        a = b - 1
        r = np.arange(n)
        ta, tb = ticks[r, a], ticks[r, b]
        # Beyond the newest sample: extrapolate along the last two (if moving), capped.
        beyond = k == SAMPLES
        span = tb - ta
        valid = (ta > FAR_PAST) & (span > 0)
        t_eff = np.where(beyond, np.minimum(render_tick, tb + self.limit_ticks), render_tick)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(valid, (t_eff - ta) / np.where(span > 0, span, 1.0), 1.0)
        f = np.where(beyond & ~self.moving[rows], 1.0, f)
        f = np.maximum(f, 0.0)
        ahead = np.where(beyond, np.maximum(0.0, (t_eff - tb) / self.tick_hz), 0.0)
        ahead = np.where(beyond & self.moving[rows] & valid, ahead, 0.0)
        xa, xb = self.x[rows, a], self.x[rows, b]
        ya, yb = self.y[rows, a], self.y[rows, b]
        za, zb = self.z[rows, a], self.z[rows, b]
        wa, wb = self.yaw[rows, a], self.yaw[rows, b]
        dyaw = (wb - wa + math.pi) % (2 * math.pi) - math.pi
        fy = np.minimum(f, 1.0)                               # yaw is never extrapolated
        return (rows, xa + (xb - xa) * f, ya + (yb - ya) * f, za + (zb - za) * f, wa + dyaw * fy, ahead)

    def newest(self, entity: int) -> tuple[float, float, float, float] | None:
        """The newest record of an entity (x, y, z, yaw), or None."""
        row = self.slot.get(entity)
        if row is None or self.tick[row, -1] == FAR_PAST:
            return None
        return (float(self.x[row, -1]), float(self.y[row, -1]), float(self.z[row, -1]),
                float(self.yaw[row, -1]))
