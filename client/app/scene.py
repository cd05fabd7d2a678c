"""The Panda3D scene: the world from the space manifest, and one view per entity.

`WorldView` builds ground, static boxes, place labels, lights and sky from `welcome.space`.
`SceneView` keeps an `AvatarView` per entity in the model (people and agents look
different: `avatar.gltf` tinted per user, `agent.gltf` with a halo and a cyan plate),
moves them from the interpolated sample every frame, and shows name plates, speech
bubbles (streamed agent speech grows as it arrives), emotes and VR heads/hands from pose
records. Panda3D's heading has the protocol's yaw convention (0 faces +y,
counter-clockwise), so yaw maps to H in degrees without conversion. Labels are placed by
`client.app.labels` so they do not cover each other: place signs on the screen every frame
(`place_signs`, after the camera moved), the speech over a head stacked by each bubble's
real height.
"""

from __future__ import annotations

import colorsys
import gc
import math
from importlib import resources
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from panda3d.core import (
    AmbientLight,
    CardMaker,
    DirectionalLight,
    LQuaternionf,
    LVecBase4f,
    NodePath,
    Point2,
    Point3,
    TextNode,
    TransparencyAttrib,
    Vec3,
)

from client.app.labels import Card, Rect, declutter, stack
from client.app.model import ClientModel, Entity

EYE_HEIGHT = 1.6          # first-person camera height (m)
THIRD_BACK = 5.5          # third-person camera distance behind the avatar (m)
THIRD_UP = 3.1
THIRD_AHEAD = 6.0         # the third-person camera looks at a point this far ahead, chest high
PLATE_Z = 2.15            # name plate height over the avatar root
PLATE_SCALE = 0.28
BUBBLE_SCALE = 0.22
BUBBLE_WRAP = 16          # characters per bubble row
BUBBLE_CHARS = 160        # a longer line shows its newest words (streamed speech grows at the end)
EMOTE_SCALE = 0.25
HEAD_GAP = 0.05           # metres between the plate, the bubbles and the emote over a head
LABEL_Z = 3.0             # place signs: their height unless one must move up to clear a nearer one
LABEL_SCALE = 0.45
SIGN_GAP = 0.015          # screen units (of 2) between a sign and a nearer one it would touch
SIGN_LIFT_MAX = 8.0       # metres: the most a sign moves up (a sign nearly straight above the camera)
SIGN_SETTLE_S = 0.15      # a sign glides to its new height in about this long, rather than jump
FOV = 70.0                # horizontal field of view (degrees)
EMOTE_TEXT = {"wave": "o/ waves", "clap": "claps", "laugh": "laughs", "heart": "<3",
              "dance": "dances", "thumbsup": "thumbs up", "shrug": "shrugs", "nod": "nods"}


def models_dir() -> Path:
    """assets/models in a checkout, or the installed copy (package agora_assets)."""
    here = Path(__file__).resolve().parents[2] / "assets" / "models"
    if here.is_dir():
        return here
    return Path(str(resources.files("agora_assets") / "models"))


def person_colour(user: int) -> tuple[float, float, float, float]:
    r, g, b = colorsys.hsv_to_rgb((user * 0.61803398875) % 1.0, 0.55, 1.0)
    return (r, g, b, 1.0)


def text_node(name: str, text: str, *, fg=(1, 1, 1, 1), card=(0.05, 0.05, 0.1, 0.6), scale=0.22,
              wrap: float | None = None) -> TextNode:
    node = TextNode(name)
    node.setText(text)
    node.setAlign(TextNode.ACenter)
    node.setTextColor(*fg)
    node.setCardColor(*card)
    node.setCardAsMargin(0.25, 0.25, 0.1, 0.1)
    node.setCardDecal(True)
    if wrap:
        node.setWordwrap(wrap)
    return node


def card(node: TextNode, scale: float) -> Card:
    """A text node's card, bottom and top in metres from its origin once scaled."""
    c = node.getCardActual()
    return Card(float(c[2]) * scale, float(c[3]) * scale)


def card_box(node: TextNode, scale: float) -> Rect:
    """A text node's whole card (left, bottom, right, top) in metres from its origin once scaled."""
    c = node.getCardActual()
    return Rect(float(c[0]) * scale, float(c[2]) * scale, float(c[1]) * scale, float(c[3]) * scale)


