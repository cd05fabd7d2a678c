"""What a customer wants from the barista: questions, and edits to the order, by explicit rules.

A line becomes an `OrderIntent`: a kind (order, price, total, review, usual, status, menu ...)
and, for `order`, a list of `Edit`s that `OrderBook.apply` carries out (world/agents/orders.py).
Everything here is pure, and every item and option comes from the catalog.

How a line is read:

1. **Units.** The words are matched, longest first, against the catalog: items ("flat whites":
   the flat white, plural), options ("vanilla": vanilla syrup, because it is the only syrup of
   that name), numbers ("two", "3"); other words stay words.
2. **Clauses.** The line is cut at commas and at "and / also / plus / then / but".
3. **Patterns.** Each clause's skeleton, with items written `I`, options `O` and numbers `N`
   ("make that a I instead of the I"), is matched against the phrase patterns below in order:
   start over, undo, instead of, swap/change/replace, make that, N of those, one more,
   just one, remove, no/not, then a plain add or an option change.
4. **Reference.** "that", "it", "those", "one" mean the line in focus: the one last added,
   changed or named (`Pick(item=None)`); `OrderBook` resolves it.

A clause with no verb takes the previous clause's remove verb ("remove the lattes and the
muffins"); "no X" and "not X" do not carry ("no croissant and a muffin" adds the muffin).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from world.agents.intent import BYE, GREET, THANKS, is_no, is_yes

if TYPE_CHECKING:
    from world.agents.persona import Catalog


# -- what the grammar produces ----------------------------------------------------------------------

@dataclass
class Line:
    item: str                      # catalog item id
    qty: int = 1
    options: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pick:
    """Which lines of the order an edit is about."""
    item: str | None = None          # catalog id; None: the line in focus ("that", "it", "those")
    options: tuple[str, ...] = ()    # narrows the lines: "the oat milk latte"
    count: int | None = None         # "one of the lattes": that many of them; None: all of them


@dataclass
class Edit:
    op: str                          # add | remove | replace | quantity | more | options | clear | undo
    lines: list[Line] = field(default_factory=list)   # add; replace: the new lines
    pick: Pick | None = None         # remove, replace, quantity, more, options
    qty: int | None = None           # quantity: the new count; more: how many more
    add: list[str] = field(default_factory=list)      # options to add (options; replace)
    drop: list[str] = field(default_factory=list)     # options to take off
    explicit: bool = False           # replace: the new quantity was said ("two lattes instead")
    plain: bool = False              # replace: "a plain latte" keeps none of the old options
    definite: bool = False           # add: "the latte" (one already in the order, if there is one)
    quiet: bool = False              # remove: "not a flat white" -- nothing to say if there is none
    every: bool = False              # options: "both with oat milk" -- every line whose item takes them


@dataclass
class OrderIntent:
    kind: str     # order | price | total | review | usual | again | status | menu | extras | have
    #               hours | change | not_sold | done | yes | no | thanks | greet | bye | other
    text: str = ""
    edits: list[Edit] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)   # price, have: the lines asked about
    options: list[str] = field(default_factory=list)  # price, have, extras: the options asked about
    done: bool = False               # order: "..., that's all" -- read the order back after the edits
    total: bool = False              # order: "..., how much is that?" -- say the total after the edits

    @property
    def item(self) -> str | None:
        return self.lines[0].item if self.lines else None


# -- vocabulary from the catalog --------------------------------------------------------------------

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "single": 1, "couple of": 2, "pair of": 2,
                "a couple of": 2, "a pair of": 2}
MAX_SAID_QTY = 99                  # a larger number is not a quantity ("order 1234")
# Option words a customer uses for a catalog option; each applies only where the catalog has the
# option. "vanilla" for "vanilla syrup" needs no entry: a syrup or milk may be named by its flavour.
SYNONYMS = {"decaffeinated": "decaf", "warm": "warmed", "heated": "warmed", "toasted": "warmed",
            "warmed up": "warmed", "heated up": "warmed", "cream": "whipped cream", "whipped": "whipped cream",
            "shot": "extra shot", "shots": "extra shot", "extra shot of espresso": "extra shot",
            "two shots": "extra shot", "double shot": "extra shot", "doppio": "double", "sugars": "sugar"}
HEAD_NOUNS = ("milk", "syrup", "sauce")          # "oat milk" may be called "oat"
EXCLUSIVE = ("milk",)                            # one milk per drink: "oat milk, not soy"
_NOT_HEADS = {"no", "more", "extra", "some", "any", "the", "a", "with", "hot", "cold", "and", "of", "plain"}


@dataclass(frozen=True)
class Vocab:
    phrases: dict[tuple[str, ...], tuple[str, str, bool]]   # words -> (item | option, id, plural)
    longest: int
    options: tuple[str, ...]


def plural(words: str) -> str:
    return words + ("es" if re.search(r"(s|x|ch|sh)$", words) else "s")


def option_group(option: str) -> str | None:
    """The exclusive group an option belongs to ("oat milk" -> "milk"), if any."""
    last = option.split()[-1]
    return last if last in EXCLUSIVE else None


_VOCABS: dict[int, tuple[Catalog, Vocab]] = {}


def vocab(catalog: Catalog) -> Vocab:
    cached = _VOCABS.get(id(catalog))
    if cached is not None and cached[0] is catalog:
        return cached[1]
    phrases: dict[tuple[str, ...], tuple[str, str, bool]] = {}

    def put(label: str, kind: str, value: str, is_plural: bool) -> None:
        key = tuple(tokens(label))
        if key and key not in phrases:
            phrases[key] = (kind, value, is_plural)

    for it in catalog.items:                      # items first: they win a tie with an option word
        labels = [it.name, *it.aliases]
        plurals = {plural(x) for x in labels}
        for label in labels:
            put(label, "item", it.id, label in plurals and label != it.name)
        for p in sorted(plurals):
            put(p, "item", it.id, True)
    options = sorted({o for i in catalog.items for o in i.options} | set(catalog.option_cents))
    for o in options:
        put(o, "option", o, False)
    for o in options:
        words = o.split()
        if len(words) >= 2 and words[-1] in HEAD_NOUNS and words[0] not in _NOT_HEADS:
            head = " ".join(words[:-1])
            if sum(1 for x in options if x.split()[:-1] == words[:-1]) == 1:
                put(head, "option", o, False)
    for word, target in SYNONYMS.items():
        if target in options:
            put(word, "option", target, False)
    v = Vocab(phrases, max(len(k) for k in phrases) if phrases else 1, tuple(options))
    _VOCABS[id(catalog)] = (catalog, v)
    return v


# -- units and skeletons ----------------------------------------------------------------------------

_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z]+(?:'[a-z]+)?|,")


def tokens(text: str) -> list[str]:
    t = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("&", " and ")
    t = re.sub(r"[;:!?]", ",", t)
    return _TOKEN.findall(t)


@dataclass(frozen=True)
class Unit:
    kind: str          # item | option | number | word
    value: str         # item id, option name, the number as text, or the word
    word: str          # the words as said
    plural: bool = False

    @property
    def sym(self) -> str:
        return {"item": "I", "option": "O", "number": "N"}.get(self.kind, self.value)

    @property
    def n(self) -> int:
        return int(self.value)


def units(text: str, catalog: Catalog) -> list[Unit]:
    v = vocab(catalog)
    toks = tokens(text)
    out: list[Unit] = []
    i = 0
    while i < len(toks):
        for n in range(min(v.longest, len(toks) - i), 0, -1):
            key = tuple(toks[i:i + n])
            hit = v.phrases.get(key)
            if hit is not None:
                out.append(Unit(hit[0], hit[1], " ".join(key), hit[2]))
                i += n
                break
            words = " ".join(key)
            if words in NUMBER_WORDS:
                out.append(Unit("number", str(NUMBER_WORDS[words]), words))
                i += n
                break
        else:
            w = toks[i]
            if w.isdigit() and 0 < int(w) <= MAX_SAID_QTY:
                out.append(Unit("number", str(int(w)), w))
            else:
                out.append(Unit("word", w, w))
            i += 1
    return out


def skeleton(us: list[Unit]) -> tuple[str, list[int]]:
    """'make that a I instead of the I' and each unit's offset in it."""
    parts, offsets, pos = [], [], 0
    for u in us:
        offsets.append(pos)
        parts.append(u.sym)
        pos += len(u.sym) + 1
    return " ".join(parts), offsets


