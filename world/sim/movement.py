"""Movement: the pure per-avatar rule, the integrate pass, and avatar separation.

`move_one` is the single movement rule; the server runs it for every row in
`integrate` and the client runs the same function for prediction. Frame:
x east, y north, z up; yaw 0 faces +y and positive yaw turns toward -x, so
forward = (-sin yaw, cos yaw) and right = (cos yaw, sin yaw).

Static collision: circles against axis-aligned boxes (minx, miny, maxx, maxy)
on the ground plane, then a clamp to the world bounds shrunk by the radius. A
step is split into sub-steps of at most ``0.5 * radius + 0.05`` m, which is
shorter than ``radius + MIN_WALL / 2``: a centre can then never pass the middle
of a wall at least MIN_WALL thick, so pushing out through the nearest face
always pushes back to the side it came from. A sub-step whose push-out does
not settle (e.g. a gap narrower than the avatar) is not taken, so a body that
starts clear of every box stays clear.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from world.sim.grid import cell_coord

MIN_WALL = 0.2          # thinnest box (m) that is guaranteed not to be tunnelled through
SKIN = 1e-7             # push-outs leave this gap (m) so the result tests as clear
OVERLAP_TOL = 1e-6      # a circle overlapping a box by less than this counts as clear
RESOLVE_ITERS = 8       # push-out passes over all boxes before a sub-step is refused
INTENT_DEADZONE = 1e-6  # a move intent shorter than this is no movement
MAX_SUBSTEPS = 256      # a longer move (>= 12.8 m in one call) is cut short
TWO_PI = 2.0 * math.pi


class Params(NamedTuple):
    """Movement tunables (m/s)."""

    walk_speed: float = 3.0
    run_speed: float = 6.0


@numba.njit(cache=True, nogil=True)
def wrap_angle(a: float) -> float:
    """Radians -> [-pi, pi)."""
    if -math.pi <= a < math.pi:
        return a
    w = (a + math.pi) % TWO_PI - math.pi
    if w >= math.pi:
        w -= TWO_PI
    return w


@numba.njit(cache=True, nogil=True)
def box_gap(x, y, minx, miny, maxx, maxy):
    """Signed distance from (x, y) to a box: positive outside, minus the depth inside."""
    dx = x - min(max(x, minx), maxx)
    dy = y - min(max(y, miny), maxy)
    if dx != 0.0 or dy != 0.0:
        return math.sqrt(dx * dx + dy * dy)
    return -min(min(x - minx, maxx - x), min(y - miny, maxy - y))


@numba.njit(cache=True, nogil=True)
def push_out_box(x, y, r, minx, miny, maxx, maxy, bounds):
    """Push a circle out of one box along the shortest direction -> (x, y, pushed)."""
    cx = min(max(x, minx), maxx)
    cy = min(max(y, miny), maxy)
    dx = x - cx
    dy = y - cy
    d2 = dx * dx + dy * dy
    if d2 >= r * r and d2 > 0.0:   # d2 == 0: the centre is in the box, even when r == 0
        return x, y, False
    if d2 > 0.0:
        d = math.sqrt(d2)
        s = (r + SKIN) / d
        return cx + dx * s, cy + dy * s, True
    # Centre inside (or on) the box: leave through the nearest face whose exit
    # lies inside the bounds (a box against the world edge is left inward).
    west = minx - r - SKIN
    east = maxx + r + SKIN
    south = miny - r - SKIN
    north = maxy + r + SKIN
    for inside_only in (True, False):
        best = math.inf
        ox = x
        oy = y
        if x - minx < best and (not inside_only or west >= bounds[0] + r):
            best = x - minx
            ox = west
            oy = y
        if maxx - x < best and (not inside_only or east <= bounds[2] - r):
            best = maxx - x
            ox = east
            oy = y
        if y - miny < best and (not inside_only or south >= bounds[1] + r):
            best = y - miny
            ox = x
            oy = south
        if maxy - y < best and (not inside_only or north <= bounds[3] - r):
            best = maxy - y
            ox = x
            oy = north
        if best < math.inf:
            return ox, oy, True
    return x, y, False


@numba.njit(cache=True, nogil=True)
def clamp_bounds(x, y, r, bounds):
    """Clamp a centre into bounds shrunk by r (the middle if bounds are too small)."""
    lo_x = bounds[0] + r
    hi_x = bounds[2] - r
    lo_y = bounds[1] + r
    hi_y = bounds[3] - r
    x = 0.5 * (lo_x + hi_x) if lo_x > hi_x else min(max(x, lo_x), hi_x)
    y = 0.5 * (lo_y + hi_y) if lo_y > hi_y else min(max(y, lo_y), hi_y)
    return x, y


@numba.njit(cache=True, nogil=True)
def is_clear(x, y, r, boxes):
    """True if the circle overlaps no box by more than OVERLAP_TOL."""
    for b in range(boxes.shape[0]):
        if box_gap(x, y, boxes[b, 0], boxes[b, 1], boxes[b, 2], boxes[b, 3]) < r - OVERLAP_TOL:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def resolve_static(x: float, y: float, r: float, boxes: np.ndarray,
                   bounds: np.ndarray) -> tuple[float, float, bool]:
    """Push a circle out of boxes and into bounds -> (x, y, ok); ok False if it did not settle."""
    x, y = clamp_bounds(x, y, r, bounds)
    for _ in range(RESOLVE_ITERS):
        pushed = False
        for b in range(boxes.shape[0]):
            x, y, p = push_out_box(x, y, r, boxes[b, 0], boxes[b, 1], boxes[b, 2], boxes[b, 3],
                                   bounds)
            pushed = pushed or p
        if not pushed:
            return x, y, True
        x, y = clamp_bounds(x, y, r, bounds)
    return x, y, is_clear(x, y, r, boxes)


@numba.njit(cache=True, nogil=True, inline="always")
def clear_path(x, y, dx, dy, r, boxes, bounds):
    """True if the circle swept from (x, y) by (dx, dy) stays inside the bounds and away from
    every box (tested on bounding rectangles), so no sub-stepping or push-out is needed."""
    lo_x = min(x, x + dx) - r
    hi_x = max(x, x + dx) + r
    lo_y = min(y, y + dy) - r
    hi_y = max(y, y + dy) + r
    if lo_x < bounds[0] or lo_y < bounds[1] or hi_x > bounds[2] or hi_y > bounds[3]:
        return False
    for b in range(boxes.shape[0]):
        if lo_x <= boxes[b, 2] and hi_x >= boxes[b, 0] and lo_y <= boxes[b, 3] and hi_y >= boxes[b, 1]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def intent_direction(fwd: float, side: float, yaw: float) -> tuple[float, float]:
    """Movement intent (forward, strafe, yaw) -> world-frame direction of length <= 1."""
    if not (math.isfinite(fwd) and math.isfinite(side) and math.isfinite(yaw)):
        return 0.0, 0.0
    length = math.sqrt(fwd * fwd + side * side)
    if length < INTENT_DEADZONE:      # also keeps subnormal intents from reaching the sub-steps
        return 0.0, 0.0
    if length > 1.0:
        fwd = fwd / length
        side = side / length
    c = math.cos(yaw)
    s = math.sin(yaw)
    return side * c - fwd * s, side * s + fwd * c


@numba.njit(cache=True, nogil=True)
def move_one(x: float, y: float, fwd: float, side: float, yaw: float, run: bool, dt: float,
             walk_speed: float, run_speed: float, radius: float, boxes: np.ndarray,
             bounds: np.ndarray) -> tuple[float, float]:
    """One avatar's movement for one tick -> (x, y): intent, speed cap, boxes, bounds."""
    if not dt > 0.0:
        return x, y
    ux, uy = intent_direction(fwd, side, yaw)
    speed = (run_speed if run else walk_speed) * dt
    return move_by(x, y, ux * speed, uy * speed, radius, boxes, bounds)


