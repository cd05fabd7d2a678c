"""The barista: menu, prices and hours from the catalog; orders read back and confirmed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from world.agents import order_intent as O
from world.agents.behaviour import Behaviour
from world.agents.orders import OrderBook, OrderError, stored_summary, summary
from world.agents.persona import money

if TYPE_CHECKING:
    from world.agents.agent import Agent, Conversation, Heard


class Barista(Behaviour):
    async def respond(self, agent: Agent, h: Heard, conv: Conversation) -> None:
        cat = agent.persona.catalog
        assert cat is not None
        if conv.book is None:
            conv.book = OrderBook(cat)
        book = conv.book
        it = O.barista_intent(h.text, cat)
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
            book.check(O.Line(i["item"], i["qty"], i["options"]))
        total = sum(i["price_cents"] for i in items)
        order = await agent.host.store.call("place_order", agent.memory_key, h.speaker, items, total)
        agent.host.track_order(agent, order.id, h.speaker)
        text = summary(book)
        book.clear()
        agent.emote("thumbsup")
        mins = max(1, round(agent.persona.ready_after_s / 60))
        await agent.say(f"Order #{order.id} is placed: {text}, {money(total)}. It'll be ready in about "
                        f"{mins} minute{'s' if mins > 1 else ''}.", [f"#{order.id}", money(total)], h)
