"""`agora client [URL] --name NAME [--vr] [--offscreen --screenshot FILE.png ...]`.

Importing this module does not import Panda3D: the `agora` parser imports it at
startup for every subcommand.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any

DEFAULT_URL = "ws://127.0.0.1:8765"
PIPES = ("tinydisplay", "headlessgl")
OFFSCREEN_TIMEOUT_S = 60.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", nargs="?", default=DEFAULT_URL, help=f"server address (default {DEFAULT_URL})")
    p.add_argument("--name", required=True, help="your display name")
    p.add_argument("--token", default=None, help="session token to resume an account (printed at exit)")
    p.add_argument("--space", default=None, help='world or instance to join, e.g. "plaza" or "plaza#2"')
    p.add_argument("--vr", action="store_true", help="render in stereo to an OpenXR headset")
    p.add_argument("--pose-replay", default=None, metavar="FILE",
                   help='with --vr: replay recorded head/hand poses from a JSON file ("idle": built-in)')
    p.add_argument("--first-person", action="store_true", help="start in first person (V toggles)")
    p.add_argument("--size", default="1280x720", help="window size WxH (default 1280x720)")
    p.add_argument("--offscreen", action="store_true", help="render without a window")
    p.add_argument("--pipe", choices=PIPES, default="tinydisplay",
                   help="offscreen renderer: tinydisplay (software, default) or headlessgl (EGL; experimental: "
                        "text and material colours do not match tinydisplay yet)")
    p.add_argument("--screenshot", default=None, metavar="FILE.png", help="with --offscreen: save a frame")
    p.add_argument("--frames", type=int, default=None,
                   help="with --offscreen: stop after K frames (default: when --wait-entities are in view)")
    p.add_argument("--wait-entities", type=int, default=None, metavar="M",
                   help="with --offscreen: wait until M other entities are visible")
    p.add_argument("--timeout", type=float, default=OFFSCREEN_TIMEOUT_S,
                   help="with --offscreen: give up after this many seconds (exit 2)")
    p.add_argument("--log-level", default="WARNING")


def configure_panda(offscreen: bool, size: tuple[int, int], title: str, pipe: str = "tinydisplay") -> None:
    """PRC settings; must run before ShowBase is created."""
    from panda3d.core import loadPrcFileData

    lines = [f"win-size {size[0]} {size[1]}", f"window-title {title}", "audio-library-name null",
             "notify-level-device fatal", "notify-level-x11display fatal", "sync-video false",
             "framebuffer-srgb false"]
    if offscreen:
        if pipe == "headlessgl":
            os.environ.setdefault("EGL_PLATFORM", "surfaceless")
        lines += [f"load-display p3{pipe}", "window-type offscreen", "notify-level-display fatal"]
    loadPrcFileData("agora-client", "\n".join(lines))


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"agora client: bad --size {text!r}, expected WxH") from None
    return w, h


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    pose_source: Any = None
    if args.vr:
        from client.app.pose import VRUnavailable, open_pose_source
        try:
            pose_source = open_pose_source(args.pose_replay)
        except VRUnavailable as exc:
            print(f"agora client: {exc}", file=sys.stderr)
            return 1
    if (args.screenshot or args.frames or args.wait_entities) and not args.offscreen:
        print("agora client: --screenshot/--frames/--wait-entities need --offscreen", file=sys.stderr)
        return 2
    size = parse_size(args.size)
    configure_panda(args.offscreen, size, f"Agora - {args.name}", args.pipe)

    from direct.showbase.ShowBase import ShowBase

    from client.app.app import ClientApp
    from client.app.model import ClientModel
    from client.app.net import NetThread
    from client.app.pose import VRUnavailable

    try:
        base = ShowBase()
    except Exception as exc:
        print(f"agora client: cannot open a window ({exc}); try --offscreen", file=sys.stderr)
        return 1
    model = ClientModel(args.name)
    net = NetThread(args.url, args.name, "vr" if args.vr else "desktop", token=args.token,
                    space=args.space).start()
    try:
        app = ClientApp(base, net, model, third_person=not (args.first_person or args.vr), pose_source=pose_source,
                        keyboard=not args.offscreen)
    except VRUnavailable as exc:
        net.stop()
        print(f"agora client: {exc}", file=sys.stderr)
        return 1
    try:
        if args.offscreen:
            return run_offscreen(base, app, args)
        base.run()
        return 0
    finally:
        if model.welcome.get("token"):
            print(f"agora client: resume with --token {model.welcome['token']}", file=sys.stderr)
        net.stop()


def run_offscreen(base: Any, app: Any, args: argparse.Namespace) -> int:
    """Step frames until the wait condition holds, save the screenshot(s), exit 0 (2 on timeout)."""
    from client.app.model import Status

    deadline = time.monotonic() + args.timeout
    frames = 0
    settle = 0
    while True:
        app.step()
        frames += 1
        model = app.model
        if model.status == Status.CLOSED:
            print(f"agora client: {model.status_detail}", file=sys.stderr)
            return 1
        on_screen = app.scene.on_screen(base.camera, base.camLens) if model.snapshots else 0
        if args.frames is not None and frames >= args.frames:
            break
        if args.wait_entities is not None:
            # A few more frames once they are on screen let interpolation settle on where
            # the entities are now.
            settle = settle + 1 if on_screen >= args.wait_entities else 0
            if settle > 10:
                break
        elif args.frames is None and model.status == Status.ONLINE and model.snapshots > 0:
            settle += 1
            if settle > 10:
                break
        if time.monotonic() > deadline:
            print(f"agora client: timed out after {frames} frames "
                  f"({on_screen} entities on screen)", file=sys.stderr)
            return 2
        time.sleep(1 / 60)
    base.graphicsEngine.renderFrame()
    if args.screenshot:
        os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
        if not base.win.saveScreenshot(args.screenshot):
            print(f"agora client: cannot write {args.screenshot}", file=sys.stderr)
            return 1
        if app.stereo is not None:
            stem = os.path.splitext(args.screenshot)[0]
            app.stereo.screenshots(stem)
    print(f"agora client: {frames} frames, {app.scene.on_screen(base.camera, base.camLens)} entities on screen"
          + (f", saved {args.screenshot}" if args.screenshot else ""), file=sys.stderr)
    return 0
