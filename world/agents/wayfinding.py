"""Where things are, for the guide: which place, amenity or event a line names, what a line
asks for when the world has no such thing, and the way there from where the asker stands.

Pure functions over the world file's data. Matching is by whole words (plural or singular)
against names and aliases, and it is strict on purpose: a label counts only when the words
beside it do not turn it into something else. "the music shop" does not name the Stage
(alias "music"), "a water park" is not the drinking fountain: an honest "I don't know"
beats the nearest-sounding place.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, NamedTuple

from world.agents import pronouns
from world.agents.intent import norm
from world.agents.memory import STOP_WORDS
from world.agents.perception import compass
from world.space.world_def import Amenity, Event, Place

if TYPE_CHECKING:
    from world.space.world_def import World

Target = Place | Amenity

# Words that may stand right before a label without changing what it names.
MODIFIERS = frozenset("""
nearest closest nearby near main big little small old new open-air outdoor public quiet other best local
free clean lovely nice famous central next good tiny large huge pretty beautiful this that which your
north south east west northern southern eastern western wooden stone red green blue white black grey
i'm i've i'd i'll you're we're it's that's there's what's where's let's don't can't need want get got
find see use visit go reach show like love hungry thirsty nearest
""".split())
# Words that may follow a label: function words, fillers, and nouns that only say which part.
FOLLOWERS = frozenset("""
please here there nearby near around located area place spot block building room door entrance side
bit one ones thing zone corner section point station stand again then now today tonight thanks thank
anyway too also quickly exactly mira i'm it's that's there's what's where's is are was
open opens opened close closes closed start starts begin begins end ends located situated sell sells
serve serves look looks take takes work works stay anywhere somewhere close
""".split())


def singular(word: str) -> str:
    """toilets -> toilet, benches -> bench, ladies -> lady; short words and -ss/-us/-is stay."""
    w = word.removesuffix("'s")
    if len(w) > 4 and w.endswith(("ches", "shes", "sses", "xes", "zes")):
        return w[:-2]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def tokens(text: str) -> list[str]:
    return norm(text).split()


class Found(NamedTuple):
    """A name or alias found in a line: what it names, and the words it spans."""

    what: Place | Amenity | Event
    start: int
    end: int


def _spans(words: list[str], label: str) -> list[tuple[int, int]]:
    want = [singular(w) for w in tokens(label)]
    n = len(want)
    if n == 0:
        return []
    have = [singular(w) for w in words]
    return [(i, i + n) for i in range(len(have) - n + 1) if have[i:i + n] == want]


def _find(words: list[str], things: list[Place | Amenity | Event]) -> Found | None:
    best: Found | None = None
    for thing in things:
        spans = [s for label in (thing.name, *thing.aliases) for s in _spans(words, label)]
        covered = {i for a, b in spans for i in range(a, b)}
        for a, b in spans:
            before = words[a - 1] if a > 0 else None
            after = words[b] if b < len(words) else None
            ok_before = (before is None or before in STOP_WORDS or before in MODIFIERS
                         or a - 1 in covered or before.isdigit())
            ok_after = (after is None or after in STOP_WORDS or after in FOLLOWERS or b in covered
                        or words[b - 1].endswith("'s"))
            if not (ok_before and ok_after):
                continue
            if best is None or (b - a, -a) > (best.end - best.start, -best.start):
                best = Found(thing, a, b)
    return best


def find_target(world: World, text: str) -> Target | None:
    """The place or amenity a line names (the longest name wins, then the first)."""
    found = _find(tokens(text), [*world.places, *world.amenities])
    return found.what if found else None        # type: ignore[return-value]


def find_event(world: World, text: str) -> Event | None:
    found = _find(tokens(text), list(world.events))
    return found.what if found else None        # type: ignore[return-value]


def spot(target: Target, x: float, y: float) -> tuple[float, float]:
    """Where to send someone standing at (x, y): a place's point, an amenity's nearest spot."""
    return target.nearest(x, y) if isinstance(target, Amenity) else target.at


def plural(name: str) -> bool:
    return name.endswith("s") and not name.endswith(("ss", "us", "is"))


def way(frm: tuple[float, float], to: tuple[float, float]) -> tuple[float, str]:
    """Straight-line distance (m) and eight-point compass direction from one point to another."""
    dx, dy = to[0] - frm[0], to[1] - frm[1]
    return math.hypot(dx, dy), compass(dx, dy)


# -- what a line asks for that the world does not have ------------------------------------------

_LEAD = r"^(?:(?:excuse me|sorry|hi|hello|hey|um|so|and|oh|ok|okay|please|also|then)\s+)*"
_ASK = (r"(?:(?:can|could) you tell me |do you know |tell me )?"
        r"(?:where can i find|where do i find|where would i find|where could i find|where(?:'s| is| are| the)?|"
        r"is there(?: any)?|are there(?: any)?|do you have|have you got|do you know of|"
        r"how (?:do|can|would|could) i (?:get|go) to|how to get to|how (?:do|can) i find|"
        r"i'm looking for|i am looking for|looking for|i need to find|i need|i want to find|"
        r"take me to|walk me to|show me)")
_NOUN_Q = re.compile(_LEAD + _ASK + r"\s+(.+)$")
_VERB_Q = re.compile(_LEAD + r"where (?:can|could|do|should|would|might) (?:i|we|one) (?!find\b|get to\b)(.+)$")
_DET = re.compile(r"^(?:the|a|an|any|some|somewhere|a good|a nice|the nearest|nearest|the closest|closest)\s+")
_TAIL = re.compile(r"\s+(?:around here|round here|near here|close by|nearby|here|please|in this place|"
                   r"in the plaza|on the plaza|in agora|at all|is|are|located|from here|mira|then)$")
_PLAIN = re.compile(r"^[a-z][a-z'\- ]*$")


def unknown_thing(text: str) -> tuple[str, str] | None:
    """What a where-question asks for, when it names nothing in the world: ("thing",
    "swimming pool") or ("doing", "charge your phone"); None when it is not that kind of
    question or the words are not a short plain phrase (never repeat long text back)."""
    t = norm(text)
    m = _VERB_Q.match(t)
    kind = "doing"
    if m is None:
        m, kind = _NOUN_Q.match(t), "thing"
    if m is None:
        return None
    phrase = m.group(1).strip()
    for _ in range(3):
        phrase = _TAIL.sub("", _DET.sub("", phrase)).strip()
    if kind == "doing":
        phrase = pronouns.to_listener(phrase)
    if not phrase or not _PLAIN.match(phrase) or len(phrase.split()) > (5 if kind == "doing" else 4):
        return None
    if all(w in STOP_WORDS for w in phrase.split()):
        return None                                  # "where is it?": nothing to name
    return kind, phrase
