"""Personas (assets/agents/*.toml): who an agent is, what it may do, and what it sells.

A persona file is data, never code: its name, role and style feed the phrasing prompt; its
`actions` list is the whole set of things the server lets this agent do; a business
persona's catalog (items, options, prices, hours) is the only source of order facts.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("guide", "companion", "business")
ACTIONS = ("say", "say_private", "walk_to", "follow", "face", "emote", "remember", "recall", "look",
           "take_order", "place_order", "order_status")


class PersonaError(Exception):
    """A persona file is missing or malformed."""


@dataclass(frozen=True)
class Item:
    id: str
    name: str
    price_cents: int
    aliases: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalog:
    items: tuple[Item, ...]
    option_cents: dict[str, int]
    currency: str = "EUR"
    open: str = ""
    close: str = ""
    days: str = ""

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)

    def line_cents(self, item_id: str, options: list[str] | tuple[str, ...], qty: int) -> int:
        """Price of one order line, from the catalog alone (never from what a customer said)."""
        it = self.item(item_id)
        if it is None:
            raise KeyError(item_id)
        unit = it.price_cents + sum(self.option_cents.get(o, 0) for o in options)
        return unit * qty


@dataclass(frozen=True)
class Persona:
    key: str
    kind: str
    name: str
    role: str
    style: str
    greeting: str
    actions: frozenset[str]
    spawn: bool = False
    station: str | None = None
    at: tuple[float, float] | None = None
    yaw: float | None = None               # facing at the station (default: towards the place)
    brain: str | None = None               # overrides the server's --brain for this persona
    catalog: Catalog | None = None
    ready_after_s: float = 45.0
    extra: dict[str, Any] = field(default_factory=dict)

    def allows(self, action: str) -> bool:
        return action in self.actions


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _cents(value: Any, what: str) -> int:
    if not isinstance(value, (int, float)) or value < 0 or value > 10_000:
        raise PersonaError(f"{what}: price must be a number between 0 and 10000")
    return int(round(float(value) * 100))


def parse_persona(data: dict[str, Any], source: str) -> Persona:
    try:
        kind = str(data["kind"])
        if kind not in KINDS:
            raise PersonaError(f"{source}: kind must be one of {', '.join(KINDS)}")
        actions = frozenset(str(a) for a in data.get("actions", []))
        unknown = actions - set(ACTIONS)
        if unknown:
            raise PersonaError(f"{source}: unknown actions {sorted(unknown)}")
        catalog = None
        if "item" in data:
            items = []
            for i, it in enumerate(data["item"]):
                items.append(Item(str(it["id"]), str(it["name"]).lower(), _cents(it["price"], f"item[{i}]"),
                                  tuple(str(a).lower() for a in it.get("aliases", [])),
                                  tuple(str(o).lower() for o in it.get("options", []))))
            if len({i.id for i in items}) != len(items):
                raise PersonaError(f"{source}: duplicate item ids")
            hours = data.get("hours", {})
            catalog = Catalog(tuple(items), {str(o["option"]).lower(): _cents(o["price"], "option_price")
                                             for o in data.get("option_price", [])},
                              str(data.get("currency", "EUR")), str(hours.get("open", "")),
                              str(hours.get("close", "")), str(hours.get("days", "")))
        at = data.get("at")
        if at is not None and (not isinstance(at, list) or len(at) != 2):
            raise PersonaError(f"{source}: at must be [x, y]")
        return Persona(key=str(data["key"]), kind=kind, name=str(data["name"]), role=str(data["role"]),
                       style=str(data.get("style", "")), greeting=str(data.get("greeting", "")),
                       actions=actions, spawn=bool(data.get("spawn", False)),
                       station=data.get("station"), at=(float(at[0]), float(at[1])) if at else None,
                       yaw=float(data["yaw"]) if "yaw" in data else None,
                       brain=data.get("brain"), catalog=catalog,
                       ready_after_s=float(data.get("ready_after_s", 45.0)))
    except KeyError as exc:
        raise PersonaError(f"{source}: missing key {exc}") from None


def agents_dir() -> Path:
    from world.space.world_def import assets_dir
    return assets_dir("agents")


def load_personas(directory: Path | None = None) -> dict[str, Persona]:
    out = {}
    for path in sorted((directory or agents_dir()).glob("*.toml")):
        with open(path, "rb") as fh:
            try:
                p = parse_persona(tomllib.load(fh), path.name)
            except tomllib.TOMLDecodeError as exc:
                raise PersonaError(f"{path.name}: {exc}") from None
        out[p.key] = p
    return out
