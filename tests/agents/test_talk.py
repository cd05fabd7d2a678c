"""`agora talk`, the terminal chat client, as a user runs it: a real process, lines on stdin."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import sys
from pathlib import Path

from client.tokens import TokenStore
from tests.conftest import aio, running_server

ROOT = Path(__file__).resolve().parents[2]


async def run_talk(url: str, name: str, lines: list[str], conf: Path, *args: str,
                   linger: float = 3.0) -> tuple[int, str, str]:
    """One `agora talk` process with its own config folder (where it keeps session tokens)."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(conf)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "world.cli", "talk", "--url", url, "--name", name, "--linger", str(linger), *args,
        cwd=ROOT, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate("\n".join(lines).encode() + b"\n"), 60)
    return proc.returncode, out.decode(), err.decode()


async def talk(url: str, name: str, lines: list[str], conf: Path, *args: str, linger: float = 3.0) -> str:
    code, out, err = await run_talk(url, name, lines, conf, *args, linger=linger)
    assert code == 0, err
    return out


def joined_as(out: str) -> tuple[int, str]:
    """(user id, "resumed" or "new user") from the join line."""
    m = re.search(r"\(user (\d+), (resumed|new user)", out)
    assert m, out
    return int(m.group(1)), m.group(2)


@aio
async def test_talk_to_the_guide_and_a_companion_from_a_terminal(tmp_path):
    async with running_server(tmp_path, agents="guide") as srv:
        out = await talk(srv.url, "Alice", ["Mira, where is the cafe?", "/who", "/summon",
                                            "/dm Pip remember that my sister is called Ana", "/places", "/dm Pip"],
                         tmp_path / "conf")
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
        cwd=ROOT, env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "conf")}, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1 and b"cannot join" in err


@aio
async def test_the_next_talk_resumes_the_same_user_and_her_companion_remembers_her(tmp_path):
    conf = tmp_path / "conf"
    async with running_server(tmp_path / "data", agents="guide") as srv:
        first = await talk(srv.url, "Alice", ["/summon", "/dm Pip remember that my sister is called Ana"], conf)
        user, how = joined_as(first)
        assert how == "new user" and f"session kept in {conf / 'agora' / 'tokens.json'}" in first
        second = await talk(srv.url, "Alice", ["/summon", "/dm Pip what's my sister called?"], conf)
        assert joined_as(second) == (user, "resumed")
        assert re.search(r"\(dm\) Pip \(Alice\): .*Ana", second), second
        kept = TokenStore(conf / "agora").get(srv.url, "Alice")
    assert kept and kept not in first + second                     # kept, never printed
    assert stat.S_IMODE((conf / "agora" / "tokens.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((conf / "agora").stat().st_mode) == 0o700


@aio
async def test_new_starts_another_user_and_keeps_it_in_place_of_the_old(tmp_path):
    conf = tmp_path / "conf"
    async with running_server(tmp_path / "data") as srv:
        old, _ = joined_as(await talk(srv.url, "Alice", [], conf, linger=0))
        new, how = joined_as(await talk(srv.url, "Alice", [], conf, "--new", linger=0))
        assert new != old and how == "new user"
        assert joined_as(await talk(srv.url, "Alice", [], conf, linger=0)) == (new, "resumed")
        other, _ = joined_as(await talk(srv.url, "alice", [], conf, linger=0))
        assert other not in (old, new)                             # another name, another session


@aio
async def test_a_kept_token_the_server_does_not_know_becomes_a_new_account(tmp_path):
    conf = tmp_path / "conf"
    async with running_server(tmp_path / "data") as srv:
        # What a wiped server sees: a kept token it never issued.
        TokenStore(conf / "agora").put(srv.url, "Alice", "token-from-before-the-wipe")
        out = await talk(srv.url, "Alice", [], conf, linger=0)
        notes = [line for line in out.splitlines() if "does not know the session" in line]
        assert len(notes) == 1 and "joining as a new user" in notes[0]
        user, how = joined_as(out)
        assert how == "new user"
        kept = TokenStore(conf / "agora").get(srv.url, "Alice")
        assert kept not in (None, "token-from-before-the-wipe")
        assert joined_as(await talk(srv.url, "Alice", [], conf, linger=0)) == (user, "resumed")


@aio
async def test_a_typed_token_the_server_refuses_is_an_error_exit(tmp_path):
    conf = tmp_path / "conf"
    async with running_server(tmp_path / "data") as srv:
        code, out, err = await run_talk(srv.url, "Alice", [], conf, "--token", "not-a-token", linger=0)
    assert code == 1 and "cannot join" in err and "bad_token" in err
    assert "joined" not in out
    assert not (conf / "agora" / "tokens.json").exists()


@aio
async def test_a_server_error_is_printed_once(tmp_path):
    async with running_server(tmp_path / "data") as srv:
        out = await talk(srv.url, "Alice", ["/group 999 hello"], tmp_path / "conf", linger=0.5)
    errors = [line for line in out.splitlines() if line.startswith("! ")]
    assert len(errors) == 1, out
