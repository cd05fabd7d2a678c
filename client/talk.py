"""`agora talk`: a terminal chat client for talking with agents and people, no 3D needed.

Lines you type are said out loud (near chat). Commands:
  /dm NAME|ID TEXT     a direct message (NAME is matched against who is online)
  /group ID TEXT       a message to a group you belong to
  /summon              call your personal companion; /dismiss sends it away
  /go PLACE            walk to a named place of the world (the server moves you at walking speed)
  /who                 who is online, and where
  /places              the world's named places
  /quit                leave
Agents' streamed speech shows on a terminal as it arrives, on rows below the transcript that
never wrap (each is cut to the terminal's width), so the final line replaces them exactly;
piped output gets final lines only.
The session token is kept per server and name (client.tokens), so the next
`agora talk --name Alice` is Alice again, and her companion remembers her.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import sys
import unicodedata
from typing import Any, TextIO

from client.bot import Bot, BotError
from client.tokens import TokenStore, refused_as_unknown


def heading(dx: float, dy: float) -> float:
    return math.atan2(-dx, dy)


def columns_of(ch: str) -> int:
    """Terminal columns one character takes: 0 for combining marks, 2 for wide East Asian."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def width_of(text: str) -> int:
    return sum(columns_of(ch) for ch in text)


def fit(text: str, columns: int) -> str:
    """``text`` on one terminal row of ``columns``: its end kept (the newest words), cut at the
    front with "…", one column left free so the cursor never wraps to a new row."""
    room = max(1, columns - 1)
    if width_of(text) <= room:
        return text
    out: list[str] = []
    used = 1                                   # the "…"
    for ch in reversed(text):
        w = columns_of(ch)
        if used + w > room:
            break
        out.append(ch)
        used += w
    return "…" + "".join(reversed(out))


def erase(rows: int) -> str:
    """The escape codes that clear the ``rows`` rows ending at the cursor's row, leaving the
    cursor at the start of the first of them."""
    return "" if rows <= 0 else "\r\033[K" + "\033[A\033[K" * (rows - 1)


