"""`agora talk`: a terminal chat client for talking with agents and people, no 3D needed.

Lines you type are said out loud (near chat). Commands:
  /dm NAME|ID TEXT     a direct message (NAME is matched against who is online)
  /group ID TEXT       a message to a group you belong to
  /summon              call your personal companion; /dismiss sends it away
  /go PLACE            walk to a named place of the world (the server moves you at walking speed)
  /who                 who is online, and where
  /places              the world's named places
  /quit                leave
Agents' streamed speech is printed as it arrives, then replaced by the final line.
The session token is kept per server and name (client.tokens), so the next
`agora talk --name Alice` is Alice again, and her companion remembers her.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import sys
from typing import Any, TextIO

from client.bot import Bot, BotError
from client.tokens import TokenStore, refused_as_unknown


def heading(dx: float, dy: float) -> float:
    return math.atan2(-dx, dy)


class Talk:
    def __init__(self, bot: Bot, out: TextIO = sys.stdout) -> None:
        self.bot = bot
        self.out = out
        self.names: dict[int, str] = {}
        self.streaming: dict[tuple[int, int], str] = {}      # (from, sid) -> text so far
        self.walk: asyncio.Task[None] | None = None
        self.companion: int | None = None     # user id of the companion summoned in this session
        self.live = out.isatty()          # stream partial speech in place on a terminal only
        bot.listeners.append(self.on_message)

    def print(self, line: str) -> None:
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
                first = key not in self.streaming
                self.streaming[key] = self.streaming.get(key, "") + msg.get("text", "")
                if first:
                    print(f"{tag}{msg.get('name')}: ", end="", file=self.out, flush=True)
                print(msg.get("text", ""), end="", file=self.out, flush=True)
                return
            if sid is not None and self.streaming.pop((who, sid), None) is not None:
                print("\r\033[K", end="", file=self.out)        # replace the streamed line
            if who != self.bot.user:
                self.print(f"{tag}{msg.get('name')}: {msg.get('text')}")
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
    try:
        while not bot.closed:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if line == "":                              # end of input: let replies arrive, then leave
                await asyncio.sleep(args.linger)
                break
            if not await talk.command(line):
                break
    finally:
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
