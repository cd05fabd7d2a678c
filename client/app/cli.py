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
    p.add_argument("--token", default=None,
                   help="session token of an account to resume (default: the one kept for this server and name)")
    p.add_argument("--new", action="store_true",
                   help="join as a new user instead of resuming the kept session (then keep the new one)")
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
                   help="with --offscreen: wait until the server has put M other entities in this client's "
                        "view (its interest area around the avatar, whichever way the camera looks)")
    p.add_argument("--timeout", type=float, default=OFFSCREEN_TIMEOUT_S,
                   help="with --offscreen: stop after this many seconds, still save --screenshot, exit 2")
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
    from client.tokens import TokenStore

    tokens = TokenStore()
    choice = tokens.choose(args.url, args.name, args.token, args.new)
    model = ClientModel(args.name)
    net = NetThread(args.url, args.name, "vr" if args.vr else "desktop", token=choice.token, space=args.space,
                    tokens=tokens, token_kept=choice.source == "stored", say=say).start()
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
        refused = watch_refusal(base, model)
        base.run()
        if refused:
            say(f"cannot join {args.url}: {refused[0]}")
            return 1
        return 0
    finally:
        if model.welcome.get("token"):
            say(f"session kept in {tokens.path} (elsewhere: --token {model.welcome['token']})")
        net.stop()


def say(line: str) -> None:
    print(f"agora client: {line}", file=sys.stderr, flush=True)


def watch_refusal(base: Any, model: Any) -> list[str]:
    """Stop the window's loop when the server refuses the first hello (a typed --token it does
    not know, a ban, an unknown space): there is nothing to show. Returns the reason, once set."""
    from client.app.model import Status

    refused: list[str] = []

    def check(task: Any) -> Any:
        if model.status == Status.CLOSED and model.welcomes == 0:
            refused.append(model.status_detail)
            base.taskMgr.stop()
            return task.done
        return task.cont

    base.taskMgr.add(check, "agora-client-refusal")
    return refused


def run_offscreen(base: Any, app: Any, args: argparse.Namespace) -> int:
    """Step frames until the wait condition holds, save the screenshot(s); exit 0, or 2 on
    timeout (the picture is saved all the same: it shows what there was to see)."""
    from client.app.model import Status

    deadline = time.monotonic() + args.timeout
    frames = 0
    settle = 0
    timed_out = False
    model = app.model
    while True:
        app.step()
        frames += 1
        if model.status == Status.CLOSED:
            say(f"cannot join {args.url}: {model.status_detail}")
            return 1
        if args.frames is not None and frames >= args.frames:
            break
        # Counted from the server's interest, not the camera: entities that walk out of the
        # picture are still there, and a wait for them must not depend on where they went.
        ready = model.snapshots > 0 and (args.wait_entities is None or model.known_others() >= args.wait_entities)
        if args.frames is None or args.wait_entities is not None:
            # A few more frames once they are known let interpolation settle on where they are now.
            settle = settle + 1 if ready else 0
            if settle > 10:
                break
        if time.monotonic() > deadline:
            timed_out = True
            break
        time.sleep(1 / 60)
    base.graphicsEngine.renderFrame()
    saved = ""
    if args.screenshot:
        os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
        if not base.win.saveScreenshot(args.screenshot):
            say(f"cannot write {args.screenshot}")
            return 1
        if app.stereo is not None:
            stem = os.path.splitext(args.screenshot)[0]
            app.stereo.screenshots(stem)
        saved = f", saved {args.screenshot}"
    seen = (f"{model.known_others()} other entities in view, "
            f"{app.scene.on_screen(base.camera, base.camLens)} on screen")
    if timed_out:
        say(f"timed out after {args.timeout:g} s ({frames} frames) waiting for {waited_for(args)}; "
            f"saw {seen}{saved}")
        return 2
    joined = model.welcome
    say(f"user {joined.get('user')} ({'resumed' if joined.get('resumed') else 'new user'}), {frames} frames, "
        f"{seen}{saved}")
    return 0


def waited_for(args: argparse.Namespace) -> str:
    if args.wait_entities is not None:
        return f"{args.wait_entities} other entities in view"
    if args.frames is not None:
        return f"{args.frames} frames"
    return "the first snapshot"
