"""Intent matching: what a person wants from an agent, decided by explicit, testable rules.

The small local model is never asked what a line means: these functions map text to an
intent with its slots (a place, a fact to remember). Everything here is pure. The barista's
order grammar lives in world/agents/order_intent.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from world.agents.order_intent import Line
    from world.space.world_def import Place, World

NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
           "seven": 7, "eight": 8, "nine": 9, "ten": 10, "single": 1, "couple of": 2, "pair of": 2}
YES = re.compile(r"^(yes|yeah|yep|yup|sure|ok|okay|please|go ahead|do it|place it|confirm|correct|"
                 r"that'?s right|right|perfect|sounds good|absolutely|of course|let'?s go|lead the way|"
                 r"take me|show me|y)\b")
NO = re.compile(r"^(no|nope|nah|not yet|wait|hold on|cancel|don'?t|never ?mind|stop|n)\b")
GREET = re.compile(r"^(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening)|greetings)\b")
THANKS = re.compile(r"\b(thanks|thank you|cheers|ta)\b")
BYE = re.compile(r"\b(bye|goodbye|see you|see ya|farewell)\b")
QUESTION_START = re.compile(r"^(what|what's|whats|where|where's|when|who|who's|which|how|do|does|did|is|are|"
                            r"can|could|tell me|remind me)\b")


def norm(text: str) -> str:
    """Lower case, curly quotes straightened, punctuation except ' . : - dropped, spaces squeezed."""
    t = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    t = re.sub(r"[^\w\s'.:\-]", " ", t)
    t = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", t)
    return re.sub(r"\s+", " ", t).strip()


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", norm(text)))


def is_yes(text: str) -> bool:
    t = norm(text)
    return bool(YES.match(t)) and not NO.match(t)


def is_no(text: str) -> bool:
    return bool(NO.match(norm(text)))


def mentions(text: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(name.lower())}\b", norm(text)) is not None


def strip_address(text: str, names: tuple[str, ...]) -> str:
    """'Pip, my sister is Ana' -> 'my sister is Ana': the name used to address an agent is
    not part of what was said to it."""
    out = text.strip()
    for name in sorted(set(names), key=len, reverse=True):
        m = re.match(rf"^(hey |hi |ok |okay )?{re.escape(name)}\b[\s,:;!.-]*", out, flags=re.IGNORECASE)
        if m and m.end() < len(out):
            return out[m.end():].strip()
    return out


@dataclass
class Intent:
    kind: str
    place: Place | None = None
    text: str = ""
    lines: list[Line] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    item: str | None = None
    options: list[str] = field(default_factory=list)      # options with no item ("make it oat milk")
    target: Any = None          # guide: the Place or Amenity asked about
    event: Any = None           # guide: the Event asked about by name
    slot: Any = None            # guide: the time asked about (schedule.Slot)
    topic: str = ""             # guide: which small talk, or "thing"/"doing" for an unknown; companion: what to forget


# -- the guide ---------------------------------------------------------------------------------------

WHO_THAT = re.compile(r"\b(who is that|who's that|whos that|what is that|what's that|whats that|"
                      r"what am i looking at|who am i looking at|what is this|what's this|what do i see)\b")


def guide_intent(text: str, world: World, now: datetime | None = None) -> Intent:
    """What a line asks the guide for. The rules live in world/agents/guide_intent.py (they
    need the world's places and the clock); this name stays for callers of this module."""
    from world.agents.guide_intent import guide_intent as rules
    return rules(text, world, now)


# -- the companion: facts to remember and questions about them --------------------------------------

REMEMBER = re.compile(r"^(please )?(remember|note|don'?t forget|keep in mind|make a note)( that| this)?[:,]?\s+")
# "forget my locker code", "please forget that I like jazz", "can you delete what I told you about my bike"
FORGET = re.compile(r"^(?:(?:please|pip|ok|okay|oh|um|hmm|well|actually|no|now|and|so|can you|could you|would you|will you|i want you to|"
                    r"i'd like you to)[,\s]+)*(?:forget|delete|erase|remove|unlearn|stop remembering|wipe)\b"
                    r"[,:\s]*(.*)$", re.IGNORECASE)
_FORGET_FILLER = re.compile(r"^(?:about|that|the fact that|what i (?:told|said to) you(?: about)?|"
                            r"what i said(?: about)?|everything i (?:told|said to) you about|all about|"
                            r"it all about|anything about)\s+", re.IGNORECASE)
_FORGET_TAIL = re.compile(r"\s+(?:please|now|for me|from your memory|forever|thanks|thank you|again)$", re.IGNORECASE)
FORGET_ALL = re.compile(r"^(?:everything|all|all of it|it all|all that|all about me|me|about me|"
                        r"everything about me|everything i(?:'ve| have)? (?:told|said to) you|what i told you|"
                        r"what i've told you|your memory|your memories|my data|all my data|all my facts|"
                        r"all my memories|everything you know(?: about me)?)$", re.IGNORECASE)
FORGET_LAST = re.compile(r"^(?:that|this|what i just said|what i just told you|the last thing|the last one)$",
                         re.IGNORECASE)
