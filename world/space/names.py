"""Which display names people may not take: the agents' names and anything that looks like one.

A name is reduced to a *skeleton* before comparing: compatibility-normalised, case-folded,
accents removed, common look-alike letters from other scripts (Cyrillic "а", Greek "ο", ...)
and digits mapped to the Latin letter they imitate, and everything that is not a letter or
digit dropped. Trailing bracketed tags ("Mira [AI]", "Pip (Alice)") are ignored for the
comparison, and a tag that says AI is refused outright: how a client tells an agent from a
person is the `kind` the server sends (`agent`), never the name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Look-alikes of Latin letters (a subset of Unicode's confusables that covers the scripts
# people actually use for impersonation), applied after NFKC and case folding.
_CONFUSABLES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "l", "ї": "l", "ј": "j", "ԁ": "d",
    "ɡ": "g", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ь": "b",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "l", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w", "μ": "u",
    # Latin variants and digits that read as letters
    "ı": "l", "ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe",
    "0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
    "i": "l", "|": "l", "!": "l",
})
# Capitals whose lower case looks different from the Latin letter they imitate (Greek "Μ"
# folds to "μ"), mapped before case folding.
_CAPITALS = str.maketrans({
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "l", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c",
    "Т": "t", "У": "y", "Х": "x", "І": "l", "Ј": "j", "Ѕ": "s",
})
_TAG = re.compile(r"\s*[\[(（【]([^\])）】]*)[\])）】]\s*$")
_ANY_TAG = re.compile(r"[\[(（【]([^\])）】]*)[\])）】]")
_AI_WORD = re.compile(r"^(.*?)[\s\-_.:·]+(ai|bot|agent|npc)$")


def skeleton(name: str) -> str:
    """The form two names share when a reader could take one for the other."""
    text = unicodedata.normalize("NFKC", name).translate(_CAPITALS).casefold()
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    text = text.translate(_CONFUSABLES)
    text = "".join(c for c in text if c.isalnum())
    return text.replace("rn", "m").replace("vv", "w")


def _strip_tags(name: str) -> tuple[str, list[str]]:
    """('Pip', ['Alice']) for 'Pip (Alice)': the base name and its trailing bracketed tags."""
    tags = []
    while True:
        match = _TAG.search(name)
        if match is None or match.start() == 0:
            return name, tags
        tags.append(match.group(1))
        name = name[:match.start()]


AI_TAGS = {skeleton(t) for t in ("AI", "bot", "agent", "NPC")}


class NameRules:
    """The reserved names of one server (every persona's name, stationed or not)."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self.reserved: dict[str, str] = {}          # skeleton -> the agent's name
        self.reserve(reserved)

    def reserve(self, names: Iterable[str]) -> None:
        for name in names:
            base, _ = _strip_tags(name)
            key = skeleton(base)
            if key:
                self.reserved[key] = base

    def refusal(self, name: str) -> str | None:
        """Why a person may not use `name`, or None if they may."""
        if any(skeleton(t) in AI_TAGS for t in _ANY_TAG.findall(name)):
            return f"{name!r} is marked as an AI; only agents are, and clients show that from their kind"
        base, _ = _strip_tags(name)
        parts = [name, base]
        suffixed = _AI_WORD.match(unicodedata.normalize("NFKC", base).casefold().strip())
        if suffixed:                  # "Mira AI", "Mira-bot"
            parts.append(suffixed.group(1))
        for part in parts:
            agent = self.reserved.get(skeleton(part))
            if agent is not None:
                return f"{name!r} is, or looks like, the name of the agent {agent}"
        return None