class Talk:
    def __init__(self, bot: Bot, out: TextIO = sys.stdout) -> None:
        self.bot = bot
        self.out = out
        self.names: dict[int, str] = {}
        self.streaming: dict[tuple[int, int], str] = {}      # (from, sid) -> "Name: text so far"
        self.walk: asyncio.Task[None] | None = None
        self.companion: int | None = None     # user id of the companion summoned in this session
        self.live = out.isatty()          # stream partial speech in place on a terminal only
        self.shown = 0                    # rows below the transcript on screen, the cursor on the last
        self.typing: str | None = None    # the line being typed, when the terminal's echo is ours
        bot.listeners.append(self.on_message)

    def columns(self) -> int:
        try:
            return os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return 80

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _redraw(self, before: str = "") -> None:
        """Erase the streamed rows, write ``before`` (finished lines), draw the streams again."""
        cols = self.columns()
        rows = [fit(t + " …", cols) for t in self.streaming.values()]
        if self.typing is not None:
            rows.append(fit("> " + self.typing, cols))
        self._write(erase(self.shown) + before + "\n".join(rows))
        self.shown = len(rows)

    def print(self, line: str) -> None:
        if self.live and (self.shown or self.streaming or self.typing is not None):
            self._redraw(line + "\n")
        else:
            print(line, file=self.out, flush=True)

    def on_message(self, msg: dict[str, Any]) -> None:
        t = msg.get("t")
        if t == "chat":
            who, sid = msg.get("from", 0), msg.get("sid")
            tag = {"near": "", "dm": "(dm) ", "group": f"(group {msg.get('to')}) "}.get(msg.get("ch", ""), "")
            if msg.get("partial"):
                if not self.live:
                    return
                key = (who, sid)
                self.streaming[key] = (self.streaming.get(key) or f"{tag}{msg.get('name')}:") + \
                    (" " if key not in self.streaming else "") + str(msg.get("text", "")).replace("\n", " ")
                self._redraw()
                return
            if sid is not None:
                self.streaming.pop((who, sid), None)             # the final replaces the streamed row
            if who != self.bot.user:
                self.print(f"{tag}{msg.get('name')}: {msg.get('text')}")
            elif self.live and self.shown:
                self._redraw()
        elif t == "presence":
            for p in msg.get("online", []):
                self.names[p["user"]] = p["name"]
        elif t == "error":
            # The one place server errors are shown: a request's BotError is the same message.
            self.print(f"! {msg.get('code')}: {msg.get('msg')}")
        elif t == "emote":
            ent = self.bot.entities.get(msg.get("e"), {})
            self.print(f"* {ent.get('name', msg.get('e'))} {msg.get('emote')}s")
        elif t == "invite":
            g = msg.get("group", {})
            self.print(f"* invited to group {g.get('id')} ({g.get('name')}) by {msg.get('by')}")

    async def who(self) -> list[dict[str, Any]]:
        users = await self.bot.who()
        for u in users:
            self.names[u["user"]] = u["name"]
        return users

    async def resolve(self, target: str) -> int | None:
        if target.isdigit():
            return int(target)
        users = await self.who()
        low = target.lower()
        exact = [u for u in users if u["name"].lower() == low]
        pref = [u for u in users if u["name"].lower().startswith(low)]
        # "Pip" = my companion: the one summoned here, else "Pip (Alice)" / "Pip (Alice #12)"
        own = re.compile(rf"\({re.escape(self.bot.name)}( #{self.bot.user})?\)$")
        mine = [u for u in pref if u["user"] == self.companion or own.search(u["name"])]
        mine.sort(key=lambda u: u["user"] != self.companion)
        hit = exact or mine or pref
        return hit[0]["user"] if hit else None

    async def go(self, place: str) -> None:
        places = {p["name"].lower(): p for p in self.bot.space.get("places", [])}
        p = places.get(place.lower())
        if p is None:
            self.print(f"! no place {place!r}; try /places")
            return
        if self.walk is not None:
            self.walk.cancel()
        self.walk = asyncio.create_task(self._walk(p["at"]))
        self.print(f"* walking to the {p['name']}")

    async def _walk(self, at: list[float]) -> None:
        for _ in range(600):
            pos = self.bot.position()
            if pos is None:
                await asyncio.sleep(0.1)
                continue
            dx, dy = at[0] - pos[0], at[1] - pos[1]
            if math.hypot(dx, dy) < 2.0:
                break
            await self.bot.move(1.0, 0.0, heading(dx, dy))
            await asyncio.sleep(0.1)
        await self.bot.move(0.0, 0.0, 0.0)

    async def command(self, line: str) -> bool:
        """Run one input line; False to quit."""
        line = line.strip()
        if not line:
            return True
        try:
            if not line.startswith("/"):
                await self.bot.say(line)
            elif line in ("/quit", "/exit"):
                return False
            elif line == "/who":
                for u in await self.who():
                    self.print(f"  {u['user']:>5}  {u['name']:<24} {u.get('kind', ''):<8} {u.get('place') or ''}")
            elif line == "/places":
                for p in self.bot.space.get("places", []):
                    self.print(f"  {p['name']:<10} {p.get('description', '')}")
            elif line in ("/summon", "/dismiss"):
                r = await self.bot.request("summon", agent="companion", **({"away": True} if line == "/dismiss" else {}))
                self.companion = None if r.get("away") else r.get("user", self.companion)
                self.print(f"* {r.get('name', 'companion')} {'leaves' if r.get('away') else 'is with you'}"
                           + (f" (user {r['user']}; /dm {r['user']} ...)" if "user" in r and not r.get("away") else ""))
            elif line.startswith("/dm "):
                _, target, *rest = line.split(" ", 2)
                uid = await self.resolve(target)
                if uid is None or not rest:
                    self.print("! usage: /dm NAME|ID TEXT (NAME must be online)")
                else:
                    await self.bot.dm(uid, rest[0])
            elif line.startswith("/group "):
                _, gid, *rest = line.split(" ", 2)
                if not gid.isdigit() or not rest:
                    self.print("! usage: /group ID TEXT")
                else:
                    await self.bot.group_say(int(gid), rest[0])
            elif line.startswith("/go "):
                await self.go(line[4:].strip())
            else:
                self.print("! commands: /dm /group /summon /dismiss /go /who /places /quit")
        except BotError as exc:
            if exc.rid is None:              # not a server reply (those print as they arrive)
                self.print(f"! {exc}")
        except TimeoutError:
            self.print("! no reply from the server yet")
        return True


