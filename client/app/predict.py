"""The local avatar: client-side prediction and reconciliation (protocol §7.1).

The client runs the server's own movement rule (`world.sim.movement.move_one`) once
per local tick, with the world's solid boxes and bounds. While the avatar moves, or
when the intent changes, each tick sends a `move` with a new `seq`, so a snapshot's
`ack` says exactly which predicted ticks the server has already applied. On each
snapshot the avatar is reset to the server's record, the ticks still unacknowledged
are replayed, and the difference to what was shown before becomes a visual offset
that decays over ~100 ms, so a correction (a wall the client did not know, a push
from another avatar) slides instead of popping. Large corrections (> SNAP_M) snap.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, NamedTuple

import numpy as np

from world.sim.movement import move_one

SMOOTH_S = 0.1            # time constant of the visual correction offset
SNAP_M = 2.0              # corrections larger than this are shown at once
LOG_CAP = 256             # predicted ticks kept (8.5 s at 30 Hz); older ones are dropped
U32 = 2**32 - 1


class Intent(NamedTuple):
    fwd: float = 0.0
    side: float = 0.0
    yaw: float = 0.0
    run: bool = False

    @property
    def moving(self) -> bool:
        return self.fwd != 0.0 or self.side != 0.0


def solid_boxes(space: dict[str, Any]) -> np.ndarray:
    """The manifest's solid boxes as rows (minx, miny, maxx, maxy), as the server collides them."""
    rows = [(b["min"][0], b["min"][1], b["max"][0], b["max"][1])
            for b in space.get("boxes") or () if b.get("solid", True)]
    return np.array(rows, np.float64).reshape(-1, 4)


class Predictor:
    """Predicted position of the local avatar; produces the `move` messages to send."""

    def __init__(self, x: float, y: float, yaw: float, *, tick_hz: float, limits: dict[str, Any],
                 boxes: np.ndarray, bounds: list[float]) -> None:
        self.dt = 1.0 / float(tick_hz)
        self.walk = float(limits.get("walk_speed", 3.0))
        self.run = float(limits.get("run_speed", 6.0))
        self.radius = float(limits.get("radius", 0.3))
        self.boxes = np.ascontiguousarray(boxes, np.float64).reshape(-1, 4)
        self.bounds = np.asarray(bounds, np.float64)
        self.x, self.y, self.yaw = float(x), float(y), float(yaw)
        self.server_x, self.server_y = self.x, self.y
        self.offset_x = self.offset_y = 0.0       # shown = predicted + offset
        self.seq = 0
        self.sent: Intent | None = None
        self.log: deque[tuple[int, Intent]] = deque(maxlen=LOG_CAP)
        self.corrections = 0                      # snapshots that moved the prediction > 1 cm
        self.last_correction = 0.0

    def step(self, intent: Intent) -> dict[str, Any] | None:
        """One local tick: apply `intent`; return the `move` to send, if any."""
        msg = None
        if intent.moving or intent != self.sent:
            self.seq = self.seq % U32 + 1
            self.sent = intent
            msg = {"t": "move", "seq": self.seq, "fwd": float(intent.fwd), "side": float(intent.side),
                   "yaw": math.remainder(float(intent.yaw), math.tau)}
            if intent.run:
                msg["run"] = True
        self.yaw = intent.yaw
        if self.seq:
            self.log.append((self.seq, intent))
        self.x, self.y = self._apply(self.x, self.y, intent)
        return msg

    def _apply(self, x: float, y: float, intent: Intent) -> tuple[float, float]:
        if not intent.moving:
            return x, y
        return move_one(x, y, intent.fwd, intent.side, math.remainder(intent.yaw, math.tau), intent.run,
                        self.dt, self.walk, self.run, self.radius, self.boxes, self.bounds)

    def reconcile(self, ack: int | None, x: float, y: float) -> float:
        """Apply a snapshot's own record and ack; return the size of the correction (m)."""
        self.server_x, self.server_y = x, y
        if ack is None and self.seq:
            return 0.0          # our first move has not reached a tick yet: keep predicting
        log = self.log
        while log and log[0][0] <= (ack or 0):
            log.popleft()
        px, py = x, y
        for _, intent in log:
            px, py = self._apply(px, py, intent)
        dx, dy = self.x - px, self.y - py
        err = math.hypot(dx, dy)
        self.last_correction = err
        if err > 0.01:
            self.corrections += 1
        self.offset_x += dx
        self.offset_y += dy
        if math.hypot(self.offset_x, self.offset_y) > SNAP_M:
            self.offset_x = self.offset_y = 0.0     # too far to slide: show the truth at once
        self.x, self.y = px, py
        return err

    def shown(self, frame_dt: float) -> tuple[float, float]:
        """Position to draw this frame: the prediction plus the decaying correction offset."""
        decay = math.exp(-max(frame_dt, 0.0) / SMOOTH_S)
        self.offset_x *= decay
        self.offset_y *= decay
        if abs(self.offset_x) < 1e-4 and abs(self.offset_y) < 1e-4:
            self.offset_x = self.offset_y = 0.0
        return self.x + self.offset_x, self.y + self.offset_y
