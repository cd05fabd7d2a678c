"""Where text labels go so that none covers another: place signs over the world, speech over a head.

Pure functions over card extents (a card's bottom and top relative to its node's origin, in
metres after scaling); the scene reads the extents from its TextNodes and applies the
heights. Billboards turn to face the camera, so two signs a few metres apart line up on
screen whenever the camera looks along the line between them (the Plaza sign, 8 m in front
of the Fountain's, covered it from the south spawns). No single direction is safe, so
neighbours get different heights instead: a sign is lifted above every nearer-placed
neighbour's card plus a gap that also absorbs perspective (the farther sign of a pair
looks lower than its height says).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple


class Card(NamedTuple):
    """A label's card relative to its node's origin (metres; bottom < top)."""

    bottom: float
    top: float


class Sign(NamedTuple):
    """A place sign: where it stands on the ground and the card it draws."""

    x: float
    y: float
    card: Card


def sign_heights(signs: Sequence[Sign], base: float, near: float, gap: float) -> list[float]:
    """The height of each sign's origin: `base`, lifted clear of earlier signs within `near` metres.

    Signs are placed in the given order (the world file's): the first of a cluster keeps
    `base`; a later one goes up until its card clears, by `gap`, the card of every placed
    neighbour within `near` metres on the ground.
    """
    placed: list[tuple[Sign, float]] = []
    heights = []
    for sign in signs:
        neighbours = [(s, z) for s, z in placed if math.hypot(s.x - sign.x, s.y - sign.y) < near]
        z = base
        moved = True
        while moved:           # each lift clears one neighbour; at most len(neighbours) rounds
            moved = False
            for other, oz in neighbours:
                if _overlaps(sign.card, z, other.card, oz, gap):
                    z = oz + other.card.top + gap - sign.card.bottom
                    moved = True
        placed.append((sign, z))
        heights.append(z)
    return heights


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


def _overlaps(a: Card, az: float, b: Card, bz: float, gap: float) -> bool:
    """Whether two cards' vertical spans, at origins az and bz, come closer than `gap`."""
    return az + a.bottom < bz + b.top + gap and bz + b.bottom < az + a.top + gap