@numba.njit(cache=True, nogil=True, inline="always")
def move_by(x: float, y: float, dx: float, dy: float, radius: float, boxes: np.ndarray,
            bounds: np.ndarray) -> tuple[float, float]:
    """Move a circle by (dx, dy) without passing through boxes or leaving the bounds."""
    if dx == 0.0 and dy == 0.0:
        return x, y
    radius = max(radius, 0.0)
    max_step = 0.5 * (radius + 0.5 * MIN_WALL)
    reach = max_step * MAX_SUBSTEPS
    if dx * dx + dy * dy <= reach * reach and clear_path(x, y, dx, dy, radius, boxes, bounds):
        return x + dx, y + dy       # nothing near: the sub-steps below would end at the same place
    dist = math.sqrt(dx * dx + dy * dy)
    steps = max(1, int(math.ceil(dist / max_step)))   # dist underflows to 0 for tiny moves
    sx = dx / steps
    sy = dy / steps
    # A runaway dt must not stall the tick: such a move is cut short, never lengthened.
    for _ in range(min(steps, MAX_SUBSTEPS)):
        nx, ny, ok = resolve_static(x + sx, y + sy, radius, boxes, bounds)
        if not ok:
            break
        x = nx
        y = ny
    return x, y


@numba.njit(cache=True, nogil=True)
def integrate(x: np.ndarray, y: np.ndarray, yaw: np.ndarray, ux: np.ndarray, uy: np.ndarray,
              iyaw: np.ndarray, run: np.ndarray, radius: np.ndarray, moved: np.ndarray, n: int,
              dt: float, walk_speed: float, run_speed: float, boxes: np.ndarray,
              bounds: np.ndarray) -> None:
    """All rows: yaw <- wrapped intended yaw, position moved along the intent's direction
    (ux, uy from intent_direction, computed once per input) as move_one would, moved <- changed."""
    # move_by's fast path (a move with nothing near) is written out here rather than inlined:
    # an inlined helper that takes arrays costs atomic reference-count updates on every row.
    nbox = boxes.shape[0]
    b_lo_x, b_lo_y, b_hi_x, b_hi_y = bounds[0], bounds[1], bounds[2], bounds[3]
    for i in range(n):
        if math.isfinite(iyaw[i]):
            yaw[i] = wrap_angle(iyaw[i])
        if ux[i] == 0.0 and uy[i] == 0.0 or not dt > 0.0:
            moved[i] = False
            continue
        speed = (run_speed if run[i] else walk_speed) * dt
        px = x[i]
        py = y[i]
        dx = ux[i] * speed
        dy = uy[i] * speed
        if dx == 0.0 and dy == 0.0:
            moved[i] = False
            continue
        r = max(float(radius[i]), 0.0)
        reach = 0.5 * (r + 0.5 * MIN_WALL) * MAX_SUBSTEPS
        clear = dx * dx + dy * dy <= reach * reach
        if clear:           # clear_path, as move_by tests it
            lo_x = min(px, px + dx) - r
            hi_x = max(px, px + dx) + r
            lo_y = min(py, py + dy) - r
            hi_y = max(py, py + dy) + r
            if lo_x < b_lo_x or lo_y < b_lo_y or hi_x > b_hi_x or hi_y > b_hi_y:
                clear = False
            else:
                for b in range(nbox):
                    if lo_x <= boxes[b, 2] and hi_x >= boxes[b, 0] and lo_y <= boxes[b, 3] and hi_y >= boxes[b, 1]:
                        clear = False
                        break
        if clear:
            nx = px + dx
            ny = py + dy
        else:
            nx, ny = move_by(px, py, dx, dy, r, boxes, bounds)
        moved[i] = nx != px or ny != py
        x[i] = nx
        y[i] = ny


