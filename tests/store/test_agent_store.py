"""Agent tables on real SQLite files: accounts, private memories per (agent, user), orders."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from world.store import AsyncStore, Store, StoreError, schema
from world.store.schema import Memory, Order


@pytest.fixture
def db(tmp_path):
    return tmp_path / "agora.db"


@pytest.fixture
def store(db):
    s = Store(db)
    yield s
    s.close()


def users(store: Store, *names: str) -> list[int]:
    return [store.create_user(n, "desktop")[0] for n in names]


def code(exc_info) -> str:
    return exc_info.value.code


LATTE = {"item": "latte", "options": ["oat"], "qty": 1, "price_cents": 350}
MUFFIN = {"item": "muffin", "options": [], "qty": 1, "price_cents": 250}
TEA = {"item": "tea", "options": ["lemon"], "qty": 2, "price_cents": 200}


# -- schema ----------------------------------------------------------------------------

def test_version_1_database_is_migrated_and_keeps_its_rows(db, monkeypatch):
    shipped = list(schema.MIGRATIONS)
    monkeypatch.setattr(schema, "MIGRATIONS", shipped[:1])      # the code as it was at version 1
    s = Store(db)
    assert s.schema_version == 1
    a, b = users(s, "ann", "bob")
    msg = s.add_message("dm", a, "hello", target=b)
    s.close()
    assert sqlite3.connect(db).execute(
        "SELECT count(*) FROM sqlite_master WHERE name IN ('memories', 'orders')").fetchone()[0] == 0

    monkeypatch.setattr(schema, "MIGRATIONS", shipped)
    s = Store(db)
    assert s.schema_version == schema.latest_version() >= 2
    assert s.get_user(a).name == "ann"
    assert s.pending_dms(b) == [msg]
    agent = s.agent_account("barista", "Bea")
    s.add_memory("barista", a, "likes oat milk", 0.5)
    s.place_order("barista", a, [LATTE], 350)
    s.close()
    s = Store(db)
    assert s.agent_account("barista", "Bea") == agent
    assert [m.text for m in s.memories("barista", a)] == ["likes oat milk"]
    assert len(s.orders_of("barista", a)) == 1
    s.close()


def test_migration_2_is_appended_not_edited():
    assert len(schema.MIGRATIONS) >= 2
    assert "CREATE TABLE users" in schema.MIGRATIONS[0] and "memories" not in schema.MIGRATIONS[0]
    assert "CREATE TABLE memories" in schema.MIGRATIONS[1]


# -- agent accounts ---------------------------------------------------------------------

def test_agent_account_is_stable_across_restarts(db):
    s = Store(db)
    a, = users(s, "ann")
    bea = s.agent_account("barista", "Bea")
    guide = s.agent_account("guide", "Gus")
    assert len({a, bea, guide}) == 3
    assert s.agent_account("barista", "Bea") == bea
    assert s.get_user(bea).kind == "agent" and s.get_user(bea).name == "Bea"
    s.close()
    s = Store(db)
    assert s.agent_account("barista", "Beatrice") == bea            # renamed in config
    assert s.get_user(bea).name == "Beatrice"
    assert s.agent_account("guide", "Gus") == guide
    assert s._c.execute("SELECT count(*) FROM users WHERE kind = 'agent'").fetchone()[0] == 2
    for key, name in (("", "Bea"), ("k", ""), (None, "Bea"), ("x" * 65, "Bea")):
        with pytest.raises(StoreError) as e:
            s.agent_account(key, name)
        assert code(e) == "bad_request"
    s.close()


# -- memories ---------------------------------------------------------------------------

def test_add_memory_round_trips_and_validates(store):
    a, = users(store, "ann")
    m = store.add_memory("barista", a, "Ann likes oat milk.", 0.75, kind="fact", ts=1000)
    assert isinstance(m, Memory)
    assert m == Memory(m.id, "barista", a, "fact", "Ann likes oat milk.", 0.75, 1000, 1000, None)
    assert store.memories("barista", a) == [m]
    assert store.add_memory("barista", a, "ok", 1).importance == 1.0
    bad = [dict(importance=1.5), dict(importance=-0.1), dict(importance=float("nan")),
           dict(importance=True), dict(importance="high"), dict(text=""), dict(text="   "),
           dict(text="x" * 4001), dict(text=None), dict(kind="Fact!"), dict(kind=""),
           dict(agent=""), dict(user_id="1"), dict(ts=-1), dict(ts=1.5)]
    for over in bad:
        args = {"agent": "barista", "user_id": a, "text": "t", "importance": 0.5, **over}
        with pytest.raises(StoreError) as e:
            store.add_memory(**args)
        assert code(e) == "bad_request", over
    with pytest.raises(StoreError) as e:
        store.add_memory("barista", 999, "who", 0.5)
    assert code(e) == "not_found"
    assert store.count_memories("barista", a) == 2


def test_memories_are_chronological_and_limit_keeps_the_newest(store):
    a, = users(store, "ann")
    ms = [store.add_memory("barista", a, f"m{i}", 0.1, ts=i) for i in range(6)]
    assert store.memories("barista", a) == ms
    assert store.memories("barista", a, limit=2) == ms[-2:]
    with pytest.raises(StoreError):
        store.memories("barista", a, limit=0)


def test_touch_is_scoped_to_the_pair_and_only_moves_forward(store):
    a, b = users(store, "ann", "bob")
    ma = store.add_memory("barista", a, "ann", 0.5, ts=100)
    mb = store.add_memory("barista", b, "bob", 0.5, ts=100)
    mg = store.add_memory("guide", a, "ann to guide", 0.5, ts=100)
    assert store.touch_memories("barista", a, [ma.id, mb.id, mg.id, 12345], ts=500) == 1
    assert store.memories("barista", a)[0].accessed_ms == 500
    assert store.memories("barista", b)[0].accessed_ms == 100
    assert store.memories("guide", a)[0].accessed_ms == 100
    assert store.touch_memories("barista", a, [ma.id], ts=200) == 1
    assert store.memories("barista", a)[0].accessed_ms == 500        # never backwards
    assert store.touch_memories("barista", a, []) == 0
    with pytest.raises(StoreError):
        store.touch_memories("barista", a, "12")


def test_summarise_supersedes_only_the_pairs_rows_atomically(store):
    a, b = users(store, "ann", "bob")
    old = [store.add_memory("barista", a, f"old {i}", 0.2 + i / 100, ts=i) for i in range(5)]
    recent = [store.add_memory("barista", a, f"new {i}", 0.1, ts=10 + i) for i in range(3)]
    other = store.add_memory("barista", b, "bob's secret", 0.3, ts=1)
    elsewhere = store.add_memory("guide", a, "ann told the guide", 0.3, ts=1)
    store.touch_memories("barista", a, [old[1].id], ts=7)

    def refused(ids, keep=3):
        before = store.memories("barista", a, include_superseded=True)
        with pytest.raises(StoreError) as e:
            store.summarise_memories("barista", a, keep, "summary", ids, ts=50)
        assert code(e) == "bad_request"
        assert store.memories("barista", a, include_superseded=True) == before   # nothing changed

    refused([old[0].id, other.id])                # another user's memory
    refused([old[0].id, elsewhere.id])            # another agent's memory
    refused([old[0].id, 99999])                   # no such memory
    refused([old[0].id, recent[0].id])            # among the 3 most recent
    refused([])
    s = store.summarise_memories("barista", a, 3, "Ann has been here before.", [o.id for o in old], ts=50)
    assert (s.kind, s.text, s.created_ms, s.superseded_by) == ("summary", "Ann has been here before.", 50, None)
    assert s.importance == pytest.approx(0.24)         # the most important row it replaces
    assert s.accessed_ms == 7                          # as recently used as they were, not "now"
    assert store.memories("barista", a) == recent + [s]
    assert store.count_memories("barista", a) == 4
    allrows = store.memories("barista", a, include_superseded=True)
    assert {m.id: m.superseded_by for m in allrows if m.kind != "summary" and m.text.startswith("old")} \
        == {o.id: s.id for o in old}
    assert store.memories("barista", b) == [other]
    assert store.memories("guide", a) == [elsewhere]
    refused([old[0].id, recent[0].id], keep=0)    # already superseded
    # keep_recent counts non-summary rows only; a summary can itself be summarised later
    s2 = store.summarise_memories("barista", a, 1, "Older still.", [s.id, recent[0].id], ts=60)
    assert store.memories("barista", a) == recent[1:] + [s2]


def test_forget_wipes_one_pair_only(db):
    s = Store(db)
    a, b = users(s, "ann", "bob")
    for i in range(3):
        s.add_memory("barista", a, f"a{i}", 0.5)
        s.add_memory("barista", b, f"b{i}", 0.5)
        s.add_memory("guide", a, f"g{i}", 0.5)
    summ = s.summarise_memories("barista", a, 0, "sum", [m.id for m in s.memories("barista", a)[:2]])
    assert summ.kind == "summary"
    assert s.forget_memories("barista", a) == 4
    s.close()
    s = Store(db)
    assert s.memories("barista", a, include_superseded=True) == []
    assert s.count_memories("barista", a) == 0
    assert [m.text for m in s.memories("barista", b)] == ["b0", "b1", "b2"]
    assert [m.text for m in s.memories("guide", a)] == ["g0", "g1", "g2"]
    s.close()


class PartitionMachine(RuleBasedStateMachine):
    """Random interleavings of every memory write, for several agents and users, across
    restarts: no read ever returns a memory of another (agent, user) pair."""

    AGENTS = ("barista", "guide")

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "agora.db"
        self.store = Store(self.path, synchronous="NORMAL")
        self.users = users(self.store, "ann", "bob", "cy")
        self.model: dict[tuple[str, int], dict[int, str]] = {
            (ag, u): {} for ag in self.AGENTS for u in self.users}       # live id -> text
        self.all_ids: list[int] = []
        self.owner: dict[int, tuple[str, int]] = {}                      # existing id -> pair
        self.clock = 0

    def teardown(self) -> None:
        self.store.close()
        self.dir.cleanup()

    pairs = st.tuples(st.sampled_from(AGENTS), st.integers(0, 2))

    def pair(self, p: tuple[str, int]) -> tuple[str, int]:
        return p[0], self.users[p[1]]

    @rule(p=pairs, n=st.integers(1, 3))
    def add(self, p, n):
        agent, uid = self.pair(p)
        for _ in range(n):
            self.clock += 1
            text = f"{agent}:{uid}:{self.clock}"
            m = self.store.add_memory(agent, uid, text, 0.5, ts=self.clock)
            self.model[(agent, uid)][m.id] = text
            self.all_ids.append(m.id)
            self.owner[m.id] = (agent, uid)

    @precondition(lambda self: self.all_ids)
    @rule(p=pairs, data=st.data())
    def touch(self, p, data):
        agent, uid = self.pair(p)
        ids = data.draw(st.lists(st.sampled_from(self.all_ids), max_size=6))
        self.clock += 1
        touched = self.store.touch_memories(agent, uid, ids, ts=self.clock)
        assert touched == len({i for i in ids if self.owner.get(i) == (agent, uid)})

    @precondition(lambda self: self.all_ids)
    @rule(p=pairs, data=st.data())
    def summarise(self, p, data):
        agent, uid = self.pair(p)
        ids = data.draw(st.lists(st.sampled_from(self.all_ids), min_size=1, max_size=5, unique=True))
        live = self.model[(agent, uid)]
        self.clock += 1
        if set(ids) <= set(live):
            s = self.store.summarise_memories(agent, uid, 0, "summary", ids, ts=self.clock)
            for i in ids:
                del live[i]
            live[s.id] = "summary"
            self.all_ids.append(s.id)
            self.owner[s.id] = (agent, uid)
        else:
            with pytest.raises(StoreError) as e:
                self.store.summarise_memories(agent, uid, 0, "summary", ids, ts=self.clock)
            assert code(e) == "bad_request"

    @rule(p=pairs)
    def forget(self, p):
        agent, uid = self.pair(p)
        gone = {i for i, owner in self.owner.items() if owner == (agent, uid)}
        assert self.store.forget_memories(agent, uid) == len(gone)
        self.model[(agent, uid)].clear()
        for i in gone:
            del self.owner[i]

    @rule()
    def restart(self):
        self.store.close()
        self.store = Store(self.path, synchronous="NORMAL")

    @invariant()
    def every_read_stays_in_its_pair(self):
        for (agent, uid), live in self.model.items():
            rows = self.store.memories(agent, uid)
            assert {m.id: m.text for m in rows} == live
            every = self.store.memories(agent, uid, include_superseded=True, limit=1000)
            assert all(m.agent == agent and m.user_id == uid for m in rows + every)
            assert all(m.text == "summary" or m.text.startswith(f"{agent}:{uid}:") for m in every)
            assert self.store.count_memories(agent, uid) == len(live)


TestPartition = PartitionMachine.TestCase
TestPartition.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)


# -- orders -------------------------------------------------------------------------------

def test_orders_persist_with_ids_across_reopen(db):
    s = Store(db)
    a, = users(s, "ann")
    o = s.place_order("barista", a, [{"item": "latte", "options": ["oat"], "price_cents": 350}, MUFFIN],
                      600, ts=1000)
    assert isinstance(o, Order) and o.id > 0
    assert (o.agent, o.user_id, o.total_cents, o.status, o.created_ms, o.updated_ms) == \
        ("barista", a, 600, "placed", 1000, 1000)
    assert o.items == [LATTE, MUFFIN]                   # qty defaulted to 1
    o2 = s.place_order("barista", a, [TEA], 400, ts=2000)
    assert o2.id != o.id
    s.close()
    s = Store(db)
    assert s.get_order(o.id, a) == o
    assert s.orders_of("barista", a) == [o2, o]
    assert s.orders_of("barista", a, limit=1) == [o2]
    s.close()


def test_get_order_and_orders_of_are_scoped(store):
    a, b = users(store, "ann", "bob")
    oa = store.place_order("barista", a, [LATTE], 350)
    ob = store.place_order("barista", b, [TEA], 400)
    og = store.place_order("guide", a, [MUFFIN], 250)
    assert store.get_order(oa.id, a) == oa
    assert store.get_order(oa.id, b) is None            # another customer's order id
    assert store.get_order(ob.id, a) is None
    assert store.get_order(424242, a) is None
    assert store.orders_of("barista", a) == [oa]
    assert store.orders_of("barista", b) == [ob]
    assert store.orders_of("guide", a) == [og]


def test_order_items_are_validated(store):
    a, = users(store, "ann")
    bad_items = [[], "latte", [{}], [{"item": ""}], [{"item": "latte", "qty": 0}],
                 [{"item": "latte", "qty": True}], [{"item": "latte", "qty": 101}],
                 [{"item": "latte", "price_cents": -1}], [{"item": "latte", "options": "oat"}],
                 [{"item": "latte", "options": [""]}], [{"item": "latte", "colour": "red"}],
                 ["latte"], [LATTE] * 51]
    for items in bad_items:
        with pytest.raises(StoreError) as e:
            store.place_order("barista", a, items, 100)
        assert code(e) == "bad_request", items
    for total in (-1, 1.5, "350", None):
        with pytest.raises(StoreError) as e:
            store.place_order("barista", a, [LATTE], total)
        assert code(e) == "bad_request"
    with pytest.raises(StoreError) as e:
        store.place_order("barista", 999, [LATTE], 350)
    assert code(e) == "not_found"
    assert store.orders_of("barista", a) == []


def test_status_transitions_are_validated(store):
    a, = users(store, "ann")
    o = store.place_order("barista", a, [LATTE], 350, ts=1)
    o = store.set_order_status(o.id, "preparing", ts=2)
    assert (o.status, o.updated_ms, o.created_ms) == ("preparing", 2, 1)
    for bad in ("placed", "collected", "preparing"):
        with pytest.raises(StoreError) as e:
            store.set_order_status(o.id, bad)
        assert code(e) == "bad_transition"
    with pytest.raises(StoreError) as e:
        store.set_order_status(o.id, "teleported")
    assert code(e) == "bad_request"
    with pytest.raises(StoreError) as e:
        store.set_order_status(999, "ready")
    assert code(e) == "not_found"
    assert store.set_order_status(o.id, "ready", ts=3).status == "ready"
    assert store.set_order_status(o.id, "collected", ts=4) == store.get_order(o.id, a)
    for final in ("cancelled", "ready"):
        with pytest.raises(StoreError) as e:
            store.set_order_status(o.id, final)
        assert code(e) == "bad_transition"
    c = store.place_order("barista", a, [TEA], 400)
    assert store.set_order_status(c.id, "cancelled").status == "cancelled"
    with pytest.raises(StoreError):
        store.set_order_status(c.id, "preparing")
    assert set(schema.ORDER_TRANSITIONS) == set(schema.ORDER_STATUSES)


def test_usual_order_is_the_most_frequent_non_cancelled(store):
    a, b = users(store, "ann", "bob")
    assert store.usual_order("barista", a) is None
    store.place_order("barista", a, [TEA], 400)
    assert store.usual_order("barista", a) == [TEA]
    store.place_order("barista", a, [LATTE, MUFFIN], 600)
    # same items in another order and at a new price: the same usual; the latest is returned
    newer = dict(MUFFIN, price_cents=275)
    store.place_order("barista", a, [newer, LATTE], 625)
    assert store.usual_order("barista", a) == [newer, LATTE]
    # cancelled orders do not count
    for _ in range(3):
        c = store.place_order("barista", a, [TEA], 400)
        store.set_order_status(c.id, "cancelled")
    assert store.usual_order("barista", a) == [newer, LATTE]
    # a tie goes to the most recent
    store.place_order("barista", a, [TEA], 400)
    assert store.usual_order("barista", a) == [TEA]
    # options matter; other customers and other agents do not
    store.place_order("barista", b, [dict(LATTE, options=["soy"])], 350)
    store.place_order("guide", a, [MUFFIN], 250)
    assert store.usual_order("barista", a) == [TEA]
    assert store.usual_order("barista", b) == [dict(LATTE, options=["soy"])]
    assert store.usual_order("guide", a) == [MUFFIN]


# -- through the writer thread --------------------------------------------------------------

def test_agent_calls_batch_through_the_async_store(db):
    astore = AsyncStore(Store(db))
    a, = users(astore.store, "ann")

    async def main():
        results = await asyncio.gather(
            astore.call("agent_account", "barista", "Bea"),
            astore.call("add_memory", "barista", a, "likes oat milk", 0.6),
            astore.call("add_memory", "barista", a, "bad", 7.0),            # fails alone
            astore.call("place_order", "barista", a, [LATTE], 350),
            astore.call("agent_account", "barista", "Bea"),
            return_exceptions=True)
        await astore.close()
        return results

    bea, mem, err, order, bea2 = asyncio.run(main())
    assert bea == bea2 and isinstance(mem, Memory) and isinstance(order, Order)
    assert isinstance(err, StoreError) and err.code == "bad_request"
    s = Store(db)
    assert [m.text for m in s.memories("barista", a)] == ["likes oat milk"]
    assert s.get_order(order.id, a) == order
    assert s.agent_account("barista", "Bea") == bea
    s.close()