def _slice(us: list[Unit], offsets: list[int], start: int, end: int) -> list[Unit]:
    return [u for u, o in zip(us, offsets) if start <= o < end]


# -- noun phrases -----------------------------------------------------------------------------------

PRONOUNS = {"that", "it", "this", "those", "them", "these", "mine", "same"}
DEFINITE = {"the", "my", "those", "these", "that", "this", "your"}
ARTICLES = {"a", "an", "another"}
FILLER_ADJ = {"large", "small", "medium", "regular", "big", "hot", "nice", "fresh", "plain", "normal",
              "usual", "tall", "little", "cup", "of", "glass", "mug"}
TARGET_WORDS = {"to", "on", "in", "into", "for", "from", "off", "onto"}
NEG_WORDS = {"no", "not", "without", "minus", "hold", "none"}


@dataclass
class Thing:
    """One catalog item named in a clause, with what was said around it."""
    item: str
    qty: int | None = None      # a number said before it; None after "a", "the" or nothing
    article: str = ""           # "a" | "the" | ""
    plural: bool = False
    options: list[str] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)     # "a latte without sugar"
    count: int | None = None    # "one of the lattes"
    target: bool = False        # "add vanilla to the latte": the line an option goes to


@dataclass
class Phrase:
    things: list[Thing] = field(default_factory=list)
    options: list[str] = field(default_factory=list)  # options not attached to a thing
    drop: list[str] = field(default_factory=list)     # "no sugar", "not soy", "without vanilla"
    number: int | None = None    # a number with no thing ("make that two")
    pronoun: bool = False
    plain: bool = False
    count: int | None = None     # "one of them"
    every: bool = False          # "both", "all of them", "each"


