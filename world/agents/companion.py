"""The personal companion: remembers what its owner tells it, recalls it, says what they look at."""

from __future__ import annotations

from typing import TYPE_CHECKING

from world.agents import intent as I
from world.agents import perception as P
from world.agents.behaviour import Behaviour

if TYPE_CHECKING:
    from world.agents.agent import Agent, Conversation, Heard


class Companion(Behaviour):
    async def respond(self, agent: Agent, h: Heard, conv: Conversation) -> None:
        host, owner = agent.host, agent.owner
        assert owner is not None
        it = I.companion_intent(h.text)
        if it.kind == "remember":
            agent.allow("remember")
            fact = I.second_person(it.text)
            await host.memory.remember(agent.memory_key, owner, fact, I.importance(it.text))
            await host.memory.maybe_summarise(agent.memory_key, owner)     # off the tick (writer thread)
            await agent.say(f"Got it, I'll remember that {fact}.", I.key_terms(fact), h)
        elif it.kind == "recall":
            agent.allow("recall")
            query = I.second_person(it.text)
            hits = await host.memory.recall(agent.memory_key, owner, query, k=3)
            hits = [x for x in hits if x.relevance > 0]
            if not hits:
                await agent.say("I don't think you've told me that yet.", [], h)
                return
            best = hits[0].memory.text
            await agent.say(f"You told me {best}.", I.key_terms(best), h,
                            tuple(x.memory.text for x in hits[1:]))
        elif it.kind == "forget":
            await host.memory.forget(agent.memory_key, owner)
            await agent.say("Done: I've forgotten everything you told me.", [], h)
        elif it.kind == "look":
            agent.allow("look")
            space = agent.space
            owner_s = host.realm.online(owner)
            if space is None or owner_s is None or owner_s.space is not space:
                await agent.say("I can't see where you're looking from here.", [], h)
                return
            t = P.looking_at(space, owner_s.entity)
            if t is None:
                await agent.say("You're looking at open ground; nothing in particular.", [], h)
            elif t.kind == "entity":
                await agent.say(f"You're looking at {t.name}, about {t.dist:.0f} m away.", [t.name], h)
            else:
                await agent.say(f"You're looking at the {t.name}, about {t.dist:.0f} m away.", [t.name], h)
        elif it.kind == "greet":
            await agent.say(agent.persona.greeting, [], h)
        elif it.kind == "thanks":
            await agent.say("Any time!", [], h)
        else:
            await agent.say("I'm here with you. Tell me something to remember, or ask me what you're "
                            "looking at.", [], h)
