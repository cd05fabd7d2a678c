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
# A disc's gap to a cell row is shrunk by this (relative to cell and |edge|) for the same reason.
_ROW_SLACK = 1e-9


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
def row_reach(y_lo, y_hi, reach, cy, origin_y, cell, ny):
    """Half-width, over cell row cy, of discs of radius `reach` centred in [y_lo, y_hi].

    Widened for rounding; border rows reach to infinity, as rows outside the grid
    are clamped into them.
    """
    lo = origin_y + cy * cell
    hi = lo + cell
    gap = 0.0
    if cy > 0 and y_hi < lo:
        gap = lo - y_hi
    elif cy < ny - 1 and y_lo > hi:
        gap = y_lo - hi
    gap -= _ROW_SLACK * (cell + abs(lo))
    if gap <= 0.0:
        return reach
    return math.sqrt(max(0.0, reach * reach - gap * gap)) + _REACH_SLACK


@numba.njit(cache=True, nogil=True, inline="always")
def gather_block(x_lo, x_hi, y_lo, y_hi, r, xs, ys, cell_start, cell_rows, origin_x, origin_y,
                 cell, nx, ny, bx, by, brows):
    """Copy every slot within r of the box [x_lo, x_hi] x [y_lo, y_hi] (and some more)
    into bx, by, brows; returns how many. Per cell row, the cells touched are one
    contiguous slot range. The buffers need one slot per row."""
    k = np.uint64(0)
    reach = r * (1.0 + _REACH_SLACK) + _REACH_SLACK
    y0 = cell_coord(y_lo - reach, origin_y, cell, ny)
    y1 = cell_coord(y_hi + reach, origin_y, cell, ny)
    for cy in range(y0, y1 + 1):
        w = row_reach(y_lo, y_hi, reach, cy, origin_y, cell, ny)
        base = cy * nx
        s0 = np.uint64(cell_start[base + cell_coord(x_lo - w, origin_x, cell, nx)])
        s1 = np.uint64(cell_start[base + cell_coord(x_hi + w, origin_x, cell, nx) + 1])
        for s in range(s0, s1):  # a plain loop: numba's slice copy checks overlap, slowly
            bx[k] = xs[s]
            by[k] = ys[s]
            brows[k] = cell_rows[s]
            k += np.uint64(1)
    return np.int64(k)


@numba.njit(cache=True, nogil=True, inline="always")
def scan_block(px, py, rr, skip, bx, by, brows, nb, out, k):
    """Append to out[k:] the rows of the block (except `skip`) with d2 <= rr; returns the end.

    Branch-free: always write, advance only on a hit. out needs nb slots after k.
    Unsigned indices spare numba's negative-index check on every access.
    """
    end = np.uint64(k)
    for s in range(np.uint64(nb)):
        dx = bx[s] - px
        dy = by[s] - py
        j = brows[s]
        out[end] = j
        end += np.uint64((dx * dx + dy * dy <= rr) & (j != skip))
    return np.int64(end)


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
def keep_nearest(rows, px, py, x, y, cap, d2, scratch):
    """Keep, in place, the `cap` nearest of `rows` to (px, py) (ties: lower row); returns count.

    d2 and scratch need len(rows) slots. Order among kept rows is not preserved.
    """
    k = rows.shape[0]
    if cap <= 0:
        return 0
    for s in range(k):
        dx = x[rows[s]] - px
        dy = y[rows[s]] - py
        d2[s] = dx * dx + dy * dy
        scratch[s] = d2[s]
    t = nth_smallest(scratch, k, cap - 1)  # squared distance of the cap-th nearest
    m = 0
    nt = 0
    for s in range(k):
        if d2[s] < t:
            rows[m] = rows[s]
            m += 1
        elif d2[s] == t:
            scratch[nt] = rows[s]  # tied rows, kept below in row order
            nt += 1
    tied = np.sort(scratch[:nt])
    for s in range(cap - m):
        rows[m + s] = int(tied[s])
    return cap


@numba.njit(cache=True, nogil=True)
def observers_by_row(observers, n):
    """Chains of observer positions per row: head[row] -> first, nxt[pos] -> next (-1 ends)."""
    head = np.full(n, -1, np.int32)
    nxt = np.empty(observers.shape[0], np.int32)
    for o in range(observers.shape[0] - 1, -1, -1):
        i = observers[o]
        nxt[o] = head[i]
        head[i] = o
    return head, nxt


