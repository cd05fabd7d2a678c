"""Generate the client's low-poly glTF models: `python assets/models/make_models.py`.

Pure Python (no Blender): each model is a few flat-shaded primitives written as one
.gltf file with its buffer embedded as base64, a few kilobytes each. Frame (glTF):
y up, the model faces -z, so panda3d-gltf's y-up -> z-up conversion makes it face +y,
the protocol's yaw 0. Materials are light greys or fixed colours; the client tints
people per user with a colour scale, so one file serves every person.

  avatar.gltf   a person: rounded body, head, a visor that shows where they face
  agent.gltf    an AI agent: floating cone body, sphere head, halo ring (visibly not a person)
  head.gltf     a VR headset-wearing head (drawn from pose records)
  hand.gltf     a VR hand (a flattened block with a thumb)
  box.gltf      unit cube (0..1 on every axis) for the world's static boxes
"""

from __future__ import annotations

import base64
import json
import math
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent

Vec = tuple[float, float, float]


class Mesh:
    """Flat-shaded triangles grouped by material."""

    def __init__(self) -> None:
        self.parts: dict[str, list[tuple[Vec, Vec, Vec]]] = {}

    def tri(self, mat: str, a: Vec, b: Vec, c: Vec) -> None:
        self.parts.setdefault(mat, []).append((a, b, c))

    def quad(self, mat: str, a: Vec, b: Vec, c: Vec, d: Vec) -> None:
        self.tri(mat, a, b, c)
        self.tri(mat, a, c, d)


def _sub(a: Vec, b: Vec) -> Vec:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _normal(a: Vec, b: Vec, c: Vec) -> Vec:
    u, v = _sub(b, a), _sub(c, a)
    n = (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])
    length = math.sqrt(sum(x * x for x in n)) or 1.0
    return (n[0] / length, n[1] / length, n[2] / length)


def lathe(mesh: Mesh, mat: str, profile: list[tuple[float, float]], sides: int,
          centre: Vec = (0.0, 0.0, 0.0)) -> None:
    """Revolve (radius, y) points around the y axis; a radius of 0 closes the shape."""
    cx, cy, cz = centre
    for i in range(len(profile) - 1):
        (r0, y0), (r1, y1) = profile[i], profile[i + 1]
        for s in range(sides):
            a0 = 2 * math.pi * s / sides
            a1 = 2 * math.pi * (s + 1) / sides
            p00 = (cx + r0 * math.cos(a0), cy + y0, cz + r0 * math.sin(a0))
            p01 = (cx + r0 * math.cos(a1), cy + y0, cz + r0 * math.sin(a1))
            p10 = (cx + r1 * math.cos(a0), cy + y1, cz + r1 * math.sin(a0))
            p11 = (cx + r1 * math.cos(a1), cy + y1, cz + r1 * math.sin(a1))
            # Counter-clockwise seen from outside.
            if r0 > 0:
                mesh.tri(mat, p00, p10, p01) if r1 == 0 else mesh.quad(mat, p00, p10, p11, p01)
            elif r1 > 0:
                mesh.tri(mat, p00, p10, p11)


def cuboid(mesh: Mesh, mat: str, lo: Vec, hi: Vec) -> None:
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    mesh.quad(mat, (x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1))   # +z
    mesh.quad(mat, (x1, y0, z0), (x0, y0, z0), (x0, y1, z0), (x1, y1, z0))   # -z
    mesh.quad(mat, (x1, y0, z1), (x1, y0, z0), (x1, y1, z0), (x1, y1, z1))   # +x
    mesh.quad(mat, (x0, y0, z0), (x0, y0, z1), (x0, y1, z1), (x0, y1, z0))   # -x
    mesh.quad(mat, (x0, y1, z1), (x1, y1, z1), (x1, y1, z0), (x0, y1, z0))   # +y
    mesh.quad(mat, (x0, y0, z0), (x1, y0, z0), (x1, y0, z1), (x0, y0, z1))   # -y


def sphere(r: float, y: float, rings: int = 5) -> list[tuple[float, float]]:
    return [(r * math.sin(math.pi * i / rings), y - r * math.cos(math.pi * i / rings))
            for i in range(rings + 1)]


