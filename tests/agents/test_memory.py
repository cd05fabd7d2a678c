"""MemoryBank over a real AsyncStore on SQLite files: partition, ranking, restart,
summarisation; Knowledge kept apart; the retrieval benchmark runs."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from tests.conftest import aio
from world.agents.memory import (
    Hit, Knowledge, LexicalIndex, MemoryBank, extract_summary, stem, words)
from world.bench.retrieval import bench_retrieval
from world.store import AsyncStore, Store, StoreError
from world.store.schema import Memory

HOUR = 3600 * 1000
T0 = 1_700_000_000_000


@pytest.fixture
def db(tmp_path):
    return tmp_path / "agora.db"


def open_store(db: Path, *names: str) -> tuple[AsyncStore, list[int]]:
    astore = AsyncStore(Store(db, synchronous="NORMAL"))
    ids = [astore.store.create_user(n, "desktop")[0] for n in names]
    return astore, ids


# -- lexical relevance ---------------------------------------------------------------------

def test_stemming_and_stop_words():
    assert {stem(w) for w in ("like", "likes", "liked", "liking")} == {"lik"}
    assert stem("berries") == stem("berry") and stem("lattes") == stem("latte")
    assert stem("stopped") == stem("stop") and stem("glasses") == stem("glass")
    assert words("The customer LIKES the oat-milk lattes!") == ["customer", "lik", "oat", "milk", "latt"]
    assert words("it is what it is") == []


def test_bm25_prefers_matching_rare_terms_and_word_pairs():
    idx = LexicalIndex()
    for text in ("oat milk latte", "milk tea", "oat cookie", "the weather was nice",
                 "latte with milk oat"):
        idx.add(text)
    s = idx.scores("oat milk latte")
    assert s.max() == pytest.approx(1.0) and s[3] == 0.0
    assert s[0] == 1.0 and s[0] > s[4] > s[1]          # same words, but the pairs match in 0
    assert list(idx.scores("")) == [0.0] * 5
    assert list(idx.scores("zebra")) == [0.0] * 5


# -- partition: one pair's memories never reach another -----------------------------------

AGENTS = ("barista", "guide")


@given(st.lists(st.tuples(st.sampled_from(AGENTS), st.integers(0, 2), st.sampled_from(
    ["likes oat milk", "allergic to nuts", "secret: lives on elm street", "birthday in may",
     "works as a nurse", "usual is a flat white"])), min_size=1, max_size=25),
    st.lists(st.tuples(st.sampled_from(AGENTS), st.integers(0, 2)), min_size=1, max_size=6))
@settings(max_examples=20, deadline=None)
def test_recall_never_crosses_pairs(writes, reads):
    """Interleaved writes and recalls for 3 users x 2 agents: every hit is the pair's own,
    whatever the query (even another user's exact words)."""
    with tempfile.TemporaryDirectory() as tmp:
        astore, uids = open_store(Path(tmp) / "agora.db", "ann", "bob", "cy")

        async def main():
            bank = MemoryBank(astore)
            mine: dict[tuple[str, int], set[int]] = {}

            async def write(i, agent, u, text):
                m = await bank.remember(agent, uids[u], f"{text} ({agent} {u} #{i})", 0.5, ts=T0 + i)
                mine.setdefault((agent, uids[u]), set()).add(m.id)

            async def read(agent, u):
                uid = uids[u]
                for query in ("oat milk", "secret elm street", f"{agent} {u}", "nurse birthday"):
                    hits = await bank.recall(agent, uid, query, k=50, now_ms=T0 + 100)
                    assert all(h.memory.agent == agent and h.memory.user_id == uid for h in hits)
                    assert {h.memory.id for h in hits} <= mine.get((agent, uid), set())

            jobs = [write(i, *w) for i, w in enumerate(writes)]
            for j, r in enumerate(reads):          # reads land among the writes
                jobs.insert((j * 7) % (len(jobs) + 1), read(*r))
            await asyncio.gather(*jobs)
            for (agent, uid), ids in mine.items():    # a fresh bank (cold cache) agrees
                fresh = MemoryBank(astore)
                hits = await fresh.recall(agent, uid, "anything at all", k=100)
                assert {h.memory.id for h in hits} == ids
            await bank.flush()
            await astore.close()

        asyncio.run(main())


@aio
async def test_other_users_secret_is_unreachable_even_by_exact_query(db):
    astore, (ann, bob) = open_store(db, "ann", "bob")
    bank = MemoryBank(astore)
    await bank.remember("barista", ann, "Ann's door code is 4471", 1.0)
    await bank.remember("barista", bob, "Bob likes jazz", 0.2)
    hits = await bank.recall("barista", bob, "Ann's door code is 4471", k=10)
    assert [h.memory.text for h in hits] == ["Bob likes jazz"]
    assert await bank.recall("guide", ann, "door code", k=10) == []
    await astore.close()


# -- ranking -----------------------------------------------------------------------------------

@aio
async def test_relevant_memory_ranks_first(db):
    astore, (ann,) = open_store(db, "ann")
    bank = MemoryBank(astore)
    for text in ("talked about the weather", "likes oat milk in her latte",
                 "has a dog called rex", "is training for a marathon"):
        await bank.remember("barista", ann, text, 0.5, ts=T0)
    hits = await bank.recall("barista", ann, "which milk for the latte?", k=2, now_ms=T0)
    assert isinstance(hits[0], Hit) and hits[0].memory.text == "likes oat milk in her latte"
    assert hits[0].relevance == 1.0 and hits[1].relevance == 0.0
    assert hits[0].score > hits[1].score
    await astore.close()


@aio
async def test_recent_memory_ranks_first_and_recency_decays_by_half_life(db):
    astore, (ann,) = open_store(db, "ann")
    bank = MemoryBank(astore, half_life_ms=HOUR)
    for age_h in (5, 1, 3, 0, 2):
        await bank.remember("barista", ann, f"visit {age_h} hours ago", 0.5, ts=T0 - age_h * HOUR)
    hits = await bank.recall("barista", ann, "unrelated", k=5, now_ms=T0)
    assert [h.memory.text for h in hits] == [f"visit {h} hours ago" for h in (0, 1, 2, 3, 5)]
    assert [h.recency for h in hits] == pytest.approx([1, 0.5, 0.25, 0.125, 1 / 32])
    await astore.close()


@aio
async def test_important_memory_ranks_first(db):
    astore, (ann,) = open_store(db, "ann")
    bank = MemoryBank(astore)
    for imp in (0.1, 0.9, 0.4):
        await bank.remember("barista", ann, f"note of weight {imp}", imp, ts=T0)
    hits = await bank.recall("barista", ann, "note", k=3, now_ms=T0)
    assert [h.importance for h in hits] == [0.9, 0.4, 0.1]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    await astore.close()


@aio
async def test_weights_trade_components_off(db):
    astore, (ann,) = open_store(db, "ann")
    await MemoryBank(astore).remember("barista", ann, "old but about oat milk", 0.1, ts=T0 - 48 * HOUR)
    await MemoryBank(astore).remember("barista", ann, "fresh and important", 1.0, ts=T0)
    only_relevance = MemoryBank(astore, w_recency=0, w_importance=0)
    assert (await only_relevance.recall("barista", ann, "oat milk", k=1, now_ms=T0))[0].memory.text \
        == "old but about oat milk"
    only_recency = MemoryBank(astore, w_relevance=0, w_importance=0)
    assert (await only_recency.recall("barista", ann, "oat milk", k=1, now_ms=T0))[0].memory.text \
        == "fresh and important"
    with pytest.raises(StoreError):
        await only_recency.recall("barista", ann, "x", k=0)
    await astore.close()


@aio
async def test_recall_touches_what_it_returns_in_store_and_cache(db):
    astore, (ann,) = open_store(db, "ann")
    bank = MemoryBank(astore, half_life_ms=HOUR)
    a = await bank.remember("barista", ann, "likes oat milk", 0.5, ts=T0)
    b = await bank.remember("barista", ann, "has a dog", 0.5, ts=T0)
    hits = await bank.recall("barista", ann, "oat milk", k=1, now_ms=T0 + 10 * HOUR)
    assert [h.memory.id for h in hits] == [a.id]
    await bank.flush()
    rows = {m.id: m for m in await astore.call("memories", "barista", ann)}
    assert rows[a.id].accessed_ms == T0 + 10 * HOUR and rows[b.id].accessed_ms == T0
    # the touched memory is now recent, so it wins an unrelated query
    hits = await bank.recall("barista", ann, "unrelated", k=2, now_ms=T0 + 10 * HOUR)
    assert hits[0].memory.id == a.id and hits[0].recency == 1.0
    assert hits[0].memory.accessed_ms == T0 + 10 * HOUR
    await bank.flush()
    await astore.close()


@aio
async def test_cache_follows_writes_and_forget(db):
    astore, (ann, bob) = open_store(db, "ann", "bob")
    bank = MemoryBank(astore, cache_pairs=1)
    await bank.remember("barista", ann, "likes tea", 0.5)
    assert len(await bank.recall("barista", ann, "tea")) == 1          # cached now
    await bank.remember("barista", ann, "likes green tea best", 0.5)
    assert len(await bank.recall("barista", ann, "tea")) == 2
    await bank.remember("barista", bob, "bob likes tea", 0.5)
    assert len(await bank.recall("barista", bob, "tea")) == 1          # evicts ann's pair
    assert len(await bank.recall("barista", ann, "tea")) == 2
    assert await bank.count("barista", ann) == 2
    assert await bank.forget("barista", ann) == 2
    assert await bank.recall("barista", ann, "tea") == []
    assert await bank.count("barista", ann) == 0
    assert len(await bank.recall("barista", bob, "tea")) == 1
    await bank.flush()
    await astore.close()


def test_memories_survive_a_restart(db):
    async def first():
        astore, (ann,) = open_store(db, "ann")
        bank = MemoryBank(astore)
        await bank.remember("barista", ann, "Ann is allergic to hazelnuts", 0.9, ts=T0)
        await bank.remember("barista", ann, "Ann talked about rain", 0.2, ts=T0)
        await bank.recall("barista", ann, "rain", now_ms=T0 + HOUR)
        await bank.flush()
        await astore.close()
        return ann

    async def second(ann):
        astore = AsyncStore.open(str(db))
        bank = MemoryBank(astore)
        hits = await bank.recall("barista", ann, "hazelnut allergy?", k=1, now_ms=T0 + HOUR)
        await bank.flush()
        await astore.close()
        return hits

    ann = asyncio.run(first())
    hits = asyncio.run(second(ann))
    assert hits[0].memory.text == "Ann is allergic to hazelnuts"
    s = Store(db)
    rain = [m for m in s.memories("barista", ann) if "rain" in m.text][0]
    assert rain.accessed_ms == T0 + HOUR
    s.close()


# -- summarisation ------------------------------------------------------------------------------

def test_extract_summary_keeps_important_sentences_in_order_within_the_cap():
    ms = [Memory(i, "a", 1, "event", text, imp, i, i, None) for i, (text, imp) in enumerate([
        ("Chatted about rain. Said the bus was late", 0.2),
        ("Mentioned a new job at the library.", 0.6),
        ("Chatted about rain.", 0.2),
        ("Is moving house next month!", 0.5)])]
    s = extract_summary(ms, chars=80)
    assert s == "Mentioned a new job at the library. Is moving house next month!"
    assert len(s) <= 80
    everything = extract_summary(ms, chars=600)
    assert everything.count("Chatted about rain.") == 1 and everything.startswith("Chatted")
    long = extract_summary([ms[0]._replace(text="word " * 100)], chars=40)
    assert len(long) <= 40 and long.endswith("…")


@aio
async def test_maybe_summarise_collapses_old_memories_of_this_pair_only(db):
    astore, (ann, bob) = open_store(db, "ann", "bob")
    bank = MemoryBank(astore, summary_chunk=10)
    facts = []
    for i in range(60):
        important = i % 20 == 5
        text = f"Ann's sister is called Maya {i}." if important else f"Small talk number {i}."
        m = await bank.remember("barista", ann, text, 0.9 if important else 0.2, ts=T0 + i)
        if important:
            facts.append(m)
    for i in range(5):
        await bank.remember("barista", bob, f"Bob small talk {i}.", 0.2, ts=T0 + i)
        await bank.remember("guide", ann, f"Guide small talk {i}.", 0.2, ts=T0 + i)
    await bank.recall("barista", ann, "sister", now_ms=T0 + 100)           # warm the cache
    assert await bank.maybe_summarise("barista", ann, threshold=60, keep_recent=10) == []

    await bank.remember("barista", ann, "Small talk number 60.", 0.2, ts=T0 + 60)
    made = await bank.maybe_summarise("barista", ann, threshold=60, keep_recent=10, ts=T0 + 200)
    assert made and all(m.kind == "summary" and m.created_ms == T0 + 200 for m in made)
    live = await astore.call("memories", "barista", ann)
    live_ids = {m.id for m in live}
    assert {f.id for f in facts} <= live_ids                               # important facts kept
    recent = [m.text for m in live if m.kind != "summary"][-10:]
    assert recent == [f"Small talk number {i}." for i in range(51, 61)]     # newest 10 kept
    old_small = [m for m in await astore.call("memories", "barista", ann, include_superseded=True)
                 if m.superseded_by is not None]
    assert len(old_small) == 61 - 10 - len(facts)
    assert {m.superseded_by for m in old_small} == {m.id for m in made}
    assert len(live) == 10 + len(facts) + len(made) < 61
    assert all(len(m.text) <= bank.summary_chars for m in made)
    assert len(await astore.call("memories", "barista", bob)) == 5          # other pairs untouched
    assert len(await astore.call("memories", "guide", ann)) == 5
    # the cache was refreshed: recall sees summaries, not superseded rows
    hits = await bank.recall("barista", ann, "small talk number 3", k=100, now_ms=T0 + 300)
    assert {h.memory.id for h in hits} == live_ids
    assert (await bank.recall("barista", ann, "sister", k=1, now_ms=T0 + 300))[0].memory.id \
        in {f.id for f in facts}
    # below the threshold now: nothing more to do
    assert await bank.maybe_summarise("barista", ann, threshold=60, keep_recent=10) == []
    await bank.flush()
    await astore.close()


@aio
async def test_summarise_job_runs_in_the_writer_thread(db):
    astore, (ann,) = open_store(db, "ann")
    bank = MemoryBank(astore, summary_chunk=2)
    for i in range(5):
        await bank.remember("barista", ann, f"chat {i}", 0.1)
    jobs = astore.stats.jobs
    made = await bank.maybe_summarise("barista", ann, threshold=3, keep_recent=1)
    assert len(made) == 2                     # 4 old rows, chunks of 2
    assert astore.stats.jobs == jobs + 2      # count_memories and the summarise job
    await astore.close()


# -- public knowledge ---------------------------------------------------------------------------

def test_knowledge_is_public_searchable_and_filtered_by_tags():
    k = Knowledge([("I am Bea, the barista of the plaza cafe.", ["persona"]),
                   ("A latte costs 3.50 and an oat latte 3.90.", ["menu"]),
                   ("The plaza fountain was built in 1900.", ["world"])])
    k.add("Muffins are baked every morning.", ["menu"])
    assert len(k) == 4
    hits = k.search("how much is an oat latte?", k=2)
    assert hits[0].text.startswith("A latte costs") and hits[0].tags == ("menu",)
    assert len(hits) == 1                              # only entries sharing words come back
    assert [h.text for h in k.search("plaza", k=5, tags=["world"])] == ["The plaza fountain was built in 1900."]
    assert [h.tags for h in k.search("menu", k=5)] == [("menu",), ("menu",)]
    assert k.search("zebra") == [] and Knowledge().search("latte") == []
    with pytest.raises(ValueError):
        k.add("  ")


# -- benchmark ------------------------------------------------------------------------------------

@aio
async def test_bench_retrieval_reports_a_median(tmp_path):
    ms = await bench_retrieval(tmp_path, n=300, repeats=3)
    assert isinstance(ms, float) and ms > 0


@aio
async def test_important_facts_alone_are_never_summarised(db):
    astore, (ann,) = open_store(db, "ann")
    bank = MemoryBank(astore, summary_chunk=3)
    for i in range(6):
        await bank.remember("barista", ann, f"important fact {i}", 0.95)
    assert await bank.maybe_summarise("barista", ann, threshold=4, keep_recent=1) == []
    jobs = astore.stats.jobs
    assert await bank.maybe_summarise("barista", ann, threshold=4, keep_recent=1) == []
    assert astore.stats.jobs == jobs + 1          # a count only: nothing was collapsible last time
    for i in range(3):
        await bank.remember("barista", ann, f"chit chat {i}", 0.1)
    made = await bank.maybe_summarise("barista", ann, threshold=4, keep_recent=1)
    assert len(made) == 1
    live = await astore.call("memories", "barista", ann)
    assert sum(m.text.startswith("important fact") for m in live) == 6
    assert [m.text for m in live if m.kind != "summary" and m.text.startswith("chit")] == ["chit chat 2"]
    assert made[0].text == "chit chat 0. chit chat 1."
    await astore.close()


# -- full-text search (FTS5) ---------------------------------------------------------------------

def test_search_terms_are_content_words_and_adjacent_pairs():
    from world.agents.memory import search_terms
    assert search_terms("what's my dog's name?") == ["dog", "name", "dog name"]
    assert search_terms("Which milk for the oat latte") == ["milk", "oat", "latte", "milk oat", "oat latte"]
    assert search_terms("is it you?") == []


def test_match_memories_is_keyed_by_the_pair_and_takes_no_search_syntax(db):
    s = Store(db)
    ann, bob = s.create_user("ann", "desktop")[0], s.create_user("bob", "desktop")[0]
    a = s.add_memory("companion", ann, "your locker code is 4471", 0.9)
    s.add_memory("companion", bob, "your locker code is 9999", 0.9)
    s.add_memory("guide", ann, "asked the way to the locker room", 0.1)
    b = s.add_memory("companion", ann, "your bike is red", 0.5)
    assert [i for i, _ in s.match_memories("companion", ann, ["locker", "code"])] == [a.id]
    assert s.match_memories("companion", ann, ["locker", "bike"], every=True) == []
    assert [i for i, _ in s.match_memories("companion", ann, ["locker code"])] == [a.id]     # a phrase
    assert [i for i, _ in s.match_memories("companion", ann, ["red", "code"])] in ([a.id, b.id], [b.id, a.id])
    assert s.match_memories("companion", ann, ["9999"]) == []                                # bob's
    for hostile in ('" OR pair:*', "NEAR(a b)", "code*", "text:code", "-", ""):
        s.match_memories("companion", ann, [hostile])                                        # no syntax error
    assert [i for i, _ in s.match_memories("companion", ann, ['locker" OR "9999'])] == []    # words, as one phrase
    s.close()


def test_the_index_follows_deletes_and_rewrites(db):
    s = Store(db)
    ann = s.create_user("ann", "desktop")[0]
    m = s.add_memory("companion", ann, "your bike is red", 0.5)
    s.rewrite_memory("companion", ann, m.id, "your bike is blue")
    assert s.match_memories("companion", ann, ["red"]) == []
    assert [i for i, _ in s.match_memories("companion", ann, ["blue"])] == [m.id]
    assert s.delete_memories("companion", ann, [m.id, 12345]) == 1
    assert s.match_memories("companion", ann, ["blue"]) == []
    with pytest.raises(StoreError):
        s.rewrite_memory("companion", ann, m.id, "gone")
    s.add_memory("companion", ann, "your bike is green", 0.5)
    assert s.forget_memories("companion", ann) == 1
    assert s.match_memories("companion", ann, ["green"]) == []
    s.close()


def test_migration_indexes_the_memories_of_an_existing_database(db, monkeypatch):
    from world.store import schema
    shipped = list(schema.MIGRATIONS)
    monkeypatch.setattr(schema, "MIGRATIONS", shipped[:2])      # the code before full-text search
    s = Store(db)
    ann = s.create_user("ann", "desktop")[0]
    m = s.add_memory("companion", ann, "your sister is called Ana", 0.9)
    s.close()
    monkeypatch.setattr(schema, "MIGRATIONS", shipped)
    s = Store(db)
    assert s.schema_version == schema.latest_version() >= 3
    assert [i for i, _ in s.match_memories("companion", ann, ["sister"])] == [m.id]
    s.add_memory("companion", ann, "your sister lives in Lisbon", 0.5)       # and new rows join it
    assert len(s.match_memories("companion", ann, ["sister"])) == 2
    s.close()


@aio
async def test_forget_some_deletes_matching_facts_and_cuts_them_out_of_summaries(db):
    astore, (ann, bob) = open_store(db, "ann", "bob")
    bank = MemoryBank(astore, summary_chunk=2)
    for text in ("your locker code is 4471.", "you like jazz.", "your sister is called Ana."):
        await bank.remember("companion", ann, text, 0.2)
    await bank.remember("companion", ann, "your bike is red", 0.2)
    await bank.remember("companion", bob, "your locker code is 1111", 0.2)
    made = await bank.maybe_summarise("companion", ann, threshold=3, keep_recent=1)
    assert made and "4471" in " ".join(m.text for m in made)
    assert (await bank.recall("companion", ann, "locker code", k=1))[0].memory.kind == "summary"
    gone = await bank.forget_some("companion", ann, lambda t: "locker" in t)
    assert gone == ["your locker code is 4471."]                      # the summarised original
    every = await astore.call("memories", "companion", ann, include_superseded=True)
    assert not any("4471" in m.text for m in every)
    assert any("jazz" in m.text for m in every if m.kind == "summary")
    assert all(h.relevance == 0 for h in await bank.recall("companion", ann, "locker code", k=5))
    assert [m.text for m in await bank.live("companion", bob)] == ["your locker code is 1111"]
    await bank.flush()
    await astore.close()
