"""One running instance of a world: its bodies, its tick, and who sees whom.

Lifecycle, as a table of contents (after Nakama's match handler):
  has_room / join / leave   - people and agents entering and leaving
  set_intent / set_pose     - inputs, applied on the next tick
  tick                      - simulate, then interest and one snapshot per observer
  hearers / watchers        - who receives near chat and emotes
"""

from __future__ import annotations

import random
from typing import Any

import msgpack
import numpy as np

from world.config import Config
from world.protocol import records
from world.protocol.messages import Move, Pose
from world.sim import (Bodies, build_grid, diff_sorted, grid_for_bounds, integrate, query_neighbours,
                       separate, encode_bodies)
from world.space.session import Session
from world.space.world_def import World

KIND_CODE = {"avatar": 0, "agent": 1, "object": 2}


class Space:
    def __init__(self, world: World, instance: int, cfg: Config) -> None:
        self.world = world
        self.instance = instance
        self.cfg = cfg
        self.id = f"{world.name}#{instance}"
        self.capacity = cfg.capacity or world.capacity
        self.bodies = Bodies()
        self.sessions: dict[int, Session] = {}       # entity id -> session (observers)
        self.meta: dict[int, dict[str, Any]] = {}    # entity id -> enter-event record
        self.pose_bytes: dict[int, bytes] = {}       # entity id -> latest packed POSE_DTYPE record
        self.boxes = world.solid_rects()
        self.bounds = world.bounds_array()
        self.grid = grid_for_bounds(self.bounds, cfg.grid_cell)
        self._spawn_next = 0
        self._buf = np.empty(16 * 1024, dtype=np.uint8)
        self.tick_no = 0

    # -- membership -------------------------------------------------------------------------------
    def population(self) -> int:
        return sum(1 for m in self.meta.values() if m["kind"] != "object")

    def has_room(self) -> bool:
        return self.population() < self.capacity

    def spawn_point(self) -> tuple[float, float, float]:
        spawn = self.world.spawns[self._spawn_next % len(self.world.spawns)]
        self._spawn_next += 1
        jitter = random.Random(self._spawn_next)
        return (spawn.at[0] + jitter.uniform(-0.5, 0.5), spawn.at[1] + jitter.uniform(-0.5, 0.5), spawn.yaw)

    def join(self, session: Session, x: float, y: float, yaw: float, kind: str = "avatar") -> None:
        """Place a session's avatar; others see it enter on the next tick."""
        b = self.bodies
        row = b.add(session.entity, KIND_CODE[kind], x, y, 0.0, yaw, self.cfg.avatar_radius, observer=True)
        b.set_intent(row, 0.0, 0.0, yaw, False)
        self.sessions[session.entity] = session
        self.meta[session.entity] = {"id": session.entity, "kind": kind, "name": session.name,
                                     "user": session.user, "client": session.kind}
        session.space = self
        session.visible = np.empty(0, dtype=np.uint32)
        session.ack = None

    def leave(self, session: Session) -> None:
        """Remove a session's avatar; observers get `leave` on the next tick."""
        if self.sessions.pop(session.entity, None) is None:
            return
        self.bodies.remove(session.entity)
        self.meta.pop(session.entity, None)
        self.pose_bytes.pop(session.entity, None)
        session.space = None

    def position(self, entity: int) -> tuple[float, float, float, float]:
        b = self.bodies
        row = b.row(entity)
        return float(b.x[row]), float(b.y[row]), float(b.z[row]), float(b.yaw[row])

    # -- inputs -----------------------------------------------------------------------------------
    def set_intent(self, session: Session, move: Move) -> None:
        self.bodies.set_intent(self.bodies.row(session.entity), move.fwd, move.side, move.yaw, bool(move.run))
        session.ack = move.seq

    def set_pose(self, session: Session, pose: Pose) -> None:
        if pose.seq <= session.pose_seq:
            return                      # stale: an older pose arrived after a newer one
        session.pose_seq = pose.seq
        rec = np.zeros(1, dtype=records.POSE_DTYPE)
        rec["id"] = session.entity
        for prefix, tf in (("h", pose.head), ("l", pose.lh), ("r", pose.rh)):
            if tf is None:          # hand not tracked: zero position, identity rotation
                tf = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
            pos = records.quantise_pos(np.array(tf[:3]))
            rec[prefix + "x"], rec[prefix + "y"], rec[prefix + "z"] = pos
            rec[prefix + "q"] = records.encode_quat(np.array(tf[3:]))
        self.pose_bytes[session.entity] = rec.tobytes()
        row = self.bodies.row(session.entity)
        self.bodies.flags[row] |= records.FLAG_VR

    # -- who receives what ------------------------------------------------------------------------
    def _within(self, x: float, y: float, r: float) -> np.ndarray:
        b = self.bodies
        n = b.n
        d2 = (b.x[:n] - x) ** 2 + (b.y[:n] - y) ** 2
        return b.ids[:n][d2 <= r * r]

    def hearers(self, entity: int, radius: float | None = None) -> list[Session]:
        """Sessions within hearing range of an entity (the speaker included)."""
        x, y, _, _ = self.position(entity)
        ids = self._within(x, y, self.cfg.hearing_radius if radius is None else radius)
        return [s for i in ids.tolist() if (s := self.sessions.get(i)) is not None]

    # -- the tick ---------------------------------------------------------------------------------
    def tick(self, dt: float) -> None:
        """Advance the simulation one step and send every observer its snapshot."""
        self.tick_no += 1
        b, cfg, g = self.bodies, self.cfg, self.grid
        n = b.n
        if n == 0:
            return
        integrate(b.x, b.y, b.yaw, b.fwd, b.side, b.iyaw, b.run, b.radius, b.moved, n, dt,
                  cfg.walk_speed, cfg.run_speed, self.boxes, self.bounds)
        cell_start, cell_rows = build_grid(b.x, b.y, n, g.origin_x, g.origin_y, g.cell, g.nx, g.ny)
        separate(b.x, b.y, b.radius, n, cell_start, cell_rows, g.origin_x, g.origin_y, g.cell,
                 g.nx, g.ny, self.boxes, self.bounds, b.moved)
        cell_start, cell_rows = build_grid(b.x, b.y, n, g.origin_x, g.origin_y, g.cell, g.nx, g.ny)
        moving = b.moved[:n].astype(np.uint8) * records.FLAG_MOVING
        b.flags[:n] = (b.flags[:n] & ~np.uint8(records.FLAG_MOVING)) | moving
        observers = np.flatnonzero(b.observer[:n]).astype(np.int32)
        offsets, rows = query_neighbours(observers, b.x, b.y, n, cell_start, cell_rows, g.origin_x,
                                         g.origin_y, g.cell, g.nx, g.ny, cfg.interest_radius,
                                         cfg.interest_cap)
        ids = b.ids
        for k, row in enumerate(observers.tolist()):
            session = self.sessions.get(int(ids[row]))
            if session is None:
                continue
            seen = rows[offsets[k]:offsets[k + 1]]
            self._send_snapshot(session, row, seen)

    def _send_snapshot(self, session: Session, row: int, seen: np.ndarray) -> None:
        b = self.bodies
        seen_ids = np.sort(b.ids[seen])
        entered, left = diff_sorted(session.visible, seen_ids)
        if len(left):
            session.sink.send({"t": "leave", "e": left.tolist()})
        if len(entered):
            session.sink.send({"t": "enter", "e": [self.meta[i] for i in entered.tolist()]})
        session.visible = seen_ids
        order = np.empty(len(seen) + 1, dtype=np.int32)
        order[0] = row
        order[1:] = seen
        need = 16 * len(order)
        if need > len(self._buf):
            self._buf = np.empty(max(need, 2 * len(self._buf)), dtype=np.uint8)
        nbytes = encode_bodies(order, b.ids, b.x, b.y, b.z, b.yaw, b.flags, self._buf)
        snap: dict[str, Any] = {"t": "snap", "tick": self.tick_no, "ack": session.ack,
                                "b": self._buf[:nbytes].tobytes()}
        if self.pose_bytes:
            visible = set(seen_ids.tolist())
            visible.add(session.entity)
            poses = [p for eid, p in self.pose_bytes.items() if eid in visible]
            if poses:
                snap["p"] = b"".join(poses)
        session.sink.send_snapshot(msgpack.packb(snap, use_bin_type=True))


class _NullSink:
    def send(self, msg: dict[str, Any]) -> None: ...
    def send_frame(self, frame: bytes) -> None: ...
    def send_snapshot(self, frame: bytes) -> None: ...
    def close(self, code: int, reason: str) -> None: ...


def warm_up(world: World, cfg: Config) -> None:
    """Run two throwaway ticks so every kernel is loaded (or compiled) before clients arrive."""
    space = Space(world, 0, cfg)
    for uid in (1, 2):
        x, y, yaw = space.spawn_point()
        space.join(Session(user=uid, name=f"warm{uid}", kind="bot", role="member", sink=_NullSink()), x, y, yaw)
    space.tick(1.0 / cfg.tick_hz)
    space.tick(1.0 / cfg.tick_hz)
