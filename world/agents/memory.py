"""Agent memory: a private stream per (agent, user) pair, and public knowledge kept apart.

Private memories live in the store's `memories` table and are only ever read through
`Store.memories(agent, user_id)`, whose WHERE clause carries both keys: a conversation
with user B cannot retrieve user A's memories whatever the query or the prompt says.

Retrieval follows Generative Agents (Park et al., 2023): each live memory of the pair
is scored as

    w_relevance * relevance + w_recency * recency + w_importance * importance

with every component in 0..1: relevance is SQLite FTS5's BM25 over Porter-stemmed words
and adjacent word pairs (as phrases), searched with the pair's key in both the MATCH and
the WHERE (`Store.match_memories`), divided by the best score of the query; recency is an
exponential decay from the memory's last access (half-life configurable); importance is
stored with the memory. There is no embedding model here, so relevance is lexical. The
pair's importances and access times are cached in memory (numpy), so one recall is one
indexed search plus arithmetic. The returned memories are touched (their access time moves
to now), in the cache at once and in the store in the background (`flush()` waits for
those writes; losing one in a crash loses nothing that was acknowledged to anyone).

Long histories are summarised extractively inside the store's writer thread
(`maybe_summarise`), never on the tick: the oldest memories, except the recent ones and
important non-summary ones, are collapsed into 'summary' memories built from their most
important sentences.

`Knowledge` holds public facts (persona, menu, world) in memory, scored by an in-process
BM25 (`LexicalIndex`); it is never stored per user and never mixed with private memories.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from functools import lru_cache, partial
from typing import NamedTuple

import numpy as np

from world.logs import event
from world.store.schema import Memory
from world.store.sqlite import Store, StoreError, now_ms as store_now_ms
from world.store.writer import AsyncStore

log = logging.getLogger("agora.agents.memory")

HALF_LIFE_MS = 6 * 3600 * 1000      # recency halves every 6 hours since the last access
KEEP_IMPORTANCE = 0.7               # summarisation keeps non-summary memories at least this important
SUMMARY_CHARS = 600                 # cap on one summary's text
SUMMARY_CHUNK = 25                  # memories collapsed into one summary
CACHE_PAIRS = 64                    # (agent, user) pairs whose scores stay in memory
MATCH_LIMIT = 256                   # best full-text matches per recall; the rest count as unrelated

# -- text to terms -------------------------------------------------------------------------

STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves s t d ll m re ve
""".split())

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_VOWELS = set("aeiouy")


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A light suffix stripper: like/likes/liked/liking -> lik, berries/berry -> berry."""
    w = word
    if len(w) <= 3:
        return w
    if w.endswith("'s"):
        w = w[:-2]
    stripped = False
    if len(w) > 4 and w.endswith(("ies", "ied")):
        w = w[:-3] + "y"
    elif w.endswith("ing") and len(w) >= 6 and _VOWELS.intersection(w[:-3]):
        w, stripped = w[:-3], True
    elif w.endswith("ed") and len(w) >= 5 and _VOWELS.intersection(w[:-2]):
        w, stripped = w[:-2], True
    elif w.endswith("es") and len(w) >= 5 and (w[-3] in "sxz" or w[-4:-2] in ("ch", "sh")):
        w = w[:-2]
    elif w.endswith("s") and len(w) >= 4 and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if stripped and len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "aeioulsz":
        w = w[:-1]                          # stopped -> stopp -> stop
    if len(w) >= 4 and w.endswith("e"):
        w = w[:-1]                          # like -> lik, so like and liked meet
    return w


def words(text: str) -> list[str]:
    """Lowercased, stemmed content words (stop words dropped)."""
    stop = STOP_WORDS
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in stop]


def search_terms(text: str) -> list[str]:
    """What a recall searches for: the content words as written (the index stems them), and
    each adjacent pair as a phrase. "what's my dog's name" -> ["dog", "name", "dog name"]."""
    ws = []
    for w in _WORD.findall(text.lower()):
        base = w.split("'")[0] if "'" in w else w          # dog's -> dog, you're -> you
        if base not in STOP_WORDS:
            ws.append(base)
    return ws + [f"{a} {b}" for a, b in zip(ws, ws[1:])]


def terms(text: str) -> tuple[dict[str, int], int]:
    """Term counts (stemmed words and adjacent word pairs) and the document length in words."""
    ws = words(text)
    counts: dict[str, int] = {}
    get = counts.get
    for w in ws:
        counts[w] = get(w, 0) + 1
    for i in range(len(ws) - 1):
        pair = ws[i] + " " + ws[i + 1]
        counts[pair] = get(pair, 0) + 1
    return counts, len(ws)


# -- lexical relevance ----------------------------------------------------------------------

class _Grow:
    """A numpy array with amortised O(1) append."""

    def __init__(self, dtype: type) -> None:
        self._buf = np.zeros(64, dtype=dtype)
        self.n = 0

    def append(self, value: float) -> None:
        if self.n == len(self._buf):
            self._buf = np.concatenate([self._buf, np.zeros_like(self._buf)])
        self._buf[self.n] = value
        self.n += 1

    @property
    def view(self) -> np.ndarray:
        return self._buf[:self.n]


class LexicalIndex:
    """Incremental BM25 over stemmed words and word pairs, scored with numpy.

    `scores(query)` gives every document a relevance in 0..1 (1 = the best match of this
    query; 0 = shares no term with it). Word pairs count half as much as single words."""

    K1 = 1.2
    B = 0.75
    PAIR_WEIGHT = 0.5

    def __init__(self) -> None:
        self._post: dict[str, tuple[list[int], list[int]]] = {}   # term -> (doc numbers, counts)
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._len = _Grow(np.float64)
        self._total_len = 0

    def __len__(self) -> int:
        return self._len.n

    def add(self, text: str) -> int:
        """Index a document; returns its number (0, 1, 2, ...)."""
        doc = self._len.n
        counts, length = terms(text)
        for term, tf in counts.items():
            docs, tfs = self._post.setdefault(term, ([], []))
            docs.append(doc)
            tfs.append(tf)
            self._arrays.pop(term, None)
        self._len.append(length)
        self._total_len += length
        return doc

    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        arr = self._arrays.get(term)
        if arr is None:
            post = self._post.get(term)
            if post is None:
                return None
            arr = self._arrays[term] = (np.array(post[0], dtype=np.int64),
                                        np.array(post[1], dtype=np.float64))
        return arr

    def raw_scores(self, query: str) -> np.ndarray:
        """Unnormalised BM25 of every document against the query."""
        n = self._len.n
        out = np.zeros(n, dtype=np.float64)
        if n == 0:
            return out
        q, _ = terms(query)
        if not q:
            return out
        avg = max(self._total_len / n, 1e-9)
        norm = self.K1 * (1.0 - self.B + self.B * self._len.view / avg)   # per document
        for term in q:
            post = self._postings(term)
            if post is None:
                continue
            docs, tf = post
            df = len(docs)
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            weight = idf * (self.PAIR_WEIGHT if " " in term else 1.0)
            out[docs] += weight * tf * (self.K1 + 1.0) / (tf + norm[docs])
        return out

    def scores(self, query: str) -> np.ndarray:
        out = self.raw_scores(query)
        top = out.max() if len(out) else 0.0
        return out / top if top > 0 else out


# -- private memories -------------------------------------------------------------------------

class Hit(NamedTuple):
    """A recalled memory, its total score and the three components (each 0..1)."""

    memory: Memory
    score: float
    relevance: float
    recency: float
    importance: float


class _Pair:
    """The cached live memories of one (agent, user) pair: rows, importances, access times."""

    def __init__(self, memories: list[Memory]) -> None:
        self.memories: list[Memory] = []
        self.pos: dict[int, int] = {}
        self.ids = _Grow(np.int64)               # ascending: rows load and arrive in id order
        self.importance = _Grow(np.float64)
        self.accessed = _Grow(np.float64)
        for m in memories:
            self.append(m)

    def append(self, m: Memory) -> None:
        if m.id in self.pos:
            return
        self.pos[m.id] = len(self.memories)
        self.memories.append(m)
        self.ids.append(m.id)
        self.importance.append(m.importance)
        self.accessed.append(m.accessed_ms)


class MemoryBank:
    """Agents' private memory streams over an AsyncStore, with an in-process cache.

    One MemoryBank per process should own the agents' memory writes: its cache is kept
    coherent with the writes made through it (remember, maybe_summarise, forget); after
    writing memories some other way, call `invalidate`."""

    def __init__(self, store: AsyncStore, *, half_life_ms: float = HALF_LIFE_MS,
                 w_relevance: float = 1.0, w_recency: float = 1.0, w_importance: float = 1.0,
                 keep_importance: float = KEEP_IMPORTANCE, summary_chars: int = SUMMARY_CHARS,
                 summary_chunk: int = SUMMARY_CHUNK, cache_pairs: int = CACHE_PAIRS,
                 clock: Callable[[], int] = store_now_ms) -> None:
        if half_life_ms <= 0:
            raise ValueError("half_life_ms must be positive")
        if min(w_relevance, w_recency, w_importance) < 0:
            raise ValueError("weights must not be negative")
        if summary_chunk < 2 or summary_chars < 20 or cache_pairs < 1:
            raise ValueError("summary_chunk >= 2, summary_chars >= 20 and cache_pairs >= 1")
        self.store = store
        self.half_life_ms = float(half_life_ms)
        self.weights = (float(w_relevance), float(w_recency), float(w_importance))
        self.keep_importance = keep_importance
        self.summary_chars = summary_chars
        self.summary_chunk = summary_chunk
        self.cache_pairs = cache_pairs
        self.clock = clock
        self._cache: OrderedDict[tuple[str, int], _Pair] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[tuple[str, int], asyncio.Lock] = \
            weakref.WeakValueDictionary()
        self._touches: set[asyncio.Task] = set()
        self._quiet: dict[tuple[str, int], int] = {}     # live count when summarising found nothing

    # -- cache ---------------------------------------------------------------------------

    def _lock(self, key: tuple[str, int]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _pair(self, key: tuple[str, int]) -> _Pair:
        """The pair's cache entry, loaded from the store if absent. Hold the pair's lock."""
        pair = self._cache.get(key)
        if pair is None:
            rows = await self.store.call("memories", key[0], key[1])
            pair = self._cache[key] = _Pair(rows)
            while len(self._cache) > self.cache_pairs:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return pair

    def invalidate(self, agent: str | None = None, user_id: int | None = None) -> None:
        """Drop cached memories: of one pair, or all of them (agent None)."""
        if agent is None:
            self._cache.clear()
        else:
            self._cache.pop((agent, user_id), None)

    # -- writes ----------------------------------------------------------------------------

    async def remember(self, agent: str, user_id: int, text: str, importance: float,
                       kind: str = "fact", ts: int | None = None) -> Memory:
        """Store a memory of `user_id` for `agent`; returns once it is committed."""
        key = (agent, user_id)
        async with self._lock(key):
            m = await self.store.call("add_memory", agent, user_id, text, importance,
                                      kind=kind, ts=ts)
            pair = self._cache.get(key)
            if pair is not None:
                pair.append(m)
        return m

    async def forget(self, agent: str, user_id: int) -> int:
        """Wipe everything `agent` remembers of `user_id`; returns the rows deleted."""
        key = (agent, user_id)
        async with self._lock(key):
            try:
                return await self.store.call("forget_memories", agent, user_id)
            finally:
                self.invalidate(agent, user_id)
                self._quiet.pop(key, None)

    async def forget_some(self, agent: str, user_id: int, match: Callable[[str], bool]) -> list[str]:
        """Forget what `agent` remembers of `user_id` that `match` accepts: memories (live or
        already summarised) whose text matches are deleted; a summary loses only its matching
        sentences (and goes when none is left). In the writer thread, in one transaction.
        Returns the texts of the memories deleted (summaries not included)."""
        key = (agent, user_id)
        async with self._lock(key):
            try:
                return await self.store.run(partial(forget_matching, agent=agent, user_id=user_id, match=match))
            finally:
                self.invalidate(agent, user_id)
                self._quiet.pop(key, None)

    async def live(self, agent: str, user_id: int) -> list[Memory]:
        """The pair's live memories, oldest first (not touched: this is not a recall)."""
        key = (agent, user_id)
        async with self._lock(key):
            return list((await self._pair(key)).memories)

    async def count(self, agent: str, user_id: int) -> int:
        """Live memories of the pair."""
        pair = self._cache.get((agent, user_id))
        if pair is not None:
            return len(pair.memories)
        return await self.store.call("count_memories", agent, user_id)

    # -- retrieval ---------------------------------------------------------------------------

    async def recall(self, agent: str, user_id: int, query: str, k: int = 5,
                     now_ms: int | None = None) -> list[Hit]:
        """The k best memories of this pair for `query`, best first; they are touched."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise StoreError("bad_request", f"k must be a positive integer, not {k!r}")
        if not isinstance(query, str):
            raise StoreError("bad_request", "query must be a string")
        now = self.clock() if now_ms is None else now_ms
        key = (agent, user_id)
        async with self._lock(key):
            pair = await self._pair(key)
            n = len(pair.memories)
            if n == 0:
                return []
            relevance = np.zeros(n, dtype=np.float64)
            words_ = search_terms(query)
            matches = (await self.store.call("match_memories", agent, user_id, words_, limit=MATCH_LIMIT)
                       if words_ else [])
            if matches:
                mids, scores = np.array(matches, dtype=np.float64).T
                at = np.searchsorted(pair.ids.view, mids.astype(np.int64))
                ok = (at < n) & (pair.ids.view[np.minimum(at, n - 1)] == mids)   # cached rows only
                best = scores[0]
                relevance[at[ok]] = scores[ok] / best if best > 0 else 1.0
            age = np.maximum(now - pair.accessed.view, 0.0)
            recency = np.exp2(-age / self.half_life_ms)
            importance = pair.importance.view
            wr, wt, wi = self.weights
            total = wr * relevance + wt * recency + wi * importance
            # Ties go to the newer memory (a tiny position bonus far below any real difference).
            ranked = total + np.arange(n) * (1e-9 / n)
            if n > k:
                top = np.argpartition(-ranked, k - 1)[:k]
                top = top[np.argsort(-ranked[top], kind="stable")]
            else:
                top = np.argsort(-ranked, kind="stable")
            hits = [Hit(pair.memories[i], float(total[i]), float(relevance[i]),
                        float(recency[i]), float(importance[i])) for i in top.tolist()]
            for i in top.tolist():              # touch: in the cache now, in the store soon
                pair.accessed.view[i] = max(pair.accessed.view[i], now)
                pair.memories[i] = pair.memories[i]._replace(
                    accessed_ms=max(pair.memories[i].accessed_ms, now))
        self._touch(agent, user_id, [h.memory.id for h in hits], now)
        return hits

    def _touch(self, agent: str, user_id: int, ids: list[int], ts: int) -> None:
        task = asyncio.ensure_future(self._touch_now(agent, user_id, ids, ts))
        self._touches.add(task)
        task.add_done_callback(self._touches.discard)

    async def _touch_now(self, agent: str, user_id: int, ids: list[int], ts: int) -> None:
        try:
            await self.store.call("touch_memories", agent, user_id, ids, ts)
        except Exception:               # noqa: BLE001 - an access time is not worth a crash
            event("touch_failed", level=logging.WARNING, exc_info=True, logger=log, agent=agent, user=user_id)

    async def flush(self) -> None:
        """Wait until the access times of every recall so far are written."""
        while self._touches:
            await asyncio.gather(*list(self._touches), return_exceptions=True)

    # -- summarisation -------------------------------------------------------------------------

    async def maybe_summarise(self, agent: str, user_id: int, threshold: int = 200,
                              keep_recent: int = 50, ts: int | None = None) -> list[Memory]:
        """If the pair has more than `threshold` live memories, collapse all but the
        `keep_recent` newest (and the important non-summary ones) into summaries, in the
        writer thread and in one transaction. Returns the summaries written (maybe none)."""
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise StoreError("bad_request", "threshold must be a positive integer")
        if isinstance(keep_recent, bool) or not isinstance(keep_recent, int) or keep_recent < 0:
            raise StoreError("bad_request", "keep_recent must be a non-negative integer")
        key = (agent, user_id)
        async with self._lock(key):
            live = await self.count(agent, user_id)
            if live <= threshold or live < self._quiet.get(key, 0) + self.summary_chunk:
                return []       # short enough, or nothing was collapsible a few rows ago
            job = partial(summarise_pair, agent=agent, user_id=user_id, threshold=threshold,
                          keep_recent=keep_recent, keep_importance=self.keep_importance,
                          chunk=self.summary_chunk, chars=self.summary_chars,
                          ts=self.clock() if ts is None else ts)
            made = await self.store.run(job)
            if made:
                self.invalidate(agent, user_id)
                self._quiet.pop(key, None)
            else:               # mostly important facts: retry once a chunk more has arrived
                self._quiet[key] = live
                while len(self._quiet) > 4 * self.cache_pairs:
                    self._quiet.pop(next(iter(self._quiet)))
        if made:
            event("memories_summarised", logger=log, agent=agent, user=user_id, summaries=len(made))
        return made


def summarise_pair(store: Store, *, agent: str, user_id: int, threshold: int, keep_recent: int,
                   keep_importance: float, chunk: int, chars: int, ts: int) -> list[Memory]:
    """Writer-thread job: collapse the pair's old, unimportant memories into summaries."""
    live = store.memories(agent, user_id)
    if len(live) <= threshold:
        return []
    recent = {m.id for m in [m for m in live if m.kind != "summary"][-keep_recent:]} if keep_recent else set()
    old = [m for m in live if m.id not in recent
           and not (m.kind != "summary" and m.importance >= keep_importance)]
    if len(old) < 2:
        return []
    groups = [old[i:i + chunk] for i in range(0, len(old), chunk)]
    if len(groups) > 1 and len(groups[-1]) < 2:
        groups[-2].extend(groups.pop())
    return [store.summarise_memories(agent, user_id, keep_recent, extract_summary(g, chars),
                                     [m.id for m in g], ts=ts) for g in groups]