LIST = re.compile(r"\b(what (do|else do) you know about me|what do you remember about me|"
                  r"what (have|did) i (told|tell) you(?: so far| before| earlier| already)?$|"
                  r"what do you (know|remember)$|tell me (everything|all|what) you (know|remember)|"
                  r"everything you (know|remember)|what have you remembered|what do you have on me|"
                  r"what facts|list (my|all|the|what)|what do you know of me|what you know about me|"
                  r"what things have i told you)\b")
RECALL = re.compile(r"\b(what('?s| is| are| was| were)? my|what do i|what did i|where('?s| is| do| did)? (my|i)|"
                    r"when('?s| is| do| did)? (my|i)|who('?s| is)? my|which .* my|do you remember|"
                    r"remind me|did i tell you|how (old|tall) am i|am i)\b")
PERSONAL = re.compile(r"\b(my|i|i'm|i am|i've|i have|i like|i love|i hate|i live|i work|me|mine)\b")
COMPANION_SMALL = [
    ("how_are_you", re.compile(r"\b(how are you|how're you|how are things|how's it going|hows it going|"
                               r"how is it going|how do you do|how have you been|what's up|whats up|"
                               r"you ok|you alright|how you doing|how are you doing)\b")),
    ("who_are_you", re.compile(r"\b(who are you|what are you|what's your name|whats your name|"
                               r"what is your name|what can you do|what do you do|introduce yourself)\b")),
]


def second_person(text: str) -> str:
    """'my sister is Ana' -> 'your sister is Ana': how a companion repeats a fact to its owner
    (both ways: 'you promised me' -> 'I promised you'; see world/agents/pronouns.py)."""
    from world.agents.pronouns import to_listener
    return to_listener(text)


def companion_intent(text: str) -> Intent:
    """What a line asks the companion: remember, recall, list (what it knows), forget_one
    (`topic`: what to forget, as said; empty: the last thing told), forget (everything),
    never_mind ("forget it"), look, small (`topic`), greet, thanks, other."""
    t = norm(text)
    raw = text.strip()
    m = FORGET.match(raw)
    if m:
        what = m.group(1).strip(" .!?")
        for _ in range(2):
            what = _FORGET_TAIL.sub("", _FORGET_FILLER.sub("", what)).strip(" .!?,")
        if what.lower() in ("it", "about it", "it then"):
            return Intent("never_mind", text=raw)          # "forget it": nothing to forget
        if not what or FORGET_ALL.match(what):
            return Intent("forget", text=raw)
        if FORGET_LAST.match(what):
            return Intent("forget_one", text=raw)           # no topic: the newest fact
        return Intent("forget_one", text=raw, topic=what)
    if WHO_THAT.search(t):
        return Intent("look", text=raw)
    m = REMEMBER.match(t)
    if m:
        # keep the person's own casing for names: cut the same number of words from the raw text
        n_words = len(m.group(0).split())
        fact = " ".join(raw.split()[n_words:]).strip(" .!")
        return Intent("remember", text=fact or raw)
    if LIST.search(t):
        return Intent("list", text=raw)
    question = raw.endswith("?") or bool(QUESTION_START.match(t))
    small = next((topic for topic, rx in COMPANION_SMALL if rx.search(t)), None)
    if small is not None:
        return Intent("small", text=raw, topic=small)
    if question and RECALL.search(t):
        return Intent("recall", text=raw)
    if not question and PERSONAL.search(t) and len(t.split()) >= 3 and not GREET.match(t):
        return Intent("remember", text=raw.strip(" .!"))
    if GREET.match(t):
        return Intent("greet", text=raw)
    if THANKS.search(t):
        return Intent("thanks", text=raw)
    if question:
        return Intent("recall", text=raw)
    return Intent("other", text=raw)


def importance(fact: str) -> float:
    """How much a fact matters (0..1), by what it is about: names, dates, numbers, health, secrets."""
    t = norm(fact)
    score = 0.35
    if re.search(r"\d", t):
        score += 0.2
    if re.search(r"\b(name|called|birthday|born|allerg\w*|password|code|secret|pin|address|phone|"
                 r"wife|husband|partner|sister|brother|mother|father|son|daughter|friend|dog|cat)\b", t):
        score += 0.3
    if re.search(r"\b(like|love|favourite|favorite|prefer|hate)\b", t):
        score += 0.1
    return min(score, 1.0)


def key_terms(fact: str) -> list[str]:
    """The words a reply about this fact must keep: numbers and names, else its last content word."""
    toks = re.findall(r"[A-Za-z0-9][\w'-]*", fact)
    terms = [w for i, w in enumerate(toks) if any(c.isdigit() for c in w) or (i > 0 and w[0].isupper()
                                                                               and w.lower() not in ("i", "i'm"))]
    if not terms:
        content = [w for w in toks if len(w) > 3 and w.lower() not in STOP]
        terms = content[-1:] if content else toks[-1:]
    return terms


STOP = {"the", "and", "that", "this", "with", "your", "have", "about", "from", "they", "them", "there", "what",
        "when", "where", "which", "will", "would", "could", "should", "very", "really", "just", "like", "does",
        "been", "were", "into", "than", "then", "also", "please"}
