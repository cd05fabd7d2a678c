"""The guide: where places and amenities are (from where the asker stands), what is on and
when, walking people there, and short small talk; everything from the world file.

What to say is decided by the rules in world/agents/guide_intent.py; here each kind of
question becomes a factual draft with the facts the phrasing must keep. A question about
something the world does not have gets an honest "I don't know", never the nearest-sounding
place; small talk gets a friendly line that claims nothing about the world.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from world.agents import perception as P
from world.agents import schedule, wayfinding
from world.agents.behaviour import Behaviour, _context, _places
from world.agents.guide_intent import guide_intent
from world.agents.pronouns import capitalise
from world.space.world_def import Amenity, Place

if TYPE_CHECKING:
    from world.agents.agent import Agent, Conversation, Heard
    from world.space.world_def import Event, World

WALK_OFFER = "Would you like me to walk you there?"
CLOSE = 4.0              # metres: "right here"
EVENTS_SAID = 3          # events in one line, at most

# topic -> (line, the words a rephrasing must keep)
SMALL_TALK = {
    "how_are_you": ("I'm very well, thank you for asking! What can I help you find?", ["very well"]),
    "weather": ("I can't tell you much about the weather, I'm afraid, but I can help you find your way around.",
                ["weather"]),
    "nice_to_meet": ("Nice to meet you too!", ["meet you"]),
    "compliment": ("Thank you, that's kind of you!", ["thank you"]),
    "like_it": ("I'm glad you like it!", ["glad"]),
    "joke": ("I'm better at directions than jokes, I'm afraid!", ["directions than jokes"]),
}


def listing(events: list[Event]) -> str:
    """"Open mic night at the Stage, Fridays at 19:00; Coffee tasting at the Cafe, ..." """
    return "; ".join(f"{e.name} at the {e.place}, {e.when}" for e in events[:EVENTS_SAID])


def _keep(events: list[Event]) -> list[str]:
    """The listed events' names and schedules: what a rephrasing of a list must keep."""
    return [f for e in events[:EVENTS_SAID] for f in (e.name, e.when)]


def events_line(world: World, place: Place | None, slot: schedule.Slot | None) -> tuple[str, list[str]]:
    """What's on (at a place, in a time), as a draft and the facts it must keep."""
    evs = [e for e in world.events if place is None or e.place == place.name]
    at = f" at the {place.name}" if place is not None else ""
    if not evs:
        return f"Nothing is scheduled{at} at the moment.", ["Nothing", *([place.name] if place else [])]
    if slot is None:
        return f"Here's what's on{at}: {listing(evs)}.", _keep(evs)
    hits = [e for e in evs if schedule.in_slot(e, slot)]
    if hits:
        return f"{capitalise(slot.label)}{at}: {listing(hits)}.", _keep(hits)
    other = [e for e in evs if schedule.in_part(e, slot.part)] or evs
    when = {"morning": "In the mornings", "afternoon": "In the afternoons",
            "evening": "In the evenings"}.get(slot.part or "", "Otherwise")
    label = slot.label.removeprefix("on ")                  # "Nothing is on Monday evening"
    return f"Nothing is on {label}{at}. {when} there's {listing(other)}.", ["Nothing", *_keep(other)]


