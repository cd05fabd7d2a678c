"""The chat ledger: every line the server acknowledged, and the proof that it is still stored.

A `Cast` is a few bots that share a group, so each can speak on every channel (near, dm to
another bot, group). Each `ack` (protocol §5.5: committed before it is sent) goes into the
`Ledger`. After a crash the bots come back with their tokens and read the lines back: dm and
group lines with `history`, as any client would; near lines cannot be fetched with `history`
(§8.2), so they are read from the store file itself with a read-only SQLite connection.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from client.bot import Bot, BotClosed, BotError
from world.config import load_config

CHANNELS = ("near", "dm", "group")
CHAT_RATE = 2.8                  # lines per second per bot: inside the chat bucket (3/s, §10.1)
HISTORY_RATE = 12.0              # history pages per second per bot: inside the request bucket (20/s)
REPLY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Line:
    """One acknowledged chat line."""

    id: int
    ch: str
    sender: int
    to: int | None
    text: str


@dataclass
class Ledger:
    lines: list[Line] = field(default_factory=list)
    refused: Counter = field(default_factory=Counter)     # error code, "timeout" or "closed" -> lines not acked

    def by_channel(self) -> dict[str, int]:
        return dict(Counter(line.ch for line in self.lines))


@dataclass
class Cast:
    """Bots that share one group; their tokens bring them back after a restart."""

    names: list[str]
    tokens: list[str]
    users: list[int]
    group: int
    bots: list[Bot] = field(default_factory=list)

    @classmethod
    async def assemble(cls, url: str, count: int, prefix: str) -> "Cast":
        bots = [await Bot.connect(url, f"{prefix}{i}") for i in range(count)]
        group = (await bots[0].group("create", name=f"{prefix} ledger"))["group"]["id"]
        for bot in bots[1:]:
            await bots[0].group("invite", group=group, user=bot.user)
            await bot.group("join", group=group)
        return cls([b.name for b in bots], [b.token for b in bots], [b.user for b in bots], group, bots)

    async def rejoin(self, url: str) -> None:
        self.bots = [await Bot.connect(url, name, token=token) for name, token in zip(self.names, self.tokens)]

    async def leave(self) -> None:
        for bot in self.bots:
            if not bot.closed:
                try:
                    await bot.close()
                except Exception:   # the server may be gone already
                    pass
        self.bots = []


def target(rng: random.Random, bot: Bot, cast: Cast, ch: str) -> int | None:
    """The `to` of a line on channel `ch`: none for near, the cast's group, another bot for a dm."""
    if ch == "near":
        return None
    if ch == "group":
        return cast.group
    return rng.choice([u for u in cast.users if u != bot.user])


def pick(rng: random.Random, bot: Bot, cast: Cast) -> tuple[str, int | None]:
    """A random channel and its `to` for this bot's next line."""
    ch = rng.choice(CHANNELS)
    return ch, target(rng, bot, cast, ch)


async def say_one(bot: Bot, ch: str, to: int | None, text: str, ledger: Ledger) -> str:
    """Send one line; record an ack in the ledger. Returns "ack", an error code, "timeout" or "closed"."""
    try:
        ack = await bot.chat(ch, text, to=to, timeout=REPLY_TIMEOUT_S)
    except BotClosed:                 # in flight when the connection went: no answer either way
        ledger.refused["closed"] += 1
        return "closed"
    except BotError as exc:
        ledger.refused[exc.code] += 1
        return exc.code
    except TimeoutError:
        ledger.refused["timeout"] += 1
        return "timeout"
    ledger.lines.append(Line(int(ack["id"]), ch, bot.user, to, text))
    return "ack"


async def chat_until(bot: Bot, cast: Cast, ledger: Ledger, rng: random.Random, tag: str,
                     stop: asyncio.Event) -> None:
    """Say lines on random channels at CHAT_RATE until `stop` or until the connection ends."""
    n = 0
    while not stop.is_set():
        ch, to = pick(rng, bot, cast)
        n += 1
        started = time.monotonic()
        if await say_one(bot, ch, to, f"{tag} {bot.name} #{n} {ch}", ledger) == "closed":
            return
        await asyncio.sleep(max(0.0, 1.0 / CHAT_RATE - (time.monotonic() - started)))


async def read_history(bot: Bot, ch: str, to: int) -> dict[int, str]:
    """Every line of one dm conversation or group, paging back to the start: {id: text}."""
    found: dict[int, str] = {}
    before: int | None = None
    while True:
        try:
            page = await bot.history(ch, to, before=before, limit=100, timeout=REPLY_TIMEOUT_S)
        except BotError as exc:
            if exc.code != "rate_limited":
                raise
            await asyncio.sleep(1.0)
            continue
        found.update({int(m["id"]): m["text"] for m in page.get("msgs", ())})
        if not page.get("more") or page.get("cursor") is None:
            return found
        before = page["cursor"]
        await asyncio.sleep(1.0 / HISTORY_RATE)


async def read_back(cast: Cast, ledger: Ledger) -> dict[int, str]:
    """The dm and group lines the cast can read with `history`: {id: text}."""
    by_user = {bot.user: bot for bot in cast.bots}
    pairs = sorted({tuple(sorted((line.sender, line.to))) for line in ledger.lines
                    if line.ch == "dm" and line.to is not None})
    found: dict[int, str] = {}

    async def one_bot(bot: Bot, jobs: list[tuple[str, int]]) -> None:
        for ch, to in jobs:
            found.update(await read_history(bot, ch, to))
            await asyncio.sleep(1.0 / HISTORY_RATE)

    jobs: dict[int, list[tuple[str, int]]] = {u: [] for u in by_user}
    for a, b in pairs:
        jobs[a].append(("dm", b))
    if any(line.ch == "group" for line in ledger.lines):
        jobs[cast.users[0]].append(("group", cast.group))
    await asyncio.gather(*(one_bot(by_user[u], js) for u, js in jobs.items() if js))
    return found


def db_path(data: Path) -> Path:
    return load_config(None, env={}, data=str(data)).db_path


def stored_lines(db: Path, lo: int, hi: int) -> dict[int, tuple[str, str]]:
    """{id: (channel, text)} of stored messages with lo <= id <= hi, read-only from the file."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10.0)) as c:
        rows = c.execute("SELECT id, ch, text FROM messages WHERE id BETWEEN ? AND ?", (lo, hi)).fetchall()
    return {int(i): (ch, text) for i, ch, text in rows}


@dataclass
class Audit:
    """Acked lines not found again: by the protocol (dm, group) and in the store file (all)."""

    checked: int
    missing_history: list[Line]
    missing_store: list[Line]

    @property
    def lost(self) -> int:
        return len({line.id for line in self.missing_history} | {line.id for line in self.missing_store})


async def audit(cast: Cast, ledger: Ledger, db: Path | None) -> Audit:
    """Read every acked line back; `db` None skips the store file (near lines are then unchecked)."""
    history = await read_back(cast, ledger)
    missing_history = [line for line in ledger.lines if line.ch != "near" and history.get(line.id) != line.text]
    missing_store: list[Line] = []
    if db is not None and ledger.lines:
        ids = [line.id for line in ledger.lines]
        stored = await asyncio.to_thread(stored_lines, db, min(ids), max(ids))
        missing_store = [line for line in ledger.lines if stored.get(line.id) != (line.ch, line.text)]
    return Audit(len(ledger.lines), missing_history, missing_store)
