"""The Panda3D client rendering real offscreen frames (p3tinydisplay) against a real server."""

from __future__ import annotations

import math

import pytest
from panda3d.core import PNMImage, Point2, Point3, Vec3

from client.app.cli import configure_panda
from client.app.scene import BUBBLE_SCALE, EMOTE_SCALE, PLATE_SCALE, THIRD_AHEAD, THIRD_BACK, THIRD_UP
from client.app.model import ClientModel, Status
from client.app.net import NetThread
from client.app.pose import RecordedPoseSource, VRFrame
from client.bot import Bot
from tests.client.harness import FACING, ServerThread, pump
from world.protocol.records import FLAG_VR

W, H = 320, 240


@pytest.fixture(scope="module")
def base():
    configure_panda(True, (W, H), "agora-test")
    from direct.showbase.ShowBase import ShowBase

    b = ShowBase()
    yield b
    b.destroy()


@pytest.fixture
def facing(tmp_path):
    world = tmp_path / "facing.toml"
    world.write_text(FACING)
    with ServerThread(tmp_path / "data", world=str(world)) as srv:
        yield srv


def start_client(base, url: str, name: str, **kw):
    from client.app.app import ClientApp

    vr = kw.pop("pose_source", None)
    net = NetThread(url, name, "vr" if vr else "desktop").start()
    app = ClientApp(base, net, ClientModel(name), keyboard=False, pose_source=vr, **kw)
    return app


def stop_client(app) -> None:
    app.net.stop()
    app.destroy()


def screenshot(base) -> PNMImage:
    base.graphicsEngine.renderFrame()
    img = PNMImage()
    assert base.win.getScreenshot(img)
    return img


def pixel_of(base, point: Point3) -> tuple[int, int]:
    """Where a world point lands on the screen, by Panda3D's own lens."""
    p = base.cam.getRelativePoint(base.render, point)
    screen = Point2()
    assert base.camLens.project(p, screen), "point is outside the view"
    return int((screen.x + 1) / 2 * W), int((1 - screen.y) / 2 * H)


def rgb(img: PNMImage, x: int, y: int) -> tuple[float, float, float]:
    return img.getRed(x, y), img.getGreen(x, y), img.getBlue(x, y)


def differs(a, b, by: float = 0.08) -> bool:
    return max(abs(i - j) for i, j in zip(a, b)) > by


def test_bot_in_front_of_the_camera_shows_avatar_pixels_there_and_background_elsewhere(base, facing):
    app = start_client(base, facing.url, "Ada", third_person=False)   # spawns at (0, 0) facing +y
    try:
        pump(app.step, lambda: app.model.status == Status.ONLINE, what="welcome")
        bob = facing.call(Bot.connect(facing.url, "Bob"))                # spawns 6 m ahead of Ada
        pump(app.step, lambda: app.scene.visible == 1, what="Bob drawn")
        for _ in range(20):                                              # interpolation settles
            app.step()
        bx, by = facing.call(_position(bob))
        chest = Point3(bx, by, 1.0)
        aside = Point3(bx - 1.5, by, 1.0)                                # empty ground beside him
        px, ax = pixel_of(base, chest), pixel_of(base, aside)
        with_bob = screenshot(base)

        # A streamed line shows in his bubble as it arrives.
        app.model.handle({"t": "chat", "ch": "near", "from": bob.user, "name": "Bob", "e": bob.entity,
                          "sid": 1, "partial": True, "text": "Hel"})
        app.step()
        assert app.scene.views[bob.entity].bubble_texts() == ["Hel ..."]

        # Enter, a line, Enter: Bob hears it.
        app.hud.open_entry()
        app.hud.entry.set("hi Bob")
        app.hud.entry.commandFunc(None)
        assert not app.hud.typing
        app.step()
        facing.call(bob.expect("chat", text="hi Bob"))

        facing.call(bob.close())
        pump(app.step, lambda: app.scene.visible == 0, what="Bob gone")
        without = screenshot(base)
        assert differs(rgb(with_bob, *px), rgb(without, *px), 0.15), "no avatar pixels at Bob's position"
        assert not differs(rgb(with_bob, *ax), rgb(without, *ax), 0.02), "background changed beside Bob"
        sky = tuple(facing.server.realm.default_world.sky)
        assert not differs(rgb(without, 5, 5), sky, 0.03), "sky is not the world's sky colour"
    finally:
        stop_client(app)


async def _position(bot):
    return bot.position()


