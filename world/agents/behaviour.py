"""The base of what a persona does with a line addressed to it, and helpers its kinds share.

Each behaviour turns (agent, heard line, conversation state) into actions: a draft with the
facts it must keep (from data: the world file, the catalog, the store), walking, following,
placing an order. The brain only phrases the draft (world/agents/speech.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from world.agents import perception as P

if TYPE_CHECKING:
    from world.agents.agent import Agent, Conversation, Heard


def _places(agent: Agent) -> str:
    space = agent.space
    return ", ".join(p.name for p in space.world.places) if space else ""


def _context(agent: Agent, h: Heard) -> tuple[str, ...]:
    """Perception as data for the phrasing prompt: who is near and where."""
    space = agent.space
    if space is None:
        return ()
    near = P.nearby(space, agent.entity, 12.0)[:4]
    return tuple(f"{s.name} is {s.dist:.0f} m to the {s.compass}" for s in near)


class Behaviour:
    async def respond(self, agent: Agent, h: Heard, conv: Conversation) -> None:
        raise NotImplementedError

    async def remember_event(self, agent: Agent, h: Heard, text: str, importance: float = 0.15) -> None:
        """A light note of the exchange, in this (user, agent) pair's own stream."""
        if agent.persona.allows("remember") and h.kind == "avatar":
            await agent.host.memory.remember(agent.memory_key, h.speaker, text, importance)
