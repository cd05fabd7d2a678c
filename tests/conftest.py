"""Shared fixtures: a real WorldServer on 127.0.0.1 (ephemeral port) over a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from world.config import load_config
from world.net.server import WorldServer


def aio(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Run an async test body in a fresh event loop."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))
    return wrapper


@contextlib.asynccontextmanager
async def running_server(data: Path, **overrides: Any) -> AsyncIterator[WorldServer]:
    """Start a server in this event loop; stop it (clean shutdown) on exit."""
    cfg = load_config(None, env={}, port=0, data=str(data), **overrides)
    server = WorldServer(cfg)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.02) -> None:
    """Poll until predicate() is true (raises TimeoutError)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(step)
