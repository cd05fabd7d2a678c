"""How fast a brain phrases: first-token latency and tokens per second over real prompts; and
how agents' lines come out: time to the first checked words, and who worded them."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from world.agents.brain import Brain, BrainError

_BENCH_PROMPTS = [
    ("Mo", "the barista of the Plaza Cafe", "warmly", "How much is a flat white?",
     "A flat white is 3.20."),
    ("Ada", "a museum guide", "cheerfully", "Where are the statues?",
     "The sculpture hall is on the second floor."),
    ("Rin", "a park ranger", "calmly", "Is there a lake here?", "The lake is about 200 m to the west."),
    ("Bea", "a bookshop owner", "politely", "When do you close?", "We close at 6 pm today."),
    ("Jo", "a street musician", "playfully", "Will you play again?",
     "My next song starts in five minutes."),
    ("Kai", "a station clerk", "briskly", "When is the next train?",
     "The next train to Riverside leaves at 14:05."),
    ("Ines", "a gardener", "gently", None, "The roses bloom in June."),
    ("Ada", "a tour guide", "cheerfully", "Where can I get coffee?",
     "The Cafe is about 30 m north-east of here."),
    ("Lea", "a librarian", "quietly", "Can I sit here?", "Quiet please, the reading room is full."),
    ("Sam", "a shopkeeper", "kindly", "How much is an umbrella?", "Umbrellas are 12 euros each."),
]


async def measure(brain: Brain, n: int = 20, *, max_tokens: int = 32) -> dict[str, float]:
    """Latency and speed over ``n`` short, varied rephrasing prompts: the speech layer's real
    prompt for the three shipped personas in turn (so a local brain's kept persona prefixes
    count, as they do for agents), over ten drafts.

    Returns ``first_token_p50_ms``, ``first_token_p95_ms`` (request to first piece) and
    ``tokens_per_s`` (pieces after the first / time from first to last piece, pooled), plus
    ``n``, ``pieces`` and ``total_s``.
    """
    from world.agents.persona import load_personas
    from world.agents.speech import (  # speech imports this module
        STOP,
        Voice,
        build_messages,
    )

    voices = [Voice(p.name, p.role, p.style) for p in load_personas().values()]
    quotes = getattr(brain, "quotes_world", True)
    await brain.start()
    firsts: list[float] = []
    pieces_after = 0
    decode_s = 0.0
    total_pieces = 0
    t_all = time.perf_counter()
    for i in range(max(1, n)):
        _, _, _, heard, draft = _BENCH_PROMPTS[i % len(_BENCH_PROMPTS)]
        messages = build_messages(voices[i % len(voices)], draft, heard=heard if quotes else None)
        t0 = time.perf_counter()
        t_first = t_last = None
        count = 0
        async for _piece in brain.stream(messages, max_tokens=max_tokens, temperature=0.7,
                                         stop=STOP):
            now = time.perf_counter()
            if t_first is None:
                t_first = now
            t_last = now
            count += 1
        if t_first is None:
            continue
        firsts.append((t_first - t0) * 1000.0)
        total_pieces += count
        if count > 1 and t_last is not None:
            pieces_after += count - 1
            decode_s += t_last - t_first
    if not firsts:
        raise BrainError(f"{brain.name}: no output in {n} prompts")
    firsts.sort()

    def pct(p: float) -> float:
        k = min(len(firsts) - 1, max(0, round(p * (len(firsts) - 1))))
        return firsts[k]

    return {
        "first_token_p50_ms": round(pct(0.50), 1),
        "first_token_p95_ms": round(pct(0.95), 1),
        "tokens_per_s": round(pieces_after / decode_s, 1) if decode_s > 0 else 0.0,
        "n": len(firsts),
        "pieces": total_pieces,
        "total_s": round(time.perf_counter() - t_all, 2),
    }


# --------------------------------------------------------------------------------------------
# Phrasing: time to the first words a listener gets, and who worded the line
# --------------------------------------------------------------------------------------------

# Drafts the three behaviours write (world/agents/guide.py, barista.py, companion.py), with
# their facts and the line that prompted them.
PHRASING_SET: list[tuple[str, str, list[str], str | None]] = [
    ("guide", "The Cafe is about 43 m north-east of here.", ["Cafe", "north-east"], "Mira, where is the cafe?"),
    ("barista", "A latte is 3.40.", ["3.40"], "how much is a latte?"),
    ("companion", "Got it, I'll remember that your locker code is 4471.", ["4471"],
     "remember that my locker code is 4471"),
    ("guide", "Follow me to the Stage!", ["Stage"], "yes please"),
    ("barista", "We're open every day from 07:00 to 22:00.", ["07:00", "22:00"], "when are you open?"),
    ("companion", "You told me your locker code is 4471.", ["4471"], "what is my locker code?"),
    ("guide", "Here's what's on: Open mic night at the Stage, Fridays at 19:00.",
     ["Open mic night", "Fridays at 19:00"], "what's on?"),
    ("barista", "Got it: a flat white with oat milk and 2 croissants.", ["flat white", "croissant"],
     "a flat white with oat milk and two croissants"),
    ("companion", "You told me your sister is called Ana.", ["Ana"], "what's my sister called?"),
    ("guide", "That's the Fountain, about 12 m away.", ["Fountain"], "what is that?"),
    ("barista", "So that's a latte, 3.40 in total.", ["3.40"], "that's all"),
    ("companion", "I don't think you've told me that yet.", [], "what's my dog called?"),
    ("guide", "No problem. Ask me if you need anything.", [], "no thanks"),
    ("barista", "Order #12 is placed: a latte, 3.40. It'll be ready in about 1 minute.", ["#12", "3.40"], "yes"),
    ("companion", "You're looking at the Fountain, about 9 m away.", ["Fountain"], "what am I looking at?"),
    ("guide", "The Garden is about 38 m north-west of here.", ["Garden", "north-west"], "where is the garden?"),
    ("barista", "Welcome to the cafe! I'm Bruno. What can I get you?", [], "hello"),
    ("companion", "Any time!", [], "thanks"),
    ("guide", "Here we are: the Garden. A quiet garden with hedges and benches, west of the plaza.",
     ["Garden"], None),
    ("barista", "Order #12 (a latte) is preparing.", ["#12", "preparing"], "is my order ready?"),
]

_WORD = re.compile(r"[\w#.:'-]+")


def unheard_words(final: str, pieces: Sequence[str]) -> int:
    """Words streamed in ``pieces`` that the final line does not contain."""
    have = {w.strip(".:'-").lower() for w in _WORD.findall(final)}
    return sum(1 for p in pieces for w in _WORD.findall(p) if w.strip(".:'-").lower() not in have)


async def measure_phrasing(brain: Brain, n: int = 20, *, baseline: bool = False) -> dict[str, Any]:
    """Phrase ``n`` drafts of ``PHRASING_SET`` (personas alternating) the way agents do.

    ``first_word_p50_ms``: from the request to the first words released (a streamed piece, or
    the final when nothing was streamed); ``model_share``: lines worded by the model (alone or
    with draft sentences for lost facts); ``verbatim``: of those, lines equal to the draft;
    ``bad_partials``: lines whose streamed words are not all in the final. With
    ``baseline=True`` the frozen pre-check phrasing (``world.bench.speech_baseline``) runs.
    """
    from world.agents.persona import load_personas
    from world.agents.speech import Phrasing, Voice, phrase
    from world.bench import speech_baseline
    personas = load_personas()
    await brain.start()
    firsts: list[float] = []
    kinds: dict[str, int] = {"model": 0, "mixed": 0, "draft": 0}
    verbatim = bad = 0
    for i in range(max(1, n)):
        key, draft, facts, heard = PHRASING_SET[i % len(PHRASING_SET)]
        p = personas[key]
        voice = Voice(p.name, p.role, p.style)
        t0 = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        final = draft
        report = Phrasing()
        if baseline:
            agen = speech_baseline.phrase(brain, voice, draft, facts, heard, max_tokens=60, timeout_s=30)
        else:
            agen = phrase(brain, voice, draft, facts, heard, max_tokens=60, timeout_s=30, report=report)
        async for text, done in agen:
            if first is None:
                first = time.perf_counter() - t0
            if done:
                final = text
            else:
                pieces.append(text)
        firsts.append(first or 0.0)
        bad += unheard_words(final, pieces) > 0
        kind = report.kind
        if baseline:                           # the draft as final: refused, unless the model said it
            kind = "model" if final != draft or (pieces and _same_words(draft, "".join(pieces))) else "draft"
        kinds[kind] += 1
        verbatim += kind == "model" and _same_words(final, draft)
    firsts.sort()
    total = sum(kinds.values())
    return {"first_word_p50_ms": round(firsts[len(firsts) // 2] * 1000, 1),
            "first_word_p90_ms": round(firsts[min(len(firsts) - 1, int(len(firsts) * 0.9))] * 1000, 1),
            "model_share": round((kinds["model"] + kinds["mixed"]) / total, 3), **kinds,
            "verbatim": verbatim, "bad_partials": bad, "lines": total}


def _same_words(a: str, b: str) -> bool:
    return [w.strip(".:'-!?,").lower() for w in _WORD.findall(a)] == \
        [w.strip(".:'-!?,").lower() for w in _WORD.findall(b)]
