"""What an agent may say: the model's words, cleaned, then checked one sentence at a time.

The draft and its facts are the only source of claims. A sentence the model writes may use
the source's words (any inflection), a short list of words that carry no claim ("sure",
"happy to help"), function words, and the paraphrases the source allows ("about" ->
"around", "is" -> "costs"); every number must be one of the source's; pronouns, negations
and quantifiers must be the source's own (so "you told me" cannot become "I told you",
"open" cannot become "not open"). A sentence that echoes the prompt, is garbled or repeats
itself is refused. ``check`` returns why a sentence is refused, or None.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["MAX_CHARS", "Source", "acceptable", "check", "clean", "has_fact", "sentences"]

MAX_CHARS = 240          # a spoken line is at most this long (cut at a sentence end)

_WS = re.compile(r"\s+")
_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Cn"}


def one_line(text: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFKC", str(text))).strip()


# --------------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------------

_SPECIAL = re.compile(r"<\|[^|<>]{0,40}\|>|<\|?[a-z_]{1,20}\|?>?$|</?s>", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9_-]{0,20}(?:\s[^<>]{0,60})?/?>")
_MARKDOWN = re.compile(r"(\*\*|__|\*|`+|^#{1,6}\s*|^\s*[-•]\s+)", re.MULTILINE)
_LEAD = re.compile(
    r"^\s*(?:(?:assistant|user|system|draft|answer|response|reply|rewrite|rewritten|"
    r"rephrased?|output|line)\b\s*(?:\([^)]{0,20}\))?(?:\s*:\s*|\s+[-–]\s+))+",
    re.IGNORECASE)
QUOTES = "\"“”«»„"
_PUNCT_RUNS = [(re.compile(r"!{2,}"), "!"), (re.compile(r"\?{2,}"), "?"),
               (re.compile(r",{2,}"), ","), (re.compile(r"\.{4,}"), "..."),
               (re.compile(r"\s+([,.!?;:])(?=\s|$)"), r"\1")]
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])[\"”»')\]]*\s+")
_TRAILING = ".,;:!?…\"”»')]"


def word_key(w: str) -> str:
    return re.sub(r"[\W_]+", "", w.casefold())


def _collapse_repeats(words: list[str], max_n: int = 8) -> list[str]:
    """Drop immediate repeats of a 1..max_n word phrase, keeping the first copy with the
    last copy's closing punctuation ("the cafe, the cafe." -> "the cafe.")."""
    changed = True
    while changed:
        changed = False
        keys = [word_key(w) for w in words]
        for n in range(1, max_n + 1):
            i = 0
            while i + 2 * n <= len(words):
                a = keys[i:i + n]
                if any(a) and a == keys[i + n:i + 2 * n]:
                    last = words[i + 2 * n - 1]
                    tail = last[len(last.rstrip(_TRAILING)):]
                    kept = words[i + n - 1]
                    words[i + n - 1] = kept[:len(kept.rstrip(_TRAILING))] + tail
                    del words[i + n:i + 2 * n]
                    del keys[i + n:i + 2 * n]
                    changed = True
                    continue
                i += 1
    return words


def strip_lead(s: str, speaker: str | None = None) -> str:
    """Drop echoed role labels ("assistant:", "DRAFT:") and the speaker's own name label."""
    s = _LEAD.sub("", s)
    if speaker:
        for name in {speaker, speaker.split(" (")[0]}:
            s = re.sub(r"^\s*" + re.escape(name) + r"\s*:\s*", "", s, flags=re.IGNORECASE)
    return s


def _strip_quotes(s: str) -> str:
    s = s.strip()
    s = s.strip(QUOTES).strip()
    if len(s) >= 2 and s[0] in "'‘" and s[-1] in "'’":
        s = s[1:-1].strip()
    return s


def _cap(s: str, limit: int) -> str:
    if len(s) <= limit:
        return s
    head = s[:limit]
    ends = [m.end() for m in re.finditer(r"[.!?…](?=\s|$)", head)]
    if ends and ends[-1] >= 20:
        return head[:ends[-1]].strip()
    cut = head[: limit - 1]
    sp = cut.rfind(" ")
    if sp >= 20:
        cut = cut[:sp]
    return cut.rstrip(" ,;:-–") + "…"