def forget_matching(store: Store, *, agent: str, user_id: int, match: Callable[[str], bool]) -> list[str]:
    """Writer-thread job: delete the pair's memories that `match`, cut matching sentences out
    of its summaries. Returns the deleted memories' texts (live ones first, oldest first)."""
    rows = store.memories(agent, user_id, include_superseded=True)
    gone: list[Memory] = []
    for m in rows:
        if m.kind == "summary":
            sentences = [s for s in _SENTENCE.split(m.text.strip()) if s.strip()]
            keep = [s for s in sentences if not match(s)]
            if len(keep) == len(sentences):
                continue
            if keep:
                store.rewrite_memory(agent, user_id, m.id, " ".join(keep))
            else:
                store.delete_memories(agent, user_id, [m.id])
        elif match(m.text):
            gone.append(m)
    if gone:
        store.delete_memories(agent, user_id, [m.id for m in gone])
    gone.sort(key=lambda m: (m.superseded_by is not None, m.id))
    return [m.text for m in gone]


def extract_summary(memories: list[Memory], chars: int = SUMMARY_CHARS) -> str:
    """The most important sentences of `memories` (ties: newer), in their original order,
    joined, at most `chars` characters. Duplicate sentences count once."""
    sentences: list[tuple[float, int, int, str]] = []      # (importance, memory order, n, text)
    seen: set[str] = set()
    for order, m in enumerate(memories):
        for n, s in enumerate(_SENTENCE.split(m.text.strip())):
            s = " ".join(s.split())
            norm = s.lower().rstrip(".!?")
            if not s or norm in seen:
                continue
            seen.add(norm)
            sentences.append((m.importance, order, n, s if s[-1] in ".!?" else s + "."))
    chosen: list[tuple[float, int, int, str]] = []
    used = 0
    for item in sorted(sentences, key=lambda t: (-t[0], -t[1], t[2])):
        cost = len(item[3]) + (1 if chosen else 0)
        if used + cost <= chars:
            chosen.append(item)
            used += cost
        elif not chosen:                        # one long sentence: keep its start
            chosen.append((*item[:3], item[3][:chars - 1].rstrip() + "…"))
            break
    chosen.sort(key=lambda t: (t[1], t[2]))
    return " ".join(t[3] for t in chosen) or "(nothing notable)"


