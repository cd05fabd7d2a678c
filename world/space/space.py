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

import numpy as np

from world.config import Config
from world.protocol import records
from world.protocol.messages import Move, Pose
from world.sim import Bodies, grid_for_bounds
from world.sim.pipeline import Interest, TickParams, step
from world.space.session import Session
from world.space.world_def import World

KIND_CODE = {"avatar": 0, "agent": 1, "object": 2}


def tick_params(cfg: Config) -> TickParams:
    return TickParams(dt=1.0 / cfg.tick_hz, walk_speed=cfg.walk_speed, run_speed=cfg.run_speed,
                      r_enter=cfg.interest_radius, r_leave=cfg.interest_radius + cfg.interest_margin,
                      near_r=cfg.near_radius, cap=cfg.interest_cap, budget_bytes=cfg.snapshot_budget,
                      max_interval=cfg.max_update_interval)


class Space:
    def __init__(self, world: World, instance: int, cfg: Config) -> None:
        self.world = world
        self.instance = instance
        self.cfg = cfg
        self.id = f"{world.name}#{instance}"
        self.capacity = cfg.capacity or world.capacity
        self.bodies = Bodies()
        self.params = tick_params(cfg)
        self.interest = Interest(slots=16, cap=cfg.interest_cap)
        self.sessions: dict[int, Session] = {}       # entity id -> session (observers)
        self.meta: dict[int, dict[str, Any]] = {}    # entity id -> enter-event record
        self.boxes = world.solid_rects()
        self.bounds = world.bounds_array()
        # Cells of half the leave radius: the interest scan then covers a 5x5 block.
        self.grid = grid_for_bounds(self.bounds, self.params.r_leave / 2.0)
        self._spawn_next = 0
        self.tick_no = 0
        self.reserved = 0            # seats held by joins still awaiting the store

    # -- membership -------------------------------------------------------------------------------
    def population(self) -> int:
        """People in this instance; agents do not take seats (the agent host caps them)."""
        return sum(1 for m in self.meta.values() if m["kind"] == "avatar")

    def has_room(self) -> bool:
        return self.population() + self.reserved < self.capacity

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
        session.slot = self.interest.open_slot()
        b.slot[row] = session.slot
        self.sessions[session.entity] = session
        self.meta[session.entity] = {"id": session.entity, "kind": kind, "name": session.name,
                                     "user": session.user, "client": session.kind}
        session.space = self

    def leave(self, session: Session) -> None:
        """Remove a session's avatar; observers get `leave` on the next tick."""
        if self.sessions.pop(session.entity, None) is None:
            return
        self.bodies.remove(session.entity)
        self.interest.close_slot(session.slot)
        session.slot = -1
        self.meta.pop(session.entity, None)
        session.space = None

    def position(self, entity: int) -> tuple[float, float, float, float]:
        b = self.bodies
        row = b.row(entity)
        return float(b.x[row]), float(b.y[row]), float(b.z[row]), float(b.yaw[row])

    # -- inputs -----------------------------------------------------------------------------------
    def set_intent(self, session: Session, move: Move) -> None:
        self.bodies.set_intent(self.bodies.row(session.entity), move.fwd, move.side, move.yaw, bool(move.run))
        self.interest.acks[session.slot] = move.seq     # the ack the next snapshot carries

    def set_pose(self, session: Session, pose: Pose) -> None:
        if session.pose_seq >= 0 and not 0 < (pose.seq - session.pose_seq) % 2**32 < 2**31:
            return                      # stale (serial-number order, so seq may wrap past 2**32-1)
        session.pose_seq = pose.seq
        rec = np.zeros(1, dtype=records.POSE_DTYPE)
        rec["id"] = session.entity
        for prefix, tf in (("h", pose.head), ("l", pose.lh), ("r", pose.rh)):
            if tf is None:          # hand not tracked: z = UNTRACKED_Z, identity rotation
                pos = np.array([0, 0, records.UNTRACKED_Z])
                tf = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
            else:
                pos = records.quantise_pos(np.array(tf[:3]))
            rec[prefix + "x"], rec[prefix + "y"], rec[prefix + "z"] = pos
            rec[prefix + "q"] = records.encode_quat(np.array(tf[3:]))
        row = self.bodies.row(session.entity)
        self.bodies.pose[row] = rec.view(np.uint8)
        self.bodies.pose_tick[row] = self.tick_no + 1     # changed as of the coming tick
        self.bodies.flags[row] |= records.FLAG_VR

    # -- who receives what ------------------------------------------------------------------------
    def in_view_mean(self) -> float:
        """Mean number of entities each client currently has in view."""
        it = self.interest
        counts = [int(np.count_nonzero(it.known_ids[s.slot, :it.known_n[s.slot]] >= 0))
                  for s in self.sessions.values()]
        return float(np.mean(counts)) if counts else 0.0

    def knowers(self, entity: int) -> list[Session]:
        """Sessions whose client currently knows this entity (it is in their view)."""
        it = self.interest
        return [s for s in self.sessions.values()
                if (it.known_ids[s.slot, :it.known_n[s.slot]] == entity).any()]

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
    def tick(self) -> None:
        """Advance the simulation one step and hand every observer its events and snapshot."""
        self.tick_no += 1
        # In a crowd, clients are served in staggered phases: each tick builds and sends only
        # a share of the snapshots, so the tick's cost stays flat as the crowd grows.
        phases = self.cfg.crowd_phases if len(self.sessions) > self.cfg.crowd_observers else 1
        f = step(self.bodies, self.interest, self.grid, self.boxes, self.bounds, self.params, self.tick_no,
                 phases, parallel_from=self.cfg.parallel_entities)
        view = memoryview(f.buf)
        eo, lo = f.enter_off.tolist(), f.leave_off.tolist()
        sessions, meta = self.sessions, self.meta
        observers = self.bodies.ids[f.obs_rows].tolist()
        for i, (eid, ws, start, end) in enumerate(zip(observers, f.ws_start.tolist(), f.start.tolist(),
                                                       f.end.tolist())):
            sink = sessions[eid].sink
            if lo[i + 1] > lo[i]:
                sink.send({"t": "leave", "e": f.leave_ids[lo[i]:lo[i + 1]].tolist()})
            if eo[i + 1] > eo[i]:
                sink.send({"t": "enter", "e": [meta[e] for e in f.enter_ids[eo[i]:eo[i + 1]].tolist()]})
            if sink.send_snapshot(view[start:end], view[ws:end]) is False:
                # The client never got an earlier snapshot: resend everything it knows.
                self.interest.forget_sent(sessions[eid].slot)


class _NullSink:
    def send(self, msg: dict[str, Any]) -> None: ...
    def send_frame(self, frame: bytes) -> None: ...
    def send_snapshot(self, frame: Any, framed: Any = None) -> None: ...
    def close(self, code: int, reason: str) -> None: ...


def warm_up(world: World, cfg: Config) -> None:
    """Run two throwaway ticks so every kernel is loaded (or compiled) before clients arrive."""
    space = Space(world, 0, cfg)
    for uid in (1, 2):
        x, y, yaw = space.spawn_point()
        space.join(Session(user=uid, name=f"warm{uid}", kind="bot", role="member", sink=_NullSink()), x, y, yaw)
    space.tick()
    space.tick()
    if cfg.parallel_entities > 0:   # big spaces serve observers on numba's threads: that kernel too
        step(space.bodies, space.interest, space.grid, space.boxes, space.bounds, space.params,
             space.tick_no + 1, parallel=True)