class LineEditor:
    """The person's typing on a terminal, without the terminal's own echo: the line being typed
    is drawn by `Talk` as the last row below the transcript, so every row there is ours to
    erase and redraw exactly (an echo would land at an unknown place after a streamed row).
    Enter sends the line, Backspace and Ctrl-U edit it, Ctrl-D on an empty line ends input,
    Ctrl-C interrupts as usual; other control keys and escape sequences are ignored."""

    def __init__(self, talk: Talk, fd: int) -> None:
        self.talk, self.fd = talk, fd
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self.buffer = ""
        self._saved: Any = None
        self._escape = False
        import codecs
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def start(self) -> None:
        import termios
        self._saved = termios.tcgetattr(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[3] &= ~(termios.ICANON | termios.ECHO)
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 1, 0
        termios.tcsetattr(self.fd, termios.TCSADRAIN, attrs)
        asyncio.get_running_loop().add_reader(self.fd, self._readable)
        self.talk.typing = ""
        self.talk._redraw()

    def stop(self) -> None:
        import termios
        try:
            asyncio.get_running_loop().remove_reader(self.fd)
        except RuntimeError:
            pass
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None
        if self.talk.typing is not None:
            self.talk.typing = None
            self.talk._redraw()

    async def readline(self) -> str:
        """The next line with its newline, or "" at the end of input."""
        return await self.lines.get()

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 1024)
        except OSError:
            data = b""
        if not data:
            self.lines.put_nowait("")
            return
        for ch in self._decoder.decode(data):
            self.key(ch)
        self.talk.typing = self.buffer
        self.talk._redraw()

    def key(self, ch: str) -> None:
        if self._escape:                      # skip an escape sequence (arrow keys and such)
            self._escape = not (ch.isalpha() or ch == "~")
            return
        if ch == "\x1b":
            self._escape = True
        elif ch in "\r\n":
            line, self.buffer = self.buffer, ""
            self.talk.typing = ""
            self.talk._redraw(line + "\n")     # the typed line stays in the transcript
            self.lines.put_nowait(line + "\n")
        elif ch in "\x7f\b":
            self.buffer = self.buffer[:-1]
        elif ch == "\x15":
            self.buffer = ""
        elif ch == "\x04":
            if not self.buffer:
                self.lines.put_nowait("")
        elif ch >= " " or ch == "\t":
            self.buffer += " " if ch == "\t" else ch


async def join(args: argparse.Namespace, tokens: TokenStore, out: TextIO = sys.stdout) -> tuple[Bot, bool]:
    """Connect with the token chosen by `tokens.choose`; a kept token the server does not know
    (its data reset) becomes a new account, said in one line. Keeps the welcome's token;
    returns the bot and whether that worked."""
    choice = tokens.choose(args.url, args.name, args.token, args.new)
    try:
        bot = await Bot.connect(args.url, args.name, kind="desktop", token=choice.token, space=args.space)
    except BotError as exc:
        if choice.source != "stored" or not refused_as_unknown(exc.code, exc.close_code):
            raise
        print(f"* the server does not know the session kept for {args.name} "
              "(its data may have been reset); joining as a new user", file=out, flush=True)
        bot = await Bot.connect(args.url, args.name, kind="desktop", space=args.space)
    try:
        tokens.put(args.url, args.name, bot.token)
    except OSError as exc:
        print(f"agora talk: cannot keep the session in {tokens.path}: {exc}", file=sys.stderr)
        return bot, False
    return bot, True


async def main_async(args: argparse.Namespace) -> int:
    tokens = TokenStore()
    try:
        bot, kept = await join(args, tokens)
    except (OSError, BotError) as exc:
        print(f"agora talk: cannot join {args.url}: {exc}", file=sys.stderr)
        return 1
    talk = Talk(bot)
    sp = bot.space
    talk.print(f"* joined {sp.get('title', sp.get('id'))} as {bot.name} "
               f"(user {bot.user}, {'resumed' if bot.resumed else 'new user'}"
               + (f"; session kept in {tokens.path}); " if kept else "); ")
               + 
               "type to speak, /help for commands")
    loop = asyncio.get_running_loop()
    editor = LineEditor(talk, sys.stdin.fileno()) if talk.live and sys.stdin.isatty() else None
    if editor is not None:
        editor.start()
    try:
        while not bot.closed:
            line = await (editor.readline() if editor else loop.run_in_executor(None, sys.stdin.readline))
            if line == "":                              # end of input: let replies arrive, then leave
                await asyncio.sleep(args.linger)
                break
            if not await talk.command(line):
                break
    finally:
        if editor is not None:
            editor.stop()
        await bot.close()
    if bot.closed_code not in (None, 1000) and not bot.closed_by_us:
        talk.print(f"* disconnected: {bot.closed_code} {bot.closed_reason}")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default="ws://127.0.0.1:8765", help="server URL")
    p.add_argument("--name", required=True, help="your display name")
    p.add_argument("--token", default=None,
                   help="session token of an account to resume (default: the one kept for this server and name)")
    p.add_argument("--new", action="store_true",
                   help="join as a new user instead of resuming the kept session (then keep the new one)")
    p.add_argument("--space", default=None, help="world or world#instance to join")
    p.add_argument("--linger", type=float, default=3.0,
                   help="seconds to keep listening after input ends (piped input)")


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(main_async(args))
    except KeyboardInterrupt:
        return 0
