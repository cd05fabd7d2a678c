"""`agora client` as a user runs it: offscreen screenshot mode, and --vr without a runtime."""

from __future__ import annotations

import asyncio
import math
import os
import re
import subprocess
import sys
from pathlib import Path

from client.bot import Bot
from client.tokens import TokenStore
from tests.client.harness import FACING
from tests.conftest import aio, running_server

ROOT = Path(__file__).resolve().parents[2]

# Six spawns 20 m behind the camera's, facing away, then two for the camera at the origin
# facing +y: bots that join first stand (and walk) where the camera cannot see them, yet
# well inside the 40 m interest radius.
BEHIND = """
name = "behind"
title = "Behind the camera"
capacity = 50
[bounds]
min = [-30.0, -30.0]
max = [30.0, 30.0]
""" + "".join(f"""
[[spawn]]
at = [{x:.1f}, -20.0]
yaw = 3.1416
""" for x in (-5, -3, -1, 1, 3, 5)) + """
[[spawn]]
at = [0.0, 0.0]
yaw = 0.0
[[spawn]]
at = [0.0, 0.0]
yaw = 0.0
"""


def client_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "world.cli", "client", *args]


async def run_client(conf: Path, *args: str, timeout: float = 90) -> tuple[int, str]:
    """One `agora client` process keeping its session tokens under `conf`; (exit code, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *client_cmd(*args), cwd=ROOT, env={**os.environ, "XDG_CONFIG_HOME": str(conf)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, err.decode()


def joined_as(err: str) -> tuple[int, str]:
    m = re.search(r"agora client: user (\d+) \((resumed|new user)\)", err)
    assert m, err
    return int(m.group(1)), m.group(2)


def test_parser_does_not_import_panda3d():
    code = ("import sys; from world.cli import build_parser; build_parser(); "
            "print(any(m.startswith(('panda3d', 'direct')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


@aio
async def test_offscreen_screenshot_waits_for_entities_and_exits_0(tmp_path):
    world = tmp_path / "facing.toml"
    world.write_text(FACING)
    shot = tmp_path / "shot.png"
    async with running_server(tmp_path / "data", world=str(world)) as srv:
        bots = [await Bot.connect(srv.url, f"Bot{i}") for i in range(2)]
        code, err = await run_client(tmp_path / "conf", srv.url, "--name", "Cam", "--offscreen", "--size", "320x240",
                                     "--screenshot", str(shot), "--wait-entities", "1", "--timeout", "30")
        for b in bots:
            await b.close()
    assert code == 0, err
    assert shot.stat().st_size > 1000 and shot.read_bytes()[:4] == b"\x89PNG"
    assert "on screen" in err


@aio
async def test_wait_entities_counts_walking_bots_the_camera_cannot_see_and_a_timeout_still_saves(tmp_path):
    world = tmp_path / "behind.toml"
    world.write_text(BEHIND)
    conf = tmp_path / "conf"
    async with running_server(tmp_path / "data", world=str(world)) as srv:
        bots = [await Bot.connect(srv.url, f"Walker{i}") for i in range(6)]
        for b in bots:
            await b.move(1.0, 0.0, math.pi)                    # away from the camera, until the bounds stop them
        # Waiting for one more than there are: it times out, and still saves what it saw.
        short = tmp_path / "short.png"
        code, err = await run_client(conf, srv.url, "--name", "Cam1", "--offscreen", "--size", "160x120",
                                     "--screenshot", str(short), "--wait-entities", "7", "--timeout", "5")
        assert code == 2, err
        assert short.read_bytes()[:4] == b"\x89PNG"
        line = next(x for x in err.splitlines() if "timed out" in x)
        assert "waiting for 7 other entities in view" in line and "saw 6 other entities in view, 0 on screen" in line
        assert f"saved {short}" in line
        # Waiting for all six: none is on screen, all six are in view of the server's interest.
        shot = tmp_path / "shot.png"
        code, err = await run_client(conf, srv.url, "--name", "Cam2", "--offscreen", "--size", "160x120",
                                     "--screenshot", str(shot), "--wait-entities", "6", "--timeout", "60")
        for b in bots:
            await b.close()
    assert code == 0, err
    assert "6 other entities in view, 0 on screen" in err and shot.read_bytes()[:4] == b"\x89PNG"


@aio
async def test_the_client_resumes_its_kept_session_and_new_starts_another(tmp_path):
    conf = tmp_path / "conf"
    shot = ("--offscreen", "--size", "160x120", "--timeout", "30")
    async with running_server(tmp_path / "data") as srv:
        code, err = await run_client(conf, srv.url, "--name", "Ada", *shot)
        assert code == 0, err
        user, how = joined_as(err)
        assert how == "new user" and str(conf / "agora" / "tokens.json") in err
        code, err = await run_client(conf, srv.url.rstrip("/") + "/", "--name", "Ada", *shot)
        assert joined_as(err) == (user, "resumed")
        code, err = await run_client(conf, srv.url, "--name", "Ada", "--new", *shot)
        fresh, how = joined_as(err)
        assert fresh != user and how == "new user"
        assert TokenStore(conf / "agora").get(srv.url, "Ada") is not None

        # A kept token this server never issued (its data was wiped): one line, then a new user.
        TokenStore(conf / "agora").put(srv.url, "Bea", "token-from-before-the-wipe")
        code, err = await run_client(conf, srv.url, "--name", "Bea", *shot)
        assert code == 0, err
        assert len([x for x in err.splitlines() if "does not know the session kept for Bea" in x]) == 1, err
        assert "bad_token" not in err                  # the refusal it handled is not also shown as an error
        assert joined_as(err)[1] == "new user"
        assert TokenStore(conf / "agora").get(srv.url, "Bea") not in (None, "token-from-before-the-wipe")

        # A token typed on the command line is the user's word: refused, it is an error.
        code, err = await run_client(conf, srv.url, "--name", "Cy", "--token", "not-a-token", *shot)
    assert code == 1 and "cannot join" in err and "bad token" in err, err
    assert TokenStore(conf / "agora").get(srv.url, "Cy") is None


def test_vr_without_a_runtime_exits_1_with_one_clear_line(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "conf")}
    out = subprocess.run(client_cmd("ws://127.0.0.1:9", "--name", "V", "--vr"), cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("agora client: ") and "OpenXR" in lines[0], out.stderr


def test_bench_client_prints_a_table_and_json_with_the_documented_keys():
    out = subprocess.run([sys.executable, "-m", "world.cli", "bench", "client", "--avatars", "20", "--frames", "60",
                          "--render-frames", "3", "--size", "320x240", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import json
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"avatars", "update_ms_p50", "update_ms_p99", "frame_ms_p50"} <= set(result)
    assert result["avatars"] == 20 and result["on_screen"] > 0
