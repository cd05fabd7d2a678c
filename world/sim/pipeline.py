"""One simulation step for a whole space: move, collide, grid, interest and encode.

`step` is the tick of world.space.Space without any I/O, so the server and
`agora bench sim` run exactly the same code. Its output, `Frames`, is one byte
buffer holding a ready-to-send msgpack `snap` frame per observer plus the
enter/leave ids per observer in CSR form.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numba
import numpy as np

from world.sim.encode import BODY_SIZE, POSE_SIZE
from world.sim.grid import GridSpec, build_grid
from world.sim.interest import HEADER_MAX, interest_pass, interest_pass_parallel
from world.sim.movement import integrate, separate
from world.sim.state import Bodies

FLAG_MOVING = np.uint8(4)    # == records.FLAG_MOVING
SORT_EVERY = 64              # ticks between re-sorting the rows into grid-cell order
# With step(parallel_from=N > 0), spaces of at least N entities (and this many observers per
# thread) split the interest pass over numba's threads (NUMBA_NUM_THREADS).
PARALLEL_MIN_OBSERVERS = 64
if sys.byteorder != "little":    # the interest pass stores little-endian records as native words
    raise ImportError("world.sim.pipeline needs a little-endian host")


@numba.njit(cache=True, nogil=True)
def mark_moving(flags: np.ndarray, moved: np.ndarray, n: int) -> None:
    """flags' FLAG_MOVING bit <- moved, for rows 0..n-1."""
    for i in range(n):
        flags[i] = (flags[i] & ~FLAG_MOVING) | (FLAG_MOVING if moved[i] else 0)


@numba.njit(cache=True, nogil=True)
def observer_rows(slot: np.ndarray, n: int, phases: int, phase: int) -> np.ndarray:
    """Rows (ascending) of the observers served this tick: slot >= 0, and slot % phases == phase
    when phases > 1."""
    count = 0
    for i in range(n):
        count += slot[i] >= 0 and (phases <= 1 or slot[i] % phases == phase)
    rows = np.empty(count, np.int32)
    k = 0
    for i in range(n):
        if slot[i] >= 0 and (phases <= 1 or slot[i] % phases == phase):
            rows[k] = i
            k += 1
    return rows


class TickParams(NamedTuple):
    dt: float = 1.0 / 30.0
    walk_speed: float = 3.0
    run_speed: float = 6.0
    r_enter: float = 40.0        # an entity enters view inside this radius (m)
    r_leave: float = 44.0        # and leaves it only beyond this one (hysteresis)
    near_r: float = 10.0         # changed entities this close are sent every tick
    cap: int = 128               # most entities one observer knows at a time (nearest kept)
    budget_bytes: int = 640      # per observer per tick for body and pose records
    max_interval: int = 10       # ticks a changed entity may wait at most (the starvation bound)


class Frames(NamedTuple):
    buf: np.ndarray              # uint8: frames back to back
    obs_rows: np.ndarray         # int32[m]: observer rows, in frame order
    ws_start: np.ndarray         # int64[m]: buf[ws_start[i]:end[i]] is frame i with its WebSocket header
    start: np.ndarray            # int64[m]: buf[start[i]:end[i]] is frame i (one msgpack `snap` map)
    end: np.ndarray
    enter_ids: np.ndarray        # int64: entity ids entering view, observer i's at enter_off[i]:enter_off[i+1]
    enter_off: np.ndarray
    leave_ids: np.ndarray
    leave_off: np.ndarray


