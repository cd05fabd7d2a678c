"""World definitions: data files in assets/worlds/*.toml, loaded into typed rows."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np


class WorldError(Exception):
    """A world file is missing or malformed."""


@dataclass(frozen=True)
class Box:
    name: str
    min: tuple[float, float, float]
    max: tuple[float, float, float]
    color: tuple[float, float, float]
    solid: bool


@dataclass(frozen=True)
class Place:
    name: str
    at: tuple[float, float]
    description: str
    aliases: tuple[str, ...] = ()       # other words people use for it ("coffee shop")


@dataclass(frozen=True)
class Amenity:
    """Something a visitor needs that may stand in several spots (benches, toilets, bins)."""
    name: str                               # as said in a sentence: "toilets", "bench"
    spots: tuple[tuple[float, float], ...]  # where it stands; the guide names the nearest
    description: str = ""                   # where it is, in words ("in the block east of the plaza")
    aliases: tuple[str, ...] = ()           # other words people use: "restroom", "loo", "WC"

    @property
    def at(self) -> tuple[float, float]:
        return self.spots[0]

    def nearest(self, x: float, y: float) -> tuple[float, float]:
        return min(self.spots, key=lambda s: (s[0] - x) ** 2 + (s[1] - y) ** 2)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Event:
    """Something that happens in the world on a schedule (what the guide tells visitors about)."""
    name: str
    place: str
    when: str            # human-readable schedule, e.g. "Fridays at 19:00"
    description: str
    days: tuple[int, ...] = ()       # weekdays it happens (0 = Monday); () = not on a weekly schedule
    time: str = ""                   # start, "HH:MM" (24 h); "" = not given
    aliases: tuple[str, ...] = ()    # other names people use: "open mic"


@dataclass(frozen=True)
class Spawn:
    at: tuple[float, float]
    yaw: float


@dataclass(frozen=True)
class World:
    name: str
    title: str
    capacity: int
    bounds: tuple[float, float, float, float]     # minx, miny, maxx, maxy
    sky: tuple[float, float, float]
    ground: tuple[float, float, float]
    boxes: tuple[Box, ...]
    places: tuple[Place, ...]
    spawns: tuple[Spawn, ...]
    events: tuple[Event, ...] = ()
    amenities: tuple[Amenity, ...] = ()

    def solid_rects(self) -> np.ndarray:
        """(m, 4) float64 ground-plane rectangles of the solid boxes, for the collision kernels."""
        rects = [(b.min[0], b.min[1], b.max[0], b.max[1]) for b in self.boxes if b.solid]
        return np.array(rects, dtype=np.float64).reshape(-1, 4)

    def bounds_array(self) -> np.ndarray:
        return np.array(self.bounds, dtype=np.float64)

    def place(self, name: str) -> Place | None:
        key = name.strip().lower()
        return next((p for p in self.places if p.name.lower() == key), None)

    def nearest_place(self, x: float, y: float) -> Place | None:
        if not self.places:
            return None
        return min(self.places, key=lambda p: (p.at[0] - x) ** 2 + (p.at[1] - y) ** 2)

    def manifest(self) -> dict[str, Any]:
        """What a client needs to build the scene (sent in `welcome`)."""
        return {
            "world": self.name, "title": self.title, "capacity": self.capacity,
            "bounds": list(self.bounds), "sky": list(self.sky), "ground": list(self.ground),
            "boxes": [{"name": b.name, "min": list(b.min), "max": list(b.max),
                       "color": list(b.color), "solid": b.solid} for b in self.boxes],
            "places": [{"name": p.name, "at": list(p.at), "description": p.description}
                       for p in self.places],
            "events": [{"name": e.name, "place": e.place, "when": e.when, "description": e.description,
                        "days": [WEEKDAYS[d] for d in e.days], "time": e.time}
                       for e in self.events],
            "amenities": [{"name": a.name, "at": [list(s) for s in a.spots], "description": a.description}
                          for a in self.amenities],
            "spawns": [{"at": list(s.at), "yaw": s.yaw} for s in self.spawns],
        }


def _floats(value: Any, n: int, what: str) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != n or not all(isinstance(v, (int, float)) for v in value):
        raise WorldError(f"{what} must be a list of {n} numbers")
    return tuple(float(v) for v in value)


def parse_world(data: dict[str, Any], name: str) -> World:
    """Validate a parsed world TOML document."""
    try:
        bounds = _floats(data["bounds"]["min"], 2, "bounds.min") + _floats(data["bounds"]["max"], 2, "bounds.max")
        if bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
            raise WorldError("bounds.min must be below bounds.max")
        boxes = []
        for i, b in enumerate(data.get("box", [])):
            lo, hi = _floats(b["min"], 3, f"box[{i}].min"), _floats(b["max"], 3, f"box[{i}].max")
            if any(l >= h for l, h in zip(lo, hi)):
                raise WorldError(f"box[{i}] min must be below max on every axis")
            boxes.append(Box(str(b.get("name", f"box{i}")), lo, hi,  # type: ignore[arg-type]
                             _floats(b.get("color", [0.7, 0.7, 0.7]), 3, f"box[{i}].color"),  # type: ignore[arg-type]
                             bool(b.get("solid", True))))
        places = [Place(str(p["name"]), _floats(p["at"], 2, f"place {p['name']}"),  # type: ignore[arg-type]
                        str(p.get("description", "")), tuple(str(a) for a in p.get("aliases", [])))
                  for p in data.get("place", [])]
        names = {p.name.lower() for p in places}
        events = []
        for e in data.get("event", []):
            if str(e["place"]).lower() not in names:
                raise WorldError(f"event {e['name']!r} is at an unknown place {e['place']!r}")
            days, time = _days(e.get("days", []), e["name"]), _time(e.get("time", ""), e["name"])
            when = str(e.get("when", "")) or _when(days, time)
            events.append(Event(str(e["name"]), str(e["place"]), when, str(e.get("description", "")),
                                days, time, _aliases(e)))
        amenities = [_amenity(a, i) for i, a in enumerate(data.get("amenity", []))]
        spawns = [Spawn(_floats(s["at"], 2, "spawn.at"), float(s.get("yaw", 0.0)))  # type: ignore[arg-type]
                  for s in data.get("spawn", [])]
        if not spawns:
            raise WorldError("a world needs at least one [[spawn]]")
        for s in spawns:
            if not (bounds[0] < s.at[0] < bounds[2] and bounds[1] < s.at[1] < bounds[3]):
                raise WorldError(f"spawn {s.at} is outside the bounds")
        for a in amenities:
            for x, y in a.spots:
                if not (bounds[0] < x < bounds[2] and bounds[1] < y < bounds[3]):
                    raise WorldError(f"amenity {a.name!r} at {[x, y]} is outside the bounds")
        return World(
            name=str(data.get("name", name)), title=str(data.get("title", name)),
            capacity=int(data.get("capacity", 100)), bounds=bounds,  # type: ignore[arg-type]
            sky=_floats(data.get("sky", [0.55, 0.72, 0.92]), 3, "sky"),  # type: ignore[arg-type]
            ground=_floats(data.get("ground", [0.42, 0.58, 0.33]), 3, "ground"),  # type: ignore[arg-type]
            boxes=tuple(boxes), places=tuple(places), spawns=tuple(spawns), events=tuple(events),
            amenities=tuple(amenities))
    except KeyError as exc:
        raise WorldError(f"world {name}: missing key {exc}") from None


def _aliases(table: dict[str, Any]) -> tuple[str, ...]:
    aliases = table.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise WorldError(f"{table.get('name', '?')!r}: aliases must be a list of words")
    return tuple(aliases)


def _days(value: Any, what: str) -> tuple[int, ...]:
    """["friday"] -> (4,); ["daily"] -> every day. Names in full, any case."""
    if not isinstance(value, list):
        raise WorldError(f"event {what!r}: days must be a list of weekday names or [\"daily\"]")
    out: set[int] = set()
    for d in value:
        key = str(d).strip().lower()
        if key == "daily":
            out.update(range(7))
        elif key in WEEKDAYS:
            out.add(WEEKDAYS.index(key))
        else:
            raise WorldError(f"event {what!r}: {d!r} is not a weekday name (monday..sunday) or daily")
    return tuple(sorted(out))


def _time(value: Any, what: str) -> str:
    t = str(value).strip()
    if t and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", t):
        raise WorldError(f"event {what!r}: time must be HH:MM (24 h), not {value!r}")
    return t


def _when(days: tuple[int, ...], time: str) -> str:
    """The readable schedule when the file gives only days and time: "Fridays at 19:00"."""
    on = "every day" if len(days) == 7 else " and ".join(WEEKDAYS[d].capitalize() + "s" for d in days)
    return " at ".join(p for p in (on, time) if p)


def _amenity(a: dict[str, Any], i: int) -> Amenity:
    name = str(a.get("name", "")).strip()
    if not name:
        raise WorldError(f"amenity[{i}] needs a name")
    at = a.get("at")
    # One spot [x, y] or several [[x, y], ...]
    raw = at if isinstance(at, list) and at and all(isinstance(s, list) for s in at) else [at]
    spots = tuple(_floats(s, 2, f"amenity {name!r} at") for s in raw)
    return Amenity(name, spots, str(a.get("description", "")), _aliases(a))  # type: ignore[arg-type]


def assets_dir(kind: str) -> Path:
    """assets/<kind> in a checkout, or the installed copy (package agora_assets)."""
    here = Path(__file__).resolve().parents[2] / "assets" / kind
    if here.is_dir():
        return here
    return Path(str(resources.files("agora_assets") / kind))


def worlds_dir() -> Path:
    return assets_dir("worlds")


def load_world(name_or_path: str) -> World:
    """Load a world by name (assets/worlds/NAME.toml) or by path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = worlds_dir() / f"{name_or_path}.toml"
    if not path.is_file():
        raise WorldError(f"no world file {path}")
    with open(path, "rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise WorldError(f"{path}: {exc}") from None
    return parse_world(data, path.stem)