class Guide(Behaviour):
    clock: Callable[[], datetime] = datetime.now        # dates "tonight" and "tomorrow"

    async def respond(self, agent: Agent, h: Heard, conv: Conversation) -> None:
        space = agent.space
        if space is None:
            return
        world = space.world
        it = guide_intent(h.text, world, self.clock())
        frm, mine = self._asker(agent, h)
        of = "of you" if mine else "of here"
        if it.kind == "where" and it.target is not None:
            await self._where(agent, h, conv, it.target, frm, of)
        elif it.kind == "take" and it.target is not None:
            spot = wayfinding.spot(it.target, *frm)
            await self._walk(agent, h, conv, Place(it.target.name, spot, it.target.description))
        elif it.kind in ("take", "yes") and conv.offer is not None:
            await self._walk(agent, h, conv, conv.offer)
        elif it.kind == "yes":
            await agent.say("Happy to help! Where would you like to go?", [], h)
        elif it.kind == "event" and it.event is not None:
            await self._event(agent, h, conv, it.event, frm, of)
        elif it.kind == "events":
            draft, facts = events_line(world, it.place, it.slot)
            await agent.say(draft, facts, h)
        elif it.kind == "hours" and it.place is not None:
            await agent.say(f"I don't know the {it.place.name}'s opening hours, sorry; "
                            f"someone at the {it.place.name} can tell you.",
                            [it.place.name, "don't know", "opening hours"], h)
        elif it.kind == "look":
            await self._look(agent, h)
        elif it.kind == "here":
            p = world.nearest_place(*frm)
            if p is None:
                await agent.say(f"This is {world.title}.", [world.title], h)
            else:
                await agent.say(f"You're near the {p.name}, in {world.title}. {p.description}",
                                [p.name, world.title], h)
        elif it.kind == "small":
            await self._small(agent, h, it.topic, world)
        elif it.kind == "no":
            conv.offer = None
            await agent.say("No problem. Ask me if you need anything.", ["No problem"], h)
        elif it.kind == "thanks":
            await agent.say("You're welcome!", ["welcome"], h)
        elif it.kind == "bye":
            await agent.say(f"Goodbye, enjoy {world.title}!", ["bye"], h)
        elif it.kind == "greet":
            agent.emote("wave")
            await agent.say(agent.persona.greeting, [agent.persona.name], h)
        elif it.kind == "when_unknown":
            what = f"any {it.text}" if it.text else "that event"
            draft, facts = events_line(world, None, None)
            await agent.say(f"Sorry, I don't know of {what} here. {draft}",
                            ["don't know", *([it.text] if it.text else []), *facts], h)
        elif it.kind == "where_unknown":
            if it.topic == "doing":
                sorry = f"Sorry, I don't know where you can {it.text} here."
            elif it.text:
                sorry = f"Sorry, I don't know of any {it.text} here."
            else:
                sorry = "Sorry, I don't know that place."
            await agent.say(f"{sorry} The places here are: {_places(agent)}.",
                            ["don't know", *([it.text] if it.text else [])], h)
        elif it.kind == "help":
            await agent.say(f"I can tell you where things are ({_places(agent)}, and toilets, benches and the "
                            f"like), what's on, or walk you there.", ["what's on", "walk you there"], h)
        else:
            await agent.say(f"Sorry, I'm not sure what you mean. I can tell you where things are "
                            f"({_places(agent)}), what's on, or walk you there.", [], h)

    # -- the kinds of answer ------------------------------------------------------------------

    @staticmethod
    def _asker(agent: Agent, h: Heard) -> tuple[tuple[float, float], bool]:
        """Where the person asking stands (and True), or where the guide stands (and False)
        when the person is not in this space."""
        space = agent.space
        assert space is not None
        if h.entity is not None and h.entity in space.meta:
            x, y, _, _ = space.position(h.entity)
            return (x, y), True
        x, y, _, _ = space.position(agent.entity)
        return (x, y), False

    async def _where(self, agent: Agent, h: Heard, conv: Conversation, target: Place | Amenity,
                     frm: tuple[float, float], of: str) -> None:
        spot = wayfinding.spot(target, *frm)
        d, where = wayfinding.way(frm, spot)
        many = isinstance(target, Amenity) and len(target.spots) > 1
        the = f"the nearest {target.name}" if many else f"the {target.name}"
        verb = "are" if wayfinding.plural(target.name) else "is"
        if d < CLOSE:
            if isinstance(target, Place):
                await agent.say(f"You're right at the {target.name}. {target.description}", [target.name], h)
            else:
                await agent.say(f"{capitalise(the)} {verb} right here, a few steps {where} {of}.",
                                [target.name, "right here"], h)
            return
        how = f", {target.description}" if isinstance(target, Amenity) and not many and target.description else ""
        conv.offer = Place(target.name, spot, target.description)
        await agent.say(f"{capitalise(the)} {verb} about {d:.0f} m {where} {of}{how}.",
                        [target.name, f"{d:.0f} m", where], h, _context(agent, h), tail=WALK_OFFER)
        await self.remember_event(agent, h, f"asked the way to the {target.name}")

    async def _event(self, agent: Agent, h: Heard, conv: Conversation, e: Event,
                     frm: tuple[float, float], of: str) -> None:
        space = agent.space
        assert space is not None
        place = space.world.place(e.place)
        about = f"{e.name} is at the {e.place}, {e.when}."
        if e.description:
            about += f" {e.description}"
        if place is None:
            await agent.say(about, [e.name, e.place, e.when], h)
            return
        d, where = wayfinding.way(frm, place.at)
        if d < CLOSE:
            await agent.say(f"{about} You're right at the {e.place}.", [e.name, e.place, e.when], h)
            return
        conv.offer = place
        await agent.say(f"{about} The {e.place} is about {d:.0f} m {where} {of}.", [e.name, e.place, e.when, where], h,
                        tail=WALK_OFFER)

    async def _walk(self, agent: Agent, h: Heard, conv: Conversation, place: Place) -> None:
        conv.offer = None
        if not agent.walk_to(place.at, lambda: self._arrived(agent, h, place)):
            await agent.say(f"I can't find a way to the {place.name} from here, sorry.", [place.name], h)
            return
        agent.emote("nod")
        await agent.say(f"Follow me to the {place.name}!", ["Follow me", place.name], h)

    async def _look(self, agent: Agent, h: Heard) -> None:
        space = agent.space
        assert space is not None
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

    async def _small(self, agent: Agent, h: Heard, topic: str, world: World) -> None:
        if topic == "who_are_you":
            await agent.say(f"I'm {agent.persona.name}, {agent.persona.role}. Ask me where something is "
                            "or what's on.", [agent.persona.name], h)
        elif topic == "bot":
            await agent.say(f"I'm an AI guide, here to help you find your way around {world.title}.",
                            ["AI guide"], h)
        elif topic == "new_here":
            agent.emote("wave")
            await agent.say(f"Welcome to {world.title}! I can tell you where things are, what's on, "
                            "or walk you there.", ["Welcome", world.title], h)
        else:
            line, keep = SMALL_TALK.get(topic, ("Nice to chat with you!", []))
            await agent.say(line, keep, h)

    async def _arrived(self, agent: Agent, h: Heard, place: Place) -> None:
        agent.emote("wave")
        await agent.say(f"Here we are: the {place.name}. {place.description}", [place.name], h)