def phrase(us: list[Unit]) -> Phrase:
    """The items, options, numbers and pronouns of a stretch of a clause, attached to each other:
    options said just before an item are its own ("a vanilla latte"), options after it too ("a
    latte with oat milk"); options after "no", "not", "without" are taken off instead."""
    ph = Phrase()
    words = [u.value if u.kind == "word" else u.sym for u in us]
    item_at = [k for k, u in enumerate(us) if u.kind == "item"]
    owner: dict[int, int] = {}                  # option index -> thing index (said just before it)
    for k in item_at:
        th = Thing(us[k].value, plural=us[k].plural)
        j = k - 1
        while j >= 0 and (us[j].kind == "option" or words[j] in FILLER_ADJ):
            if us[j].kind == "option":
                owner[j] = len(ph.things)
            ph.plain = ph.plain or words[j] == "plain"
            j -= 1
        if j >= 0 and us[j].kind == "number":
            th.qty = us[j].n
            j -= 1
        elif j >= 0 and words[j] in ARTICLES:
            th.article = "a"
            j -= 1
        elif j >= 0 and words[j] in DEFINITE:
            th.article = "the"
            if j >= 2 and words[j - 1] == "of" and us[j - 2].kind == "number":   # "one of the lattes"
                th.count = us[j - 2].n
                j -= 2
            j -= 1
        th.target = j >= 0 and words[j] in TARGET_WORDS
        ph.things.append(th)
    negated = False
    for k, u in enumerate(us):
        w = words[k]
        before = [i for i, at in enumerate(item_at) if at < k]
        after = [i for i, at in enumerate(item_at) if at > k]
        if u.kind == "word":
            if w in NEG_WORDS:
                negated = True
            elif w in (",", "with", "and", "plus", "also", "but"):
                negated = False
            if w in PRONOUNS:
                ph.pronoun = True
            ph.plain = ph.plain or w == "plain"
            ph.every = ph.every or w in ("both", "all", "each", "every")
        elif u.kind == "number":
            nxt = words[k + 1:k + 3]
            if nxt[:1] == ["of"] and nxt[1:] and nxt[1] in PRONOUNS:        # "two of those"
                ph.count, ph.pronoun = u.n, True
            elif k > 0 and u.word == "one" and words[k - 1] in ("that", "this", "the", "another", "same"):
                ph.pronoun = True                                           # "that one", "another one"
            elif ph.number is None and not (nxt[:1] and nxt[0] in ("I", "O", "of")) \
                    and not any(th.qty == u.n for th in ph.things):
                ph.number = u.n
        elif u.kind == "option":
            if negated:
                (ph.things[before[-1]].drop if before else ph.drop).append(u.value)
            elif k in owner:
                ph.things[owner[k]].options.append(u.value)
            elif before or after:
                ph.things[before[-1] if before else after[0]].options.append(u.value)
            else:
                ph.options.append(u.value)
    for th in ph.things:
        th.options = sorted(set(th.options))
    return ph


