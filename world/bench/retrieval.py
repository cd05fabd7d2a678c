"""Retrieval speed of agents' memories: `MemoryBank.recall` over 10,000 memories of one pair."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from world.agents.memory import MemoryBank
from world.logs import event
from world.store.sqlite import now_ms as store_now_ms
from world.store.writer import AsyncStore


BENCH_AGENT = "bench-barista"
_B_NAMES = "latte cappuccino espresso mocha americano tea chai matcha cocoa cortado".split()
_B_OPTS = "oat soy almond skim whole decaf extra-shot vanilla caramel cinnamon iced hot".split()
_B_TOPICS = ("talked about {t} and the weather", "mentioned a trip to {t}", "works as a {t}",
             "has a dog called {t}", "was reading a book about {t}", "complained the {t} was cold")
_B_WORDS = ("lisbon tokyo nurse teacher rex biscuit history gardening physics jazz football "
            "painting chess hiking baking music films").split()
_B_QUERIES = ("what does she usually drink", "oat latte with vanilla", "any pets",
              "trip to tokyo", "her job", "decaf", "cold cappuccino complaint", "books she reads",
              "chess", "iced matcha with almond milk")


def _bench_text(rng) -> str:
    if rng.random() < 0.5:
        return (f"Ordered a {rng.choice(_B_OPTS)} {rng.choice(_B_NAMES)} with "
                f"{rng.choice(_B_OPTS)} and said it was {rng.choice(('great', 'fine', 'too sweet'))}.")
    return "The customer " + rng.choice(_B_TOPICS).format(t=rng.choice(_B_WORDS)) + "."


async def bench_retrieval(tmp_dir: str | Path, n: int = 10_000, *, repeats: int = 30) -> float:
    """Median wall milliseconds of `MemoryBank.recall` (k=5, warm cache) over n memories of
    one (agent, user) pair, in a fresh SQLite file under tmp_dir. Key: retrieval_ms_10k."""
    import random
    path = Path(tmp_dir) / "agents-bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    astore = AsyncStore.open(str(path), synchronous="NORMAL")
    try:
        uid, _ = astore.store.create_user("bench customer", "bot")
        rng = random.Random(4)
        base = store_now_ms() - n * 60_000
        rows = [(_bench_text(rng), round(rng.random(), 3)) for _ in range(n)]
        await astore.run(lambda s: [s.add_memory(BENCH_AGENT, uid, t, imp, ts=base + i * 60_000)
                                    for i, (t, imp) in enumerate(rows)])
        bank = MemoryBank(astore)
        t0 = time.perf_counter()
        await bank.recall(BENCH_AGENT, uid, "first visit", k=5)      # loads and indexes the pair
        event("bench_cold_recall", n=n, ms=round((time.perf_counter() - t0) * 1000, 1))
        times = []
        for i in range(repeats):
            q = _B_QUERIES[i % len(_B_QUERIES)]
            t0 = time.perf_counter()
            hits = await bank.recall(BENCH_AGENT, uid, q, k=5)
            times.append((time.perf_counter() - t0) * 1000)
            assert len(hits) == 5
        await bank.flush()
        return statistics.median(times)
    finally:
        await astore.close()
