"""A real server (and bots) on a background event loop, for tests whose main thread runs the client.

The client under test owns the main thread (Panda3D frames, its own network thread), so
the server cannot share the test's event loop: `ServerThread` runs `running_server` in a
loop of its own and `call()` runs coroutines there (bots included).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from world.config import load_config
from world.net.server import WorldServer

T = TypeVar("T")

# A small test world: the first joiner stands at the origin facing +y (yaw 0), the second
# 6 m straight ahead of it, the third off to the side. One wall the tests can walk into.
FACING = """
name = "facing"
title = "Facing test"
capacity = 50
sky = [0.55, 0.72, 0.92]
ground = [0.42, 0.58, 0.33]
[bounds]
min = [-30.0, -30.0]
max = [30.0, 30.0]
[[box]]
name = "east-wall"
min = [3.0, -10.0, 0.0]
max = [3.4, 10.0, 2.5]
color = [0.8, 0.5, 0.4]
[[place]]
name = "Middle"
at = [0.0, 3.0]
[[spawn]]
at = [0.0, 0.0]
yaw = 0.0
[[spawn]]
at = [0.0, 6.0]
yaw = 3.1416
[[spawn]]
at = [-20.0, -20.0]
yaw = 0.0
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """`with ServerThread(tmp_path) as srv:` a running server; `srv.call(coro)` runs on its loop."""

    def __init__(self, data: Path, world: str | None = None, **overrides: Any) -> None:
        self.data = data
        self.port = free_port()
        self.overrides = dict(overrides)
        if world is not None:
            self.overrides["world"] = world
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-server", daemon=True)
        self.server: WorldServer | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def call(self, coro: Awaitable[T], timeout: float = 20.0) -> T:
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return fut.result(timeout)

    async def _start(self) -> None:
        overrides = {"agents": "", "brain": "scripted", **self.overrides}     # agents opt-in, as in conftest
        cfg = load_config(None, env={}, port=self.port, data=str(self.data), **overrides)
        self.server = WorldServer(cfg)
        await self.server.start()

    async def _stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    def start(self) -> None:
        self.call(self._start())

    def stop(self) -> None:
        self.call(self._stop())

    def __enter__(self) -> ServerThread:
        self.thread.start()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


def pump(step: Callable[[], Any], predicate: Callable[[], bool], timeout: float = 10.0,
         what: str = "condition") -> None:
    """Call `step()` (one client frame) until predicate() holds; raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        step()
        time.sleep(0.005)