def _line(th: Thing) -> Line:
    return Line(th.item, th.qty or 1, list(th.options))


def _pick(ph: Phrase) -> Pick:
    """The lines a phrase points at: a named item ("the lattes": all, "a latte": one), else
    the line in focus."""
    if ph.things:
        th = ph.things[0]
        count = th.count or (th.qty if th.qty else (1 if th.article == "a" and not th.plural else None))
        return Pick(th.item, tuple(th.options), count)
    return Pick(None, (), ph.count)


# -- clauses ----------------------------------------------------------------------------------------

PRON = r"(?:that one|this one|the same one|that|it|this|those|them|these|the same|mine|one)"
CLEAR = re.compile(r"\b(?:start (?:over|again|afresh|from scratch)|from scratch|cancel|"
                   r"(?:remove|delete|drop) (?:everything|it all|all of it|all)|"
                   r"clear (?:it|that|everything|the order|my order|it all|all)|"
                   r"forget (?:it|everything|all of it|the whole thing|my order|the order|it all|all that|about it)|"
                   r"scrap (?:it|that|everything|the order|my order)|empty (?:it|the order|my order))\b")
UNDO = re.compile(r"\b(?:scratch that|forget that|undo(?: that)?|take that back|strike that|ignore that)\b")
INSTEAD_OF = re.compile(r"\b(?:instead of|rather than|in place of)\b")
INSTEAD = re.compile(r"\b(?:instead|i'?d rather (?:have|get)|rather have|i meant|i mean)\b")
SWAP = re.compile(r"\b(?:swap|switch|exchange|trade|sub|change|replace|turn)(?: out| over| it| that| this)?"
                  r"(?P<old>(?: \S+)*?) (?:for|with|to|into|by) (?P<new>.+)$")
MAKE = re.compile(r"\bmake (?P<old>that one|this one|that|it|this|those|them|these|mine|(?:the|my)(?: O)* I)"
                  r"(?P<new>(?: \S+)*)$")
OF_PRON = re.compile(r"\bN (?P<more>more )?of (?:those|them|these|that|it|the same)\b")
MORE = re.compile(r"\b(?:another|N more|some more|one more|more of)\b"
                  r"|^N (?:for (?:my|me|him|her|them|us|the)|too|as well)\b")   # "and one for my friend"
ONLY = re.compile(r"\b(?:just|only) N\b(?! more)")
REMOVE = re.compile(r"\b(?:remove|take (?:off|out|away)|take (?:\S+ )*?(?:off|out)|drop|delete|cancel|scratch|"
                    r"forget|skip|minus|lose|get rid of|leave (?:out|off)|hold|without|"
                    r"(?:don'?t|do not|no longer|didn'?t) (?:want|need)|not having)\b")
