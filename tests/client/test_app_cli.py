"""`agora client` as a user runs it: offscreen screenshot mode, and --vr without a runtime."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from client.bot import Bot
from tests.client.harness import FACING
from tests.conftest import aio, running_server

ROOT = Path(__file__).resolve().parents[2]


def client_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "world.cli", "client", *args]


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
        proc = await asyncio.create_subprocess_exec(
            *client_cmd(srv.url, "--name", "Cam", "--offscreen", "--size", "320x240", "--screenshot", str(shot),
                        "--wait-entities", "1", "--timeout", "30"),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        for b in bots:
            await b.close()
    assert proc.returncode == 0, err.decode()
    assert shot.stat().st_size > 1000 and shot.read_bytes()[:4] == b"\x89PNG"
    assert "on screen" in err.decode()


def test_vr_without_a_runtime_exits_1_with_one_clear_line(tmp_path):
    env = dict(os.environ)
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
