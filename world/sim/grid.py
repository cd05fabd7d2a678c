"""Uniform grid by counting sort, and neighbour queries over it.

Four plainly named steps, as in Ten Minute Physics' spatial hashing: count rows
per cell, prefix-sum the counts into ``cell_start``, fill ``cell_rows``, query
the cells a circle touches. Cell (cx, cy) has index ``cy * nx + cx``; its rows
are ``cell_rows[cell_start[c]:cell_start[c + 1]]``, ascending. Positions
outside the grid are clamped into the border cells, and queries clamp their
cell range the same way, so nothing is ever missed.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

# Queries widen their cell range by this (relative + absolute, metres) so that
# rounding in the cell computation can never drop a row at distance exactly r.
_REACH_SLACK = 1e-9


class GridSpec(NamedTuple):
    """Grid geometry: lower-left corner, square cell size (m), cell counts."""

    origin_x: float
    origin_y: float
    cell: float
    nx: int
    ny: int


def grid_for_bounds(bounds: np.ndarray, cell: float) -> GridSpec:
    """A grid of `cell`-metre cells covering bounds (minx, miny, maxx, maxy)."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    cell = float(cell)
    if not cell > 0.0:
        raise ValueError("cell size must be positive")
    nx = max(1, math.ceil((maxx - minx) / cell))
    ny = max(1, math.ceil((maxy - miny) / cell))
    return GridSpec(minx, miny, cell, int(nx), int(ny))


@numba.njit(cache=True, nogil=True)
def cell_coord(v, origin, cell, count):
    """Cell coordinate of v along one axis, clamped to [0, count); NaN -> 0."""
    f = (v - origin) / cell
    if not f >= 0.0:
        return 0
    if f >= count:
        return count - 1
    return int(f)


@numba.njit(cache=True, nogil=True)
def build_grid(x: np.ndarray, y: np.ndarray, n: int, origin_x: float, origin_y: float, cell: float,
               nx: int, ny: int) -> tuple[np.ndarray, np.ndarray]:
    """Counting sort of rows 0..n-1 into cells -> (cell_start[nx*ny+1], cell_rows[n])."""
    ncell = nx * ny
    cell_of = np.empty(n, np.int32)
    cell_start = np.zeros(ncell + 1, np.int32)
    # count
    for i in range(n):
        c = cell_coord(y[i], origin_y, cell, ny) * nx + cell_coord(x[i], origin_x, cell, nx)
        cell_of[i] = c
        cell_start[c + 1] += 1
    # prefix sum
    for c in range(ncell):
        cell_start[c + 1] += cell_start[c]
    # fill (forward, so each cell's rows stay ascending)
    cursor = cell_start[:ncell].copy()
    cell_rows = np.empty(n, np.int32)
    for i in range(n):
        c = cell_of[i]
        cell_rows[cursor[c]] = i
        cursor[c] += 1
    return cell_start, cell_rows


@numba.njit(cache=True, nogil=True)
def cell_order(v, cell_rows):
    """v in grid-slot order (v[cell_rows]), so queries read coordinates contiguously."""
    out = np.empty(cell_rows.shape[0], np.float64)
    for s in range(cell_rows.shape[0]):
        out[s] = v[cell_rows[s]]
    return out


@numba.njit(cache=True, nogil=True)
def gather(px, py, r, skip, xs, ys, cell_start, cell_rows, origin_x, origin_y, cell, nx, ny,
           out_rows, out_d2, runs):
    """Rows (except `skip`) within r of (px, py) -> (k, nruns).

    out_rows[:k] / out_d2[:k] hold them as ascending runs, one per cell, split at
    runs[0..nruns]. xs, ys are the coordinates in slot order (see `cell_order`).
    out_rows, out_d2 need one slot per row.
    """
    k = 0
    nr = 0
    runs[0] = 0
    if not r >= 0.0:
        return k, nr
    rr = r * r
    reach = r * (1.0 + _REACH_SLACK) + _REACH_SLACK
    x0 = cell_coord(px - reach, origin_x, cell, nx)
    x1 = cell_coord(px + reach, origin_x, cell, nx)
    y0 = cell_coord(py - reach, origin_y, cell, ny)
    y1 = cell_coord(py + reach, origin_y, cell, ny)
    for cy in range(y0, y1 + 1):
        for cx in range(x0, x1 + 1):
            c = cy * nx + cx
            for s in range(cell_start[c], cell_start[c + 1]):
                dx = xs[s] - px
                dy = ys[s] - py
                d2 = dx * dx + dy * dy
                j = cell_rows[s]
                # Branch-free: always write, advance only on a hit.
                out_rows[k] = j
                out_d2[k] = d2
                k += (d2 <= rr) & (j != skip)
            if k > runs[nr]:
                nr += 1
                runs[nr] = k
    return k, nr