NEG = re.compile(r"^(?:\S+ )*?(?:no|not|none of)(?: the| a| an| any| more)? (?:O|N I|I)")
ADD_VERB = re.compile(r"\b(?:add|put|with|plus|and|also)\b")
ITEM_OR_OPTION = re.compile(r"\b[IO]\b")


def _first_io(sk: str) -> int:
    m = ITEM_OR_OPTION.search(sk)
    return m.start() if m else len(sk)


@dataclass
class _State:
    carry: str = ""                 # "remove" when the last clause removed by verb
    instead_of: Pick | None = None  # "instead of the flat white, ..." waits for the new line


def clauses(us: list[Unit]) -> list[list[Unit]]:
    out: list[list[Unit]] = [[]]
    for u in us:
        if u.kind == "word" and u.value in (",", "and", "also", "plus", "then", "but"):
            if out[-1]:
                out.append([])
            continue
        out[-1].append(u)
    return [c for c in out if c]


def clause_edits(us: list[Unit], st: _State) -> list[Edit]:
    """The edits one clause asks for (see the module docstring for the order of patterns)."""
    sk, offs = skeleton(us)
    has_io = any(u.kind in ("item", "option") for u in us)

    def side(start: int, end: int) -> Phrase:
        return phrase(_slice(us, offs, start, end))

    carry, st.carry = st.carry, ""
    if not has_io and CLEAR.search(sk):
        return [Edit("clear")]
    if not has_io and UNDO.search(sk):
        return [Edit("undo")]
    m = INSTEAD_OF.search(sk)
    if m:
        new, old = side(0, m.start()), side(m.end(), len(sk))
        if not (new.things or new.options or new.number):
            st.instead_of = _pick(old)
            return []
        return _replace(_pick(old) if old.things else Pick(), new)
    m = INSTEAD.search(sk)
    if m:
        new = phrase([u for u, o in zip(us, offs) if not m.start() <= o < m.end()])
        if new.things or new.options or new.number:
            return _replace(st.instead_of or Pick(), new)
    m = SWAP.search(sk)
    if m and (m.group("new").strip() or m.group("old").strip()):
        old, new = side(m.start("old"), m.end("old")), side(m.start("new"), len(sk))
        if new.things or new.options or new.number or new.drop:
            return _replace(_pick(old) if old.things else Pick(None, tuple(old.options), old.count), new,
                            from_options=old.options if not old.things else [])
    m = MAKE.search(sk)
    if m:
        old, new = side(m.start("old"), m.end("old")), side(m.start("new"), len(sk))
        if new.things or new.options or new.number or new.drop:
            return _replace(_pick(old), new)
    m = OF_PRON.search(sk)
    if m:
        n = _slice(us, offs, m.start(), m.start() + 1)[0].n
        ph = phrase(us)
        if ph.options or ph.drop:
            return [Edit("options", pick=Pick(None, (), n), add=ph.options, drop=ph.drop)]
        return [Edit("more" if m.group("more") else "quantity", pick=Pick(), qty=n)]
    m = MORE.search(sk)
    if m:
        ph = phrase(us)
        n = ph.number if "N more" in m.group(0) and ph.number else 1
        if ph.things:
            return [Edit("more", [Line(th.item, th.qty or n, list(th.options))], pick=Pick(th.item, tuple(th.options)),
                         qty=th.qty or n) for th in ph.things]
        if ph.options:                      # "another one with oat milk": a copy of that line, changed
            return [Edit("more", pick=Pick(), qty=n, add=ph.options, drop=ph.drop)]
        return [Edit("more", pick=Pick(), qty=n)]
    m = ONLY.search(sk)
    if m:
        ph = phrase(us)
        n = _slice(us, offs, m.end() - 1, m.end())[0].n
        if ph.things:
            th = ph.things[0]
            return [Edit("quantity", [Line(th.item, n, list(th.options))], pick=Pick(th.item, tuple(th.options)), qty=n)]
        return [Edit("quantity", pick=Pick(), qty=n)]
    first = _first_io(sk)
    rm = REMOVE.search(sk)
    ph = phrase(us)
    targets = [th for th in ph.things if th.target]
    removing = (rm is not None and rm.start() < first) or (carry == "remove" and has_io and not ADD_VERB.search(sk))
    if removing or (rm is not None and not has_io and re.search(rf"\b{PRON}\b", sk)):
        st.carry = "remove"
        if targets:                                   # "take the oat milk off the latte"
            th = targets[0]
            return [Edit("options", pick=Pick(th.item), drop=sorted(set(th.options + th.drop + ph.options + ph.drop)))]
        if ph.things:
            return [Edit("remove", pick=_pick(Phrase([th]))) for th in ph.things]
        if ph.options or ph.drop:                     # "remove the extra shot"
            return [Edit("options", pick=Pick(None, (), ph.count) if ph.count else None, drop=ph.options + ph.drop)]
        if ph.pronoun:                                # "take that off"
            return [Edit("remove", pick=Pick(None, (), ph.count))]
        return []
    neg = re.search(r"\b(?:no|not|none)\b", sk)
    if neg and neg.start() <= first and NEG.search(sk):
        if ph.things:                                 # "no croissant", "not a flat white"
            return [Edit("remove", pick=_pick(Phrase([th])), quiet=True) for th in ph.things]
        if ph.options or ph.drop:                     # "no sugar", "not soy"
            return [Edit("options", drop=ph.options + ph.drop)]
    if ph.things:
        if st.instead_of is not None:                 # "instead of the flat white, a latte"
            old, st.instead_of = st.instead_of, None
            return _replace(old, ph)
        if targets and (ph.options or ph.drop or any(th.options or th.drop for th in targets)):
            th = targets[0]                           # "add vanilla to the latte"
            return [Edit("options", pick=Pick(th.item), add=sorted(set(ph.options + th.options)),
                         drop=ph.drop + th.drop)]
        return [Edit("add", [_line(th)], drop=th.drop, definite=th.article == "the" and th.qty is None)
                for th in ph.things]
    if ph.options or ph.drop:                         # "with vanilla", "one with lemon", "both with oat milk"
        count = ph.count or (ph.number if not ph.every else None)
        return [Edit("options", pick=Pick(None, (), count) if count else None, add=ph.options, drop=ph.drop,
                     every=ph.every)]
    return []


