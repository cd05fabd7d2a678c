"""The HTTP side door: /health and /stats on the same port as the WebSocket endpoint."""

from __future__ import annotations

import asyncio
import json
import urllib.request

from client.bot import Bot
from tests.conftest import aio, running_server


def _get(port: int, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return resp.status, resp.read()


@aio
async def test_stats_report_clients_and_tick_percentiles(tmp_path):
    async with running_server(tmp_path) as srv:
        bot = await Bot.connect(srv.url, "Ada")
        await asyncio.sleep(0.3)
        status, body = await asyncio.to_thread(_get, srv.port, "/stats")
        stats = json.loads(body)
        assert status == 200 and stats["clients"] == 1 and stats["spaces"] == {"plaza#1": 1}
        assert stats["ticks"] > 0 and 0 < stats["tick_p50_ms"] <= stats["tick_p99_ms"] <= stats["tick_max_ms"]
        status, body = await asyncio.to_thread(_get, srv.port, "/health")
        assert status == 200 and body == b"ok\n"
        await bot.close()
