"""The client application: one Panda3D task per frame ties network, model, input and view.

Each frame: drain the network thread's queue into the model, run the fixed-step local
ticks (prediction; a `move` per tick while moving), read VR tracking if any (a `pose`
at POSE_HZ), hand the model's requests to the network thread, then move every node
from the interpolated sample and redraw the HUD. Nothing here blocks on the network.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from panda3d.core import KeyboardButton, MouseButton, NodePath

from client.app.hud import Hud
from client.app.model import EMOTES, ClientModel, Status
from client.app.net import NetThread
from client.app.pose import SNAP_TURN_DEG, PoseSource, pose_message
from client.app.predict import Intent
from client.app.scene import SceneView

log = logging.getLogger("agora.client")

POSE_HZ = 20.0            # pose messages per second (moves + poses stay under the 60/s input bucket)
MAX_TICKS_PER_FRAME = 5   # after a long stall, do not replay more than this many local ticks
LOOK_SPEED = 120.0        # degrees per second for arrow-key look
MOUSE_SPEED = 90.0        # degrees per unit of mouse travel (screen half-width = 1)
U32 = 2**32 - 1


class StereoRig:
    """Two offscreen eye buffers (left, right) rendered from cameras IPD apart under `head`.

    The path used when no OpenXR runtime renders the eyes (recorded pose sources, tests).
    """

    def __init__(self, base: Any, head: NodePath, ipd: float, size: tuple[int, int] = (320, 240)) -> None:
        self.buffers = []
        self.cameras = []
        for side, dx in (("left", -ipd / 2), ("right", ipd / 2)):
            buf = base.win.makeTextureBuffer(f"eye-{side}", size[0], size[1], to_ram=True)
            if buf is None:
                raise RuntimeError("cannot create an offscreen eye buffer")
            buf.setClearColor(base.getBackgroundColor())
            cam = base.makeCamera(buf, lens=base.camLens.makeCopy(), camName=f"eye-{side}")
            cam.reparentTo(head)
            cam.setPos(dx, 0, 0)
            self.buffers.append(buf)
            self.cameras.append(cam)

    def screenshots(self, prefix: str) -> list[str]:
        paths = []
        for side, buf in zip(("left", "right"), self.buffers):
            path = f"{prefix}-{side}.png"
            buf.saveScreenshot(path)
            paths.append(path)
        return paths

    def destroy(self, base: Any) -> None:
        for buf in self.buffers:
            base.graphicsEngine.removeWindow(buf)
        for cam in self.cameras:
            cam.removeNode()


class ClientApp:
    """A connected client inside a ShowBase (created by the CLI, or by a test's fixture)."""

    def __init__(self, base: Any, net: NetThread, model: ClientModel, *, third_person: bool = True,
                 pose_source: PoseSource | None = None, keyboard: bool = True) -> None:
        self.base = base
        self.net = net
        self.model = model
        self.scene = SceneView(base, model, third_person=third_person)
        self.hud = Hud(base, model, self.submit)
        self.pose_source = pose_source
        self.stereo: StereoRig | None = None
        # VR: the tracking space rides on the avatar (position and body yaw); the head and the
        # eye cameras are its children, so tracked offsets are in the avatar's frame.
        self.vr_origin = self.scene.root.attachNewNode("vr-origin")
        self.head = self.vr_origin.attachNewNode("vr-head")
        self.intent = Intent()
        self.yaw: float | None = None           # own heading (rad); None until the welcome
        self.forced: Intent | None = None       # tests and bots drive the avatar through this
        self.accumulator = 0.0
        self.last_time = time.monotonic()
        self.frames = 0
        self.ticks = 0
        self.poses_sent = 0
        self._pose_seq = 0
        self._pose_due = 0.0
        self._mouse: tuple[float, float] | None = None
        self._welcomes = 0
        if pose_source is not None:
            if getattr(pose_source, "renders_eyes", False):
                pose_source.attach(base, self.vr_origin)      # type: ignore[attr-defined]
            else:
                self.stereo = StereoRig(base, self.head, pose_source.ipd)
        if keyboard:
            self._bind_keys()
        self.task = base.taskMgr.add(self._frame, "agora-client-frame", sort=-20)

    # -- input ----------------------------------------------------------------------------------
    def _bind_keys(self) -> None:
        b = self.base
        b.accept("enter", self._enter)
        b.accept("tab", self._unless_typing(self.next_tab))
        b.accept("v", self._unless_typing(self.toggle_camera))
        b.accept("c", self._unless_typing(self.model.summon))
        b.accept("p", self._unless_typing(self._toggle_people))
        b.accept("escape", self._escape)
        for k, emote in enumerate(EMOTES, start=1):
            b.accept(str(k), self._unless_typing(lambda e=emote: self.model.emote(e)))
        b.accept("q", self._unless_typing(lambda: self.snap_turn(-1)))
        b.accept("e", self._unless_typing(lambda: self.snap_turn(1)))

    def _unless_typing(self, fn: Any) -> Any:
        def run() -> None:
            if not self.hud.typing:
                fn()
        return run

    def next_tab(self) -> None:
        """Show the next chat tab; a DM or group tab fetches its history the first time."""
        key = self.model.chat.cycle()
        tab = self.model.chat.tabs[key]
        if tab.history_cursor is None and tab.history_more:
            msg = self.model.chat.history_request(key)
            if msg is not None:
                tab.history_more = False        # one page on open; older pages on request
                self.model.request("history", **{k: v for k, v in msg.items() if k != "t"})

    def _enter(self) -> None:
        if not self.hud.typing and self.hud.closed_at_frame != self.base.clock.getFrameCount():
            self.hud.open_entry()

    def _escape(self) -> None:
        if self.hud.typing:
            self.hud.close_entry()
        else:
            self.base.userExit()

    def _toggle_people(self) -> None:
        self.hud.show_people = not self.hud.show_people

    def toggle_camera(self) -> None:
        self.scene.third_person = not self.scene.third_person

    def snap_turn(self, direction: int) -> None:
        if self.yaw is not None:
            self.yaw -= math.radians(SNAP_TURN_DEG) * direction      # right = clockwise = -yaw

    def submit(self, text: str) -> None:
        """A line typed in the chat entry: `/dm NAME text`, `/who`, or a line for the active tab."""
        if text.startswith("/dm "):
            _, _, rest = text.partition(" ")
            name, _, line = rest.partition(" ")
            target = next((u for u in self.model.people.values()
                           if str(u.get("name", "")).lower() == name.lower()), None)
            if target is None:
                self.model.chat.note(f"nobody called {name} is online")
                return
            key = self.model.open_dm(int(target["user"]))
            if line.strip():
                self.model.say(line, key)
        elif text.strip() == "/who":
            self.model.request("who")
            self.hud.show_people = True
        else:
            self.model.say(text)

    def _keyboard_intent(self, dt: float) -> Intent:
        mw = self.base.mouseWatcherNode
        if mw is None or self.hud.typing or self.yaw is None:
            return Intent(0.0, 0.0, self.yaw or 0.0)
        down = mw.isButtonDown
        key = KeyboardButton.asciiKey
        fwd = float(down(key("w"))) - float(down(key("s")))
        side = float(down(key("d"))) - float(down(key("a")))
        turn = float(down(KeyboardButton.left())) - float(down(KeyboardButton.right()))
        self.yaw += math.radians(LOOK_SPEED) * turn * dt
        pitch = float(down(KeyboardButton.up())) - float(down(KeyboardButton.down()))
        self.scene.pitch = max(-80.0, min(60.0, self.scene.pitch + LOOK_SPEED * pitch * dt))
        if mw.hasMouse() and down(MouseButton.three()):
            x, y = mw.getMouseX(), mw.getMouseY()
            if self._mouse is not None:
                self.yaw -= math.radians(MOUSE_SPEED) * (x - self._mouse[0])
                self.scene.pitch = max(-80.0, min(60.0, self.scene.pitch + MOUSE_SPEED * (y - self._mouse[1])))
            self._mouse = (x, y)
        else:
            self._mouse = None
        run = down(KeyboardButton.shift())
        return Intent(fwd, side, self.yaw, bool(run))

    # -- the frame ---------------------------------------------------------------------------------
    def _frame(self, task: Any) -> int:
        now = time.monotonic()
        dt = min(now - self.last_time, 0.25)
        self.last_time = now
        self.frames += 1
        m = self.model
        for event in self.net.drain():
            m.apply(event)
        if m.welcomes != self._welcomes:
            self._welcomes = m.welcomes
            if self.yaw is None or not m.welcome.get("resumed"):
                self.yaw = float(m.welcome.get("yaw", 0.0))
            self.accumulator = 0.0
        vr = self.pose_source.poll() if self.pose_source is not None else None
        if vr is not None and vr.turn:
            self.snap_turn(vr.turn)
        intent = self._keyboard_intent(dt)
        if vr is not None and (vr.stick[0] or vr.stick[1]):
            intent = Intent(vr.stick[1], vr.stick[0], intent.yaw, vr.run)
        if self.forced is not None:
            intent = self.forced
            self.yaw = intent.yaw
        self.intent = intent
        if m.status == Status.ONLINE and m.predictor is not None:
            step = 1.0 / m.tick_hz
            self.accumulator = min(self.accumulator + dt, step * MAX_TICKS_PER_FRAME)
            while self.accumulator >= step:
                self.accumulator -= step
                self.ticks += 1
                move = m.tick(intent)
                if move is not None:
                    self.net.send(move)
            if vr is not None and now >= self._pose_due:
                self._pose_due = now + 1.0 / POSE_HZ
                self._pose_seq = self._pose_seq % U32 + 1
                self.net.send(pose_message(self._pose_seq, vr))
                self.poses_sent += 1
        if m.outbox:
            for msg in m.outbox:
                self.net.send(msg)
            m.outbox.clear()
        self.scene.update(now, dt)
        own = m.own_position()
        if vr is not None and own is not None:
            self.vr_origin.setPosHpr(own[0], own[1], 0.0, math.degrees(own[2]), 0.0, 0.0)
            self.head.setPos(vr.head[0], vr.head[1], vr.head[2])
            self.head.setQuat(_quat(vr.head))
            self.base.camera.setMat(self.head.getMat(self.base.render))     # the desktop mirror
        else:
            self.scene.place_camera(self.base.camera)
        self.scene.place_signs(self.base.cam, self.base.camLens, dt)
        self.hud.update()
        return task.cont

    def step(self) -> None:
        """Run one frame now (tests and the offscreen mode drive the loop themselves)."""
        self.base.taskMgr.step()

    def destroy(self) -> None:
        self.base.taskMgr.remove(self.task)
        if self.stereo is not None:
            self.stereo.destroy(self.base)
        if self.pose_source is not None:
            self.pose_source.close()
        self.hud.destroy()
        self.scene.destroy()
        for event in ("enter", "tab", "v", "c", "p", "escape", "q", "e", *map(str, range(1, 9))):
            self.base.ignore(event)


def _quat(t: tuple[float, ...]) -> Any:
    from panda3d.core import LQuaternionf
    return LQuaternionf(t[6], t[3], t[4], t[5])
