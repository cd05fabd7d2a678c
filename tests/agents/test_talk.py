"""`agora talk`, the terminal chat client, as a user runs it: a real process, lines on stdin."""

from __future__ import annotations

import asyncio
import io
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


# -- streamed speech on a terminal: replaced in place, however long ------------------------------

class Screen:
    """Just enough of a terminal to read what `agora talk` leaves on screen: printable text
    with auto-wrap at `cols`, CR, LF (as CR LF), ESC[K (clear to end of row), ESC[nA (up), ESC[J."""

    def __init__(self, cols: int) -> None:
        self.cols, self.rows, self.r, self.c = cols, [[]], 0, 0

    def _row(self) -> list[str]:
        while len(self.rows) <= self.r:
            self.rows.append([])
        return self.rows[self.r]

    def feed(self, s: str) -> None:
        i = 0
        while i < len(s):
            ch = s[i]
            if ch == "\x1b":
                m = re.match(r"\x1b\[(\d*)([A-Za-z])", s[i:])
                assert m, repr(s[i:i + 8])
                n, op = int(m.group(1) or 1), m.group(2)
                if op == "K":
                    del self._row()[self.c:]
                elif op == "A":
                    self.r = max(0, self.r - n)
                elif op == "J":
                    del self._row()[self.c:]
                    del self.rows[self.r + 1:]
                i += m.end()
                continue
            if ch == "\r":
                self.c = 0
            elif ch == "\n":                              # a tty's output turns LF into CR LF
                self.r, self.c = self.r + 1, 0
                self._row()
            elif ch >= " ":
                if self.c >= self.cols:                  # auto-wrap
                    self.r, self.c = self.r + 1, 0
                row = self._row()
                row.extend(" " * (self.c - len(row)))
                if self.c < len(row):
                    row[self.c] = ch
                else:
                    row.append(ch)
                self.c += 1
            i += 1

    def lines(self) -> list[str]:
        return ["".join(r).rstrip() for r in self.rows]


def test_fit_keeps_a_streamed_row_on_one_terminal_row():
    from client.talk import erase, fit, width_of
    text = "Mira: " + "word " * 80
    for cols in (10, 40, 80, 200):
        row = fit(text, cols)
        assert width_of(row) <= cols - 1 and text.rstrip().endswith(row.lstrip("…").rstrip())
    assert fit("short", 80) == "short"
    assert width_of(fit("喫茶店" * 30, 20)) <= 19                 # wide characters count twice
    assert erase(0) == "" and erase(3) == "\r\x1b[K" + "\x1b[A\x1b[K" * 2


def test_a_long_streamed_line_is_replaced_by_its_final_without_a_trace():
    from client.talk import Talk

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    class NoBot:
        user, listeners, entities = 1, [], {}

    out = Tty()
    talk = Talk(NoBot(), out)                          # type: ignore[arg-type]
    talk.columns = lambda: 30                          # type: ignore[method-assign]
    talk.print("* joined")
    first = "The Cafe is about 43 m north-east of here, past the fountain and the benches."
    second = " It opens every day at seven in the morning."
    base = {"t": "chat", "ch": "near", "from": 7, "name": "Mira", "sid": 3, "e": 7}
    talk.on_message({**base, "partial": True, "seq": 0, "text": first})
    talk.on_message({**base, "t": "chat", "ch": "near", "from": 8, "name": "Bob", "id": 1, "text": "hi"})
    talk.on_message({**base, "partial": True, "seq": 1, "text": second})
    final = first + second + " Would you like me to walk you there?"
    talk.on_message({**base, "id": 2, "ts": 1, "text": final})
    screen = Screen(30)
    screen.feed(out.getvalue())
    lines = [ln for ln in screen.lines() if ln]
    assert lines[0] == "* joined" and lines[1] == "Bob: hi"
    assert "".join(lines[2:]).replace(" ", "") == f"Mira: {final}".replace(" ", "")   # wrapped, whole
    assert not any("…" in ln for ln in lines)                                          # no streamed row left


@aio
async def test_talk_on_a_terminal_replaces_streamed_speech_in_place(tmp_path):
    """`agora talk` on a pseudo-terminal 40 columns wide: a three-sentence line streams while
    the person types; what stays on screen is each finished line once, and no streamed row."""
    import fcntl
    import pty
    import struct
    import termios

    from tests.agents.test_agents_live import agent
    from world.agents.brain import ScriptedBrain
    cols = 40
    draft = ("The Cafe is about 43 m north-east of here. The Garden is about 38 m north-west of here. "
             "The Stage is about 46 m north of here.")
    async with running_server(tmp_path / "data", agents="guide") as srv:
        guide = await agent(srv, "guide")
        srv.agents.brains["scripted"] = ScriptedBrain(delay_s=0.15)
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "world.cli", "talk", "--url", srv.url, "--name", "Alice",
            cwd=ROOT, env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "conf")},
            stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        seen = bytearray()
        loop = asyncio.get_running_loop()

        async def read_until(marker: bytes, timeout: float = 20.0) -> None:
            async with asyncio.timeout(timeout):
                while marker not in seen:
                    try:
                        seen.extend(await loop.run_in_executor(None, os.read, master, 4096))
                    except OSError:
                        return
        try:
            await read_until(b"joined")
            line = asyncio.create_task(guide.say(draft, ["Cafe", "Garden", "Stage"]))
            await read_until(" …".encode())                            # the first streamed row
            os.write(master, b"hi Mira\n")                             # typed while it streams
            final = await line
            await read_until(b"Stage is about 46 m north of here.\r\n")
            await asyncio.sleep(0.5)
            os.write(master, b"/quit\n")
            await asyncio.wait_for(proc.wait(), 20)
            try:
                while chunk := os.read(master, 4096):
                    seen.extend(chunk)
            except OSError:
                pass
        finally:
            if proc.returncode is None:
                proc.kill()
            os.close(master)
    screen = Screen(cols)
    screen.feed(seen.decode("utf-8", "replace"))
    text = "\n".join(screen.lines())
    flat = "".join(ln for ln in screen.lines()).replace(" ", "")
    assert f"Mira:{final}".replace(" ", "") in flat, text
    assert flat.count("TheCafeisabout43m") == 1, text                  # said once, no stale partial
    assert "…" not in text, text
    assert sum(ln.strip() == "hi Mira" for ln in screen.lines()) == 1, text