@numba.njit(cache=True, nogil=True)
def merge_runs(rows, d2, k, runs, nr, tmp_rows, tmp_d2):
    """Sort rows[:k] (d2 alongside) made of nr ascending runs split at runs[], by merging."""
    a_r, a_d, b_r, b_d = rows, d2, tmp_rows, tmp_d2
    swapped = False
    while nr > 1:
        m = 0
        for p in range(0, nr, 2):
            lo = runs[p]
            mid = runs[p + 1]
            hi = runs[p + 2] if p + 2 <= nr else mid
            i = lo
            j = mid
            for o in range(lo, hi):
                if j >= hi or (i < mid and a_r[i] < a_r[j]):
                    b_r[o] = a_r[i]
                    b_d[o] = a_d[i]
                    i += 1
                else:
                    b_r[o] = a_r[j]
                    b_d[o] = a_d[j]
                    j += 1
            runs[m] = lo  # p >= 2m: runs[p..p+2] were read before this write
            m += 1
        runs[m] = k
        nr = m
        a_r, b_r = b_r, a_r
        a_d, b_d = b_d, a_d
        swapped = not swapped
    if swapped:
        rows[:k] = a_r[:k]
        d2[:k] = a_d[:k]


@numba.njit(cache=True, nogil=True)
def nth_smallest(a, k, kth):
    """The kth smallest (0-based) of a[:k], by quickselect; reorders a[:k]."""
    lo = 0
    hi = k - 1
    while lo < hi:
        pivot = a[(lo + hi) >> 1]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if kth <= j:
            hi = j
        elif kth >= i:
            lo = i
        else:
            break
    return a[kth]


@numba.njit(cache=True, nogil=True)
def keep_nearest(rows, d2, k, cap, scratch):
    """Keep, in place and in order, the `cap` nearest of rows[:k] (ties: lower row); returns count.

    rows[:k] must be ascending, so equal distances are met lower row first.
    """
    if cap <= 0:
        return 0
    scratch[:k] = d2[:k]
    t = nth_smallest(scratch, k, cap - 1)  # squared distance of the cap-th nearest
    less = 0
    for s in range(k):
        less += d2[s] < t
    ties = cap - less
    m = 0
    for s in range(k):
        tie = d2[s] == t
        keep = (d2[s] < t) | (tie & (ties > 0))
        ties -= tie & keep
        rows[m] = rows[s]  # branch-free: always copy, advance only when kept
        d2[m] = d2[s]
        m += keep
    return m


@numba.njit(cache=True, nogil=True)
def query_neighbours(observers: np.ndarray, x: np.ndarray, y: np.ndarray, n: int,
                     cell_start: np.ndarray, cell_rows: np.ndarray, origin_x: float,
                     origin_y: float, cell: float, nx: int, ny: int, r: float, cap: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """CSR neighbour lists: for each observer row, up to `cap` nearest rows within r, by row asc."""
    m = observers.shape[0]
    offsets = np.zeros(m + 1, np.int32)
    xs = cell_order(x, cell_rows)
    ys = cell_order(y, cell_rows)
    cand = np.empty(n + 1, np.int32)
    cand_d2 = np.empty(n + 1, np.float64)
    tmp = np.empty(n + 1, np.int32)
    tmp_d2 = np.empty(n + 1, np.float64)
    runs = np.empty(nx * ny + 1, np.int64)
    out = np.empty(max(64, m * 16), np.int32)
    total = 0
    for o in range(m):
        i = observers[o]
        k, nr = gather(x[i], y[i], r, i, xs, ys, cell_start, cell_rows, origin_x, origin_y, cell,
                       nx, ny, cand, cand_d2, runs)
        merge_runs(cand, cand_d2, k, runs, nr, tmp, tmp_d2)
        if k > cap:
            k = keep_nearest(cand, cand_d2, k, cap, tmp_d2)
        if total + k > out.shape[0]:
            bigger = np.empty(max(2 * out.shape[0], total + k), np.int32)
            bigger[:total] = out[:total]
            out = bigger
        out[total:total + k] = cand[:k]
        total += k
        offsets[o + 1] = total
    return offsets, out[:total].copy()


@numba.njit(cache=True, nogil=True)
def rows_within(cx: float, cy: float, r: float, x: np.ndarray, y: np.ndarray, n: int,
                cell_start: np.ndarray, cell_rows: np.ndarray, origin_x: float, origin_y: float,
                cell: float, nx: int, ny: int) -> np.ndarray:
    """Rows within r of the point (cx, cy), ascending."""
    cand = np.empty(n + 1, np.int32)
    cand_d2 = np.empty(n + 1, np.float64)
    runs = np.empty(nx * ny + 1, np.int64)
    k, nr = gather(cx, cy, r, -1, cell_order(x, cell_rows), cell_order(y, cell_rows), cell_start,
                   cell_rows, origin_x, origin_y, cell, nx, ny, cand, cand_d2, runs)
    merge_runs(cand, cand_d2, k, runs, nr, np.empty(k, np.int32), np.empty(k, np.float64))
    return cand[:k].copy()


@numba.njit(cache=True, nogil=True)
def diff_sorted(prev: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge two sorted unique id arrays -> (entered: in new only, left: in prev only)."""
    entered = np.empty(new.shape[0], new.dtype)
    left = np.empty(prev.shape[0], prev.dtype)
    i = 0
    j = 0
    ne = 0
    nl = 0
    while i < prev.shape[0] and j < new.shape[0]:
        a = prev[i]
        b = new[j]
        if a == b:
            i += 1
            j += 1
        elif a < b:
            left[nl] = a
            nl += 1
            i += 1
        else:
            entered[ne] = b
            ne += 1
            j += 1
    while i < prev.shape[0]:
        left[nl] = prev[i]
        nl += 1
        i += 1
    while j < new.shape[0]:
        entered[ne] = new[j]
        ne += 1
        j += 1
    return entered[:ne].copy(), left[:nl].copy()
