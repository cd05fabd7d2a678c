"""What each kind of persona does with a line addressed to it: explicit, tested logic.

Each behaviour turns (agent, heard line, conversation state) into actions: a draft with the
facts it must keep (from data: the world file, the catalog, the store), walking, following,
placing an order. The brain only phrases the draft (world/agents/speech.py).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from world.agents import intent as I
from world.agents import perception as P
from world.agents.orders import OrderBook, OrderError, stored_summary, summary
from world.agents.persona import money

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


class Barista(Behaviour):
    async def respond(self, agent: Agent, h: Heard, conv: Conversation) -> None:
        cat = agent.persona.catalog
        assert cat is not None
        if conv.book is None:
            conv.book = OrderBook(cat)
        book = conv.book
        it = I.barista_intent(h.text, cat)
        if h.kind == "agent" and it.kind in ("order", "usual", "yes", "done"):
            await agent.say("I only take orders from customers in person.", [], h)
            return
        if it.kind == "order":
            agent.allow("take_order")
            notes = []
            try:
                if it.remove:
                    book.remove(it.remove)
                if it.lines:
                    book.add(it.lines)
                if it.options:
                    ok = book.add_options(it.options)
                    if not ok:
                        notes.append("that option doesn't go with it")
            except OrderError as exc:
                notes.append(str(exc))
            if not book.lines:
                await agent.say("Your order is empty now. What would you like?", [], h)
                return
            names = [cat.item(ln.item).name for ln in book.lines]
            note = (" Note: " + "; ".join(notes) + ".") if notes else ""
            await agent.say(f"Got it: {summary(book)}.{note}", names, h, tail="Anything else?")
        elif it.kind in ("done",) or (it.kind == "yes" and book.state == "building"):
            if not book.lines:
                await agent.say("You haven't ordered anything yet. What would you like?", [], h)
                return
            book.state = "confirming"
            total = money(book.total())
            await agent.say(f"So that's {summary(book)}, {total} in total.", [total], h,
                            tail="Shall I place the order?")
        elif it.kind == "yes" and book.state == "confirming":
            await self.place(agent, h, book)
        elif it.kind == "no" and book.state == "confirming":
            book.state = "building"
            await agent.say("No problem. What would you like to change?", [], h)
        elif it.kind == "usual":
            usual = await agent.host.store.call("usual_order", agent.memory_key, h.speaker)
            if not usual:
                await agent.say("I don't have a usual for you yet. What would you like?", [], h)
                return
            try:
                book.load(usual)
            except OrderError:
                await agent.say("Your usual isn't on the menu any more, sorry. What would you like?", [], h)
                return
            book.state = "confirming"
            total = money(book.total())
            await agent.say(f"Your usual: {summary(book)}, {total}.", [total], h, tail="Shall I place the order?")
        elif it.kind == "status":
            agent.allow("order_status")
            orders = await agent.host.store.call("orders_of", agent.memory_key, h.speaker, 1)
            if not orders:
                await agent.say("I don't see an order from you yet.", [], h)
                return
            o = orders[0]
            await agent.say(f"Order #{o.id} ({stored_summary(cat, o.items)}) is {o.status}.",
                            [f"#{o.id}", o.status], h)
        elif it.kind == "price" and it.item:
            item = cat.item(it.item)
            await agent.say(f"A {item.name} is {money(item.price_cents)}.", [money(item.price_cents)], h)
        elif it.kind == "menu":
            menu = ", ".join(f"{i.name} {money(i.price_cents)}" for i in cat.items)
            await agent.say(f"We have {menu}.", [money(cat.items[0].price_cents)], h)
        elif it.kind == "hours":
            await agent.say(f"We're open {cat.days} from {cat.open} to {cat.close}.", [cat.open, cat.close], h)
        elif it.kind == "thanks":
            await agent.say("You're welcome! Enjoy.", [], h)
        elif it.kind == "no":
            await agent.say("Alright. Just tell me when you'd like something.", [], h)
        elif it.kind == "greet":
            agent.emote("wave")
            await agent.say(agent.persona.greeting, [], h)
        else:
            await agent.say("I can tell you what's on the menu, take your order, or check on it.", [], h)

    async def place(self, agent: Agent, h: Heard, book: OrderBook) -> None:
        agent.allow("place_order")
        items = [dict(i) for i in book.items()]        # catalog ids and catalog prices only
        for i in items:
            book.check(I.Line(i["item"], i["qty"], i["options"]))
        total = sum(i["price_cents"] for i in items)
        order = await agent.host.store.call("place_order", agent.memory_key, h.speaker, items, total)
        agent.host.track_order(agent, order.id, h.speaker)
        text = summary(book)
        book.clear()
        agent.emote("thumbsup")
        mins = max(1, round(agent.persona.ready_after_s / 60))
        await agent.say(f"Order #{order.id} is placed: {text}, {money(total)}. It'll be ready in about "
                        f"{mins} minute{'s' if mins > 1 else ''}.", [f"#{order.id}", money(total)], h)


BEHAVIOURS = {"guide": Guide(), "companion": Companion(), "business": Barista()}