@numba.njit(cache=True, nogil=True)
def query_neighbours(observers: np.ndarray, x: np.ndarray, y: np.ndarray, n: int,
                     cell_start: np.ndarray, cell_rows: np.ndarray, origin_x: float,
                     origin_y: float, cell: float, nx: int, ny: int, r: float, cap: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """CSR neighbour lists: for each observer row, up to `cap` nearest rows within r.

    Lists are in no particular order (callers that need one sort). Observers are
    served cell by cell: one gather of the cells around a cell's observers, then a
    straight scan per observer. Fastest with cells of about r / 2.
    """
    m = observers.shape[0]
    head, nxt = observers_by_row(observers, n)
    xs = cell_order(x, cell_rows)
    ys = cell_order(y, cell_rows)
    bx = np.empty(n, np.float64)
    by = np.empty(n, np.float64)
    brows = np.empty(n, np.int32)
    start = np.zeros(m, np.int64)
    count = np.zeros(m, np.int64)
    buf = np.empty(m * 16 + n, np.int32)
    total = 0
    rr = r * r
    for c in range(nx * ny if r >= 0.0 else 0):
        # the box around this cell's observers
        x_lo = y_lo = np.inf
        x_hi = y_hi = -np.inf
        for s in range(cell_start[c], cell_start[c + 1]):
            if head[cell_rows[s]] >= 0:
                x_lo = min(x_lo, xs[s])
                x_hi = max(x_hi, xs[s])
                y_lo = min(y_lo, ys[s])
                y_hi = max(y_hi, ys[s])
        if not x_lo <= x_hi:
            continue  # no observers here (NaN positions sit at -inf/inf harmlessly)
        nb = gather_block(x_lo, x_hi, y_lo, y_hi, r, xs, ys, cell_start, cell_rows, origin_x,
                          origin_y, cell, nx, ny, bx, by, brows)
        for s in range(cell_start[c], cell_start[c + 1]):
            i = cell_rows[s]
            o = head[i]
            while o >= 0:
                if total + nb > buf.shape[0]:
                    buf = grow(buf, total, total + nb)
                end = scan_block(xs[s], ys[s], rr, i, bx, by, brows, nb, buf, total)
                if end - total > cap:
                    end = total + keep_nearest(buf[total:end], xs[s], ys[s], x, y, cap, bx, by)
                start[o] = total
                count[o] = end - total
                total = end
                o = nxt[o]
    return to_csr(buf, start, count)


@numba.njit(cache=True, nogil=True)
def grow(buf, used, need):
    """A copy of buf[:used] with room for at least `need` slots."""
    bigger = np.empty(max(2 * buf.shape[0], need), buf.dtype)
    bigger[:used] = buf[:used]
    return bigger


@numba.njit(cache=True, nogil=True)
def to_csr(buf, start, count):
    """Lists at buf[start[o]:start[o] + count[o]] -> (offsets, rows) in position order."""
    m = start.shape[0]
    offsets = np.empty(m + 1, np.int32)
    offsets[0] = 0
    for o in range(m):
        offsets[o + 1] = offsets[o] + count[o]
    rows = np.empty(offsets[m], np.int32)
    for o in range(m):
        rows[offsets[o]:offsets[o + 1]] = buf[start[o]:start[o] + count[o]]
    return offsets, rows


@numba.njit(cache=True, nogil=True)
def rows_within(cx: float, cy: float, r: float, x: np.ndarray, y: np.ndarray, n: int,
                cell_start: np.ndarray, cell_rows: np.ndarray, origin_x: float, origin_y: float,
                cell: float, nx: int, ny: int) -> np.ndarray:
    """Rows within r of the point (cx, cy), ascending."""
    if not r >= 0.0:
        return np.empty(0, np.int32)
    bx = np.empty(n, np.float64)
    by = np.empty(n, np.float64)
    brows = np.empty(n, np.int32)
    nb = gather_block(cx, cx, cy, cy, r, cell_order(x, cell_rows), cell_order(y, cell_rows),
                      cell_start, cell_rows, origin_x, origin_y, cell, nx, ny, bx, by, brows)
    out = np.empty(nb + 1, np.int32)
    return np.sort(out[:scan_block(cx, cy, r * r, -1, bx, by, brows, nb, out, 0)])


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
