"""`agora bench client`: the client's per-frame update cost and offscreen frame time.

N remote avatars walk in circles in front of the camera on the default world. The bench
feeds the real client (model + Panda3D scene, no network) with pre-encoded snapshot
frames at 30 Hz while it draws frames at 60 Hz of simulated time, every avatar in every
snapshot (the worst case: the server sends only what changed, within a byte budget).

  update   per frame, in thread CPU time (wall time is shown too; on a shared machine it
           mostly measures other processes): decode the snapshot that is due (msgpack + numpy records), apply it
           (interpolation buffers, prediction), sample the interpolation for all avatars,
           move every node and refresh plates/bubbles; rendering excluded
  frame    update plus `renderFrame()` into a 1280x720 offscreen buffer (p3tinydisplay,
           software rendering: this machine has no GPU)

The baseline row does the same update the straightforward way the protocol's §6.5
example suggests (a dict of records per entity, interpolated one entity at a time in
Python), to show what the array layout buys.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import time
from typing import Any

import numpy as np

FRAME_HZ = 60
TICK_HZ = 30
WARMUP_FRAMES = 30


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--avatars", type=int, default=200, help="remote avatars in view (default 200)")
    p.add_argument("--frames", type=int, default=600, help="timed update frames (default 600)")
    p.add_argument("--render-frames", type=int, default=60, help="timed rendered frames (default 60)")
    p.add_argument("--size", default="1280x720", help="offscreen frame size (default 1280x720)")
    p.add_argument("--pipe", choices=("tinydisplay", "headlessgl"), default="tinydisplay",
                   help="offscreen renderer (headlessgl frames include a readback, to wait for the GPU)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def _world() -> dict[str, Any]:
    from world.space.world_def import load_world

    space = load_world("plaza").manifest()
    space.update({"id": "plaza#1", "instance": 1})
    return space


def _snapshots(n: int, ticks: int, me: int) -> list[bytes]:
    """Pre-encoded `snap` frames: our own record first, then every avatar walking a circle."""
    from world.protocol import encode
    from world.protocol.records import BODY_DTYPE, FLAG_MOVING, pack_yaw_flags

    rng = np.random.default_rng(7)
    # A crowd ahead of the camera (which stands at (0, -12) facing +y): within 40 m.
    cx = rng.uniform(-14.0, 14.0, n)
    cy = rng.uniform(-4.0, 24.0, n)
    radius = rng.uniform(1.0, 3.0, n)
    phase = rng.uniform(0.0, math.tau, n)
    omega = 1.4 / radius                       # ~1.4 m/s walking
    frames = []
    for t in range(1, ticks + 1):
        a = phase + omega * t / TICK_HZ
        rec = np.zeros(n + 1, BODY_DTYPE)
        rec["id"][0] = me
        rec["y"][0] = -12000
        rec["id"][1:] = np.arange(2, n + 2)
        rec["x"][1:] = np.rint((cx + radius * np.cos(a)) * 1000)
        rec["y"][1:] = np.rint((cy + radius * np.sin(a)) * 1000)
        rec["yawf"][1:] = pack_yaw_flags(a, FLAG_MOVING)
        frames.append(encode({"t": "snap", "tick": t, "ack": None, "b": rec.tobytes()}))
    return frames


class SimClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples) * 1e3, q)) if samples else float("nan")


def baseline_update(frames: list[bytes], n_frames: int) -> list[float]:
    """Dict-of-records per entity, interpolated entity by entity in Python (protocol §6.5 style)."""
    from world.protocol import decode_server
    from world.protocol.records import BODY_DTYPE

    history: dict[int, list[tuple[int, float, float, float]]] = {}
    out: dict[int, tuple[float, float, float]] = {}
    samples = []
    cpu = time.thread_time
    for k in range(n_frames):
        t0 = cpu()
        if k % 2 == 0:
            snap = decode_server(frames[(k // 2) % len(frames)])
            tick = snap["tick"]
            for rec in np.frombuffer(snap["b"], BODY_DTYPE)[1:]:
                h = history.setdefault(int(rec["id"]), [])
                h.append((tick, rec["x"] / 1000.0, rec["y"] / 1000.0, math.radians((rec["yawf"] & 0xFFF) / 10)))
                del h[:-4]
        render = (k // 2) - 3 + (k % 2) * 0.5
        for i, h in history.items():
            a, b = h[0], h[-1]
            for s0, s1 in zip(h, h[1:]):
                if s0[0] <= render <= s1[0]:
                    a, b = s0, s1
                    break
            f = 0.0 if b[0] == a[0] else min(max((render - a[0]) / (b[0] - a[0]), 0.0), 1.0)
            out[i] = (a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f, a[3] + (b[3] - a[3]) * f)
        samples.append(cpu() - t0)
    return samples[WARMUP_FRAMES:]


def run(args: argparse.Namespace) -> int:
    from client.app.cli import configure_panda, parse_size

    size = parse_size(args.size)
    configure_panda(True, size, "agora-bench", args.pipe)
    from direct.showbase.ShowBase import ShowBase
    from panda3d.core import PNMImage

    from client.app.model import ClientModel
    from client.app.scene import SceneView
    from world.protocol import decode_server

    n = max(1, args.avatars)
    base = ShowBase()
    clock = SimClock()
    model = ClientModel("bench", clock=clock)
    me = 1
    model.handle({"t": "welcome", "v": 1, "you": me, "user": me, "token": "x", "name": "bench",
                  "role": "member", "tick_hz": TICK_HZ, "resumed": False, "space": _world(),
                  "pos": [0.0, -12.0, 0.0], "yaw": 0.0, "limits": {}})
    model.handle({"t": "enter", "e": [{"id": i, "kind": "agent" if i % 10 == 0 else "avatar",
                                       "name": f"Guest {i}", "user": i, "client": "bot"}
                                      for i in range(2, n + 2)]})
    scene = SceneView(base, model, third_person=False)
    total = args.frames + args.render_frames + WARMUP_FRAMES
    frames = _snapshots(n, total // 2 + 2, me)
    dt = 1.0 / FRAME_HZ
    scene.pitch = -5.0

    def update(k: int) -> None:
        clock.t += dt
        if k % 2 == 0:
            model.handle(decode_server(frames[k // 2]))
        scene.update(clock.t, dt)
        scene.place_camera(base.camera)

    update_s: list[float] = []          # thread CPU time: what the update costs this client
    update_wall_s: list[float] = []     # wall time: also counts other processes preempting us
    frame_s: list[float] = []
    k = 0
    for _ in range(WARMUP_FRAMES):
        update(k)
        k += 1
    base.graphicsEngine.renderFrame()
    cpu = time.thread_time
    for _ in range(args.frames):
        c0, t0 = cpu(), time.perf_counter()
        update(k)
        update_s.append(cpu() - c0)
        update_wall_s.append(time.perf_counter() - t0)
        k += 1
    readback = PNMImage() if args.pipe != "tinydisplay" else None
    for _ in range(args.render_frames):
        t0 = time.perf_counter()
        update(k)
        base.graphicsEngine.renderFrame()
        if readback is not None:
            base.win.getScreenshot(readback)    # GL queues work: wait until the frame is done
        frame_s.append(time.perf_counter() - t0)
        k += 1
    visible = scene.on_screen(base.camera, base.camLens)
    gc.collect()
    base_s = baseline_update(frames, args.frames + WARMUP_FRAMES)
    result = {
        "avatars": n,
        "update_ms_p50": round(_percentile(update_s, 50), 3),
        "update_ms_p99": round(_percentile(update_s, 99), 3),
        "update_wall_ms_p50": round(_percentile(update_wall_s, 50), 3),
        "update_wall_ms_p99": round(_percentile(update_wall_s, 99), 3),
        "frame_ms_p50": round(_percentile(frame_s, 50), 2),
        "frame_ms_p99": round(_percentile(frame_s, 99), 2),
        "baseline_update_ms_p50": round(_percentile(base_s, 50), 3),
        "baseline_update_ms_p99": round(_percentile(base_s, 99), 3),
        "on_screen": visible,
        "size": f"{size[0]}x{size[1]}",
        "renderer": base.pipe.getInterfaceName(),
        "pipe": args.pipe,
    }
    ratio = result["baseline_update_ms_p50"] / max(result["update_ms_p50"], 1e-9)
    print(f"agora bench client: {n} remote avatars ({visible} on screen), snapshots at {TICK_HZ} Hz, "
          f"frames at {FRAME_HZ} Hz of simulated time")
    print(f"{'':34}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'update (decode, interp, scene)':34}{result['update_ms_p50']:>10.3f}{result['update_ms_p99']:>10.3f}"
          "   (thread CPU time)")
    print(f"{'  same, wall clock':34}{result['update_wall_ms_p50']:>10.3f}{result['update_wall_ms_p99']:>10.3f}"
          "   (includes preemption by other processes)")
    print(f"{'  baseline: per-entity Python':34}{result['baseline_update_ms_p50']:>10.3f}"
          f"{result['baseline_update_ms_p99']:>10.3f}   (interp only, no scene; ours is {ratio:.1f}x)")
    print(f"{'frame ' + result['size'] + ' (' + str(result['renderer'])[:12] + ')':34}"
          f"{result['frame_ms_p50']:>10.2f}{result['frame_ms_p99']:>10.2f}")
    target = "met" if result["update_ms_p99"] < 2.0 else "MISSED"
    print(f"target: update p99 < 2 ms for 200 avatars: {target}")
    scene.destroy()
    base.destroy()
    if args.json:
        print(json.dumps(result))
    return 0
