"""When things happen: the time a line asks about ("tonight", "on Friday", "this weekend")
and the world's events that fall in it. Pure functions; the clock is passed in.

Parts of the day: morning 05:00-12:00, afternoon 12:00-17:00, evening (and "tonight")
17:00-24:00. Days are weekday numbers, 0 = Monday, as in `datetime.weekday()`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from world.agents.intent import norm
from world.space.world_def import WEEKDAYS

if TYPE_CHECKING:
    from world.space.world_def import Event

PARTS = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 24)}
# "sat" and "sun" are left out: "I sat down", "the sun is out"
_SHORT = {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3, "fri": 4}


@dataclass(frozen=True)
class Slot:
    """A stretch of the week a line asks about."""

    days: frozenset[int]         # weekdays (all seven: any day)
    part: str | None             # "morning" | "afternoon" | "evening" | None (all day)
    label: str                   # how to say it back: "tonight", "on Friday", "this weekend"


def _day(word: str) -> int | None:
    w = word.rstrip("s") if word.endswith("days") else word
    if w in WEEKDAYS:
        return WEEKDAYS.index(w)
    return _SHORT.get(word)


def parse_slot(text: str, now: datetime) -> Slot | None:
    """The time a line asks about, or None when it names none."""
    t = norm(text)
    today = now.weekday()
    part = None
    m = re.search(r"\b(tonight|this evening|in the evening|evenings?|(?:this |in the )?mornings?|"
                  r"(?:this |in the )?afternoons?|night)\b", t)
    if m:
        w = m.group(1)
        part = "evening" if ("even" in w or "night" in w) else "morning" if "morning" in w else "afternoon"
    days: set[int] = set()
    label = ""
    for w in re.findall(r"[a-z]+", t):
        d = _day(w)
        if d is not None:
            days.add(d)
    if days:
        label = "on " + " and ".join(WEEKDAYS[d].capitalize() for d in sorted(days))
    elif re.search(r"\b(weekend)\b", t):
        days, label = {5, 6}, "this weekend"
    elif re.search(r"\btomorrow\b", t):
        days, label = {(today + 1) % 7}, "tomorrow"
    elif re.search(r"\b(today|tonight|this (morning|afternoon|evening)|right now|now|at the moment)\b", t):
        days, label = {today}, "today"
        if re.search(r"\b(right now|now|at the moment)\b", t) and part is None:
            part = next((p for p, (a, b) in PARTS.items() if a <= now.hour < b), "evening")
            label = "right now"
    elif re.search(r"\b(this week|week)\b", t):
        days, label = set(range(7)), "this week"
    elif part is not None:
        days = set(range(7))
    else:
        return None
    if part == "evening" and label == "today":
        label = "tonight"
    elif part is not None and label in ("today", "tomorrow"):
        label = f"this {part}" if label == "today" else f"tomorrow {part}"
    elif part is not None and label.startswith("on "):
        label = f"{label} {part}"
    elif part is not None and not label:
        label = f"in the {part}"
    return Slot(frozenset(days), part, label)


def hour(event: Event) -> int | None:
    return int(event.time[:2]) if event.time else None


def in_slot(event: Event, slot: Slot) -> bool:
    """The event happens on one of the slot's days, in its part of the day."""
    if not event.days or not slot.days.intersection(event.days):
        return False
    if slot.part is None:
        return True
    h = hour(event)
    lo, hi = PARTS[slot.part]
    return h is not None and lo <= h < hi


def in_part(event: Event, part: str | None) -> bool:
    """The event happens in this part of the day, on any day."""
    h = hour(event)
    if part is None:
        return bool(event.days)
    lo, hi = PARTS[part]
    return h is not None and lo <= h < hi
