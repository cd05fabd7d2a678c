"""Path-finding for agents: A* over an occupancy grid of the world's solid boxes.

The grid is built once per world (cells of 0.5 m, boxes grown by the avatar's radius plus a
margin), the search is a compiled A* with 8-neighbour moves that never cut a blocked
corner, and the path is shortened by string-pulling (keep a waypoint only where the straight
line to the next one would cross a blocked cell). Pure functions over arrays: no I/O.
"""

from __future__ import annotations

import heapq
import math

import numba
import numpy as np

SQRT2 = math.sqrt(2.0)


@numba.njit(cache=True)
def _astar(blocked: np.ndarray, sx: int, sy: int, gx: int, gy: int) -> np.ndarray:
    """Cell indices (y * nx + x) from start to goal inclusive; empty if unreachable."""
    ny, nx = blocked.shape
    n = nx * ny
    g = np.full(n, np.inf)
    came = np.full(n, -1, dtype=np.int64)
    closed = np.zeros(n, dtype=np.bool_)
    start = sy * nx + sx
    goal = gy * nx + gx
    g[start] = 0.0
    heap = [(0.0, start)]
    dxs = (1, -1, 0, 0, 1, 1, -1, -1)
    dys = (0, 0, 1, -1, 1, -1, 1, -1)
    while len(heap) > 0:
        _, cur = heapq.heappop(heap)
        if closed[cur]:
            continue
        if cur == goal:
            break
        closed[cur] = True
        cx = cur % nx
        cy = cur // nx
        for k in range(8):
            x = cx + dxs[k]
            y = cy + dys[k]
            if x < 0 or y < 0 or x >= nx or y >= ny or blocked[y, x]:
                continue
            if k >= 4 and (blocked[cy, x] or blocked[y, cx]):
                continue        # no squeezing diagonally past a corner
            nb = y * nx + x
            step = 1.0 if k < 4 else 1.4142135623730951
            cand = g[cur] + step
            if cand < g[nb]:
                g[nb] = cand
                came[nb] = cur
                ddx = abs(x - gx)
                ddy = abs(y - gy)
                h = max(ddx, ddy) + (1.4142135623730951 - 1.0) * min(ddx, ddy)   # octile
                heapq.heappush(heap, (cand + h, nb))
    if came[goal] < 0 and goal != start:
        return np.empty(0, dtype=np.int64)
    length = 1
    c = goal
    while c != start:
        c = came[c]
        length += 1
    out = np.empty(length, dtype=np.int64)
    c = goal
    for i in range(length - 1, -1, -1):
        out[i] = c
        if i > 0:
            c = came[c]
    return out


@numba.njit(cache=True)
def _clear_line(blocked: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> bool:
    """True if the segment between two points (in cell units) crosses no blocked cell."""
    ny, nx = blocked.shape
    dist = max(abs(x1 - x0), abs(y1 - y0))
    steps = int(dist * 3.0) + 1
    for i in range(steps + 1):
        t = i / steps
        x = int(x0 + (x1 - x0) * t)
        y = int(y0 + (y1 - y0) * t)
        if x < 0 or y < 0 or x >= nx or y >= ny or blocked[y, x]:
            return False
    return True


class NavGrid:
    """Walkable cells of one world, and paths across them."""

    def __init__(self, bounds: np.ndarray, rects: np.ndarray, cell: float = 0.5, clearance: float = 0.55) -> None:
        self.x0, self.y0, x1, y1 = (float(v) for v in bounds)
        self.cell = cell
        self.nx = max(1, int(math.ceil((x1 - self.x0) / cell)))
        self.ny = max(1, int(math.ceil((y1 - self.y0) / cell)))
        cx = self.x0 + (np.arange(self.nx) + 0.5) * cell
        cy = self.y0 + (np.arange(self.ny) + 0.5) * cell
        blocked = np.zeros((self.ny, self.nx), dtype=np.bool_)
        for r in np.asarray(rects, dtype=np.float64).reshape(-1, 4):
            xs = (cx > r[0] - clearance) & (cx < r[2] + clearance)
            ys = (cy > r[1] - clearance) & (cy < r[3] + clearance)
            blocked |= ys[:, None] & xs[None, :]
        # the outermost ring stays blocked too: bodies are clamped inside the bounds
        blocked[0, :] = blocked[-1, :] = True
        blocked[:, 0] = blocked[:, -1] = True
        self.blocked = blocked

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        i = int((x - self.x0) / self.cell)
        j = int((y - self.y0) / self.cell)
        return min(max(i, 0), self.nx - 1), min(max(j, 0), self.ny - 1)

    def centre(self, i: int, j: int) -> tuple[float, float]:
        return self.x0 + (i + 0.5) * self.cell, self.y0 + (j + 0.5) * self.cell

    def walkable(self, x: float, y: float) -> bool:
        i, j = self.cell_of(x, y)
        return not self.blocked[j, i]

    def nearest_free(self, x: float, y: float, max_r: int = 40) -> tuple[int, int] | None:
        i, j = self.cell_of(x, y)
        if not self.blocked[j, i]:
            return i, j
        for r in range(1, max_r + 1):      # rings outwards, closest first within a ring
            best = None
            for di in range(-r, r + 1):
                for dj in (-r, r) if abs(di) != r else range(-r, r + 1):
                    a, b = i + di, j + dj
                    if 0 <= a < self.nx and 0 <= b < self.ny and not self.blocked[b, a]:
                        d = di * di + dj * dj
                        if best is None or d < best[0]:
                            best = (d, a, b)
            if best is not None:
                return best[1], best[2]
        return None

    def path(self, start: tuple[float, float], goal: tuple[float, float]) -> list[tuple[float, float]] | None:
        """Waypoints (world metres) after the start, ending at the goal (or the free spot
        nearest to it); None when no path exists."""
        s = self.nearest_free(*start)
        g = self.nearest_free(*goal)
        if s is None or g is None:
            return None
        cells = _astar(self.blocked, s[0], s[1], g[0], g[1])
        if len(cells) == 0:
            return None
        pts = [(int(c % self.nx) + 0.5, int(c // self.nx) + 0.5) for c in cells.tolist()]
        pts[0] = ((start[0] - self.x0) / self.cell, (start[1] - self.y0) / self.cell) \
            if self.walkable(*start) else pts[0]
        if self.walkable(*goal):
            pts[-1] = ((goal[0] - self.x0) / self.cell, (goal[1] - self.y0) / self.cell)
        # string-pulling: from each kept point, jump to the farthest point still in sight
        kept = [pts[0]]
        i = 0
        while i < len(pts) - 1:
            j = len(pts) - 1
            while j > i + 1 and not _clear_line(self.blocked, kept[-1][0], kept[-1][1], pts[j][0], pts[j][1]):
                j -= 1
            kept.append(pts[j])
            i = j
        out = [(self.x0 + px * self.cell, self.y0 + py * self.cell) for px, py in kept[1:]]
        end = (float(goal[0]), float(goal[1])) if self.walkable(*goal) else self.centre(*g)
        if out:
            out[-1] = end          # exactly the goal (no round trip through cell units)
        else:
            out = [end]            # start and goal share a cell
        return out


def path_length(start: tuple[float, float], waypoints: list[tuple[float, float]]) -> float:
    total, (px, py) = 0.0, start
    for x, y in waypoints:
        total += math.hypot(x - px, y - py)
        px, py = x, y
    return total