def _replace(old: Pick, new: Phrase, from_options: list[str] | tuple[str, ...] = ()) -> list[Edit]:
    """'X instead of Y', 'swap Y for X', 'make that X': a new line for the old one, or, when
    the new side names no item, a change of quantity or options on the old line."""
    if not new.things:
        if new.options or new.drop:
            return [Edit("options", pick=old if (old.item or old.count) else None, add=new.options,
                         drop=sorted(set(new.drop) | set(from_options)))]
        if new.number:
            return [Edit("quantity", pick=old, qty=new.number)]
        return []
    th = new.things[0]
    line = Line(th.item, th.qty or 1, sorted(set(th.options) | set(new.options)))
    edits = [Edit("replace", [line], pick=old, explicit=th.qty is not None, plain=new.plain, drop=th.drop)]
    for extra in new.things[1:]:
        edits.append(Edit("add", [_line(extra)]))
    return edits


def parse_edits(text: str, catalog: Catalog) -> list[Edit]:
    """Every edit a line asks for, clause by clause, left to right."""
    st = _State()
    edits: list[Edit] = []
    for c in clauses(strip_done(units(text, catalog))):
        edits.extend(clause_edits(c, st))
    return edits


# -- whole lines ------------------------------------------------------------------------------------

DONE = re.compile(r"\b(?:that'?s (?:all|it|everything|the lot|enough)|that will be (?:all|it)|that'?ll be (?:all|it)|"
                  r"that is (?:all|it)|nothing (?:else|more)|i'?m done|i am done|no more(?! (?:N |O |I|of))|"
                  r"done|finished|finish|just that|only that|all good|that'?s me)\b")


