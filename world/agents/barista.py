"""The barista: menu, prices and hours from the catalog; orders edited, read back and confirmed.

What to do is decided here and in the grammar (order_intent.py) and the order book
(orders.py); every draft carries its facts (item names, counts, prices from the catalog) so
the phrasing layer keeps them or says the draft itself. An order is placed only after it was
read back and the customer said yes; then it waits in the staff queue (order_queue.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from world.agents import order_intent as O
from world.agents.behaviour import Behaviour
from world.agents.orders import (
    OrderBook,
    OrderError,
    join_words,
    line_facts,
    line_text,
    lines_of,
    stored_summary,
    summary,
)
from world.agents.persona import Catalog, money

if TYPE_CHECKING:
    from world.agents.agent import Agent, Conversation, Heard

ANYTHING_ELSE = "Anything else?"
PLACE_IT = "Shall I place the order?"
WHAT_WOULD_YOU_LIKE = "What would you like?"
STATUS_WORDS = {"placed": "placed", "preparing": "being prepared", "ready": "ready",
                "collected": "collected", "cancelled": "cancelled"}
CUSTOMER_ONLY = ("order", "usual", "again", "yes", "done")


class Barista(Behaviour):
    async def respond(self, agent: Agent, h: Heard, conv: Conversation) -> None:
        cat = agent.persona.catalog
        assert cat is not None
        if conv.book is None:
            conv.book = OrderBook(cat)
        book = conv.book
        it = O.barista_intent(h.text, cat)
        if h.kind == "agent" and it.kind in CUSTOMER_ONLY:
            await agent.say("I only take orders from customers in person.", [], h)
            return
        offer, book.offer = book.offer, None            # "Would you like one?" holds for one line
        if it.kind in ("yes", "no") and offer:
            book.offer = offer
        await getattr(self, f"_{it.kind}")(agent, h, book, it)

    # -- the order --------------------------------------------------------------------------
    async def _order(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        agent.allow("take_order")
        if not book.lines and all(e.op == "clear" or (e.op == "undo" and not book.history) for e in it.edits):
            await self._nothing_to_cancel(agent, h)
            return
        notes = book.apply(it.edits)
        sorry = f"Sorry, {'; '.join(notes)}. " if notes else ""
        if not book.lines:
            cancelled = any(e.op in ("clear", "undo") for e in it.edits)
            said = "Okay, I've cancelled that. " if cancelled and not notes else sorry
            await agent.say(f"{said}Your order is empty now.", ["empty", *notes], h, tail=WHAT_WOULD_YOU_LIKE)
            return
        if it.done:
            await self._read_back(agent, h, book, sorry, notes)
            return
        facts = notes + line_facts(book.catalog, book.lines)
        if it.total:
            total = money(book.total())
            await agent.say(f"{sorry}Got it: {summary(book)}, {total} so far.", facts + [total], h,
                            tail=ANYTHING_ELSE)
            return
        await agent.say(f"{sorry}Got it: {summary(book)}.", facts, h, tail=ANYTHING_ELSE)

    async def _read_back(self, agent: Agent, h: Heard, book: OrderBook, lead: str = "",
                         notes: list[str] | None = None) -> None:
        book.state = "confirming"
        total = money(book.total())
        await agent.say(f"{lead}So that's {summary(book)}, {total} in total.",
                        (notes or []) + line_facts(book.catalog, book.lines) + [total], h, tail=PLACE_IT)

    async def _done(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        if not book.lines:
            await agent.say("You haven't ordered anything yet.", [], h, tail=WHAT_WOULD_YOU_LIKE)
        elif book.state == "confirming":        # "that's all" after the read-back: the customer agrees
            await self.place(agent, h, book)
        else:
            await self._read_back(agent, h, book)

    async def _yes(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        if book.offer:                           # the last question was "Would you like one?"
            agent.allow("take_order")
            book.apply([O.Edit("add", book.offer)])
            await agent.say(f"Got it: {summary(book)}.", line_facts(book.catalog, book.lines), h, tail=ANYTHING_ELSE)
        elif book.state == "confirming" and book.lines:
            await self.place(agent, h, book)
        elif book.lines:
            await agent.say("Sure, what else would you like?", [], h)
        else:
            await agent.say("Sure!", [], h, tail=WHAT_WOULD_YOU_LIKE)

    async def _no(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        if book.offer:
            book.offer = None
            await agent.say("Alright.", [], h, tail=self._next_question(book) if book.lines else WHAT_WOULD_YOU_LIKE)
        elif book.state == "confirming" and book.before_usual is not None:
            book.restore(book.before_usual)          # not the usual: back to what it was before
            book.before_usual = None
            if book.lines:
                await agent.say(f"Alright, not the usual. Your order is back to {summary(book)}.",
                                ["usual"] + line_facts(book.catalog, book.lines), h, tail=ANYTHING_ELSE)
            else:
                await agent.say("Alright, not the usual. Your order is empty.", ["usual", "empty"], h,
                                tail=WHAT_WOULD_YOU_LIKE)
        elif book.state == "confirming":
            book.state = "building"
            await agent.say("No problem.", [], h, tail="What would you like to change?")
        elif book.lines:                         # "Anything else?" -- "no": read it back
            await self._read_back(agent, h, book)
        else:
            await agent.say("Alright. Just tell me when you'd like something.", [], h)

    async def _usual(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        agent.allow("take_order")
        store = agent.host.store
        if it.kind == "usual":
            items = await store.call("usual_order", agent.memory_key, h.speaker)
            missing = "I don't have a usual for you yet."
            facts = ["usual"]
        else:
            last = await store.call("orders_of", agent.memory_key, h.speaker, 1)
            items = last[0].items if last else None
            missing = "I don't see an earlier order from you."
            facts = ["earlier order"]
        if not items:
            await agent.say(missing, facts, h, tail=WHAT_WOULD_YOU_LIKE)
            return
        before = book.snapshot()
        try:
            book.add(lines_of(items))
        except OrderError:
            book.restore(before)
            await agent.say("Your usual isn't on the menu any more, sorry.", [], h, tail=WHAT_WOULD_YOU_LIKE)
            return
        notes = book.apply(it.edits) if it.edits else []
        book.history = (book.history + [before])[-10:]
        book.before_usual = before
        book.state = "confirming"
        total = money(book.total())
        sorry = f"Sorry, {'; '.join(notes)}. " if notes else ""
        facts = notes + line_facts(book.catalog, book.lines) + [total]
        if before or it.edits:
            draft = f"{sorry}Your usual is {stored_summary(book.catalog, items)}; that makes {summary(book)}, {total}."
        else:
            draft = f"Your usual: {summary(book)}, {total}."
        await agent.say(draft, facts, h, tail=PLACE_IT)

    _again = _usual

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
        book.history = []
        agent.emote("thumbsup")
        demo_s = agent.host.cfg.orders_demo_ready_s
        if demo_s > 0:
            mins = max(1, round(demo_s / 60))
            when = f"It'll be ready in about {mins} minute{'s' if mins > 1 else ''}."
        else:
            when = "I'll tell you when it's ready."
        await agent.say(f"Order #{order.id} is placed: {text}, {money(total)}. {when}",
                        [f"#{order.id}", "placed", money(total)] + ([] if demo_s > 0 else ["when it's ready"]), h)

    async def _nothing_to_cancel(self, agent: Agent, h: Heard) -> None:
        orders = await agent.host.store.call("orders_of", agent.memory_key, h.speaker, 1)
        if orders and orders[0].status in ("placed", "preparing"):
            o = orders[0]
            await agent.say(f"There's nothing new to cancel; order #{o.id} is already with the staff.",
                            [f"#{o.id}", "nothing"], h)
        else:
            await agent.say("There's nothing in your order to cancel.", ["nothing"], h, tail=WHAT_WOULD_YOU_LIKE)

    async def _change(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        if book.lines:
            book.state = "building"
            await agent.say(f"Sure. You have {summary(book)}.", line_facts(book.catalog, book.lines), h,
                            tail="What would you like to change?")
            return
        orders = await agent.host.store.call("orders_of", agent.memory_key, h.speaker, 1)
        if orders and orders[0].status in ("placed", "preparing"):
            o = orders[0]
            await agent.say(f"Order #{o.id} is already with the staff, so I can't change it now.", [f"#{o.id}"], h)
            return
        await agent.say("You haven't ordered anything yet.", [], h, tail=WHAT_WOULD_YOU_LIKE)

    # -- questions --------------------------------------------------------------------------
    async def _review(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        if book.lines:
            total = money(book.total())
            await agent.say(f"Your order so far: {summary(book)}, {total}.",
                            line_facts(book.catalog, book.lines) + [total], h, tail=self._next_question(book))
            return
        orders = await agent.host.store.call("orders_of", agent.memory_key, h.speaker, 1)
        if orders:
            o = orders[0]
            word = STATUS_WORDS.get(o.status, o.status)
            await agent.say(f"Nothing new yet; your last order, #{o.id}, was {stored_summary(book.catalog, o.items)} "
                            f"and is {word}.", [f"#{o.id}", word] + line_facts(book.catalog, lines_of(o.items)), h)
            return
        await agent.say("Your order is empty so far.", ["empty"], h, tail=WHAT_WOULD_YOU_LIKE)

    async def _total(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        if book.lines:
            total = money(book.total())
            await agent.say(f"That's {total} for {summary(book)}.", [total] + line_facts(book.catalog, book.lines),
                            h, tail=self._next_question(book))
            return
        orders = await agent.host.store.call("orders_of", agent.memory_key, h.speaker, 1)
        if orders:
            o = orders[0]
            await agent.say(f"Your last order, #{o.id}, came to {money(o.total_cents)}.",
                            [f"#{o.id}", money(o.total_cents)], h)
            return
        await agent.say("Nothing yet: your order is empty.", ["empty"], h, tail=WHAT_WOULD_YOU_LIKE)

    async def _price(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        cat = book.catalog
        lines = [ln for ln in (self._valid(cat, ln) for ln in it.lines) if ln is not None]
        if lines:
            parts = [f"{line_text(cat, ln.item, ln.qty, ln.options)} {'are' if ln.qty > 1 else 'is'} "
                     f"{money(cat.line_cents(ln.item, ln.options, ln.qty))}" for ln in lines]
            prices = [money(cat.line_cents(ln.item, ln.options, ln.qty)) for ln in lines]
            book.offer = lines if len(lines) == 1 else None
            await agent.say(_capital(join_words(parts)) + ".", prices + line_facts(cat, lines), h,
                            tail="Would you like one?" if book.offer and lines[0].qty == 1 else
                            ("Would you like them?" if book.offer else ""))
            return
        parts, facts = [], []
        for o in it.options:
            cents = cat.option_cents.get(o, 0)
            parts.append(f"{o} is {money(cents)} extra" if cents else f"{o} is free")
            facts += [o, money(cents)] if cents else [o]
        await agent.say(_capital(join_words(parts)) + ".", facts, h)

    async def _have(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        cat = book.catalog
        if it.lines:
            await self._price(agent, h, book, it)
            return
        parts, facts = [], []
        for o in it.options:
            names = [i.name for i in cat.items if o in i.options]
            cents = cat.option_cents.get(o, 0)
            price = f"{money(cents)} extra" if cents else "free"
            parts.append(f"{o} goes with {'the ' + join_words(names) if len(names) < len(cat.items) else 'anything'}, {price}")
            facts += [o] + ([money(cents)] if cents else [])
        await agent.say("Yes: " + "; ".join(parts) + ".", facts, h)

    async def _menu(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        cat = book.catalog
        pairs = [f"{i.name} {money(i.price_cents)}" for i in cat.items]       # each price next to its item
        menu, facts = join_words(pairs), pairs
        await agent.say(f"We have {menu}.", facts, h, tail="What can I get you?")

    async def _extras(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        cat = book.catalog
        group = it.options[0] if it.options else None
        options = sorted({o for i in cat.items for o in i.options}, key=lambda o: (-cat.option_cents.get(o, 0), o))
        if group:
            options = [o for o in options if o.split()[-1] == group]
        parts = [f"{o} {money(cat.option_cents[o])}" if cat.option_cents.get(o) else f"{o} (free)" for o in options]
        facts = [f"{o} {money(cat.option_cents[o])}" if cat.option_cents.get(o) else o for o in options]
        await agent.say(f"We have {join_words(parts)}.", facts, h)

    async def _hours(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        cat = book.catalog
        await agent.say(f"We're open {cat.days} from {cat.open} to {cat.close}.", [cat.open, cat.close], h)

    async def _not_sold(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        cat = book.catalog
        names = join_words([i.name for i in cat.items])
        await agent.say(f"Sorry, that's not on our menu. We have {names}.", ["not on our menu"], h)

    async def _status(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        agent.allow("order_status")
        orders = await agent.host.store.call("orders_of", agent.memory_key, h.speaker, 1)
        if not orders:
            await agent.say("I don't see an order from you yet.", ["don't see an order"], h)
            return
        o = orders[0]
        word = STATUS_WORDS.get(o.status, o.status)
        after = " I'll tell you when it's ready." if o.status in ("placed", "preparing") else ""
        await agent.say(f"Order #{o.id} ({stored_summary(book.catalog, o.items)}) is {word}.{after}",
                        [f"#{o.id}", word] + line_facts(book.catalog, lines_of(o.items)), h)

    async def _thanks(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        await agent.say("You're welcome! Enjoy.", [], h)

    async def _greet(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        agent.emote("wave")
        await agent.say(agent.persona.greeting, [agent.persona.name], h)

    async def _bye(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        await agent.say("Bye, see you soon!", [], h)

    async def _other(self, agent: Agent, h: Heard, book: OrderBook, it: O.OrderIntent) -> None:
        await agent.say("I can tell you what's on the menu, take your order, or check on it.", [], h)

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _next_question(book: OrderBook) -> str:
        return PLACE_IT if book.state == "confirming" else ANYTHING_ELSE

    @staticmethod
    def _valid(cat: Catalog, line: O.Line) -> O.Line | None:
        item = cat.item(line.item)
        if item is None:
            return None
        return O.Line(item.id, max(1, min(line.qty, 20)), [o for o in line.options if o in item.options])


def _capital(s: str) -> str:
    return s[:1].upper() + s[1:]
