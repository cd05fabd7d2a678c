"""The barista's order, as a state machine: idle -> building -> confirming -> placed.

An order is placed only from the `confirming` state, after it was read back and the customer
said yes. Lines hold catalog ids and options only; prices are computed from the catalog at
every step, so nothing a customer says can set a price.

`OrderBook.apply` carries out the edits the grammar found (world/agents/order_intent.py) and
returns what it could not do, in words for the customer. "That", "it" and "those" mean the
line in focus: the one last added, changed or named.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from world.agents.order_intent import Edit, Line, Pick, option_group
from world.agents.persona import Catalog, money

MAX_LINES = 12
MAX_QTY = 20
UNDO_DEPTH = 10


class OrderError(Exception):
    """An order line the catalog does not allow (unknown item, option, quantity)."""


@dataclass
class OrderBook:
    catalog: Catalog
    lines: list[Line] = field(default_factory=list)
    state: str = "idle"            # idle | building | confirming
    focus: Line | None = None      # what "that" / "it" / "those" mean
    history: list[list[Line]] = field(default_factory=list)   # the lines before each change, for "undo"
    before_usual: list[Line] | None = None   # the lines before "the usual" was read back (a no restores them)
    offer: list[Line] | None = None          # "Would you like one?" -- a yes adds these

    # -- single steps -----------------------------------------------------------------------
    def check(self, line: Line) -> Line:
        item = self.catalog.item(line.item)
        if item is None:
            raise OrderError(f"no item {line.item!r} in the catalog")
        bad = [o for o in line.options if o not in item.options]
        if bad:
            raise OrderError(f"{_a(item.name)} doesn't come with {join_words(bad)}")
        if not 1 <= line.qty <= MAX_QTY:
            raise OrderError(f"I can do 1 to {MAX_QTY} of each")
        return Line(item.id, int(line.qty), sorted(set(line.options)))

    def add(self, lines: list[Line]) -> Line | None:
        """Add lines; the same drink the same way raises the quantity. Returns the last line touched."""
        touched = None
        for line in lines:
            line = self.check(line)
            old = self._same(line)
            if old is not None:
                if old.qty + line.qty > MAX_QTY:
                    raise OrderError(f"I can do 1 to {MAX_QTY} of each")
                old.qty += line.qty
                touched = old
            else:
                if len(self.lines) >= MAX_LINES:
                    raise OrderError(f"an order holds at most {MAX_LINES} different things")
                self.lines.append(line)
                touched = line
        self.state = "building"
        if touched is not None:
            self.focus = touched
        return touched

    def remove(self, item_ids: list[str]) -> list[str]:
        gone = [ln.item for ln in self.lines if ln.item in item_ids]
        self.lines = [ln for ln in self.lines if ln.item not in item_ids]
        self.state = "building" if self.lines else "idle"
        return gone

    def add_options(self, options: list[str]) -> list[str]:
        """Options for the last line, where that item allows them (`apply` has "that" and "it")."""
        line = self.lines[-1] if self.lines else None
        if line is None:
            return []
        item = self.catalog.item(line.item)
        ok = [o for o in options if item is not None and o in item.options]
        self._set_options(line, ok, [])
        self.state = "building"
        return ok

    def current(self) -> Line | None:
        """The line in focus, else the last line."""
        if self.focus is not None and any(ln is self.focus for ln in self.lines):
            return self.focus
        return self.lines[-1] if self.lines else None

    def total(self) -> int:
        return sum(self.catalog.line_cents(ln.item, ln.options, ln.qty) for ln in self.lines)

    def items(self) -> list[dict]:
        """The lines as stored: catalog ids, options, quantities and catalog prices."""
        return [{"item": ln.item, "options": list(ln.options), "qty": ln.qty,
                 "price_cents": self.catalog.line_cents(ln.item, ln.options, ln.qty)} for ln in self.lines]

    def load(self, items: list[dict]) -> None:
        """Start from stored lines (the usual order), re-checked against today's catalog."""
        self.lines = []
        self.add(lines_of(items))

    def clear(self) -> None:
        self.lines, self.state, self.focus = [], "idle", None
        self.before_usual = self.offer = None

    def snapshot(self) -> list[Line]:
        return copy.deepcopy(self.lines)

    def restore(self, lines: list[Line]) -> None:
        self.lines = copy.deepcopy(lines)
        self.focus = None
        self.state = "building" if self.lines else "idle"

    # -- edits ------------------------------------------------------------------------------
    def apply(self, edits: list[Edit]) -> list[str]:
        """Carry out a line's edits in order; returns notes for the customer (what could not
        be done). An edit that fails leaves the order as it was before that edit."""
        before = self.snapshot()
        notes: list[str] = []
        changed = False
        for e in edits:
            if e.op == "undo":
                if self.history:
                    self.restore(self.history.pop())
                else:
                    notes.append("there was nothing to undo")
                continue
            keep = self.snapshot()
            focus = self.focus
            try:
                note = getattr(self, f"_{e.op}")(e)
                changed = True
            except OrderError as exc:
                self.lines, self.focus = keep, focus
                self.focus = self.current()
                note = str(exc)
            if note:
                notes.append(note)
        if changed and before != self.lines:
            self.history = (self.history + [before])[-UNDO_DEPTH:]
        self.before_usual = None if changed else self.before_usual
        self.offer = None
        self.state = ("building" if self.lines else "idle") if changed or self.state != "confirming" else self.state
        return list(dict.fromkeys(notes))

    def _clear(self, e: Edit) -> str:
        self.lines, self.focus = [], None
        return ""

    def _add(self, e: Edit) -> str:
        notes = []
        for line in e.lines:
            item = self.catalog.item(line.item)
            bad = [o for o in line.options if item is None or o not in item.options]
            if item is not None and bad:        # "a tea with oat milk": the tea, and a word about the milk
                notes.append(f"{_a(item.name)} doesn't come with {join_words(bad)}")
                line = Line(line.item, line.qty, [o for o in line.options if o not in bad])
            if e.definite:                  # "the latte (with oat milk)": the one already here
                found = self.find(Pick(line.item))
                if found:
                    if line.options:
                        self._set_options(found[-1], line.options, e.drop)
                    self.focus = found[-1] if any(ln is found[-1] for ln in self.lines) else self.current()
                    continue
            self.add([Line(line.item, line.qty, [o for o in line.options if o not in e.drop])])
        return "; ".join(notes)

    def _remove(self, e: Edit) -> str:
        pick = e.pick or Pick()
        found = self.find(pick)
        if not found:
            if e.quiet or pick.item is None:
                return "" if e.quiet else "your order is empty"
            return f"there's no {self._name(pick.item)} in your order"
        self._take(found, pick.count)
        return ""

    def _take(self, found: list[Line], count: int | None) -> int:
        """Take `count` units (None: all) off these lines, the latest first; returns how many."""
        taken = 0
        for ln in reversed(found):
            if count is not None and taken >= count:
                break
            if count is None or ln.qty <= count - taken:
                self.lines = [x for x in self.lines if x is not ln]
                taken += ln.qty
            else:
                ln.qty -= count - taken
                taken = count
                self.focus = ln
        return taken

    def _replace(self, e: Edit) -> str:
        pick = e.pick or Pick()
        found = self.find(pick)
        new = e.lines[0]
        if found and all(ln.item == new.item for ln in found) and pick.item in (None, new.item):
            # "make that a latte" about a latte: a change of quantity or options, not a new line
            ln = found[-1]
            if e.explicit:
                ln.qty = new.qty
            self._set_options(ln, new.options, e.drop)
            self.focus = self._merge(ln)
            return ""
        carried = [] if e.plain or not found else list(found[-1].options)
        item = self.catalog.item(new.item)
        allowed = set(item.options) if item else set()
        options = set(new.options)
        groups = {option_group(o) for o in options} - {None}
        options |= {o for o in carried if o in allowed and option_group(o) not in groups and o not in e.drop}
        note = "" if found or pick.item is None else f"there was no {self._name(pick.item)} in your order"
        at = self._index(found[-1]) if found else len(self.lines)
        taken = self._take(found, pick.count)
        qty = new.qty if e.explicit or not found else taken
        line = self.check(Line(new.item, qty, sorted(options)))
        if self._same(line) is None and len(self.lines) < MAX_LINES:
            self.lines.insert(min(at, len(self.lines)), line)     # where the old one was
            self.focus, self.state = line, "building"
        else:
            self.add([line])
        return note

    def _quantity(self, e: Edit) -> str:
        assert e.qty is not None
        found = self.find(e.pick or Pick())
        if not found:
            if e.lines:
                self.add(e.lines)
                return ""
            return "your order is empty" if not self.lines else ""
        ln = found[-1] if (e.pick and e.pick.item) else found[0]
        if not 1 <= e.qty <= MAX_QTY:
            raise OrderError(f"I can do 1 to {MAX_QTY} of each")
        ln.qty = e.qty
        self.focus = ln
        return ""

    def _more(self, e: Edit) -> str:
        n = e.qty or 1
        pick = e.pick or Pick()
        if e.lines and not e.lines[0].options:
            found = self.find(Pick(e.lines[0].item))
            if len(found) == 1:             # "another latte": one more of the latte already ordered
                return self._bump(found[0], n)
        if e.lines:
            self.add(e.lines)
            return ""
        ln = self.current() if pick.item is None else next(iter(self.find(pick)[-1:]), None)
        if ln is None:
            return "your order is empty"
        if e.add or e.drop:                 # "another one with oat milk": a copy of that line, changed
            copy_line = Line(ln.item, n, list(ln.options))
            self.add([copy_line])
            line = self.current()
            if line is not None:
                self._set_options(line, e.add, e.drop, count=n)
            return ""
        return self._bump(ln, n)

    def _bump(self, ln: Line, n: int) -> str:
        if ln.qty + n > MAX_QTY:
            raise OrderError(f"I can do 1 to {MAX_QTY} of each")
        ln.qty += n
        self.focus = ln
        return ""

    def _options(self, e: Edit) -> str:
        if not self.lines:
            return "your order is empty" if e.add else ""
        notes = []
        pick = e.pick
        if pick is not None and (pick.item or pick.options):
            targets = self.find(pick)
            if not targets:
                return f"there's no {self._name(pick.item)} in your order" if pick.item else ""
        elif e.every:                       # "both with oat milk": every line whose item takes it
            targets = [ln for ln in self.lines if all(o in self._options_of(ln) for o in e.add)] or self.lines
        elif pick is not None and pick.count:
            targets = self._split_target(pick.count, e.add)
        else:
            targets = []
        if e.every:
            for ln in targets:
                self._set_options(ln, [o for o in e.add if o in self._options_of(ln)], e.drop)
            return ""
        for o in e.add:
            line = self._option_line(o, targets)
            if line is None:
                where = targets[-1] if targets else self.current()
                notes.append(f"{_a(self._name(where.item)) if where else 'that'} doesn't come with {o}")
                continue
            self.focus = self._set_options(line, [o], [], count=pick.count if pick else None)
        for o in e.drop:
            having = [ln for ln in (targets or self.lines) if o in ln.options]
            cur = self.current()
            if cur is not None and any(ln is cur for ln in having):
                having = [cur]
            for ln in having:
                self.focus = self._set_options(ln, [], [o], count=pick.count if pick else None)
        return "; ".join(notes)

    # -- helpers ----------------------------------------------------------------------------
    def _options_of(self, ln: Line) -> tuple[str, ...]:
        item = self.catalog.item(ln.item)
        return item.options if item else ()

    def _split_target(self, count: int, add: list[str]) -> list[Line]:
        """'Two teas, one with lemon', '... and one with soy': of the lines of the item in focus,
        one with enough left to split and none of these options' kind yet, else the focus."""
        cur = self.current()
        if cur is None:
            return []
        groups = {option_group(o) or o for o in add}
        same = [ln for ln in self.lines if ln.item == cur.item]
        free = [ln for ln in same if not groups & {option_group(o) or o for o in ln.options}]
        for pool in ([ln for ln in free if ln.qty > count], free):
            if pool:
                return [pool[0]]
        return [cur]

    def find(self, pick: Pick) -> list[Line]:
        """The lines a pick means: the named item (narrowed by its options when that matches
        any), else the line in focus."""
        if pick.item is None:
            if pick.options:
                having = [ln for ln in self.lines if set(pick.options) <= set(ln.options)]
                if having:
                    return having
            cur = self.current()
            return [cur] if cur is not None else []
        same = [ln for ln in self.lines if ln.item == pick.item]
        narrowed = [ln for ln in same if set(pick.options) <= set(ln.options)]
        return narrowed or same

    def _option_line(self, option: str, targets: list[Line]) -> Line | None:
        """Where a loose option goes: the picked lines, else the line in focus, else the most
        recent line whose item takes it."""
        order = targets[::-1] if targets else [x for x in [self.current()] if x] + self.lines[::-1]
        for ln in order:
            item = self.catalog.item(ln.item)
            if item is not None and option in item.options:
                return ln
        return None

    def _set_options(self, ln: Line, add: list[str], drop: list[str], count: int | None = None) -> Line:
        """Change a line's options (one milk at a time); `count` of a larger line splits off."""
        item = self.catalog.item(ln.item)
        allowed = set(item.options) if item else set()
        bad = [o for o in add if o not in allowed]
        if bad:
            raise OrderError(f"{_a(item.name if item else ln.item)} doesn't come with {join_words(bad)}")
        if count is not None and count < ln.qty:
            ln.qty -= count
            at = self._index(ln) + 1
            ln = Line(ln.item, count, list(ln.options))
            self.lines.insert(at, ln)
        groups = {option_group(o) for o in add} - {None}
        opts = {o for o in ln.options if o not in drop and (option_group(o) is None or option_group(o) not in groups)}
        ln.options = sorted(opts | set(add))
        return self._merge(ln)

    def _index(self, ln: Line) -> int:
        return next(i for i, x in enumerate(self.lines) if x is ln)

    def _merge(self, ln: Line) -> Line:
        """Two lines that became the same drink the same way become one."""
        for other in self.lines:
            if other is not ln and other.item == ln.item and other.options == ln.options:
                other.qty = min(MAX_QTY, other.qty + ln.qty)
                self.lines = [x for x in self.lines if x is not ln]
                return other
        return ln

    def _same(self, line: Line) -> Line | None:
        return next((old for old in self.lines if old.item == line.item and old.options == line.options), None)

    def _name(self, item_id: str | None) -> str:
        it = self.catalog.item(item_id) if item_id else None
        return it.name if it else "such thing"


