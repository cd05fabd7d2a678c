"""The same agent paths with the real local model (SmolLM2-135M through llama-cpp-python):
whatever the model says, the final line keeps the facts from data, and speech streams."""

from __future__ import annotations

from client.bot import Bot
from tests.conftest import aio, running_server


def final_from(uid):
    return lambda m: m.get("t") == "chat" and not m.get("partial") and m.get("from") == uid


@aio
async def test_local_brain_phrases_but_facts_come_from_data(tmp_path):
    async with running_server(tmp_path, agents="guide,barista", brain="local") as srv:
        brain = srv.agents.brains["local"]
        assert brain.loaded                                       # loaded once, at start
        async with await Bot.connect(srv.url, "Alice") as alice:
            await alice.say("Mira, where is the cafe?")
            guide = next(a for a in srv.agents.agents.values() if a.persona.key == "guide")
            reply = await alice.wait_for(final_from(guide.user), timeout=60)
            assert "Cafe" in reply["text"] and "north-east" in reply["text"]
            partials = [m for m in alice.inbox["chat"] if m.get("partial") and m.get("sid") == reply["sid"]]
            assert partials, "the reply was not streamed"
            barista = next(a for a in srv.agents.agents.values() if a.persona.key == "barista")
            await alice.dm(barista.user, "how much is a flat white?")
            reply = await alice.wait_for(final_from(barista.user), timeout=60)
            assert "3.20" in reply["text"]
            r = await alice.request("summon", agent="companion")
            await alice.dm(r["user"], "remember that my locker code is 4471")
            await alice.wait_for(final_from(r["user"]), timeout=60)
            await alice.dm(r["user"], "what is my locker code?")
            reply = await alice.wait_for(final_from(r["user"]), timeout=60)
            assert "4471" in reply["text"]
            assert brain.generations >= 4
