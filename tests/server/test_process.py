"""The `agora serve` process: URL on stdout, clean SIGTERM shutdown, and kill -9 losing nothing acknowledged."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from client.bot import Bot
from tests.conftest import aio
from world.protocol import CLOSE

ROOT = Path(__file__).resolve().parents[2]


def start_server(data: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "world.cli", "serve", "--port", "0", "--data", str(data)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = re.search(r"ws://127\.0\.0\.1:\d+", line or "")
        if found:
            return proc, found.group(0)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("agora serve did not print its URL")


@aio
async def test_sigterm_closes_clients_with_going_away_and_keeps_data(tmp_path):
    proc, url = start_server(tmp_path)
    try:
        bot = await Bot.connect(url, "Ada")
        token = bot.token
        proc.send_signal(signal.SIGTERM)
        code, _ = await bot.wait_closed(timeout=10)
        assert code == CLOSE["going_away"]
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
    proc, url = start_server(tmp_path)
    try:
        again = await Bot.connect(url, "Ada", token=token)
        assert again.welcome["resumed"]
        await again.close()
    finally:
        proc.kill()
        proc.wait()


@aio
async def test_kill_9_loses_no_acknowledged_message(tmp_path):
    proc, url = start_server(tmp_path)
    acked: list[tuple[int, str]] = []
    try:
        ada = await Bot.connect(url, "Ada")
        bob = await Bot.connect(url, "Bob")
        group = (await ada.group("create", name="ledger"))["group"]["id"]
        await ada.group("invite", group=group, user=bob.user)
        await bob.group("join", group=group)
        await bob.close()

        async def writer() -> None:
            i = 0
            while True:
                text = f"entry {i}"
                try:
                    ack = await ada.group_say(group, text)
                except Exception:
                    return
                acked.append((ack["id"], text))
                i += 1
                await asyncio.sleep(1 / 3.5)      # inside the chat rate limit
        task = asyncio.create_task(writer())
        await asyncio.sleep(2.5)
        os.kill(proc.pid, signal.SIGKILL)       # no shutdown, no flush
        proc.wait()
        await asyncio.wait_for(task, 10)
    finally:
        proc.kill()
    assert len(acked) >= 5
    proc, url = start_server(tmp_path)
    try:
        bob = await Bot.connect(url, "Bob", token=bob.token)
        texts: dict[int, str] = {}
        before = None
        while True:
            page = await bob.history("group", group, before=before, limit=100)
            texts.update({m["id"]: m["text"] for m in page["msgs"]})
            if not page["more"]:
                break
            before = page["cursor"]
        missing = [(i, t) for i, t in acked if texts.get(i) != t]
        assert not missing, f"acknowledged but lost: {missing}"
        await bob.close()
    finally:
        proc.kill()
        proc.wait()


@aio
async def test_shutdown_closes_clients_that_never_said_hello(tmp_path):
    import socket

    from websockets.asyncio.client import connect

    from tests.conftest import running_server
    bare = None
    async with running_server(tmp_path) as srv:
        ws = await connect(srv.url, compression=None, proxy=None)
        bare = socket.create_connection(("127.0.0.1", srv.port))     # never upgrades
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 8
    await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.close_code == CLOSE["going_away"]
    bare.close()
