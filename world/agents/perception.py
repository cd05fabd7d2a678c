"""What an agent perceives of its space: who is near (name, distance, bearing), who faces
whom, and what someone is looking at (from their yaw, or their VR head pose when they have one).

Pure functions over a Space's arrays and its world data. Yaw convention (as everywhere in
Agora): x east, y north, yaw counter-clockwise from north, forward = (-sin yaw, cos yaw).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from world.protocol import records

if TYPE_CHECKING:
    from world.space.space import Space

COMPASS = ("north", "north-west", "west", "south-west", "south", "south-east", "east", "north-east")


@dataclass(frozen=True)
class Seen:
    entity: int
    name: str
    kind: str            # avatar | agent
    user: int
    dist: float          # metres
    bearing: float       # degrees, relative to the viewer's facing: 0 ahead, +90 left, -90 right
    compass: str         # direction from the viewer, e.g. "north-east"
    facing_me: bool      # the other one faces the viewer


@dataclass(frozen=True)
class Target:
    """What a gaze ray found: an entity, or a part of the world."""
    kind: str            # "entity" | "box" | "place"
    name: str
    dist: float
    entity: int | None = None


def heading(dx: float, dy: float) -> float:
    """Yaw that faces along (dx, dy)."""
    return math.atan2(-dx, dy)


def forward(yaw: float) -> tuple[float, float]:
    return -math.sin(yaw), math.cos(yaw)


def compass(dx: float, dy: float) -> str:
    """Eight-point compass word for a direction in the world frame (y is north)."""
    if dx == 0 and dy == 0:
        return "here"
    sector = int(round(heading(dx, dy) / (math.pi / 4))) % 8
    return COMPASS[sector]


def wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def gaze_yaw(space: Space, entity: int) -> float:
    """Where an entity looks: its avatar yaw, plus its head's yaw for VR users."""
    b = space.bodies
    row = b.row(entity)
    yaw = float(b.yaw[row])
    if int(b.flags[row]) & records.FLAG_VR:
        rec = b.pose[row].view(records.POSE_DTYPE)[0]
        x, y, z, w = records.decode_quat(np.array(rec["hq"])).tolist()
        yaw += math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return wrap(yaw)


def faces(space: Space, viewer: int, other: int, cone_deg: float = 30.0) -> bool:
    vx, vy, _, _ = space.position(viewer)
    ox, oy, _, _ = space.position(other)
    if (ox - vx) ** 2 + (oy - vy) ** 2 < 1e-6:
        return True
    return abs(wrap(heading(ox - vx, oy - vy) - gaze_yaw(space, viewer))) <= math.radians(cone_deg)


def nearby(space: Space, viewer: int, radius: float) -> list[Seen]:
    """Everyone within radius of the viewer (not the viewer), nearest first."""
    b = space.bodies
    n = b.n
    vx, vy, _, vyaw = space.position(viewer)
    dx = b.x[:n] - vx
    dy = b.y[:n] - vy
    d2 = dx * dx + dy * dy
    out = []
    for row in np.nonzero(d2 <= radius * radius)[0].tolist():
        eid = int(b.ids[row])
        meta = space.meta.get(eid)
        if eid == viewer or meta is None:
            continue
        ddx, ddy = float(dx[row]), float(dy[row])
        out.append(Seen(eid, meta["name"], meta["kind"], meta.get("user", eid), math.sqrt(float(d2[row])),
                        math.degrees(wrap(heading(ddx, ddy) - vyaw)), compass(ddx, ddy),
                        faces(space, eid, viewer)))
    out.sort(key=lambda s: s.dist)
    return out


def pretty(box_name: str) -> str:
    """'cafe-wall-north' -> 'cafe wall', 'bench-2' -> 'bench'."""
    words = [w for w in re.split(r"[-_ ]+", box_name) if w and not w.isdigit()
             and w not in ("north", "south", "east", "west", "left", "right")]
    return " ".join(words) or box_name


def _ray_box(ox: float, oy: float, fx: float, fy: float, lo: tuple, hi: tuple) -> float | None:
    """Distance along a 2-D ray to an axis-aligned rectangle (slab test)."""
    tmin, tmax = 0.0, math.inf
    for o, f, a, b in ((ox, fx, lo[0], hi[0]), (oy, fy, lo[1], hi[1])):
        if abs(f) < 1e-9:
            if o < a or o > b:
                return None
            continue
        t1, t2 = (a - o) / f, (b - o) / f
        if t1 > t2:
            t1, t2 = t2, t1
        tmin, tmax = max(tmin, t1), min(tmax, t2)
        if tmin > tmax:
            return None
    return tmin


def looking_at(space: Space, viewer: int, max_dist: float = 40.0, cone_deg: float = 12.0) -> Target | None:
    """The entity, object or place straight ahead of the viewer's gaze, nearest first."""
    vx, vy, _, _ = space.position(viewer)
    yaw = gaze_yaw(space, viewer)
    fx, fy = forward(yaw)
    best: tuple[float, Target] | None = None
    b = space.bodies
    n = b.n
    for row in range(n):
        eid = int(b.ids[row])
        meta = space.meta.get(eid)
        if eid == viewer or meta is None:
            continue
        dx, dy = float(b.x[row]) - vx, float(b.y[row]) - vy
        d = math.hypot(dx, dy)
        if d > max_dist or d < 1e-3:
            continue
        off = abs(wrap(heading(dx, dy) - yaw))
        # within the cone, or within an arm's width of the ray when close
        if off <= math.radians(cone_deg) or d * math.sin(min(off, math.pi / 2)) <= 0.6 and off < math.pi / 2:
            score = d * (1.0 + 4.0 * off)
            if best is None or score < best[0]:
                best = (score, Target("entity", meta["name"], d, eid))
    hit: tuple[float, str] | None = None
    for box in space.world.boxes:
        if box.max[2] < 0.3:           # floors, paths and lawns are not what people point at
            continue
        t = _ray_box(vx, vy, fx, fy, box.min, box.max)
        if t is not None and t <= max_dist and (hit is None or t < hit[0]):
            hit = (t, pretty(box.name))
    if best is not None and (hit is None or best[1].dist <= hit[0] + 0.5):
        return best[1]
    if hit is not None:
        return Target("box", hit[1], hit[0])
    # nothing solid ahead: the named place closest to the gaze line, if any is ahead
    cands = []
    for p in space.world.places:
        dx, dy = p.at[0] - vx, p.at[1] - vy
        d = math.hypot(dx, dy)
        if d > 1.0 and abs(wrap(heading(dx, dy) - yaw)) <= math.radians(20):
            cands.append((d, p.name))
    if cands:
        d, name = min(cands)
        return Target("place", name, d)
    return None
