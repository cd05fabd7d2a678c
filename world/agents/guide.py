"""The guide: where places are, what is on, walking people there; from the world file."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from world.agents import intent as I
from world.agents import perception as P
from world.agents.behaviour import Behaviour, _context, _places

if TYPE_CHECKING:
    from world.agents.agent import Agent, Conversation, Heard


class Guide(Behaviour):
    async def respond(self, agent: Agent, h: Heard, conv: Conversation) -> None:
        space = agent.space
        if space is None:
            return
        world = space.world
        it = I.guide_intent(h.text, world)
        ax, ay, _, _ = space.position(agent.entity)
        if it.kind == "where" and it.place is not None:
            p = it.place
            dx, dy = p.at[0] - ax, p.at[1] - ay
            d = math.hypot(dx, dy)
            if d < 4.0:
                await agent.say(f"You're right at the {p.name}. {p.description}", [p.name], h)
                return
            conv.offer = p
            where = P.compass(dx, dy)
            await agent.say(f"The {p.name} is about {d:.0f} m {where} of here.", [p.name, where], h,
                            _context(agent, h), tail="Would you like me to walk you there?")
            await self.remember_event(agent, h, f"asked the way to the {p.name}")
        elif it.kind == "take" or (it.kind == "yes" and (it.place or conv.offer) is not None):
            p = it.place or conv.offer
            conv.offer = None
            if not agent.walk_to(p.at, lambda: self._arrived(agent, h, p)):
                await agent.say(f"I can't find a way to the {p.name} from here, sorry.", [p.name], h)
                return
            agent.emote("nod")
            await agent.say(f"Follow me to the {p.name}!", [p.name], h)
        elif it.kind == "events":
            evs = [e for e in world.events if it.place is None or e.place == it.place.name]
            if not evs:
                await agent.say("Nothing is scheduled there right now.", [], h)
                return
            text = " ".join(f"{e.name} at the {e.place}, {e.when}." for e in evs[:3])
            await agent.say(f"Here's what's on: {text}", [evs[0].name, evs[0].when], h)
        elif it.kind == "look":
            if h.entity is None or h.entity not in space.meta:
                await agent.say("I can't see where you're looking from here.", [], h)
                return
            t = P.looking_at(space, h.entity)
            if t is None:
                await agent.say("I can't tell what you're looking at; there's nothing in that direction.", [], h)
            elif t.kind == "entity":
                meta = space.meta.get(t.entity, {})
                what = "one of the agents here" if meta.get("kind") == "agent" else "a visitor"
                await agent.say(f"That's {t.name}, {what}, about {t.dist:.0f} m away.", [t.name], h)
            else:
                await agent.say(f"That's the {t.name}, about {t.dist:.0f} m away.", [t.name], h)
        elif it.kind == "here":
            if h.entity is not None and h.entity in space.meta:
                sx, sy, _, _ = space.position(h.entity)
            else:
                sx, sy = ax, ay
            p = world.nearest_place(sx, sy)
            if p is None:
                await agent.say(f"This is {world.title}.", [world.title], h)
            else:
                await agent.say(f"You're near the {p.name}, in {world.title}. {p.description}", [p.name], h)
        elif it.kind == "no":
            conv.offer = None
            await agent.say("No problem. Ask me if you need anything.", [], h)
        elif it.kind == "thanks":
            await agent.say("You're welcome!", [], h)
        elif it.kind == "bye":
            await agent.say("Goodbye, enjoy Agora!", [], h)
        elif it.kind == "greet":
            agent.emote("wave")
            await agent.say(agent.persona.greeting, [], h)
        elif it.kind == "where_unknown":
            await agent.say(f"I don't know that place. The places here are: {_places(agent)}.", [], h)
        else:
            await agent.say(f"I'm {agent.name}, the guide. I can tell you where places are ({_places(agent)}), "
                            f"what's on, or walk you there.", [], h)

    async def _arrived(self, agent: Agent, h: Heard, place) -> None:
        agent.emote("wave")
        await agent.say(f"Here we are: the {place.name}. {place.description}", [place.name], h)
