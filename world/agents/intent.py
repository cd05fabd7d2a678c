"""Intent matching: what a person wants from an agent, decided by explicit, testable rules.

The small local model is never asked what a line means: these functions map text to an
intent with its slots (a place, a fact to remember). Everything here is pure. The barista's
order grammar lives in world/agents/order_intent.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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


# -- places -----------------------------------------------------------------------------------------

def find_place(world: World, text: str) -> Place | None:
    """The place a line names (by name or alias; the longest match wins)."""
    t = " " + norm(text) + " "
    best: tuple[int, Place] | None = None
    for p in world.places:
        for label in (p.name.lower(), *p.aliases):
            label = norm(label)
            if label and re.search(rf"\b{re.escape(label)}s?\b", t):
                if best is None or len(label) > best[0]:
                    best = (len(label), p)
    return best[1] if best else None


WHERE = re.compile(r"\b(where|how (do|can|would) i (get|go|find|reach)|how to get|direction|directions|"
                   r"way to|find the|find a|looking for|location of|which way)\b")
TAKE = re.compile(r"\b(take me|walk me|bring me|lead me|show me the way|show me where|guide me|"
                  r"can you take|could you take|will you take|walk with me|go with me)\b")
EVENTS = re.compile(r"\b(event|events|happening|on today|going on|schedule|what's on|whats on|activities|"
                    r"anything to do|things to do)\b")
WHO_THAT = re.compile(r"\b(who is that|who's that|whos that|what is that|what's that|whats that|"
                      r"what am i looking at|who am i looking at|what is this|what's this|what do i see)\b")
HERE = re.compile(r"\b(where am i|what is this place|what's this place|where are we|what place is this)\b")


def guide_intent(text: str, world: World) -> Intent:
    t = norm(text)
    place = find_place(world, t)
    if HERE.search(t):
        return Intent("here", text=text)
    if WHO_THAT.search(t):
        return Intent("look", text=text)
    if place is not None and TAKE.search(t):
        return Intent("take", place, text)
    if place is not None and (WHERE.search(t) or t.endswith("?") or len(t.split()) <= 4):
        return Intent("where", place, text)
    if EVENTS.search(t):
        return Intent("events", place, text)
    if TAKE.search(t) or is_yes(t):
        return Intent("yes", place, text)
    if is_no(t):
        return Intent("no", text=text)
    if THANKS.search(t):
        return Intent("thanks", text=text)
    if BYE.search(t):
        return Intent("bye", text=text)
    if GREET.match(t):
        return Intent("greet", text=text)
    if WHERE.search(t):
        return Intent("where_unknown", text=text)
    return Intent("other", place, text)


# -- the companion: facts to remember and questions about them --------------------------------------

REMEMBER = re.compile(r"^(please )?(remember|note|don'?t forget|keep in mind|make a note)( that| this)?[:,]?\s+")
FORGET = re.compile(r"\b(forget everything|forget all|wipe (your|my) memory|forget what i told you)\b")
RECALL = re.compile(r"\b(what('?s| is| are| was| were)? my|what do i|what did i|where('?s| is| do| did)? (my|i)|"
                    r"when('?s| is| do| did)? (my|i)|who('?s| is)? my|which .* my|do you remember|"
                    r"remind me|did i tell you|what have i told you|what you know about me|"
                    r"what do you know about me|how (old|tall) am i|am i)\b")
PERSONAL = re.compile(r"\b(my|i|i'm|i am|i've|i have|i like|i love|i hate|i live|i work|me|mine)\b")


def second_person(text: str) -> str:
    """'my sister is Ana' -> 'your sister is Ana': how a companion repeats a fact to its owner."""
    swaps = [(r"\bi am\b", "you are"), (r"\bi'm\b", "you're"), (r"\bi've\b", "you've"), (r"\bi'd\b", "you'd"),
             (r"\bi'll\b", "you'll"), (r"\bmy\b", "your"), (r"\bmine\b", "yours"), (r"\bmyself\b", "yourself"),
             (r"\bme\b", "you"), (r"\bi\b", "you")]
    out = text.strip().rstrip(".!")
    for pat, rep in swaps:
        out = re.sub(pat, rep, out, flags=re.IGNORECASE)
    return out


def companion_intent(text: str) -> Intent:
    t = norm(text)
    raw = text.strip()
    if FORGET.search(t):
        return Intent("forget", text=raw)
    if WHO_THAT.search(t):
        return Intent("look", text=raw)
    m = REMEMBER.match(t)
    if m:
        # keep the person's own casing for names: cut the same number of words from the raw text
        n_words = len(m.group(0).split())
        fact = " ".join(raw.split()[n_words:]).strip(" .!")
        return Intent("remember", text=fact or raw)
    question = raw.endswith("?") or bool(QUESTION_START.match(t))
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