def billboard(parent: NodePath, node: TextNode, z: float, scale: float) -> NodePath:
    np_ = parent.attachNewNode(node)
    np_.setPos(0, 0, z)
    np_.setScale(scale)
    np_.setBillboardPointEye()
    np_.setTransparency(TransparencyAttrib.MAlpha)
    np_.setLightOff(1)
    np_.setDepthOffset(1)
    return np_


def _bubble_text(text: str, partial: bool) -> str:
    if len(text) > BUBBLE_CHARS:
        text = "..." + text[-BUBBLE_CHARS:]
    return text + (" ..." if partial else "")


class Models:
    """Loaded once; instanced per entity."""

    def __init__(self, loader: Any) -> None:
        d = models_dir()
        self.avatar = loader.loadModel(str(d / "avatar.gltf"))
        self.agent = loader.loadModel(str(d / "agent.gltf"))
        self.head = loader.loadModel(str(d / "head.gltf"))
        self.hand = loader.loadModel(str(d / "hand.gltf"))
        self.box = loader.loadModel(str(d / "box.gltf"))


class WorldView:
    """Static scenery of one space."""

    def __init__(self, base: Any, parent: NodePath, space: dict[str, Any], models: Models) -> None:
        self.root = parent.attachNewNode(f"world-{space.get('id', '')}")
        sky = space.get("sky") or (0.55, 0.72, 0.92)
        base.setBackgroundColor(*sky, 1.0)
        minx, miny, maxx, maxy = space["bounds"]
        cm = CardMaker("ground")
        cm.setFrame(minx, maxx, miny, maxy)
        ground = self.root.attachNewNode(cm.generate())
        ground.setP(-90)
        ground.setColor(*(space.get("ground") or (0.4, 0.6, 0.3)), 1.0)
        for box in space.get("boxes") or ():
            lo, hi = box["min"], box["max"]
            node = models.box.copyTo(self.root)
            node.setName(str(box.get("name", "box")))
            node.setPos(lo[0], lo[1], lo[2])
            node.setScale(max(hi[0] - lo[0], 1e-3), max(hi[1] - lo[1], 1e-3), max(hi[2] - lo[2], 1e-3))
            node.setColorScale(*(box.get("color") or (0.8, 0.8, 0.8)), 1.0)
            if hi[2] - lo[2] < 0.05:
                node.setDepthOffset(1)          # flat paths and floors lie on the ground
        self.root.flattenMedium()
        # Signs after the flatten: they move every frame (place_signs), so they keep their nodes.
        self.labels: list[NodePath] = []
        self.sign_boxes: list[Rect] = []
        self.sign_lifts: list[float] = []          # metres above LABEL_Z, now
        for place in space.get("places") or ():
            x, y = place["at"]
            anchor = self.root.attachNewNode(f"place-{place['name']}")
            anchor.setPos(x, y, 0)
            label = text_node(f"label-{place['name']}", str(place["name"]), fg=(1, 0.95, 0.7, 1),
                              card=(0.1, 0.1, 0.1, 0.45))
            self.labels.append(billboard(anchor, label, LABEL_Z, LABEL_SCALE))
            self.sign_boxes.append(card_box(label, LABEL_SCALE))
            self.sign_lifts.append(0.0)
        amb = AmbientLight("ambient")
        amb.setColor((0.45, 0.45, 0.5, 1))
        sun = DirectionalLight("sun")
        sun.setColor((0.75, 0.72, 0.65, 1))
        self.lights = [self.root.attachNewNode(amb), self.root.attachNewNode(sun)]
        self.lights[1].setHpr(35, -55, 0)
        for light in self.lights:
            parent.setLight(light)
        self.parent = parent

    def place_signs(self, cam: NodePath, lens: Any, dt: float) -> None:
        """Move each sign that would cover (or touch) a nearer one on the screen up just clear of it.

        Measured with every sign at LABEL_Z, so the answer depends on the view alone; the
        signs then glide toward it (SIGN_SETTLE_S; dt >= that places them at once).
        """
        if not self.labels:
            return
        mat = lens.getProjectionMat()
        up = cam.getRelativeVector(self.root, Vec3(0, 0, 1))       # the world's up, in camera space
        up_clip = mat.xform(LVecBase4f(up.x, up.y, up.z, 0.0))
        near = lens.getNear()
        centres = [cam.getRelativePoint(label.getParent(), Point3(0, 0, LABEL_Z)) for label in self.labels]
        order = sorted(range(len(self.labels)), key=lambda i: centres[i].y)      # nearest first
        rects: list[Rect | None] = []
        for i in order:
            c, box = centres[i], self.sign_boxes[i]
            if c.y <= near:
                rects.append(None)                                  # behind the camera
                continue
            x0, y0 = _ndc(mat, c + Vec3(box.left, 0, box.bottom))
            x1, y1 = _ndc(mat, c + Vec3(box.right, 0, box.top))
            rects.append(Rect(x0, y0, x1, y1))
        targets = [0.0] * len(self.labels)
        for i, rect, lift in zip(order, rects, declutter(rects, SIGN_GAP)):
            if rect is None or lift <= 0.0:
                continue
            # The world lift dz that puts the card's bottom at the screen height wanted: the
            # clip coordinates of (bottom + dz * up) are linear in dz, so solve y/w = want.
            want = rect.bottom + lift
            b = mat.xform(LVecBase4f(centres[i].x, centres[i].y, centres[i].z + self.sign_boxes[i].bottom, 1.0))
            denominator = up_clip[1] - want * up_clip[3]
            dz = (want * b[3] - b[1]) / denominator if abs(denominator) > 1e-9 else SIGN_LIFT_MAX
            targets[i] = min(max(dz, 0.0), SIGN_LIFT_MAX)
        blend = min(1.0, dt / SIGN_SETTLE_S)
        for i, label in enumerate(self.labels):
            lift = self.sign_lifts[i] + (targets[i] - self.sign_lifts[i]) * blend
            if lift != self.sign_lifts[i]:
                self.sign_lifts[i] = lift
                label.setZ(LABEL_Z + lift)

    def destroy(self) -> None:
        for light in self.lights:
            self.parent.clearLight(light)
        self.root.removeNode()