def strip_done(us: list[Unit]) -> list[Unit]:
    sk, offs = skeleton(us)
    spans = [(m.start(), m.end()) for m in DONE.finditer(sk)]
    return [u for u, o in zip(us, offs) if not any(a <= o < b for a, b in spans)] if spans else us


REVIEW = re.compile(r"\b(?:what'?s in (?:my|the) (?:order|cart|basket)|what is in (?:my|the) order|"
                    r"what(?:'?s| is| was) (?:my|the) order|what (?:have|did) i (?:order|ordered|get|got|ask for|asked for)|"
                    r"what do i have(?: so far)?|what have i got|read (?:it|that|my order|the order|me my order|"
                    r"me the order|it all) back|repeat (?:my|the) order|(?:my|the) order so far|"
                    r"what am i getting|check my order)\b")
STATUS = re.compile(r"\b(?:status|where'?s my (?:order|coffee|drink)|where is my (?:order|coffee|drink)|"
                    r"is my (?:order|coffee|drink)|my order ready|how long|ready yet|is it ready|order ready|"
                    r"is it done|still waiting|(?:is|are) (?:my|the|it|they)\b.*\bready)\b(?! to)")
USUAL = re.compile(r"\b(?:the usual|my usual|same as always|same as usual|as usual|usual order)\b")
AGAIN = re.compile(r"\b(?:same again|the same as (?:last time|before)|same as (?:last time|before)|"
                   r"what i had (?:last time|before)|repeat my (?:last )?order)\b")
PRICE = re.compile(r"\b(?:how much|price|prices|cost|costs|how expensive)\b")
TOTAL = re.compile(r"\b(?:what'?s the (?:total|damage|bill)|what is the (?:total|bill)|the total|total|"
                   r"how much (?:do|will|would|shall) i (?:owe|pay)|what do i owe)\b")
GENERIC = re.compile(r"\b(?:drinks|things|coffees?|food|stuff|pastries|cakes|teas)\b")   # "how much are drinks?"
TOTAL_WORDS = re.compile(r"\b(?:that|it|this|those|them|everything|all|altogether|total|owe|pay|my order|"
                         r"the order|the lot|the bill|come to)\b")
MENU = re.compile(r"\b(?:menu|what do you (?:have|sell|serve|offer|do)|what can i (?:get|have|order)|"
                  r"what(?:'?s| is) (?:on offer|available|good)|what drinks|what food|what have you got|"
                  r"what else do you have|price list|prices|what do you recommend)\b")
EXTRAS = re.compile(r"\b(?:what|which|any)(?: kinds?| sorts?| types?)?(?: of)? (?:other )?"
                    r"(?:milks?|syrups?|options|extras|add ons|flavou?rs|alternative milks?|plant milks?)\b|"
                    r"\bwhat can i (?:add|put in|have in it)\b")
HAVE = re.compile(r"\b(?:do you (?:have|sell|serve|do|make|carry|stock)|have you got|you got any|"
                  r"is there any|are there any|got any|do you guys have)\b")
CHANGE = re.compile(r"\b(?:change|edit|modify|alter|fix|update) (?:my|the) order\b")
READY = re.compile(r"\b(?:ready to order|i'?d like to order|can i order|i want to order)\b")
HOURS = re.compile(r"\b(?:hours|open|close|closing|opening|when are you)\b")
ASK = re.compile(r"\b(?:i'?d like|i would like|i'?ll (?:have|take|get|go for|go with)|i will have|"
                 r"can i (?:get|have|order)|could i (?:get|have)|may i (?:get|have)|i want|give me|"
                 r"get me|let me (?:get|have)|make me|bring me|i'?ll try)\b")
