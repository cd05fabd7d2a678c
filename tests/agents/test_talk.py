"""`agora talk`, the terminal chat client, as a user runs it: a real process, lines on stdin."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.conftest import aio, running_server

ROOT = Path(__file__).resolve().parents[2]


async def talk(url: str, name: str, lines: list[str], linger: float = 3.0) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "world.cli", "talk", "--url", url, "--name", name, "--linger", str(linger),
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate("\n".join(lines).encode() + b"\n"), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


@aio
async def test_talk_to_the_guide_and_a_companion_from_a_terminal(tmp_path):
    async with running_server(tmp_path, agents="guide") as srv:
        out = await talk(srv.url, "Alice", ["Mira, where is the cafe?", "/who", "/summon",
                                            "/dm Pip remember that my sister is called Ana", "/places", "/dm Pip"])
        assert "joined Agora Plaza as Alice" in out
        assert "Mira: The Cafe is about" in out and "north-east" in out
        assert "Mira" in out and "agent" in out                       # /who lists the agent
        assert "Pip (Alice) is with you" in out
        assert "(dm) Pip (Alice): Got it, I'll remember that your sister is called Ana." in out
        assert "Gate" in out                                          # /places
        assert "usage: /dm" in out


@aio
async def test_talk_reports_an_unreachable_server(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "world.cli", "talk", "--url", "ws://127.0.0.1:9", "--name", "Alice",
        cwd=ROOT, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1 and b"cannot join" in err