def test_vr_path_sends_poses_others_see_and_renders_both_eyes(base, facing):
    source = RecordedPoseSource.idle()
    app = start_client(base, facing.url, "Vera", third_person=False, pose_source=source)
    try:
        pump(app.step, lambda: app.model.status == Status.ONLINE, what="welcome")
        bob = facing.call(Bot.connect(facing.url, "Bob"))
        me = app.model.me
        pump(app.step, lambda: app.scene.visible == 1 and app.poses_sent > 5, what="poses sent")

        async def bob_sees_vera():
            meta = bob.entities.get(me) or {}
            poses = bob.poses()
            bodies = bob.bodies()
            row = bodies[bodies["id"] == me]
            return (meta.get("client"), bool(len(row) and (row["yawf"][0] >> 12) & FLAG_VR),
                    [int(i) for i in poses["id"]], poses)

        def seen():
            app.step()
            client, vr_flag, ids, _ = facing.call(bob_sees_vera())
            return client == "vr" and vr_flag and me in ids
        pump(lambda: None, seen, what="Bob sees Vera's pose records")
        _, _, _, poses = facing.call(bob_sees_vera())
        rec = poses[poses["id"] == me][0]
        assert 1500 <= rec["hz"] <= 1800                  # head about 1.65 m up, from the recording
        assert rec["rz"] != -32768 and rec["lz"] != -32768   # both hands tracked

        for _ in range(10):
            app.step()
        assert app.stereo is not None and len(app.stereo.buffers) == 2
        eyes = []
        for buf in app.stereo.buffers:
            img = PNMImage()
            assert buf.getScreenshot(img)
            eyes.append(img)
        # Both eyes rendered the world (not a blank buffer) and see Bob from slightly apart.
        for img in eyes:
            colours = {rgb(img, x, y) for x in range(0, img.getXSize(), 16) for y in range(0, img.getYSize(), 16)}
            assert len(colours) > 5
        diff = sum(differs(rgb(eyes[0], x, y), rgb(eyes[1], x, y), 0.05)
                   for x in range(0, eyes[0].getXSize(), 4) for y in range(0, eyes[0].getYSize(), 4))
        assert diff > 0, "left and right eye images are identical"

        # The right thumbstick snap-turns 30 degrees; the left one walks.
        head = source.frames[0].head
        yaw0 = app.yaw
        source.frames, source.index = [VRFrame(head, turn=1)] + [VRFrame(head)] * 3, 0
        for _ in range(4):
            app.step()
        assert abs((yaw0 - app.yaw) - math.radians(30)) < 1e-9
        x0, y0 = app.model.predictor.x, app.model.predictor.y
        source.frames, source.index = [VRFrame(head, stick=(0.0, 1.0))], 0
        pump(app.step, lambda: math.hypot(app.model.predictor.x - x0, app.model.predictor.y - y0) > 0.5,
             what="thumbstick walk")
        facing.call(bob.close())
    finally:
        stop_client(app)


def test_agents_people_and_vr_poses_are_drawn_differently(base):
    """Fed straight into the model (no server): an agent, a person, and a person in VR."""
    import numpy as np

    from client.app.app import ClientApp
    from world.protocol.records import BODY_DTYPE, POSE_DTYPE, UNTRACKED_Z, encode_quat

    class Offline:
        def drain(self):
            return []

        def send(self, msg):
            pass

        def stop(self):
            pass

    model = ClientModel("Ada")
    app = ClientApp(base, Offline(), model, keyboard=False)
    try:
        space = {"id": "w#1", "bounds": [-10.0, -10.0, 10.0, 10.0], "boxes": [], "places": []}
        model.handle({"t": "welcome", "you": 1, "user": 1, "token": "t", "tick_hz": 30, "space": space,
                      "pos": [0.0, 0.0, 0.0], "yaw": 0.0, "limits": {}})
        model.handle({"t": "enter", "e": [{"id": 2, "kind": "agent", "name": "Iris", "user": 2, "client": "bot"},
                                          {"id": 3, "kind": "avatar", "name": "Bob", "user": 3, "client": "desktop"},
                                          {"id": 4, "kind": "avatar", "name": "Vi", "user": 4, "client": "vr"}]})
        b = np.zeros(4, BODY_DTYPE)
        b["id"] = [1, 2, 3, 4]
        b["x"] = [0, -2000, 0, 2000]
        b["y"] = [0, 5000, 5000, 5000]
        p = np.zeros(1, POSE_DTYPE)
        p["id"], p["hx"], p["hy"], p["hz"] = 4, 0, 50, 1650
        p["hq"] = encode_quat(np.array([0.0, 0.0, 0.0, 1.0]))
        p["rx"], p["ry"], p["rz"], p["rq"] = 300, 250, 1400, p["hq"]
        p["lz"], p["lq"] = UNTRACKED_Z, p["hq"]
        model.handle({"t": "snap", "tick": 1, "ack": None, "b": b.tobytes(), "p": p.tobytes()})
        for _ in range(3):
            app.step()
        views = app.scene.views
        assert views[2].kind == "agent" and "[AI]" in views[2].plate_text.getText()
        assert views[3].kind == "avatar" and views[3].plate_text.getText() == "Bob"
        assert not views[3].vr_nodes
        head, lh, rh = (views[4].vr_nodes[k] for k in ("head", "lh", "rh"))
        assert abs(head.getZ() - 1.65) < 1e-3 and abs(rh.getX() - 0.3) < 1e-3
        assert not head.isHidden() and not rh.isHidden() and lh.isHidden()     # the left hand is untracked
    finally:
        app.destroy()