@numba.njit(cache=True, nogil=True)
def separate(x: np.ndarray, y: np.ndarray, radius: np.ndarray, n: int, cell_start: np.ndarray,
             cell_rows: np.ndarray, origin_x: float, origin_y: float, cell: float, nx: int,
             ny: int, boxes: np.ndarray, bounds: np.ndarray, moved: np.ndarray | None = None,
             scratch: np.ndarray | None = None, stats: np.ndarray | None = None) -> int:
    """Push overlapping circles apart by half the overlap each; returns rows displaced.

    One Jacobi pass (pushes are summed, then applied, so order does not bias them);
    coincident pairs split along x, the lower row going -x. Displaced rows are re-resolved
    against boxes and bounds, and keep their old position if that fails. If `moved` is
    given, displaced rows are marked True in it. Works in cell order on copies (positions,
    radii, pushes) so the pair scan reads memory in order; `scratch` (float64, 5 x n or
    larger), reused across ticks, avoids allocating them. If `stats` is given, stats[0] is
    set to the largest per-axis displacement (so a caller may keep using the grid with that
    much slack instead of rebuilding it).
    """
    if scratch is None or scratch.shape[0] < 5 or scratch.shape[1] < n:
        scratch = np.empty((5, max(n, 1)), np.float64)
    sx = scratch[0]
    sy = scratch[1]
    sr = scratch[2]
    px = scratch[3]
    py = scratch[4]
    inv = 1.0 / cell
    rmax = 0.0
    for k in range(n):
        j = cell_rows[k]
        sx[k] = x[j]
        sy[k] = y[j]
        sr[k] = radius[j]
        px[k] = 0.0
        py[k] = 0.0
        rmax = max(rmax, sr[k])
    if rmax <= 0.0:
        return 0
    for k in range(n):
        ri = sr[k]
        reach = ri + rmax
        # cells of [p - reach, p + reach] (as cell_coord, with a multiply and a widening of
        # one cell where rounding could matter, since reach is far below a cell)
        fx = (sx[k] - origin_x) * inv
        fy = (sy[k] - origin_y) * inv
        if not (fx >= 0.0 and fy >= 0.0 and fx < nx and fy < ny):
            x0 = cell_coord(sx[k] - reach, origin_x, cell, nx)
            x1 = cell_coord(sx[k] + reach, origin_x, cell, nx)
            y0 = cell_coord(sy[k] - reach, origin_y, cell, ny)
            y1 = cell_coord(sy[k] + reach, origin_y, cell, ny)
        else:
            r_cells = reach * inv + 1e-9
            x0 = max(int(fx - r_cells), 0)
            x1 = min(int(fx + r_cells), nx - 1)
            y0 = max(int(fy - r_cells), 0)
            y1 = min(int(fy + r_cells), ny - 1)
        for cy in range(y0, y1 + 1):
            for cx in range(x0, x1 + 1):
                c = cy * nx + cx
                for k2 in range(max(cell_start[c], k + 1), cell_start[c + 1]):
                    touch = ri + sr[k2]
                    dx = sx[k2] - sx[k]
                    dy = sy[k2] - sy[k]
                    d2 = dx * dx + dy * dy
                    if d2 >= touch * touch:
                        continue
                    d = math.sqrt(d2)
                    if d > 0.0:
                        ux = dx / d
                        uy = dy / d
                    elif cell_rows[k] < cell_rows[k2]:   # coincident: lower row goes -x
                        ux = 1.0
                        uy = 0.0
                    else:
                        ux = -1.0
                        uy = 0.0
                    half = 0.5 * (touch - d) + SKIN
                    px[k] -= ux * half
                    py[k] -= uy * half
                    px[k2] += ux * half
                    py[k2] += uy * half
    count = 0
    largest = 0.0
    for k in range(n):
        if px[k] == 0.0 and py[k] == 0.0:
            continue
        i = cell_rows[k]
        nxp, nyp, ok = resolve_static(x[i] + px[k], y[i] + py[k], float(radius[i]), boxes, bounds)
        if not ok or (nxp == x[i] and nyp == y[i]):
            continue
        largest = max(largest, abs(nxp - x[i]), abs(nyp - y[i]))
        x[i] = nxp
        y[i] = nyp
        count += 1
        if moved is not None:
            moved[i] = True
    if stats is not None:
        stats[0] = largest
    return count