def _clean_once(text: str, limit: int, speaker: str | None) -> str:
    s = unicodedata.normalize("NFC", text)
    s = "".join(ch for ch in s if ch in "\n\t " or unicodedata.category(ch) not in _INVISIBLE)
    s = _SPECIAL.sub(" ", s).replace("<|", " ").replace("|>", " ")
    s = _TAG.sub(" ", s)
    s = _MARKDOWN.sub("", s)
    s = _WS.sub(" ", s).strip()
    s = strip_lead(s, speaker)
    s = _strip_quotes(s)
    s = strip_lead(s, speaker)
    for pat, rep in _PUNCT_RUNS:
        s = pat.sub(rep, s)
    kept: list[str] = []
    seen: set[str] = set()
    for sent in _SENTENCE_SPLIT.split(s):
        words = _collapse_repeats(sent.split())
        if not words:
            continue
        key = " ".join(k for k in (word_key(w) for w in words) if k)
        if not key or key in seen:
            continue
        seen.add(key)
        kept.append(" ".join(words))
    return _cap(" ".join(kept), limit)


def clean(text: str, *, limit: int = MAX_CHARS, speaker: str | None = None) -> str:
    """Tidy a model's line: drop special tokens, tags, markdown, echoed role labels
    ("assistant:", "DRAFT:", the speaker's own name) and wrapping quotes; collapse repeated
    words/phrases and duplicate sentences; normalise whitespace; cap the length at ``limit``
    characters, cut at a sentence end where possible."""
    s = str(text)
    for _ in range(6):                      # to a fixed point: cleaning twice changes nothing
        nxt = _clean_once(s, limit, speaker)
        if nxt == s:
            break
        s = nxt
    return s


def sentences(text: str) -> list[str]:
    """``text`` cut after each sentence end (. ! ? … and closing quotes) that is followed by space."""
    return [p for p in (x.strip() for x in _SENTENCE_SPLIT.split(one_line(text))) if p]


# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------

def fold(s: str) -> str:
    """Case-, accent- and apostrophe-insensitive form used for every comparison."""
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = s.replace("’", "'").replace("‘", "'").replace("–", "-").replace("‑", "-")
    return s.casefold()


def has_fact(text: str, fact: str) -> bool:
    """``fact`` appears in ``text``: case- and accent-insensitive, as whole words, and
    numbers exactly ("3.20" is not found in "13.20", "3.205" or "3.2")."""
    f = fold(one_line(fact))
    if not f:
        return True
    body = r"\s+".join(re.escape(part) for part in f.split(" ")).replace(r"\-", r"[-\s]?")
    plural = "(?:s|es)?" if f[-1].isalpha() else ""      # "croissant" is in "2 croissants"
    pat = rf"(?<!\w)(?<!\d[.,]){body}{plural}(?!\w)(?![.,]\d)"
    return re.search(pat, fold(text)) is not None


# --------------------------------------------------------------------------------------------
# The vocabulary of a line
# --------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|[a-z]+(?:['-][a-z]+)*")

# Words that make no claim of their own: what they relate must itself come from the source.
FUNCTION = frozenset("""
a an the and or but so of to at in on for with from by as than then if
is are was were be been being am do does did have has had will would can could shall should may might must
it its it's this that these those there here what which who whom whose how where when
up out over into onto off just also too very really quite
""".split())
# Friendly words a rephrasing may add without adding a claim.
FILLER = frozenset("""
sure okay ok alright oh well hi hello hey please thanks thank welcome glad happy help
of course absolutely certainly great lovely wonderful indeed right friend let's let see look
here's there's that's what's find get go head
""".split())
# Words that change what a sentence claims: only the source's own.
SENSITIVE = frozenset("""
i me my mine myself we us our ours you your yours yourself he him his she her hers they them their
not no never nothing none nobody nowhere cannot without only all every everything always
free closed open yes
""".split())
# Paraphrases: when the source has one word of a group, the others may be used too.
SYNONYMS: tuple[frozenset[str], ...] = tuple(frozenset(g.split()) for g in (
    "about around roughly approximately some nearly almost",
    "m metre metres meter meters",
    "is costs cost price priced comes",
    "are cost costs",
    "here you",
    "north-east northeast",
    "north-west northwest",
    "south-east southeast",
    "south-west southwest",
    "away far distance",
    "we're we are",
    "got noted",
    "remember remembered noted",
    "told said mentioned shared",
    "follow come join",
    "open opens",
    "close closes closing",
    "from between",
    "to until till",
    "daily day",
    "ready done",
    "want like",
    "goodbye bye farewell",
    "enjoy enjoying",
    "placed ordered",
    "order ordered",
))
# Currency words are allowed when the source names a price.
_CURRENCY = frozenset({"eur", "euro", "euros"})
_PRICE = re.compile(r"\d+[.,]\d\d(?!\d)")
NUMBER_WORDS = {"two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
                "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100"}