# -- public knowledge --------------------------------------------------------------------------

class KnowledgeHit(NamedTuple):
    text: str
    tags: tuple[str, ...]
    score: float            # relevance 0..1 within this search


class Knowledge:
    """Public facts (persona, menu, world), shared by every conversation, never per user.

    Kept in memory and apart from the private memory streams; searched with the same
    lexical relevance (tags are searchable words too)."""

    def __init__(self, entries: Iterable[tuple[str, Iterable[str]]] = ()) -> None:
        self._entries: list[tuple[str, tuple[str, ...]]] = []
        self._index = LexicalIndex()
        for text, tags in entries:
            self.add(text, tags)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, text: str, tags: Iterable[str] = ()) -> None:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("knowledge text must be a non-empty string")
        tags = tuple(tags)
        self._entries.append((text, tags))
        self._index.add(" ".join((text, *tags)))

    def search(self, query: str, k: int = 5, *, tags: Iterable[str] | None = None) -> list[KnowledgeHit]:
        """Up to k entries sharing words with the query, best first (ties: added first);
        with `tags`, only entries carrying at least one of them."""
        if k < 1 or not self._entries:
            return []
        scores = self._index.scores(query)
        want = None if tags is None else set(tags)
        order = np.argsort(-scores, kind="stable")
        out = []
        for i in order.tolist():
            if scores[i] <= 0 or len(out) == k:
                break
            text, etags = self._entries[i]
            if want is None or want.intersection(etags):
                out.append(KnowledgeHit(text, etags, float(scores[i])))
        return out