ASK_THING = re.compile(ASK.pattern + r" (?:a|an|some|the|one|two|three|four|\d+)\b"
                       r"|^(?:(?:and|also|oh|um|hi|hey|then|ok|okay|just) )*(?:a|an|some|two|three|\d+) [a-z]+(?: [a-z]+){0,2}"
                       r"(?: please)?$")   # "an americano please": an order for something not sold


def barista_intent(text: str, catalog: Catalog) -> OrderIntent:
    us = units(text, catalog)
    sk, _ = skeleton(us)
    t = " ".join(u.word for u in us)
    ph = phrase([u for u in us if u.value != ","])
    named = bool(ph.things or ph.options or ph.drop)
    if not us:
        return OrderIntent("other", text)
    if REVIEW.search(t):
        return OrderIntent("review", text)
    if STATUS.search(t):
        return OrderIntent("status", text)
    for kind, rx in (("usual", USUAL), ("again", AGAIN)):
        m = rx.search(t)
        if m:
            rest = t[:m.start()] + " , " + t[m.end():]
            return OrderIntent(kind, text, edits=parse_edits(rest, catalog), done=bool(DONE.search(sk)))
    asking = bool(ASK.search(t))
    question = bool(PRICE.search(t)) and not asking
    edits = parse_edits(text, catalog) if not question else []
    if question:
        if named:
            lines = [_line(th) for th in ph.things]
            return OrderIntent("price", text, lines=lines, options=[] if lines else ph.options + ph.drop)
        if TOTAL_WORDS.search(t) or TOTAL.search(t) or not (MENU.search(t) or GENERIC.search(t)):
            return OrderIntent("total", text)
        return OrderIntent("menu", text)
    if TOTAL.search(t) and not named:
        return OrderIntent("total", text)
    if EXTRAS.search(t) and not ph.things:
        group = next((g for g in ("milk", "syrup") if g in t), None)
        return OrderIntent("extras", text, options=[group] if group else [])
    if HAVE.search(t) and not asking:
        if named:
            return OrderIntent("have", text, lines=[_line(th) for th in ph.things],
                               options=[] if ph.things else ph.options)
        if MENU.search(t):
            return OrderIntent("menu", text)
        return OrderIntent("not_sold", text)
    if MENU.search(t) and not named:
        return OrderIntent("menu", text)
    if CHANGE.search(t) and not named:
        return OrderIntent("change", text)
    if READY.search(t) and not named:
        return OrderIntent("greet", text)
    if HOURS.search(t) and not named:
        return OrderIntent("hours", text)
    done = bool(DONE.search(sk))
    if edits:
        return OrderIntent("order", text, edits=edits, done=done, total=bool(TOTAL.search(t)))
    if done:                                # "no, that's all" to "Shall I place it?" is not a yes
        return OrderIntent("no" if is_no(t) else "done", text)
    if is_yes(t):
        return OrderIntent("yes", text)
    if is_no(t):
        return OrderIntent("no", text)
    if THANKS.search(t):
        return OrderIntent("thanks", text)
    if GREET.match(t):
        return OrderIntent("greet", text)
    if BYE.search(t):
        return OrderIntent("bye", text)
    if ASK_THING.search(t):
        return OrderIntent("not_sold", text)
    return OrderIntent("other", text)


def parse_order(text: str, catalog: Catalog) -> tuple[list[Line], list[str], list[str]]:
    """The plain reading of an order line: lines to add, item ids to remove, and options for
    the line in focus ("make it oat milk"). `parse_edits` has the whole story."""
    lines: list[Line] = []
    removes: list[str] = []
    loose: list[str] = []
    for e in parse_edits(text, catalog):
        if e.op in ("add", "more", "replace"):
            lines.extend(e.lines)
        elif e.op == "remove" and e.pick is not None and e.pick.item:
            removes.append(e.pick.item)
        elif e.op == "options" and lines and e.pick is None:   # "... and an extra shot": the line before
            lines[-1].options = sorted(set(lines[-1].options) | set(e.add))
        elif e.op == "options":
            loose.extend(e.add)
    return lines, removes, loose