def lines_of(items: list[dict]) -> list[Line]:
    return [Line(str(i["item"]), int(i.get("qty", 1)), list(i.get("options", []))) for i in items]


ADJECTIVES = ("double", "decaf", "warmed", "iced", "large", "small")   # said before the name


def line_text(catalog: Catalog, item: str, qty: int, options: list[str]) -> str:
    """'2 warmed croissants', 'a decaf flat white with soy milk'."""
    it = catalog.item(item)
    name = it.name if it else item
    before = [o for o in options if o in ADJECTIVES]
    after = [o for o in options if o not in ADJECTIVES]
    if qty > 1:
        name = _plural(name)
    name = " ".join(before + [name])
    if qty > 1:
        name = f"{qty} {name}"
    else:
        name = _a(name)
    return name + (f" with {' and '.join(after)}" if after else "")


def _plural(name: str) -> str:
    return name if name.endswith("s") else name + "s"


def _a(name: str) -> str:
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def join_words(parts: list[str]) -> str:
    """'a, b and c'."""
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return parts[0] if parts else "nothing"


def summary(book: OrderBook) -> str:
    return join_words([line_text(book.catalog, ln.item, ln.qty, ln.options) for ln in book.lines])


def lines_summary(catalog: Catalog, lines: list[Line]) -> str:
    return join_words([line_text(catalog, ln.item, ln.qty, ln.options) for ln in lines])


