"""Shared fixtures: a real WorldServer on 127.0.0.1 (ephemeral port) over a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from hypothesis import settings

from world.config import load_config
from world.net.server import WorldServer

# CI runs the same examples every time (a property failure there is reproducible, not luck);
# locally hypothesis keeps exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def aio(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Run an async test body in a fresh event loop."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))
    return wrapper


@contextlib.asynccontextmanager
async def running_server(data: Path, **overrides: Any) -> AsyncIterator[WorldServer]:
    """Start a server in this event loop; stop it (clean shutdown) on exit."""
    # Agents are opt-in per test: most tests are about people, and count what they see.
    overrides.setdefault("agents", "")
    overrides.setdefault("brain", "scripted")
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
