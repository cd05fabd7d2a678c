"""Where text labels go so that none covers another: place signs on screen, speech over a head.

Pure functions over rectangles and card extents; the scene measures its TextNodes and
projects them, then applies what these return.

Place signs are billboards, so two signs a few metres apart line up whenever the camera
looks along the line between them (the Plaza sign, 8 m in front of the Fountain's,
covered it from the south spawns). No height fixed when the world is built keeps them
apart from every eye height and distance (a farther sign looks lower than it is, by how
much depends on the viewer), so they are separated where they collide, on the screen:
the nearest sign stays, a farther one that would cover or touch it moves up just clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

EPS = 1e-6                 # closer than this counts as touching, not overlapping (rounding)


class Card(NamedTuple):
    """A label's card relative to its node's origin (metres; bottom < top)."""

    bottom: float
    top: float


class Rect(NamedTuple):
    """A label's card on the screen (normalised device coordinates, -1..1, y up)."""

    left: float
    bottom: float
    right: float
    top: float


def declutter(rects: Sequence[Rect | None], gap: float) -> list[float]:
    """How far up (in screen units) to move each rect so that none covers or touches another.

    `rects` are in priority order, the nearest sign first: a rect keeps its place if it can,
    otherwise it moves up until it clears every earlier one by `gap`. None (a sign behind
    the camera) takes no room and is not moved.
    """
    placed: list[Rect] = []
    lifts = []
    for rect in rects:
        if rect is None:
            lifts.append(0.0)
            continue
        lift = 0.0
        for _ in range(len(placed)):        # each move goes up past one more earlier rect
            moved = _shift(rect, lift)
            above = [p.top + gap - rect.bottom for p in placed if _overlaps(moved, p, gap)]
            if not above:
                break
            lift = max(lift, min(above))
        placed.append(_shift(rect, lift))
        lifts.append(lift)
    return lifts


def stack(cards: Sequence[Card], base: float, gap: float) -> list[float]:
    """Origins that pile cards upward from `base` in the given order, `gap` apart, by their real heights.

    The speech over a head: newest bubble first (nearest the head), older ones above it.
    """
    heights = []
    floor = base
    for card in cards:
        z = floor - card.bottom
        heights.append(z)
        floor = z + card.top + gap
    return heights


def _shift(r: Rect, dy: float) -> Rect:
    return Rect(r.left, r.bottom + dy, r.right, r.top + dy)


def _overlaps(a: Rect, b: Rect, gap: float) -> bool:
    """Whether two rects cover each other, or come closer than `gap` one above the other."""
    return (a.left < b.right - EPS and b.left < a.right - EPS
            and a.bottom < b.top + gap - EPS and b.bottom < a.top + gap - EPS)