def stored_summary(catalog: Catalog, items: list[dict]) -> str:
    return join_words([line_text(catalog, i["item"], int(i.get("qty", 1)), list(i.get("options", []))) for i in items])


def line_facts(catalog: Catalog, lines: list[Line]) -> list[str]:
    """The words a phrasing of these lines must keep, as the summary says them: each item with
    its count and the options said before it ("2 warmed croissants", "double espresso"), and
    each option said after it ("oat milk"). When one item is on two lines ("a latte and a
    latte with vanilla syrup"), its name alone is found in either, so a wording that drops
    one line would pass: then the whole list, as the summary says it, is the fact."""
    items = [ln.item for ln in lines]
    if len(set(items)) < len(items):
        return [lines_summary(catalog, lines)]
    out: list[str] = []
    for ln in lines:
        before = [o for o in ln.options if o in ADJECTIVES]
        named = line_text(catalog, ln.item, ln.qty, before)
        out.append(named.split(" ", 1)[1] if ln.qty == 1 else named)      # "a double espresso" -> "double espresso"
        out.extend(o for o in ln.options if o not in ADJECTIVES)
    return list(dict.fromkeys(out))


__all__ = [
    "OrderBook",
    "OrderError",
    "join_words",
    "line_facts",
    "line_text",
    "lines_of",
    "lines_summary",
    "money",
    "stored_summary",
    "summary",
]
