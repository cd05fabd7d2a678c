"""disk: the server's data on a small tmpfs that fills up. Refuse what cannot be stored, keep the rest.

The data directory is a tmpfs of `size_mb` (mounted directly when root; otherwise inside a user
and mount namespace held open by a sleeping process, which the server joins with nsenter). Bots
chat and get acks; then a filler file takes every free byte (ENOSPC). While the disk is full:
chat must be answered with `unavailable` (not `internal`), movement must go on, a newcomer's
hello must get `unavailable` and close 1013, and SIGTERM must end the server with status 0 and
no traceback. Then the filler goes, the server restarts on the same data, and every line acked
before or during the full period is read back.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from client.bot import Bot, BotError
from world.chaos.ledger import CHANNELS, CHAT_RATE, Cast, Ledger, audit, db_path, say_one, stored_lines, target
from world.chaos.process import ServerProcess, has_traceback, server_env
from world.chaos.report import Outcome

HOLD_S = 3600                    # the namespace holder sleeps at most this long
MIN_MOVED_M = 1.0
TRY_AGAIN_LATER = 1013           # RFC 6455 close code for a refusal that may succeed later


@dataclass
class DiskOptions:
    size_mb: int = 16
    bots: int = 3
    lines_before: int = 6          # lines each bot says (and gets acked) before the disk fills
    full_chats: int = 6            # lines each bot tries while the disk is full
    move_s: float = 1.5
    required: bool = False         # fail (rather than skip) where no tmpfs can be made
    via: str = "auto"              # auto (mount when root, else a namespace) | mount | namespace
    seed: int = 0


class SmallDisk:
    """A tmpfs for the server's data. `data` is its path as the server sees it; `host` as we see it."""

    def __init__(self, mount: Path, host: Path, prefix: list[str], holder: subprocess.Popen[str] | None,
                 how: str) -> None:
        self.data = mount
        self.host = host
        self.prefix = prefix          # argv prefix that runs a command where the tmpfs is mounted
        self.holder = holder
        self.how = how

    @classmethod
    def make(cls, mount: Path, size_mb: int, via: str = "auto") -> "SmallDisk | str":
        """The tmpfs, or the reason none could be made here."""
        mount.mkdir(parents=True, exist_ok=True)
        reasons = []
        if via == "mount" or (via == "auto" and os.geteuid() == 0):
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)],
                                  capture_output=True, text=True)
            if done.returncode == 0:
                return cls(mount, mount, [], None, "mount -t tmpfs (root)")
            reasons.append(f"mount: {done.stderr.strip() or done.returncode}")
        if via == "mount":
            pass
        elif shutil.which("unshare") and shutil.which("nsenter"):
            script = f'mount -t tmpfs -o size={size_mb}m tmpfs "$1" && echo ready && exec sleep {HOLD_S}'
            holder = subprocess.Popen(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script,
                                       "sh", str(mount)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
            line = holder.stdout.readline() if holder.stdout else ""
            if line.strip() == "ready":
                prefix = ["nsenter", f"--target={holder.pid}", "--user", "--mount", "--preserve-credentials", "--"]
                return cls(mount, Path(f"/proc/{holder.pid}/root") / mount.relative_to("/"), prefix, holder,
                           "unshare --user --mount + nsenter")
            holder.kill()
            _, err = holder.communicate()
            reasons.append(f"unshare: {err.strip()[:200] or holder.returncode}")
        else:
            reasons.append("unshare/nsenter not found")
        return "; ".join(reasons)

    def free_bytes(self) -> int:
        st = os.statvfs(self.host)
        return st.f_bavail * st.f_frsize

    def fill(self) -> int:
        """Write a filler file until the tmpfs is full (ENOSPC); the bytes written."""
        written = 0
        with open(self.host / "filler", "wb", buffering=0) as fh:
            for size in (1 << 20, 1 << 16, 1 << 12):
                block = b"\0" * size
                while True:
                    try:
                        written += fh.write(block) or 0
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        return written

    def unfill(self) -> None:
        (self.host / "filler").unlink(missing_ok=True)

    def copy_store(self, to: Path) -> Path:
        """Copy the store files out (SQLite follows /proc/PID/root back to the host's view)."""
        to.mkdir(parents=True, exist_ok=True)
        db = db_path(self.host)
        for suffix in ("", "-wal", "-shm"):
            src = db.with_name(db.name + suffix)
            if src.exists():
                shutil.copyfile(src, to / src.name)
        return to / db.name

    def close(self) -> None:
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()
        elif self.host == self.data:
            if subprocess.run(["umount", str(self.data)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(self.data)], capture_output=True)


async def chat_rounds(cast: Cast, ledger: Ledger, tries: int, tag: str, seed: int) -> Counter:
    """Each bot says `tries` lines, on near, dm and group in turn; the outcomes ("ack" or error codes)."""
    outcomes: Counter = Counter()

    async def one(bot: Bot, rng: random.Random) -> None:
        for i in range(tries):
            ch = CHANNELS[i % len(CHANNELS)]
            text = f"{tag} {bot.name} #{i} {ch}"
            outcomes[await say_one(bot, ch, target(rng, bot, cast, ch), text, ledger)] += 1
            await asyncio.sleep(1.0 / CHAT_RATE)

    await asyncio.gather(*(one(bot, random.Random(seed + k)) for k, bot in enumerate(cast.bots)))
    return outcomes


async def moves_while_full(bot: Bot, seconds: float) -> float:
    """Walk forward for `seconds`; the distance the bot's own avatar covered, from its snapshots."""
    await bot.wait_for("snap", 5.0)
    x0, y0 = bot.position() or (0.0, 0.0)
    seq = await bot.move(1.0, 0.0, bot.welcome.get("yaw", 0.0))
    await bot.wait_ack(seq)
    await asyncio.sleep(seconds)
    await bot.move(0.0, 0.0, bot.welcome.get("yaw", 0.0))
    x1, y1 = bot.position() or (x0, y0)
    return ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5


async def newcomer(url: str) -> tuple[str, int | None]:
    """A first hello (no token: it needs a new account): (error code or "welcome", close code)."""
    try:
        bot = await Bot.connect(url, "Newcomer")
    except BotError as exc:
        return exc.code, exc.close_code
    await bot.close()
    return "welcome", None


async def run(opts: DiskOptions, work: Path) -> Outcome:
    out = Outcome("disk", required=opts.required)
    disk = SmallDisk.make(work / "tmpfs", opts.size_mb, opts.via)
    if isinstance(disk, str):
        out.ran = False
        out.reason = f"no tmpfs here: {disk}"
        return out
    log = work / "server.log"
    ledger = Ledger()
    cast: Cast | None = None
    srv: ServerProcess | None = None
    try:
        srv = ServerProcess.start(disk.data, log, env=server_env(), prefix=disk.prefix)
        cast = await Cast.assemble(srv.url, opts.bots, "disk-")
        await chat_rounds(cast, ledger, opts.lines_before, "before", opts.seed)
        acked_before = len(ledger.lines)
        free_before = disk.free_bytes()
        filled = await asyncio.to_thread(disk.fill)
        t_full = time.monotonic()
        outcomes = await chat_rounds(cast, ledger, opts.full_chats, "full", opts.seed + 100)
        acked_full = len(ledger.lines) - acked_before
        moved = await moves_while_full(cast.bots[0], opts.move_s)
        hello = await newcomer(srv.url)
        log_mark = srv.log_size()
        logged_while_full = srv.log_text()
        exit_code = await asyncio.to_thread(srv.terminate, 30.0)
        after_sigterm = srv.log_text(log_mark)
        full_s = time.monotonic() - t_full
        await cast.leave()

        disk.unfill()
        srv = ServerProcess.start(disk.data, log, env=server_env(), prefix=disk.prefix)
        await cast.rejoin(srv.url)
        found = await audit(cast, ledger, None)
        await cast.leave()
        await asyncio.to_thread(srv.terminate)
        copy = disk.copy_store(work / "store-copy")
        stored = stored_lines(copy, min(line.id for line in ledger.lines), max(line.id for line in ledger.lines)) \
            if ledger.lines else {}
        missing_store = [line for line in ledger.lines if stored.get(line.id) != (line.ch, line.text)]
    finally:
        if cast is not None:
            await cast.leave()
        if srv is not None:
            srv.close()
        disk.close()

    refused = {code: n for code, n in outcomes.items() if code != "ack"}
    lost = len({line.id for line in found.missing_history} | {line.id for line in missing_store})
    out.at_least("lines acked before the disk filled", acked_before, 1)
    out.check("chat on a full disk answered `unavailable`",
              refused.get("unavailable", 0) >= 1 and set(refused) <= {"unavailable"},
              dict(outcomes), "only ack or unavailable, >= 1 unavailable")
    out.equal("`internal` errors on a full disk", outcomes.get("internal", 0), 0)
    out.at_least("movement on a full disk (m walked)", round(moved, 2), MIN_MOVED_M, " m")
    out.equal("newcomer's hello on a full disk (code, close)", hello, ("unavailable", TRY_AGAIN_LATER))
    out.equal("SIGTERM on a full disk: exit status", exit_code, 0)
    out.equal("traceback on stderr after SIGTERM", has_traceback(after_sigterm), False)
    out.equal("acked lines lost (before and during the full disk)", lost, 0)
    out.metrics.update({
        "tmpfs": f"{opts.size_mb} MB via {disk.how}",
        "free before the filler (bytes)": free_before, "filler (bytes)": filled,
        "acked before / while full": [acked_before, acked_full],
        "full-disk period (s)": round(full_s, 1),
        "tracebacks logged while full": logged_while_full.count("Traceback (most recent call last)"),
        "missing via history / in the store file": [[line.id for line in found.missing_history][:10],
                                                    [line.id for line in missing_store][:10]],
    })
    return out