def _ndc(mat: Any, p: Any) -> tuple[float, float]:
    """A camera-space point's screen position (normalised device coordinates)."""
    v = mat.xform(LVecBase4f(p.x, p.y, p.z, 1.0))
    return v[0] / v[3], v[1] / v[3]


class AvatarView:
    """One entity's nodes: body, name plate, speech bubble, emote, VR head and hands."""

    def __init__(self, parent: NodePath, entity: Entity, models: Models, own: bool = False) -> None:
        self.id = entity.id
        self.root = parent.attachNewNode(f"entity-{entity.id}")
        self.kind = ""
        self.body: NodePath | None = None
        self.models = models
        self.plate_text = text_node(f"plate-{entity.id}", "")
        self.plate = billboard(self.root, self.plate_text, PLATE_Z, PLATE_SCALE)
        self.bubbles: list[tuple[NodePath, TextNode]] = []     # made as needed; the first shown nearest the head
        self.emote_text = text_node(f"emote-{entity.id}", "", fg=(1, 0.9, 0.3, 1), card=(0, 0, 0, 0.0))
        self.emote_np = billboard(self.root, self.emote_text, PLATE_Z, EMOTE_SCALE)
        self.emote_np.hide()
        self.vr_nodes: dict[str, NodePath] = {}
        self.meta: dict[str, Any] | None = None
        self._said: tuple[str, ...] = ()
        self._emote: str | None = None
        self._pose_id: int | None = None
        self.own = own
        self.set_meta(entity)

    def set_meta(self, entity: Entity) -> None:
        self.meta = entity.meta
        kind = "agent" if entity.kind == "agent" else "avatar"
        if kind != self.kind:
            if self.body is not None:
                self.body.removeNode()
            self.body = (self.models.agent if kind == "agent" else self.models.avatar).copyTo(self.root)
            self.kind = kind
        if kind == "agent":
            self.plate_text.setText(f"{entity.name}  [AI]")
            self.plate_text.setCardColor(0.0, 0.35, 0.45, 0.75)
        else:
            self.plate_text.setText(entity.name)
            self.body.setColorScale(*person_colour(entity.user or entity.id))
        if self.own:
            self.plate.hide()
        self._restack()                  # a longer name may make a taller plate

    def set_bubbles(self, said: Sequence[tuple[str, bool]]) -> None:
        """The speech over this head: (text, still streaming) per line, newest first."""
        shown = tuple(_bubble_text(text, partial) for text, partial in said)
        if shown == self._said:
            return
        self._said = shown
        while len(self.bubbles) < len(shown):
            text = text_node(f"bubble-{self.id}-{len(self.bubbles)}", "", fg=(0.05, 0.05, 0.1, 1),
                             card=(1, 1, 1, 0.9), wrap=BUBBLE_WRAP)
            self.bubbles.append((billboard(self.root, text, PLATE_Z, BUBBLE_SCALE), text))
        for k, (node, text) in enumerate(self.bubbles):
            if k < len(shown):
                text.setText(shown[k])
                node.show()
            else:
                node.hide()
        self._restack()

    def bubble_texts(self) -> list[str]:
        """The bubbles shown, nearest the head first."""
        return list(self._said)

    def set_emote(self, emote: str | None) -> None:
        if emote == self._emote:
            return
        self._emote = emote
        if emote:
            self.emote_text.setText(EMOTE_TEXT.get(emote, emote))
            self.emote_np.show()
        else:
            self.emote_np.hide()
        self._restack()

    def _restack(self) -> None:
        """Bubbles, then the emote, piled above the name plate by their real heights."""
        nodes = [(node, card(text, BUBBLE_SCALE)) for node, text in self.bubbles[:len(self._said)]]
        if self._emote:
            nodes.append((self.emote_np, card(self.emote_text, EMOTE_SCALE)))
        if not nodes:
            return
        base = PLATE_Z + card(self.plate_text, PLATE_SCALE).top + HEAD_GAP
        for (node, _), z in zip(nodes, stack([c for _, c in nodes], base, HEAD_GAP)):
            node.setZ(z)

    def set_pose(self, pose: dict[str, Any] | None) -> None:
        """VR head and hands, relative to the avatar root (its yaw included)."""
        if pose is None:
            if self.vr_nodes:
                for n in self.vr_nodes.values():
                    n.hide()
            return
        if not self.vr_nodes:
            self.vr_nodes = {"head": self.models.head.copyTo(self.root),
                             "lh": self.models.hand.copyTo(self.root),
                             "rh": self.models.hand.copyTo(self.root)}
            self.vr_nodes["lh"].setSx(-1)   # mirror for the left hand
        for key, node in self.vr_nodes.items():
            part = pose.get(key)
            if part is None:
                node.hide()
                continue
            pos, q = part
            node.show()
            node.setPos(float(pos[0]), float(pos[1]), float(pos[2]))
            node.setQuat(LQuaternionf(float(q[3]), float(q[0]), float(q[1]), float(q[2])))
        if self.body is not None:
            # A VR user's body stays; its head is drawn where the headset is instead.
            pass

    def destroy(self) -> None:
        self.root.removeNode()


