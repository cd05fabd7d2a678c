"""Pronouns turned around: what a person says about themselves, said back to them.

"my bike is red" -> "your bike is red"; "I'm allergic to peanuts" -> "you're allergic to
peanuts"; "you promised to remind me" (said to the companion) -> "I promised to remind you".
Both directions are swapped in one pass over the words, so nothing is swapped twice. Pure.
"""

from __future__ import annotations

import re

# speaker's word -> listener's word (lower case); "you" is decided by its place in the clause
_TO_LISTENER = {
    "i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
    "i'm": "you're", "i've": "you've", "i'll": "you'll", "i'd": "you'd",
    "your": "my", "yours": "mine", "yourself": "myself",
    "you're": "I'm", "you've": "I've", "you'll": "I'll", "you'd": "I'd",
}
# a verb that agrees with the pronoun next to it: (new pronoun, verb) -> verb
_AGREE = {("you", "am"): "are", ("you", "was"): "were", ("I", "are"): "am", ("I", "were"): "was"}
# before these, "you" starts a clause (subject: "I"); after anything else it is an object ("me")
_CLAUSE = frozenset("""that and but or so because if when while where what how why then do did does can
could will would should shall are were have had has must may might""".split())
_TOKEN = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?|[^A-Za-z]+")


def to_listener(text: str) -> str:
    """The same words, said back to the person: I/my/me/mine/I'm/I've/myself become
    you/your/you/yours/you're/you've/yourself, and you/your (about the listener) become
    I/me/my. Trailing . and ! are dropped; the rest of the text is kept as written."""
    parts = _TOKEN.findall(text.strip().rstrip(".!").replace("’", "'"))
    words = [i for i, p in enumerate(parts) if p[0].isalpha()]
    out = list(parts)
    for n, i in enumerate(words):
        low = parts[i].lower()
        prev = parts[words[n - 1]].lower() if n > 0 else None
        nxt = parts[words[n + 1]].lower() if n + 1 < len(words) else None
        if low == "you":
            new = "I" if prev is None or prev in _CLAUSE or _clause_break(parts, words, n) else "me"
        elif low in _TO_LISTENER:
            new = _TO_LISTENER[low]
        else:
            continue
        if n == 0 and new[0].islower() and parts[i][0].isupper() and not low.startswith("i"):
            new = new[0].upper() + new[1:]
        out[i] = new
        subject = "you" if low in ("i",) else "I" if new == "I" else None
        if subject and nxt is not None and (subject, nxt) in _AGREE:        # I am -> you are
            out[words[n + 1]] = _AGREE[(subject, nxt)]
        if subject and prev is not None and (subject, prev) in _AGREE and prev in ("am", "was", "are", "were"):
            out[words[n - 1]] = _AGREE[(subject, prev)]                    # am I -> are you
    return "".join(out)


def _clause_break(parts: list[str], words: list[int], n: int) -> bool:
    """Punctuation (a comma, a dash) between this word and the one before starts a clause."""
    if n == 0:
        return True
    between = "".join(parts[words[n - 1] + 1:words[n]])
    return any(c in between for c in ",;:-")


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]