def screen_rect(base, label) -> tuple[float, float, float, float]:
    """Where a billboarded text label's card lands on the screen: (left, bottom, right, top), -1..1."""
    text = label.node()
    scale = label.getNetTransform().getScale()[0]
    left, right, bottom, top = (v * scale for v in text.getCardActual())
    centre = base.cam.getRelativePoint(label, Point3(0, 0, 0))      # the card faces the camera
    assert centre.y > 0, f"{text.getText()} is behind the camera"
    corners = []
    for corner in (centre + Vec3(left, 0, bottom), centre + Vec3(right, 0, top)):
        p = Point2()
        base.camLens.project(corner, p)                             # off-screen points are projected too
        corners.append(p)
    return corners[0].x, corners[0].y, corners[1].x, corners[1].y


def disjoint(a, b) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


# Views along the line from the Plaza sign (0, -8) to the Fountain's (0, 0), where one covered
# the other: (camera position, point looked at). The third-person camera of the south spawn,
# then eyes (1.6 m: first person, VR) near and far, and one from the north looking back.
ALONG_THE_LINE = [((0, -10 - THIRD_BACK, THIRD_UP), (0, -10 + THIRD_AHEAD, 1.2)),
                  ((0, -14, 1.6), (0, 0, 2.5)), ((0, -30, 1.6), (0, 0, 1.6)),
                  ((0.5, 12, 1.6), (0, -8, 2.0))]


def test_place_signs_do_not_cover_each_other_along_the_plaza_fountain_line(base, tmp_path):
    with ServerThread(tmp_path / "data") as srv:                     # the built-in plaza world
        app = start_client(base, srv.url, "Ada")
        try:
            pump(app.step, lambda: app.scene.world is not None, what="the plaza built")
            root = app.scene.world.root
            plaza, fountain = (root.find(f"**/label-{n}") for n in ("Plaza", "Fountain"))
            for eye, at in ALONG_THE_LINE:
                base.camera.setPos(*eye)
                base.camera.lookAt(Point3(*at))
                app.scene.place_signs(base.cam, base.camLens, dt=1.0)      # the frame's step, settled
                screenshot(base)
                a, b = screen_rect(base, plaza), screen_rect(base, fountain)
                assert disjoint(a, b), (eye, a, b)
        finally:
            stop_client(app)


def test_speech_over_one_head_stacks_by_height_newest_lowest_three_at_most(base, facing):
    app = start_client(base, facing.url, "Ada", third_person=False)
    try:
        pump(app.step, lambda: app.model.status == Status.ONLINE, what="welcome")
        bob = facing.call(Bot.connect(facing.url, "Bob"))
        pump(app.step, lambda: bob.entity in app.scene.views, what="Bob in view")
        view = app.scene.views[bob.entity]
        tall = "a much longer second thought that wraps over several rows of its bubble"
        for line in ("one", "two", tall, "four"):
            facing.call(bob.say(line))
        facing.call(bob.emote("wave"))
        pump(app.step, lambda: view.bubble_texts()[:1] == ["four"] and not view.emote_np.isHidden(),
             what="four lines and a wave")
        assert view.bubble_texts() == ["four", tall, "two"]                # "one" made way
        bubbles = [(node, text, BUBBLE_SCALE) for node, text in view.bubbles[:3]]
        pile = [(view.plate, view.plate_text, PLATE_SCALE), *bubbles, (view.emote_np, view.emote_text, EMOTE_SCALE)]
        spans = []
        for node, text, scale in pile:
            card = text.getCardActual()
            spans.append((node.getZ() + card[2] * scale, node.getZ() + card[3] * scale))
        assert spans[2][1] - spans[2][0] > 2 * (spans[1][1] - spans[1][0])   # the long line is a taller bubble
        for lower, upper in zip(spans, spans[1:]):
            assert upper[0] >= lower[1], spans                               # plate, bubbles, emote: no overlap
        screenshot(base)
        facing.call(bob.close())
    finally:
        stop_client(app)


def test_a_refused_first_hello_ends_the_window_loop_with_the_reason(base):
    from client.app.cli import watch_refusal

    model = ClientModel("Ada")
    model.set_status(Status.CLOSED, "bad token (4001 bad_token)")        # what NetThread reports
    refused = watch_refusal(base, model)
    frames = [0]

    def guard(task):                       # a broken watcher must fail the test, not hang it
        frames[0] += 1
        if frames[0] > 100:
            base.taskMgr.stop()
        return task.cont

    base.taskMgr.add(guard, "test-guard")
    try:
        base.taskMgr.run()                 # what base.run() does in a window
    finally:
        base.taskMgr.remove("test-guard")
    assert refused == ["bad token (4001 bad_token)"] and frames[0] <= 2
