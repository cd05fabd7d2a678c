"""VR tracking behind one interface: where the head and hands are, and what the sticks say.

`PoseSource.poll()` returns a `VRFrame`: head and hand transforms relative to the avatar
root, in the avatar's frame (x right, y forward, z up; [x, y, z, qx, qy, qz, qw], the
`pose` message's layout), the thumbstick (move) and snap-turn input. Two
implementations:

* `RecordedPoseSource` replays frames (from a JSON file or a list): the tests drive the
  whole VR code path with it, and it lets a developer without a headset see VR avatars.
* `OpenXRPoseSource` reads a real headset and renders to it through panda3d-openxr
  (`pip install ".[vr]"`), imported only when `--vr` is used; without the package or
  a runtime it raises `VRUnavailable` with a one-line reason; the CLI prints it, exits 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

Transform = tuple[float, float, float, float, float, float, float]
IDENTITY_Q = (0.0, 0.0, 0.0, 1.0)
SNAP_TURN_DEG = 30.0
DEFAULT_IPD = 0.064       # metres between the eyes


class VRUnavailable(Exception):
    """No usable VR runtime; the message is one line for the user."""


class VRFrame(NamedTuple):
    head: Transform
    lh: Transform | None = None
    rh: Transform | None = None
    stick: tuple[float, float] = (0.0, 0.0)     # (side, forward) in -1..1
    turn: int = 0                               # -1 snap left, +1 snap right, 0 none
    run: bool = False


class PoseSource(Protocol):
    """Head/hand tracking and controller input for the VR client."""

    ipd: float
    renders_eyes: bool        # True when the source also drives the headset's eye buffers

    def poll(self) -> VRFrame | None:
        """The latest tracking state (None while tracking is lost)."""
        ...

    def close(self) -> None:
        ...


def _transform(v: Sequence[float] | None) -> Transform | None:
    if v is None:
        return None
    t = tuple(float(x) for x in v)
    if len(t) != 7:
        raise ValueError("a transform is 7 numbers: x, y, z, qx, qy, qz, qw")
    return t  # type: ignore[return-value]


class RecordedPoseSource:
    """Replays recorded frames, one per poll, looping."""

    renders_eyes = False      # the client renders both eyes itself (offscreen buffers)

    def __init__(self, frames: Sequence[VRFrame], ipd: float = DEFAULT_IPD) -> None:
        if not frames:
            raise ValueError("a recording needs at least one frame")
        self.frames = list(frames)
        self.ipd = ipd
        self.index = 0

    @classmethod
    def load(cls, path: str | Path) -> RecordedPoseSource:
        """JSON: a list of {"head": [7], "lh": [7]|null, "rh": [7]|null, "stick": [2], "turn": int}."""
        data = json.loads(Path(path).read_text())
        return cls([VRFrame(_transform(f["head"]), _transform(f.get("lh")), _transform(f.get("rh")),  # type: ignore[arg-type]
                            tuple(f.get("stick", (0.0, 0.0))), int(f.get("turn", 0)), bool(f.get("run", False)))
                    for f in data])

    @classmethod
    def idle(cls, frames: int = 90) -> RecordedPoseSource:
        """A standing user looking around and waving the right hand (a built-in recording)."""
        out = []
        for k in range(frames):
            a = 2 * math.pi * k / frames
            look = 0.35 * math.sin(a)                       # head turns +-20 degrees
            head = (0.0, 0.05, 1.65, 0.0, 0.0, math.sin(look / 2), math.cos(look / 2))
            wave = 0.25 * math.sin(3 * a)
            rh = (0.3 + 0.1 * math.sin(3 * a), 0.25, 1.45 + 0.1 * math.cos(3 * a),
                  0.0, math.sin(wave / 2), 0.0, math.cos(wave / 2))
            lh = (-0.25, 0.2, 1.0, 0.0, 0.0, 0.0, 1.0)
            out.append(VRFrame(head, lh, rh))
        return cls(out)

    def poll(self) -> VRFrame | None:
        frame = self.frames[self.index % len(self.frames)]
        self.index += 1
        return frame

    def close(self) -> None:
        pass


def open_pose_source(recorded: str | None = None) -> PoseSource:
    """The recording at `recorded` if given, else the OpenXR headset (raises VRUnavailable)."""
    if recorded:
        return RecordedPoseSource.idle() if recorded == "idle" else RecordedPoseSource.load(recorded)
    return OpenXRPoseSource()


def pose_message(seq: int, frame: VRFrame) -> dict[str, Any]:
    """The `pose` message for one frame (hands left out while untracked)."""
    msg: dict[str, Any] = {"t": "pose", "seq": seq, "head": list(frame.head)}
    if frame.lh is not None:
        msg["lh"] = list(frame.lh)
    if frame.rh is not None:
        msg["rh"] = list(frame.rh)
    return msg


class OpenXRPoseSource:
    """A headset through OpenXR, via panda3d-openxr (which uses pyopenxr).

    panda3d-openxr renders both eyes into the runtime's swapchains itself, from cameras
    under a tracking-space node; `attach()` puts that node on the local avatar, so the
    head and hand anchors it updates are already in the avatar's frame, and `poll()`
    reads them back as pose-message transforms. panda3d-openxr 0.1 exposes no controller
    actions yet, so movement and snap turns come from the keyboard fallback.
    """

    renders_eyes = True

    def __init__(self) -> None:
        try:
            from p3dopenxr.p3dopenxr import P3DOpenXR  # optional extra "vr"
        except ImportError as exc:
            raise VRUnavailable("--vr needs panda3d-openxr, pyopenxr and an OpenXR runtime "
                                f'(pip install ".[vr]"; missing: {exc.name})') from None
        self._factory = P3DOpenXR
        self.ipd = DEFAULT_IPD
        self.xr: Any = None

    def attach(self, base: Any, avatar_root: Any) -> None:
        """Start the OpenXR session with its tracking space under the avatar (raises VRUnavailable)."""
        try:
            self.xr = self._factory(base)
            self.xr.init(root=avatar_root)
        except Exception as exc:    # no runtime, no headset, no GL extension
            raise VRUnavailable(f"no OpenXR runtime or headset available ({type(exc).__name__}: {exc})") from None

    def poll(self) -> VRFrame | None:
        if self.xr is None or not self.xr.cams:
            return None
        anchor = self.xr.tracking_space_anchor
        cams = self.xr.cams
        mid = (cams[0].getPos(anchor) + cams[-1].getPos(anchor)) * 0.5
        q = cams[0].getQuat(anchor)
        head = (mid.x, mid.y, mid.z, q.getI(), q.getJ(), q.getK(), q.getR())

        def hand(node: Any) -> Transform | None:
            if node is None or node.isHidden():
                return None
            p, r = node.getPos(anchor), node.getQuat(anchor)
            return (p.x, p.y, p.z, r.getI(), r.getJ(), r.getK(), r.getR())
        return VRFrame(head, hand(self.xr.left_hand_anchor), hand(self.xr.right_hand_anchor))

    def close(self) -> None:
        if self.xr is not None:
            try:
                self.xr.destroy()
            except Exception:
                pass