class Interest:
    """What each observer slot knows: sorted ids, last sent quantised state and tick, input ack."""

    def __init__(self, slots: int = 16, cap: int = 128) -> None:
        self.cap = cap
        self.slots = 0
        self.free: list[int] = []
        self._alloc(max(1, slots))
        self._bufs = [np.empty(0, np.uint8), np.empty(0, np.uint8)]
        self._flip = 0
        self._events = np.empty(0, np.int64)
        self.passes = 0
        self._rows = 0
        self._scratch_for(64)

    def _scratch_for(self, n: int) -> None:
        """Per-row scratch for the interest pass, kept across ticks (fresh pages are slow)."""
        if n <= self._rows:
            return
        rows = max(n, 2 * self._rows)
        self.qall = np.empty((rows, 2), np.int64)
        self.qstamp = np.full(rows, -1, np.int64)
        self.sx = np.empty(rows, np.float64)
        self.sy = np.empty(rows, np.float64)
        self.cand_rows = np.empty(rows, np.int32)
        self.cand_d2 = np.empty(rows, np.float64)
        self.sid = np.empty(rows, np.int64)
        self.sep = np.empty((5, rows), np.float64)
        self.sep_stats = np.zeros(1, np.float64)
        self.kof = np.empty(rows, np.int32)
        self.sfl = np.empty(rows, np.uint8)
        self.spt = np.empty(rows, np.int64)
        self._rows = rows
        self._chunks = 0

    def chunk_scratch(self, chunks: int) -> tuple[np.ndarray, ...]:
        """Per-chunk scratch of the parallel interest pass: (qall, qstamp, cand_rows, cand_d2)."""
        if chunks != self._chunks or self.qall_c.shape[1] < self._rows:
            rows = self._rows
            self.qall_c = np.empty((chunks, rows, 2), np.int64)
            self.qstamp_c = np.full((chunks, rows), -1, np.int64)
            self.cand_rows_c = np.empty((chunks, rows), np.int32)
            self.cand_d2_c = np.empty((chunks, rows), np.float64)
            self._chunks = chunks
        return self.qall_c, self.qstamp_c, self.cand_rows_c, self.cand_d2_c

    def _alloc(self, slots: int) -> None:
        cap, old = self.cap, self.slots
        fresh = {
            "known_ids": np.zeros((slots, cap), np.int64), "known_n": np.zeros(slots, np.int64),
            "sent_q": np.zeros((slots, cap, 2), np.int64), "sent_tick": np.zeros((slots, cap), np.int64),
            "acks": np.full(slots, -1, np.int64),
        }
        for name, arr in fresh.items():
            if old:
                arr[:old] = getattr(self, name)
            setattr(self, name, arr)
        self.free.extend(range(slots - 1, old - 1, -1))
        self.slots = slots

    def open_slot(self) -> int:
        if not self.free:
            self._alloc(self.slots * 2)
        s = self.free.pop()
        self.known_n[s] = 0
        self.acks[s] = -1
        return s

    def forget_sent(self, s: int) -> None:
        """Treat everything slot s knows as unsent and overdue (its client missed snapshots)."""
        self.sent_q[s] = -(2**62)
        self.sent_tick[s] = -(2**40)

    def close_slot(self, s: int) -> None:
        self.known_n[s] = 0
        self.acks[s] = -1
        self.free.append(s)

    def buffers(self, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Output buffer (alternating, so last tick's frames stay valid) and event scratch."""
        need = m * (HEADER_MAX + (BODY_SIZE + POSE_SIZE) * (self.cap + 1))
        self._flip ^= 1
        if len(self._bufs[self._flip]) < need:
            self._bufs[self._flip] = np.empty(max(need, 2 * len(self._bufs[self._flip])), np.uint8)
        events = m * self.cap
        if len(self._events) < 2 * events:
            self._events = np.empty(max(2 * events, 2 * len(self._events)), np.int64)
        return self._bufs[self._flip], self._events[:events], self._events[events:2 * events]


def step(bodies: Bodies, interest: Interest, grid: GridSpec, boxes: np.ndarray, bounds: np.ndarray,
         params: TickParams, tick: int, phases: int = 1, parallel: bool | None = None,
         parallel_from: int = 0) -> Frames:
    """Advance every body one tick and produce the frames and events of the observers served
    this tick: all of them when phases == 1, else those whose slot % phases == tick % phases
    (each then gets a frame every `phases` ticks, with `phases` times the byte budget).

    parallel: serve observers on numba's threads (True), on this thread (False), or decide
    by size (None: with parallel_from > 0, from that many entities on, given more than one
    thread and PARALLEL_MIN_OBSERVERS per thread). The frames are the same bytes either way
    (frames are not back to back in `buf` when parallel)."""
    b, g, p = bodies, grid, params
    n = b.n
    interest._scratch_for(max(n, 1))
    grid_slack = 0.0
    if n:
        integrate(b.x, b.y, b.yaw, b.ux, b.uy, b.iyaw, b.run, b.radius, b.moved, n, p.dt,
                  p.walk_speed, p.run_speed, boxes, bounds)
        cell_start, cell_rows = build_grid(b.x, b.y, n, g.origin_x, g.origin_y, g.cell, g.nx, g.ny)
        if tick % SORT_EVERY == 1:
            # Keep memory order close to spatial order: every per-entity read in the passes
            # below then hits entities that neighbours also read (the cache does the rest).
            b.permute(cell_rows)
            cell_rows = np.arange(n, dtype=cell_rows.dtype)
        stats = interest.sep_stats
        if separate(b.x, b.y, b.radius, n, cell_start, cell_rows, g.origin_x, g.origin_y, g.cell,
                    g.nx, g.ny, boxes, bounds, b.moved, interest.sep, stats):
            if stats[0] <= 0.25 * g.cell:
                grid_slack = float(stats[0])    # pushes are tiny: widen the scan, keep the grid
            else:
                cell_start, cell_rows = build_grid(b.x, b.y, n, g.origin_x, g.origin_y, g.cell, g.nx, g.ny)
        mark_moving(b.flags, b.moved, n)
    else:
        cell_start, cell_rows = build_grid(b.x, b.y, 0, g.origin_x, g.origin_y, g.cell, g.nx, g.ny)
    obs_rows = observer_rows(b.slot, n, phases, tick % max(phases, 1))
    m = len(obs_rows)
    buf, enter_ids, leave_ids = interest.buffers(m)
    ws_start = np.empty(m, np.int64)
    start = np.empty(m, np.int64)
    end = np.empty(m, np.int64)
    enter_off = np.empty(m + 1, np.int64)
    leave_off = np.empty(m + 1, np.int64)
    i = interest
    i.passes += 1
    threads = numba.get_num_threads()
    if parallel is None:
        parallel = (0 < parallel_from <= n and threads > 1
                    and m >= PARALLEL_MIN_OBSERVERS * threads)
    if parallel:
        qall_c, qstamp_c, cand_rows_c, cand_d2_c = i.chunk_scratch(threads)
        interest_pass_parallel(threads, obs_rows, b.slot, b.ids, b.x, b.y, b.z, b.yaw, b.flags, b.pose,
                               b.pose_tick, n, cell_start, cell_rows, g.origin_x, g.origin_y, g.cell, g.nx,
                               g.ny, p.r_enter, p.r_leave, p.near_r, min(p.cap, i.cap),
                               p.budget_bytes * max(phases, 1), p.max_interval, tick, grid_slack,
                               i.known_ids, i.known_n, i.sent_q, i.sent_tick, i.acks,
                               buf, ws_start, start, end, enter_ids, enter_off, leave_ids, leave_off,
                               qall_c, qstamp_c, i.passes, i.sx, i.sy, cand_rows_c, cand_d2_c, i.sid, i.kof,
                               i.sfl, i.spt)
        return Frames(buf, obs_rows, ws_start, start, end, enter_ids, enter_off, leave_ids, leave_off)
    interest_pass(obs_rows, b.slot, b.ids, b.x, b.y, b.z, b.yaw, b.flags, b.pose, b.pose_tick, n,
                  cell_start, cell_rows, g.origin_x, g.origin_y, g.cell, g.nx, g.ny,
                  p.r_enter, p.r_leave, p.near_r, min(p.cap, i.cap), p.budget_bytes * max(phases, 1), p.max_interval, tick,
                  grid_slack,
                  i.known_ids, i.known_n, i.sent_q, i.sent_tick, i.acks,
                  buf, ws_start, start, end, enter_ids, enter_off, leave_ids, leave_off,
                  i.qall, i.qstamp, i.passes, i.sx, i.sy, i.cand_rows, i.cand_d2, i.sid, i.kof,
                  i.sfl, i.spt)
    return Frames(buf, obs_rows, ws_start, start, end, enter_ids, enter_off, leave_ids, leave_off)
