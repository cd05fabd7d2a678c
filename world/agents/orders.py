"""The barista's order, as a state machine: building -> confirming -> placed.

An order is placed only from the `confirming` state, after it was read back and the customer
said yes. Lines hold catalog ids and options only; prices are computed from the catalog at
every step, so nothing a customer says can set a price.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from world.agents.order_intent import Line
from world.agents.persona import Catalog, money

MAX_LINES = 12
MAX_QTY = 20


class OrderError(Exception):
    """An order line the catalog does not allow (unknown item, option, quantity)."""


@dataclass
class OrderBook:
    catalog: Catalog
    lines: list[Line] = field(default_factory=list)
    state: str = "idle"            # idle | building | confirming

    def check(self, line: Line) -> Line:
        item = self.catalog.item(line.item)
        if item is None:
            raise OrderError(f"no item {line.item!r} in the catalog")
        bad = [o for o in line.options if o not in item.options]
        if bad:
            raise OrderError(f"{item.name} does not come with {', '.join(bad)}")
        if not 1 <= line.qty <= MAX_QTY:
            raise OrderError(f"quantity must be 1 to {MAX_QTY}")
        return Line(item.id, int(line.qty), sorted(set(line.options)))

    def add(self, lines: list[Line]) -> None:
        for line in lines:
            line = self.check(line)
            for old in self.lines:             # the same drink the same way: raise the quantity
                if old.item == line.item and old.options == line.options:
                    old.qty = min(MAX_QTY, old.qty + line.qty)
                    break
            else:
                if len(self.lines) >= MAX_LINES:
                    raise OrderError(f"an order holds at most {MAX_LINES} lines")
                self.lines.append(line)
        self.state = "building"

    def remove(self, item_ids: list[str]) -> list[str]:
        gone = [ln.item for ln in self.lines if ln.item in item_ids]
        self.lines = [ln for ln in self.lines if ln.item not in item_ids]
        self.state = "building" if self.lines else "idle"
        return gone

    def add_options(self, options: list[str]) -> list[str]:
        """'Make it oat milk': options for the last line, where that item allows them."""
        if not self.lines:
            return []
        last = self.lines[-1]
        item = self.catalog.item(last.item)
        ok = [o for o in options if item is not None and o in item.options]
        last.options = sorted(set(last.options) | set(ok))
        self.state = "building"
        return ok

    def total(self) -> int:
        return sum(self.catalog.line_cents(ln.item, ln.options, ln.qty) for ln in self.lines)

    def items(self) -> list[dict]:
        """The lines as stored: catalog ids, options, quantities and catalog prices."""
        return [{"item": ln.item, "options": list(ln.options), "qty": ln.qty,
                 "price_cents": self.catalog.line_cents(ln.item, ln.options, ln.qty)} for ln in self.lines]

    def load(self, items: list[dict]) -> None:
        """Start from stored lines (the usual order), re-checked against today's catalog."""
        self.lines = []
        self.add([Line(str(i["item"]), int(i.get("qty", 1)), list(i.get("options", []))) for i in items])

    def clear(self) -> None:
        self.lines, self.state = [], "idle"


ADJECTIVES = ("double", "decaf", "warmed", "iced", "large", "small")   # said before the name


def line_text(catalog: Catalog, item: str, qty: int, options: list[str]) -> str:
    """'2 warmed croissants', 'a decaf flat white with soy milk'."""
    it = catalog.item(item)
    name = it.name if it else item
    before = [o for o in options if o in ADJECTIVES]
    after = [o for o in options if o not in ADJECTIVES]
    if qty > 1:
        name = name if name.endswith('s') else name + 's'
    name = " ".join(before + [name])
    if qty > 1:
        name = f"{qty} {name}"
    else:
        name = f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
    return name + (f" with {' and '.join(after)}" if after else "")


def _join(parts: list[str]) -> str:
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return parts[0] if parts else "nothing"


def summary(book: OrderBook) -> str:
    return _join([line_text(book.catalog, ln.item, ln.qty, ln.options) for ln in book.lines])


def stored_summary(catalog: Catalog, items: list[dict]) -> str:
    return _join([line_text(catalog, i["item"], int(i.get("qty", 1)), list(i.get("options", []))) for i in items])


__all__ = ["OrderBook", "OrderError", "summary", "stored_summary", "line_text", "money"]
