"""How fast a brain phrases: first-token latency and tokens per second over real prompts."""

from __future__ import annotations

import time

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
    """Latency and speed over ``n`` short, varied rephrasing prompts (the speech layer's
    real prompt, ten personas and drafts).

    Returns ``first_token_p50_ms``, ``first_token_p95_ms`` (request to first piece) and
    ``tokens_per_s`` (pieces after the first / time from first to last piece, pooled), plus
    ``n``, ``pieces`` and ``total_s``.
    """
    from world.agents.speech import (  # speech imports this module
        STOP,
        Voice,
        build_messages,
    )

    await brain.start()
    firsts: list[float] = []
    pieces_after = 0
    decode_s = 0.0
    total_pieces = 0
    t_all = time.perf_counter()
    for i in range(max(1, n)):
        name, role, style, heard, draft = _BENCH_PROMPTS[i % len(_BENCH_PROMPTS)]
        messages = build_messages(Voice(name, role, style), draft, heard=heard)
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
