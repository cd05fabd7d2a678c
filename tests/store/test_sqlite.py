"""Store on real SQLite files: schema, auth, positions, chat, groups, blocks, audit."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from world.store import schema
from world.store import Group, Store, StoreError, User


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


# -- schema --------------------------------------------------------------------------

def test_empty_file_is_migrated_to_latest_and_reopens(db):
    s = Store(db)
    assert s.schema_version == schema.latest_version()
    uid, _ = s.create_user("ann", "vr")
    s.close()
    s = Store(db)
    assert s.schema_version == schema.latest_version()
    assert s.get_user(uid).name == "ann"
    assert s._c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s._c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    s.close()


def test_older_database_is_migrated_and_keeps_its_rows(db, monkeypatch):
    s = Store(db)
    uid, _ = s.create_user("ann", "vr")
    s.close()
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [
        "ALTER TABLE users ADD COLUMN bio TEXT NOT NULL DEFAULT '';"
        " CREATE INDEX users_name ON users(name);"])
    s = Store(db)
    assert s.schema_version == len(schema.MIGRATIONS)
    assert s._c.execute("SELECT name, bio FROM users WHERE id = ?", (uid,)).fetchone() == ("ann", "")
    s.close()


def test_failing_migration_leaves_the_previous_version(db, monkeypatch):
    Store(db).close()
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [
        "CREATE TABLE extra (a INTEGER); INSERT INTO no_such_table VALUES (1);"])
    with pytest.raises(sqlite3.OperationalError):
        Store(db)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS) - 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchone() is None
    conn.close()


def test_newer_database_is_refused(db):
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {schema.latest_version() + 1}")
    conn.close()
    with pytest.raises(StoreError) as e:
        Store(db)
    assert e.value.code == "schema_too_new"


def test_synchronous_mode_is_configurable(db):
    s = Store(db, synchronous="normal")
    assert s._c.execute("PRAGMA synchronous").fetchone()[0] == 1     # NORMAL
    s.close()
    with pytest.raises(ValueError):
        Store(db, synchronous="OFF")


# -- users and auth --------------------------------------------------------------------

def test_token_is_stored_only_as_its_hash(db):
    s = Store(db)
    uid, token = s.create_user("ann", "vr")
    assert len(token) >= 40
    rows = s._c.execute("SELECT * FROM users").fetchall()
    assert token not in repr(rows)
    assert hashlib.sha256(token.encode()).hexdigest() in repr(rows)
    s.close()
    for f in db.parent.iterdir():
        assert token.encode() not in f.read_bytes()


def test_user_by_token_finds_the_user_and_rejects_others(store):
    uid, token = store.create_user("ann", "vr", role="moderator", ts=1234)
    other, _ = store.create_user("bob", "bot")
    u = store.user_by_token(token)
    assert isinstance(u, User)
    assert (u.id, u.name, u.kind, u.role, u.created_ms, u.world) == (uid, "ann", "vr", "moderator", 1234, None)
    assert store.user_by_token(token + "x") is None
    assert store.user_by_token("") is None
    assert store.get_user(other).name == "bob"
    assert store.get_user(999) is None


def test_name_role_mute_and_ban_are_saved(store):
    uid, = users(store, "ann")
    store.set_name(uid, "Ann B")
    store.set_role(uid, "admin")
    store.set_mute(uid, 5000)
    store.set_ban(uid, 9000, "spam")
    u = store.get_user(uid)
    assert (u.name, u.role, u.muted_until, u.banned_until, u.ban_reason) == ("Ann B", "admin", 5000, 9000, "spam")
    assert u.is_muted(4999) and not u.is_muted(5000)
    assert u.is_banned(8999) and not u.is_banned(9000)
    store.set_mute(uid, None)
    store.set_ban(uid, None, "")
    u = store.get_user(uid)
    assert (u.muted_until, u.banned_until, u.ban_reason) == (None, None, "")
    with pytest.raises(StoreError) as e:
        store.set_role(999, "admin")
    assert e.value.code == "not_found"


def test_positions_survive_close_and_reopen(db):
    s = Store(db)
    a, b, c = users(s, "ann", "bob", "cy")
    s.save_positions([(a, "plaza#1", 1.5, -2.0, 0.0, 3.1), (b, "garden#2", 10.0, 20.0, 0.5, 0.0)])
    s.save_positions([(a, "plaza#1", 2.5, -2.0, 0.0, 1.0), (999, "x", 0, 0, 0, 0)])
    s.close()
    s = Store(db)
    assert s.get_user(a)[-5:] == ("plaza#1", 2.5, -2.0, 0.0, 1.0)
    assert s.get_user(b)[-5:] == ("garden#2", 10.0, 20.0, 0.5, 0.0)
    assert s.get_user(c).world is None
    s.close()


# -- blocks ------------------------------------------------------------------------------

def test_blocks_are_directional_and_idempotent(store):
    a, b, c = users(store, "ann", "bob", "cy")
    store.set_block(a, b, True)
    store.set_block(a, b, True)
    store.set_block(c, b, True)
    store.set_block(b, a, True)
    assert store.blocked_by(a) == {b}
    assert store.blockers_of(b) == {a, c}
    store.set_block(a, b, False)
    store.set_block(a, b, False)
    assert store.blocked_by(a) == set()
    assert store.blockers_of(b) == {c}
    assert store.blocked_by(b) == {a}
    with pytest.raises(StoreError) as e:
        store.set_block(a, a, True)
    assert e.value.code == "self"
    with pytest.raises(StoreError) as e:
        store.set_block(a, 999, True)
    assert e.value.code == "not_found"


# -- messages ----------------------------------------------------------------------------

def test_dm_to_offline_user_is_pending_until_delivered(store):
    a, b = users(store, "ann", "bob")
    m1 = store.add_message("dm", a, "hello", target=b, ts=100)
    m2 = store.add_message("dm", a, "are you there", target=b, ts=200)
    store.add_message("dm", b, "seen live", target=a, delivered=True)
    assert (m1.ts, m1.sender_name, m1.target) == (100, "ann", b)
    assert store.pending_dms(b) == [m1, m2]
    assert store.pending_dms(a) == []
    store.mark_delivered([m1.id])
    assert store.pending_dms(b) == [m2]
    store.mark_delivered([m2.id])
    assert store.pending_dms(b) == []
    with pytest.raises(StoreError) as e:
        store.add_message("dm", a, "x", target=999)
    assert e.value.code == "not_found"


def test_dm_history_pages_across_both_directions(store):
    a, b, c = users(store, "ann", "bob", "cy")
    sent = []
    for i in range(7):
        src, dst = (a, b) if i % 2 == 0 else (b, a)
        sent.append(store.add_message("dm", src, f"m{i}", target=dst).id)
        store.add_message("dm", a, f"noise{i}", target=c)    # another conversation
    page1, more = store.history("dm", a, b, limit=4)
    assert [m.id for m in page1] == sent[::-1][:4] and more
    page2, more = store.history("dm", b, a, before=page1[-1].id, limit=4)
    assert [m.id for m in page2] == sent[::-1][4:] and not more
    assert all(m.text.startswith("m") for m in page1 + page2)
    exact, more = store.history("dm", a, b, limit=7)
    assert len(exact) == 7 and not more


def test_group_and_near_history_are_scoped(store):
    a, b = users(store, "ann", "bob")
    g = store.create_group(a, "hikers")
    h = store.create_group(b, "others")
    ids = [store.add_message("group", a, f"g{i}", target=g.id).id for i in range(5)]
    store.add_message("group", b, "elsewhere", target=h.id)
    near = [store.add_message("near", b, f"n{i}", space="plaza#1").id for i in range(3)]
    store.add_message("near", b, "far", space="plaza#2")
    page, more = store.history("group", a, g.id, limit=3)
    assert [m.id for m in page] == ids[::-1][:3] and more
    page, more = store.history("group", a, g.id, before=page[-1].id, limit=3)
    assert [m.id for m in page] == ids[::-1][3:] and not more
    page, more = store.history("near", a, "plaza#1")
    assert [m.id for m in page] == near[::-1] and not more
    assert page[0].target is None and page[0].space == "plaza#1"
    for call in (lambda: store.history("group", b, g.id), lambda: store.add_message("group", b, "x", target=g.id)):
        with pytest.raises(StoreError) as e:
            call()
        assert e.value.code == "not_member"


# -- groups ------------------------------------------------------------------------------

def test_group_invite_join_leave(store):
    a, b, c = users(store, "ann", "bob", "cy")
    g = store.create_group(a, "hikers", ts=77)
    assert isinstance(g, Group) and store.get_group(g.id) == g == Group(g.id, "hikers", a, 77)
    assert store.members(g.id) == [(a, "ann")]
    with pytest.raises(StoreError) as e:
        store.join(g.id, b)
    assert e.value.code == "not_invited"
    with pytest.raises(StoreError) as e:
        store.invite(g.id, c, b)            # c is not a member
    assert e.value.code == "not_member"
    store.invite(g.id, a, b)
    assert store.is_invited(g.id, b) and not store.is_member(g.id, b)
    store.join(g.id, b)
    assert store.is_member(g.id, b) and not store.is_invited(g.id, b)   # invite consumed
    store.join(g.id, b)                     # already a member: no-op
    assert store.members(g.id) == [(a, "ann"), (b, "bob")]
    assert store.groups_of(b) == [g]
    store.leave(g.id, b)
    assert not store.is_member(g.id, b) and store.groups_of(b) == []
    with pytest.raises(StoreError) as e:
        store.join(g.id, b)                 # the invite was used up
    assert e.value.code == "not_invited"
    with pytest.raises(StoreError) as e:
        store.leave(g.id, b)
    assert e.value.code == "not_member"
    with pytest.raises(StoreError) as e:
        store.join(999, b)
    assert e.value.code == "not_found"
    assert store.get_group(999) is None


def test_owner_leaving_hands_the_group_on(store):
    a, b = users(store, "ann", "bob")
    g = store.create_group(a, "hikers", ts=1)
    store.invite(g.id, a, b)
    store.join(g.id, b, ts=2)
    store.leave(g.id, a)
    assert store.get_group(g.id).owner == b


# -- audit -------------------------------------------------------------------------------

def test_audit_log_is_newest_first(store):
    mod, bad = users(store, "mod", "bad")
    first = store.audit(mod, "mute", bad, "60s", ts=10)
    second = store.audit(mod, "ban", bad, ts=20)
    third = store.audit(None, "unban", bad)
    log = store.audit_log()
    assert [e.id for e in log] == [third, second, first]
    assert log[2][1:] == (10, mod, "mute", bad, "60s")
    assert store.audit_log(limit=1)[0].action == "unban"


def test_failed_method_inside_a_callers_transaction_rolls_back_only_itself(store):
    a, = users(store, "ann")
    g = store.create_group(a, "hikers")
    store._c.execute("BEGIN IMMEDIATE")
    b, = users(store, "bob")
    with pytest.raises(StoreError):
        store.join(g.id, b)
    assert store._c.in_transaction                 # the caller's transaction survives
    store._c.execute("COMMIT")
    assert store.get_user(b).name == "bob" and not store.is_member(g.id, b)