class SceneView:
    """All nodes of the current space; `update()` once per frame."""

    def __init__(self, base: Any, model: ClientModel, *, third_person: bool = True) -> None:
        self.base = base
        self.model = model
        self.root = base.render.attachNewNode("agora")
        self.models = Models(base.loader)
        self.world: WorldView | None = None
        self.views: dict[int, AvatarView] = {}
        self.own: AvatarView | None = None
        self.third_person = third_person
        self.pitch = 0.0
        self._welcome_seen = 0
        self._bubbled: set[int] = set()
        self._entity_set_version = -1
        self._emoting: set[int] = set()
        self.visible = 0
        lens = base.camLens
        lens.setFov(FOV)
        lens.setNear(0.1)
        lens.setFar(400.0)

    def rebuild(self) -> None:
        """(Re)build scenery and views for the model's current space (after each welcome)."""
        m = self.model
        if self.world is not None:
            self.world.destroy()
        for view in self.views.values():
            view.destroy()
        self.views.clear()
        if self.own is not None:
            self.own.destroy()
        self.world = WorldView(self.base, self.root, m.space, self.models)
        me = Entity(m.me, "avatar", m.name, int(m.welcome.get("user", m.me)), "desktop")
        self.own = AvatarView(self.root, me, self.models, own=True)
        self._welcome_seen = m.welcomes
        # Long-lived scene objects need no more cyclic-GC scans: keeps frame-time spikes down.
        gc.collect()
        gc.freeze()

    def update(self, now: float, frame_dt: float) -> None:
        m = self.model
        if m.welcomes != self._welcome_seen:
            self.rebuild()
        if self.world is None:
            return
        views = self.views
        ents = m.entities
        # Views follow the model's entity set.
        if m.entity_set_version != self._entity_set_version:
            self._entity_set_version = m.entity_set_version
            for i in [i for i in views if i not in ents]:
                views.pop(i).destroy()
            for i, e in ents.items():
                if i not in views:
                    views[i] = AvatarView(self.root, e, self.models)
                    m.dirty.add(i)
        sample = m.sample(now)
        visible = 0
        if sample is not None:
            ids, xs, ys, zs, yaws, _ = sample
            degrees = math.degrees
            for i, x, y, z, yaw in zip(ids.tolist(), xs.tolist(), ys.tolist(), zs.tolist(), yaws.tolist()):
                v = views.get(i)
                if v is not None:
                    v.root.setPosHpr(x, y, z, degrees(yaw), 0.0, 0.0)
                    visible += 1
        self.visible = visible
        self._decorate(now)
        own = m.own_position(frame_dt)
        if own is not None and self.own is not None:
            x, y, yaw = own
            self.own.root.setPosHpr(float(x), float(y), 0.0, math.degrees(yaw), 0.0, 0.0)
            if self.third_person:
                self.own.root.show()
            else:
                self.own.root.hide()

    def on_screen(self, camera: NodePath, lens: Any) -> int:
        """How many other entities are drawn inside the camera's view (their chest, 1.2 m up)."""
        count = 0
        point = Point2()
        for view in self.views.values():
            p = camera.getRelativePoint(view.root, Point3(0, 0, 1.2))
            if lens.project(p, point):
                count += 1
        return count

    def _decorate(self, now: float) -> None:
        """Bubbles, emotes, metadata and poses: only entities that changed, or show something."""
        m = self.model
        chat = m.chat
        if chat.bubbles:
            chat.expire_bubbles(now)
        views = self.views
        for i in list(chat.bubbles) + list(self._bubbled):
            v = views.get(i)
            if v is not None:
                v.set_bubbles([(b.text, b.partial) for b in reversed(chat.bubbles.get(i, ()))])
        self._bubbled = {i for i in chat.bubbles if i in views}
        for i in list(self._emoting):
            e = m.entities.get(i)
            v = views.get(i)
            if e is None or v is None:
                self._emoting.discard(i)
            elif e.emote_until < now:
                e.emote = None
                v.set_emote(None)
                self._emoting.discard(i)
        if m.dirty:
            for i in m.dirty:
                e = m.entities.get(i)
                v = views.get(i)
                if e is None or v is None:
                    continue
                if e.meta is not v.meta:
                    v.set_meta(e)
                if e.emote is not None and e.emote_until >= now:
                    v.set_emote(e.emote)
                    self._emoting.add(i)
                v.set_pose(e.pose)
            m.dirty.clear()
        if self.own is not None:
            own_emote = m.own_emote
            self.own.set_emote(own_emote[0] if own_emote and own_emote[1] >= now else None)

    def place_signs(self, cam: NodePath, lens: Any, dt: float) -> None:
        """After the camera moved: keep place signs from covering each other in this view."""
        if self.world is not None:
            self.world.place_signs(cam, lens, dt)

    def place_camera(self, camera: NodePath) -> None:
        """First- or third-person camera on the predicted own avatar."""
        own = self.model.own_position()
        if own is None:
            return
        x, y, yaw = own
        h = math.degrees(yaw)
        if self.third_person:
            fx, fy = -math.sin(yaw), math.cos(yaw)
            camera.setPos(x - fx * THIRD_BACK, y - fy * THIRD_BACK, THIRD_UP)
            camera.lookAt(Point3(x + fx * THIRD_AHEAD, y + fy * THIRD_AHEAD, 1.2 + self.pitch * 0.05))
        else:
            camera.setPos(x, y, EYE_HEIGHT)
            camera.setHpr(h, self.pitch, 0)

    def destroy(self) -> None:
        if self.world is not None:
            self.world.destroy()
        self.root.removeNode()
