"""What a customer wants from the barista: catalog lines, edits, questions, by explicit rules.

Pure functions over text and the persona's catalog; the shared helpers (normalising, yes and
no, greetings) come from world.agents.intent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from world.agents.intent import BYE, GREET, NUMBERS, THANKS, Intent, is_no, is_yes, norm

if TYPE_CHECKING:
    from world.agents.persona import Catalog


# -- the barista: catalog lines ---------------------------------------------------------------------

@dataclass
class Line:
    item: str                      # catalog item id
    qty: int = 1
    options: list[str] = field(default_factory=list)


MENU = re.compile(r"\b(menu|what do you (have|sell|serve|offer)|what can i (get|have|order)|options|"
                  r"what('?s| is) (on offer|available)|drinks|what have you got)\b")
HOURS = re.compile(r"\b(hours|open|close|closing|opening|when are you)\b")
PRICE = re.compile(r"\b(how much|price|cost|costs|what does .* cost|how expensive)\b")
DONE = re.compile(r"\b(that'?s (all|it|everything)|that will be all|that'?ll be all|nothing else|i'?m done|"
                  r"done|finish|ready to order|that is all|that is it|no more|just that|only that)\b")
USUAL = re.compile(r"\b(the usual|my usual|same as (last time|always|usual)|as usual|usual order)\b")
STATUS = re.compile(r"\b(status|where'?s my (order|coffee|drink)|is my (order|coffee|drink)|my order ready|"
                    r"how long|ready yet|is it ready|order ready)\b")
REMOVE = re.compile(r"\b(no|remove|without the|cancel the|drop the|take off|scratch the|forget the|skip the)\b")
WANT = re.compile(r"\b(i'?d like|i would like|i'?ll have|i will have|can i (get|have)|could i (get|have)|"
                  r"i want|give me|get me|let me (get|have)|order|add|and|also|plus|make (it|that))\b")


def _labels(catalog: Catalog) -> list[tuple[str, str]]:
    labels = [(norm(i.name), i.id) for i in catalog.items] + [(norm(a), i.id) for i in catalog.items
                                                               for a in i.aliases]
    return sorted(labels, key=lambda x: -len(x[0]))


def find_items(text: str, catalog: Catalog) -> list[tuple[int, int, str]]:
    """(start, end, item id) of every catalog item named in the text, left to right, no overlaps."""
    t = norm(text)
    taken: list[tuple[int, int, str]] = []
    for label, item_id in _labels(catalog):
        for m in re.finditer(rf"\b{re.escape(label)}\b", t):
            if all(m.end() <= a or m.start() >= b for a, b, _ in taken):
                taken.append((m.start(), m.end(), item_id))
    return sorted(taken)


def _qty_before(t: str, start: int) -> int:
    before = t[:start].split()[-3:]
    for n in range(len(before)):
        phrase = " ".join(before[n:])
        if phrase in NUMBERS:
            return NUMBERS[phrase]
    if before:
        last = before[-1]
        if last.isdigit() and 0 < int(last) <= 20:
            return int(last)
        if last in NUMBERS:
            return NUMBERS[last]
    return 1


def parse_order(text: str, catalog: Catalog) -> tuple[list[Line], list[str], list[str]]:
    """Lines to add, item ids to remove, and options that apply to the order's last item
    ("make it oat milk"). Options attach to the item they follow (or precede, in the same clause)."""
    t = norm(text)
    hits = find_items(t, catalog)
    options = sorted({o for i in catalog.items for o in i.options} | set(catalog.option_cents), key=len, reverse=True)
    lines: list[Line] = []
    removes: list[str] = []
    spans = []
    for k, (start, end, item_id) in enumerate(hits):
        seg_start = hits[k - 1][1] if k > 0 else 0
        seg_end = hits[k + 1][0] if k + 1 < len(hits) else len(t)
        before = t[seg_start:start]
        clause_before = re.split(r"\b(and|plus|also|then)\b|,", before)[-1] if before else ""
        if REMOVE.search(clause_before) and not re.search(r"\bno (sugar|ice)\b", clause_before):
            removes.append(item_id)
            continue
        after = t[end:seg_end]
        if k + 1 < len(hits):
            # the words just before the next item belong to it ("... and a double espresso")
            nxt = re.split(r"\b(?:and|plus|also|then)\b|,", after)[-1]
            after = after[: len(after) - len(nxt)]
        spans.append((start, end))
        item = catalog.item(item_id)
        opts = []
        for o in options:
            if re.search(rf"\b{re.escape(o)}\b", after) or re.search(rf"\b{re.escape(o)}\s*$", clause_before):
                if item is not None and o in item.options and o not in opts:
                    opts.append(o)
        lines.append(Line(item_id, _qty_before(t, start), sorted(opts)))
    loose = []
    if not hits:
        rest = t
        for o in options:        # longest first: "oat milk" wins over "milk"
            if re.search(rf"\b{re.escape(o)}\b", rest):
                loose.append(o)
                rest = re.sub(rf"\b{re.escape(o)}\b", " ", rest)
    return lines, removes, loose


def barista_intent(text: str, catalog: Catalog) -> Intent:
    t = norm(text)
    lines, removes, loose = parse_order(t, catalog)
    if STATUS.search(t):
        return Intent("status", text=text)
    if USUAL.search(t):
        return Intent("usual", text=text)
    if PRICE.search(t) and lines and not WANT.search(t):
        return Intent("price", text=text, item=lines[0].item)
    if lines or removes or loose:
        return Intent("order", text=text, lines=lines, remove=removes, options=loose)
    if DONE.search(t):
        return Intent("done", text=text)
    if is_yes(t):
        return Intent("yes", text=text)
    if is_no(t):
        return Intent("no", text=text)
    if MENU.search(t) or PRICE.search(t):
        return Intent("menu", text=text)
    if HOURS.search(t):
        return Intent("hours", text=text)
    if THANKS.search(t):
        return Intent("thanks", text=text)
    if GREET.match(t):
        return Intent("greet", text=text)
    if BYE.search(t):
        return Intent("bye", text=text)
    return Intent("other", text=text)
