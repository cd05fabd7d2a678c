"""Every dialogue in assets/dialogues, with the scripted brain, over real sockets: a real server
(kept up for the module in a background thread), a new account per dialogue."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from world.bench.dialogues import Runner, ServerHandle, load_dialogues
from world.config import load_config
from world.net.server import WorldServer

DIALOGUES = load_dialogues()


async def _start(data):
    cfg = load_config(None, env={}, port=0, data=str(data), brain="scripted", agents="guide,barista")
    srv = WorldServer(cfg)
    await srv.start()
    return srv


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    handle = ServerHandle(_start, tmp_path_factory.mktemp("dialogues")).open_in_thread()
    yield handle
    handle.close()


def test_there_are_at_least_100_dialogues_across_the_three_agents():
    per_agent = Counter(d.agent for d in DIALOGUES)
    assert len(DIALOGUES) >= 100, per_agent
    assert set(per_agent) == {"guide", "barista", "companion"} and min(per_agent.values()) >= 25, per_agent


@pytest.mark.parametrize("dialogue", DIALOGUES, ids=[f"{d.agent}: {d.name}" for d in DIALOGUES])
def test_dialogue(server, dialogue):
    result = asyncio.run(Runner(server).run(dialogue))
    assert result.ok, "\n" + result.describe()