# Words that only appear when a small model repeats its instructions instead of following them.
LEAK = re.compile(r"(?i)\b(draft|rewrite|rewritten|reword|reworded|instructions?|would say|as an ai|persona|"
                  r"assistant|the person said|not instructions|in your voice|your own words)\b")
_CONTRACTIONS = ((re.compile(r"^(ca|wo|sha)n't$"), None), (re.compile(r"n't$"), "not"),
                 (re.compile(r"'re$"), "are"), (re.compile(r"'ll$"), "will"), (re.compile(r"'ve$"), "have"),
                 (re.compile(r"'m$"), "am"), (re.compile(r"'d$"), "would"), (re.compile(r"'s$"), "is"))
_ASKING = frozenset("do does did is are was were can could will would shall should may might have has had "
                    "want like".split())
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]*")
_NEGATIONS = frozenset({"not", "no", "never", "nothing", "none", "nobody", "nowhere", "cannot", "without"})


def stem(w: str) -> str:
    for suf in ("ies", "'s", "ing", "ed", "es", "s", "ly"):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            return w[: -len(suf)] + ("y" if suf == "ies" else "")
    return w


def words_of(text: str) -> list[str]:
    """Folded words and numbers, contractions opened ("can't" -> "can", "not"; "it's" -> "it"),
    hyphenated words kept whole and in parts, number words as digits."""
    out: list[str] = []
    for tok in _TOKEN.findall(fold(text)):
        if tok[0].isdigit():
            out.append(tok.replace(",", "."))
            continue
        tok = tok.strip("'-")
        for pat, rep in _CONTRACTIONS:
            m = pat.search(tok)
            if m:
                if rep is None:                      # can't, won't, shan't
                    out += [{"ca": "can", "wo": "will", "sha": "shall"}[m.group(1)], "not"]
                    tok = ""
                else:
                    out.append(tok[:m.start()])
                    if rep:
                        out.append(rep)
                    tok = ""
                break
        if tok:
            out.append(tok)
    return [NUMBER_WORDS.get(w, w) for w in out if w]


@dataclass(frozen=True)
class Source:
    """What a line may claim: the draft and its facts, as words, stems and numbers."""

    text: str
    facts: tuple[str, ...]
    words: frozenset[str]
    stems: frozenset[str]
    numbers: frozenset[str]
    names: frozenset[str]             # words the source writes with a capital letter
    asks: bool                        # the source asks a question

    @classmethod
    def of(cls, draft: str, facts: Iterable[str] = ()) -> Source:
        facts = tuple(one_line(f) for f in facts if str(f).strip())
        text = " ".join([one_line(draft), *facts])
        ws = words_of(text)
        allowed = set(ws)
        for w in ws:
            if "-" in w:
                allowed.update(w.split("-"))
                allowed.add(w.replace("-", ""))
        for group in SYNONYMS:
            if group & allowed:
                allowed |= group
        if _PRICE.search(text):
            allowed |= _CURRENCY
        if "1" in _NUMBER.findall(text):
            allowed.add("one")            # "one" is often a pronoun, so it is a number only here
        if allowed & _NEGATIONS:
            allowed |= _NEGATIONS - {"nothing", "none", "nobody", "nowhere"}
        numbers = frozenset(w for w in ws if w[0].isdigit())      # digits, and number words as digits
        # Numbers the draft states are facts too: a paraphrase may not drop a price or a time.
        implied = tuple(dict.fromkeys(n for n in _NUMBER.findall(one_line(draft))
                                      if not any(has_fact(f, n) for f in facts)))
        names = frozenset(fold(w) for w in _CAPITALISED.findall(text))
        return cls(text, facts + implied, frozenset(allowed), frozenset(stem(w) for w in allowed), numbers,
                   names, "?" in text)

    def knows(self, w: str) -> bool:
        if w[0].isdigit():
            return w in self.numbers
        if w in self.words or w in FUNCTION:
            return True
        if w in SENSITIVE:
            return False
        if w in FILLER or stem(w) in self.stems:
            return True
        return "-" in w and all(p in self.words or p in FUNCTION for p in w.split("-"))

    def missing(self, text: str) -> list[str]:
        """The facts ``text`` does not state."""
        return [f for f in self.facts if not has_fact(text, f)]


# --------------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------------

