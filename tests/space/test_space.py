"""Space without sockets: sessions behind an in-memory sink, driven tick by tick."""

from __future__ import annotations

from typing import Any

import msgpack

from world.config import Config
from world.protocol import records
from world.protocol.messages import Move, Pose
from world.space.session import Session
from world.space.space import Space
from world.space.world_def import load_world


class Capture:
    """A Sink that keeps what it is sent."""

    def __init__(self) -> None:
        self.reliable: list[dict[str, Any]] = []
        self.snaps: list[dict[str, Any]] = []

    def send(self, msg: dict[str, Any]) -> None:
        self.reliable.append(msg)

    def send_frame(self, frame: bytes) -> None:
        self.reliable.append(msgpack.unpackb(frame))

    def send_snapshot(self, frame: Any, framed: Any = None) -> None:
        self.snaps.append(msgpack.unpackb(bytes(frame)))

    def close(self, code: int, reason: str) -> None:
        pass


def make_space() -> Space:
    return Space(load_world("plaza"), 1, Config())


def join(space: Space, uid: int, x: float, y: float, kind: str = "desktop") -> tuple[Session, Capture]:
    sink = Capture()
    s = Session(user=uid, name=f"u{uid}", kind=kind, role="member", sink=sink)
    space.join(s, x, y, 0.0)
    return s, sink


def test_every_pose_update_of_a_still_vr_avatar_reaches_a_near_observer():
    space = make_space()
    vr, _ = join(space, 1, 20.0, -20.0, "vr")
    _, eye = join(space, 2, 22.0, -20.0)
    space.tick()
    got = []
    for k in range(10):
        space.set_pose(vr, Pose(seq=k + 1, head=(0.0, 0.0, 1.6 + k * 0.01, 0.0, 0.0, 0.0, 1.0)))
        space.tick()
        snap = eye.snaps[-1]
        poses = records.poses_from_bytes(snap["p"]) if "p" in snap else []
        got.append(int(poses[poses["id"] == 1]["hz"][0]) if len(poses) else None)
    assert got == [1600 + 10 * k for k in range(10)]


def test_ack_follows_the_last_move_and_own_record_comes_first():
    space = make_space()
    s, sink = join(space, 1, 20.0, -20.0)
    space.tick()
    assert sink.snaps[-1]["ack"] is None
    space.set_intent(s, Move(seq=7, fwd=1.0, side=0.0, yaw=0.0))
    space.tick()
    snap = sink.snaps[-1]
    bodies = records.bodies_from_bytes(snap["b"])
    assert snap["ack"] == 7 and bodies["id"][0] == 1
    assert bodies["y"][0] > -20000            # moved north under the held intent


def test_pose_seq_may_wrap_and_stale_poses_are_ignored():
    space = make_space()
    vr, _ = join(space, 1, 20.0, -20.0, "vr")
    head = (0.0, 0.0, 1.6, 0.0, 0.0, 0.0, 1.0)
    space.set_pose(vr, Pose(seq=2**32 - 1, head=head))
    space.set_pose(vr, Pose(seq=3, head=(0.0, 0.0, 1.7, 0.0, 0.0, 0.0, 1.0)))   # wrapped: newer
    space.set_pose(vr, Pose(seq=2, head=(0.0, 0.0, 1.8, 0.0, 0.0, 0.0, 1.0)))   # older: ignored
    rec = space.bodies.pose[space.bodies.row(1)].view(records.POSE_DTYPE)[0]
    assert rec["hz"] == 1700 and rec["lz"] == records.UNTRACKED_Z


class Stalled(Capture):
    """A sink whose snapshots never leave: each new one replaces the unsent one."""

    def __init__(self) -> None:
        super().__init__()
        self.parked = False

    def send_snapshot(self, frame: Any, framed: Any = None) -> bool:
        self.snaps.append(msgpack.unpackb(bytes(frame)))
        replaced, self.parked = self.parked, True
        return not replaced


def test_a_dropped_snapshot_makes_the_next_one_resend_everything_known():
    space = make_space()
    _, sink = join(space, 1, 20.0, -20.0)
    for uid in range(2, 6):
        join(space, uid, 21.0 + uid, -20.0)
    viewer = space.sessions[1]
    space.tick()                       # everyone enters: all records in this frame
    viewer.sink = stalled = Stalled()
    space.tick()                       # parked (nothing changed, own record only)
    space.tick()                       # replaces the parked one: a drop
    space.tick()
    again = records.bodies_from_bytes(stalled.snaps[-1]["b"])["id"].tolist()
    assert sorted(again) == [1, 2, 3, 4, 5]  # nothing moved, yet all were resent


def test_resume_refresh_goes_only_to_those_who_see_you():
    space = make_space()
    near_s, near = join(space, 1, 20.0, -20.0)
    far_s, far = join(space, 2, 95.0, 95.0)
    me, _ = join(space, 3, 22.0, -20.0)
    space.tick()
    assert [s.user for s in space.knowers(3)] == [1]