def write_gltf(path: Path, mesh: Mesh, materials: dict[str, tuple[float, float, float, float]]) -> int:
    """Write one node with one mesh (a primitive per material); returns the file size."""
    blob = bytearray()
    accessors: list[dict] = []
    views: list[dict] = []
    primitives: list[dict] = []
    names = list(materials)
    for mat, tris in mesh.parts.items():
        pos: list[float] = []
        nrm: list[float] = []
        for a, b, c in tris:
            n = _normal(a, b, c)
            for p in (a, b, c):
                pos.extend(p)
                nrm.extend(n)
        count = len(pos) // 3
        for data, kind in ((pos, "POSITION"), (nrm, "NORMAL")):
            offset = len(blob)
            blob.extend(struct.pack(f"<{len(data)}f", *data))
            views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(data) * 4, "target": 34962})
            acc = {"bufferView": len(views) - 1, "componentType": 5126, "count": count, "type": "VEC3"}
            if kind == "POSITION":
                acc["min"] = [min(pos[i::3]) for i in range(3)]
                acc["max"] = [max(pos[i::3]) for i in range(3)]
            accessors.append(acc)
        primitives.append({"attributes": {"POSITION": len(accessors) - 2, "NORMAL": len(accessors) - 1},
                           "material": names.index(mat)})
    doc = {
        "asset": {"version": "2.0", "generator": "agora assets/models/make_models.py"},
        "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"name": path.stem, "mesh": 0}],
        "meshes": [{"name": path.stem, "primitives": primitives}],
        "materials": [{"name": m, "pbrMetallicRoughness": {"baseColorFactor": list(materials[m]),
                                                           "metallicFactor": 0.0, "roughnessFactor": 0.9}}
                      for m in names],
        "buffers": [{"byteLength": len(blob),
                     "uri": "data:application/octet-stream;base64," + base64.b64encode(blob).decode()}],
        "bufferViews": views, "accessors": accessors,
    }
    text = json.dumps(doc, separators=(",", ":"))
    path.write_text(text)
    return len(text)


def avatar() -> Mesh:
    m = Mesh()
    lathe(m, "body", [(0.0, 0.0), (0.22, 0.02), (0.27, 0.5), (0.3, 1.05), (0.2, 1.35), (0.0, 1.4)], 8)
    lathe(m, "skin", sphere(0.17, 1.62), 8)
    cuboid(m, "visor", (-0.12, 1.6, -0.19), (0.12, 1.7, -0.09))          # faces -z (forward)
    return m


def agent() -> Mesh:
    m = Mesh()
    lathe(m, "body", [(0.0, 0.25), (0.08, 0.3), (0.32, 1.2), (0.0, 1.3)], 6)
    lathe(m, "head", sphere(0.2, 1.6, 4), 6)
    cuboid(m, "eye", (-0.13, 1.62, -0.21), (0.13, 1.68, -0.12))
    ring = 10
    for i in range(ring):                                                  # halo
        a0, a1 = 2 * math.pi * i / ring, 2 * math.pi * (i + 1) / ring
        for y in (1.95,):
            p = [(r * math.cos(a), y + dy, r * math.sin(a)) for a in (a0, a1) for r, dy in ((0.2, 0), (0.28, 0))]
            m.quad("halo", p[0], p[2], p[3], p[1])
            m.quad("halo", p[1], p[3], p[2], p[0])
    return m


def head() -> Mesh:
    m = Mesh()
    lathe(m, "skin", sphere(0.12, 0.0, 4), 8)
    cuboid(m, "visor", (-0.1, -0.04, -0.16), (0.1, 0.05, -0.05))
    return m


def hand() -> Mesh:
    m = Mesh()
    cuboid(m, "skin", (-0.04, -0.015, -0.09), (0.04, 0.015, 0.03))
    cuboid(m, "skin", (0.04, -0.01, -0.04), (0.065, 0.01, 0.0))
    return m


def box() -> Mesh:
    m = Mesh()
    cuboid(m, "box", (0.0, 0.0, -1.0), (1.0, 1.0, 0.0))   # panda: 0..1 after y-up -> z-up
    return m


MODELS = {
    "avatar": (avatar, {"body": (0.92, 0.92, 0.92, 1.0), "skin": (0.96, 0.8, 0.66, 1.0),
                        "visor": (0.12, 0.14, 0.2, 1.0)}),
    "agent": (agent, {"body": (0.25, 0.75, 0.85, 1.0), "head": (0.85, 0.95, 1.0, 1.0),
                      "eye": (0.1, 0.2, 0.3, 1.0), "halo": (1.0, 0.85, 0.25, 1.0)}),
    "head": (head, {"skin": (0.96, 0.8, 0.66, 1.0), "visor": (0.12, 0.14, 0.2, 1.0)}),
    "hand": (hand, {"skin": (0.96, 0.8, 0.66, 1.0)}),
    "box": (box, {"box": (1.0, 1.0, 1.0, 1.0)}),
}


def main() -> None:
    for name, (build, mats) in MODELS.items():
        size = write_gltf(HERE / f"{name}.gltf", build(), mats)
        print(f"{name}.gltf  {size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