def _garbled(t: str) -> bool:
    nonspace = [c for c in t if not c.isspace()]
    if not nonspace:
        return True
    letters = sum(c.isalpha() for c in nonspace)
    alnum = sum(c.isalnum() for c in nonspace)
    if letters < 2 or alnum / len(nonspace) < 0.6:
        return True
    if re.search(r"[^\w\s]{4,}", t) or "<|" in t or "|>" in t or re.search(r"[<>{}\[\]|\\/=_~^@]", t):
        return True
    return any(len(w) > 30 for w in t.split())


def _repetitive(words: list[str]) -> bool:
    keys = [k for k in (word_key(w) for w in words) if k]
    if len(keys) < 4:
        return False
    for i in range(len(keys) - 1):
        if keys[i] == keys[i + 1] and len(keys[i]) > 1:
            return True
    grams = [tuple(keys[i:i + 3]) for i in range(len(keys) - 2)]
    if len(grams) != len(set(grams)):
        return True
    return len(keys) >= 8 and len(set(keys)) / len(keys) < 0.5


def _content(text: str) -> set[str]:
    return {stem(w) for w in words_of(text) if w not in FUNCTION and w not in FILLER}


_MID_CAPITAL = re.compile(r"(?<![.!?:;\"“(]\s)(?<!^)(?<=\s)([A-Z][\w'’-]*)")


def check(sentence: str, source: Source, before: Sequence[str] = ()) -> str | None:
    """Why ``sentence`` may not be said after the sentences ``before``, or None if it may.

    Reasons: ``empty``, ``garbled``, ``echo`` (the prompt's own words), ``repeat``,
    ``number:N`` (a number the source does not have), ``word:W`` (a word that could carry a
    claim the source does not make).
    """
    t = sentence.strip()
    if not t:
        return "empty"
    if _garbled(t):
        return "garbled"
    if LEAK.search(t) and not LEAK.search(source.text):
        return "echo"
    if _repetitive(t.split()):
        return "repeat"
    key = " ".join(k for k in (word_key(w) for w in t.split()) if k)
    mine = _content(t)
    for b in before:
        if key == " ".join(k for k in (word_key(w) for w in b.split()) if k):
            return "repeat"
        if len(mine) >= 2 and mine <= _content(b):
            return "repeat"                  # says again what an earlier sentence said
    ws = words_of(t)
    for w in ws:
        if not source.knows(w):
            return f"number:{w}" if w[0].isdigit() else f"word:{w}"
    if t.endswith("?") and not source.asks and (len(ws) > 3 or set(ws) & _ASKING):
        return "question"                    # a statement turned into a question ("The Cafe?" is fine)
    for m in _MID_CAPITAL.finditer(t):       # "Did Into the Did": a small model's word salad
        w = re.sub(r"'(?:s|re|ll|ve|d|m)$", "", fold(m.group(1)).replace("’", "'"))
        if w not in ("i", "i'm", "i'll", "i've", "i'd") and (w in FUNCTION or w not in source.names):
            return f"case:{m.group(1)}"
    content = [w for w in ws if w not in FUNCTION and w not in FILLER]
    if len(ws) >= 6 and len(content) < len(ws) / 4:
        return "garbled"                     # mostly glue words
    if _ARTICLE_NUMBER.search(t) and not _ARTICLE_NUMBER.search(source.text):
        return "garbled"                     # "a 7.30": an article on a price or a count
    if _A_VOWEL.search(t) and not _A_VOWEL.search(source.text):
        return "garbled"                     # "A espresso": a slip the draft never makes
    return None


_ARTICLE_NUMBER = re.compile(r"\b(?:a|an)\s+\d", re.IGNORECASE)
_A_VOWEL = re.compile(r"\ba\s+[aeio]", re.IGNORECASE)


def acceptable(text: str, facts: Iterable[str] = (), *, source: str | None = None) -> bool:
    """True when the whole line ``text`` can be said: every sentence passes ``check`` against
    ``source`` (default: the facts alone, which then only limits numbers and echoes loosely)
    and every fact is in it."""
    facts = tuple(facts)
    if not text.strip():
        return False
    if source is None:
        # Without a draft there is no vocabulary to hold the words to: readable, not
        # repetitive, numbers from the facts only when the facts have any, every fact present.
        t = text.strip()
        if _garbled(t) or _repetitive(t.split()):
            return False
        return all(has_fact(t, f) for f in facts)
    src = Source.of(source, facts)
    said: list[str] = []
    for s in sentences(text):
        if check(s, src, said) is not None:
            return False
        said.append(s)
    return all(has_fact(text, f) for f in facts)
