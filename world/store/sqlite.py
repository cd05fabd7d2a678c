"""SQLite store: one synchronous connection in WAL mode, the embedded default engine.

Every public method runs inside a transaction if none is open, or inside a
SAVEPOINT of the caller's transaction if one is (that is how AsyncStore batches
many calls into one COMMIT). Timestamps are integer milliseconds since the epoch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from world.logs import event
from world.store import schema
from world.store.schema import AuditEntry, Group, Memory, Message, Order, QueuedOrder, User

log = logging.getLogger("agora.store")

BUSY_TIMEOUT_MS = 5000
TOKEN_BYTES = 32
_NO_CURSOR = 2**63 - 1   # `before` when paging from the newest message

_USER_COLS = "id, name, kind, role, created_ms, muted_until, banned_until, ban_reason, world, x, y, z, yaw"
_MSG_COLS = "m.id, m.ts, m.ch, m.sender, u.name, m.target, m.space, m.text"
_MEM_COLS = "id, agent, user_id, kind, text, importance, created_ms, accessed_ms, superseded_by"
_ORDER_COLS = "id, agent, user_id, items, total_cents, status, created_ms, updated_ms"

MAX_AGENT_KEY = 64
MAX_MEMORY_TEXT = 4000
MAX_ORDER_ITEMS = 50
MAX_ITEM_TEXT = 100
MAX_ITEM_OPTIONS = 20
MAX_ITEM_QTY = 100
MAX_SUMMARISE_IDS = 5000
USUAL_ORDER_WINDOW = 100      # usual_order looks at the customer's latest orders only
_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_ITEM_KEYS = frozenset({"item", "options", "qty", "price_cents"})


class StoreError(Exception):
    """A store failure with a stable code (not_found, not_invited, not_member, self, ...)."""

    def __init__(self, code: str, msg: str = "") -> None:
        super().__init__(f"{code}: {msg}" if msg else code)
        self.code, self.msg = code, msg


def now_ms() -> int:
    return int(time.time() * 1000)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (executescript would COMMIT our transaction)."""
    buf = ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \t\r\n;"):
                yield buf
            buf = ""
    if buf.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement in migration: {buf[:80]!r}")


# -- argument checks for the agent tables (StoreError("bad_request") on bad input) -------

def _bad(msg: str) -> StoreError:
    return StoreError("bad_request", msg)


def _int(value: object, what: str, lo: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{what} must be an integer, not {value!r}")
    if lo is not None and value < lo:
        raise _bad(f"{what} must be at least {lo}, not {value}")
    return value


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{what} must be a non-empty string")
    if len(value) > limit:
        raise _bad(f"{what} is longer than {limit} characters")
    return value


def _ts(ts: int | None) -> int:
    return now_ms() if ts is None else _int(ts, "ts", 0)


def _importance(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0.0 <= value <= 1.0:
        raise _bad(f"importance must be a number in 0..1, not {value!r}")
    return float(value)


def _ids(ids: object) -> list[int]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise _bad("ids must be a list of integers")
    return sorted({_int(i, "memory id") for i in ids})


def _items(items: object) -> str:
    """Validate an order's items; return them as canonical JSON (sorted keys, defaults filled)."""
    if not isinstance(items, list) or not items:
        raise _bad("items must be a non-empty list")
    if len(items) > MAX_ORDER_ITEMS:
        raise _bad(f"an order holds at most {MAX_ORDER_ITEMS} items")
    out = []
    for it in items:
        if not isinstance(it, dict):
            raise _bad(f"each item must be an object, not {it!r}")
        extra = set(it) - _ITEM_KEYS
        if extra:
            raise _bad(f"unknown item fields {sorted(map(str, extra))}")
        options = it.get("options", [])
        if not isinstance(options, list) or len(options) > MAX_ITEM_OPTIONS:
            raise _bad(f"options must be a list of at most {MAX_ITEM_OPTIONS} strings")
        qty = _int(it.get("qty", 1), "qty", 1)
        if qty > MAX_ITEM_QTY:
            raise _bad(f"qty must be at most {MAX_ITEM_QTY}")
        out.append({"item": _text(it.get("item"), "item", MAX_ITEM_TEXT),
                    "options": [_text(o, "option", MAX_ITEM_TEXT) for o in options],
                    "qty": qty,
                    "price_cents": _int(it.get("price_cents", 0), "price_cents", 0)})
    return json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _order(row: tuple) -> Order:
    return Order(row[0], row[1], row[2], json.loads(row[3]), *row[4:])


def _usual_key(items_json: str) -> str:
    """What makes two orders "the same": items, options and quantities; not prices or order."""
    items = json.loads(items_json)
    return json.dumps(sorted([it["item"], sorted(it["options"]), it["qty"]] for it in items))



class Store:
    """Agora's persistent state in one SQLite file. Not thread-safe: one thread at a time."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL",
                 busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        sync = synchronous.upper()
        if sync not in schema.SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {schema.SYNCHRONOUS}, not {synchronous!r}")
        self.path = str(path)
        self.conn: sqlite3.Connection | None = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None)
        try:
            c = self.conn
            c.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if self.schema_version > schema.latest_version():   # before WAL touches the file
                raise StoreError("schema_too_new", f"database is at version {self.schema_version},"
                                 f" this code knows up to {schema.latest_version()}")
            c.execute("PRAGMA journal_mode = WAL")
            c.execute(f"PRAGMA synchronous = {sync}")
            c.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except BaseException:
            self.conn.close()
            self.conn = None
            raise

    # -- lifecycle -------------------------------------------------------------

    def _migrate(self) -> None:
        c, latest = self._c, schema.latest_version()
        while self.schema_version < latest:
            c.execute("BEGIN IMMEDIATE")
            try:
                version = self.schema_version   # re-read under the lock: another process may have won
                if version >= latest:
                    c.execute("COMMIT")
                    break
                for stmt in _statements(schema.MIGRATIONS[version]):
                    c.execute(stmt)
                c.execute(f"PRAGMA user_version = {version + 1}")
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
            event("migrated", logger=log, path=self.path, version=version + 1)

    @property
    def schema_version(self) -> int:
        return self._c.execute("PRAGMA user_version").fetchone()[0]

    @property
    def _c(self) -> sqlite3.Connection:
        if self.conn is None:
            raise StoreError("closed", "store is closed")
        return self.conn

    def close(self) -> None:
        """Roll back anything open, checkpoint the WAL into the main file, close. Idempotent."""
        c, self.conn = self.conn, None
        if c is None:
            return
        try:
            if c.in_transaction:
                c.execute("ROLLBACK")
            # Committed data is safe in the WAL either way; the checkpoint only tidies up, and
            # it fails on a full disk. The next open replays the WAL.
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            event("checkpoint_failed", level=logging.WARNING, logger=log, path=self.path, error=str(exc))
        finally:
            c.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """Atomic unit: a transaction, or a savepoint inside the caller's transaction."""
        c = self._c
        if c.in_transaction:
            c.execute("SAVEPOINT store_op")
            try:
                yield c
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK TO store_op")
                    c.execute("RELEASE store_op")
                raise
            c.execute("RELEASE store_op")
        else:
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise

    def _require(self, table: str, row_id: int) -> None:
        if self._c.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone() is None:
            raise StoreError("not_found", f"{table} {row_id}")

    # -- users and auth ----------------------------------------------------------

    def create_user(self, name: str, kind: str, role: str = "member",
                    ts: int | None = None) -> tuple[int, str]:
        """New account; returns (user_id, token). Only the token's sha256 is stored."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO users (name, kind, role, token_hash, created_ms) VALUES (?, ?, ?, ?, ?)",
                (name, kind, role, hash_token(token), now_ms() if ts is None else ts))
        return cur.lastrowid, token

    def user_by_token(self, token: str) -> User | None:
        return self._user("token_hash", hash_token(token))

    def get_user(self, user_id: int) -> User | None:
        return self._user("id", user_id)

    def _user(self, column: str, value: object) -> User | None:
        row = self._c.execute(f"SELECT {_USER_COLS} FROM users WHERE {column} = ?", (value,)).fetchone()
        return None if row is None else User(*row)

    def _update_user(self, user_id: int, sql: str, args: tuple) -> None:
        with self._tx() as c:
            if c.execute(f"UPDATE users SET {sql} WHERE id = ?", (*args, user_id)).rowcount == 0:
                raise StoreError("not_found", f"user {user_id}")

    def set_name(self, user_id: int, name: str) -> None:
        self._update_user(user_id, "name = ?", (name,))

    def set_role(self, user_id: int, role: str) -> None:
        self._update_user(user_id, "role = ?", (role,))

    def set_mute(self, user_id: int, until_ms: int | None) -> None:
        """Mute until until_ms; None lifts the mute."""
        self._update_user(user_id, "muted_until = ?", (until_ms,))

    def set_ban(self, user_id: int, until_ms: int | None, reason: str = "") -> None:
        """Ban until until_ms (a far-future value for permanent); None lifts the ban."""
        self._update_user(user_id, "banned_until = ?, ban_reason = ?",
                          (until_ms, "" if until_ms is None else reason))

    def save_positions(self, rows: Sequence[tuple[int, str, float, float, float, float]]) -> None:
        """Last positions as (user_id, world, x, y, z, yaw); unknown user ids are ignored."""
        if not rows:
            return
        with self._tx() as c:
            c.executemany("UPDATE users SET world = ?, x = ?, y = ?, z = ?, yaw = ? WHERE id = ?",
                          [(w, x, y, z, yaw, uid) for uid, w, x, y, z, yaw in rows])

    # -- blocks --------------------------------------------------------------------

    def set_block(self, user_id: int, other_id: int, on: bool, ts: int | None = None) -> None:
        """user_id blocks (on=True) or unblocks other_id. Idempotent."""
        if user_id == other_id:
            raise StoreError("self", "cannot block yourself")
        with self._tx() as c:
            if on:
                self._require("users", user_id)
                self._require("users", other_id)
                c.execute("INSERT OR IGNORE INTO blocks (user_id, other_id, created_ms) VALUES (?, ?, ?)",
                          (user_id, other_id, now_ms() if ts is None else ts))
            else:
                c.execute("DELETE FROM blocks WHERE user_id = ? AND other_id = ?", (user_id, other_id))

    def blocked_by(self, user_id: int) -> set[int]:
        """The users that user_id blocks."""
        return {r[0] for r in self._c.execute("SELECT other_id FROM blocks WHERE user_id = ?", (user_id,))}

    def blockers_of(self, user_id: int) -> set[int]:
        """The users who block user_id."""
        return {r[0] for r in self._c.execute("SELECT user_id FROM blocks WHERE other_id = ?", (user_id,))}

    # -- messages ------------------------------------------------------------------

    def add_message(self, ch: str, sender: int, text: str, target: int | None = None,
                    space: str | None = None, ts: int | None = None,
                    delivered: bool = False) -> Message:
        """Store one chat line. dm: target is the recipient; group: target is the group
        (sender must be a member); near: space is the instance id."""
        if ch not in schema.CHANNELS:
            raise ValueError(f"unknown channel {ch!r}")
        if ch != "near" and target is None:
            raise ValueError(f"{ch} message needs a target")
        ts = now_ms() if ts is None else ts
        with self._tx() as c:
            row = c.execute("SELECT name FROM users WHERE id = ?", (sender,)).fetchone()
            if row is None:
                raise StoreError("not_found", f"user {sender}")
            if ch == "dm":
                self._require("users", target)
            elif ch == "group":
                self._require("groups", target)
                if not self.is_member(target, sender):
                    raise StoreError("not_member", f"user {sender} is not in group {target}")
            cur = c.execute(
                "INSERT INTO messages (ts, ch, sender, target, space, text, delivered)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ts, ch, sender, None if ch == "near" else target, space, text,
                 int(delivered) if ch == "dm" else None))
        return Message(cur.lastrowid, ts, ch, sender, row[0], target if ch != "near" else None,
                       space, text)

    def pending_dms(self, user_id: int) -> list[Message]:
        """Undelivered DMs to user_id, oldest first."""
        rows = self._c.execute(
            f"SELECT {_MSG_COLS} FROM messages m JOIN users u ON u.id = m.sender"
            " WHERE m.ch = 'dm' AND m.delivered = 0 AND m.target = ? ORDER BY m.id", (user_id,))
        return [Message(*r) for r in rows]

    def mark_delivered(self, ids: Iterable[int]) -> None:
        with self._tx() as c:
            c.executemany("UPDATE messages SET delivered = 1 WHERE id = ? AND ch = 'dm'", [(i,) for i in ids])

    def history(self, ch: str, user_id: int, other: int | str, before: int | None = None,
                limit: int = 50) -> tuple[list[Message], bool]:
        """One page of history, newest first, and whether older messages remain.

        dm: the conversation between user_id and other (a user id); group: group `other`,
        user_id must be a member; near: the instance `other`. `before` is an exclusive
        message id cursor: pass the last id of the previous page.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        cursor = _NO_CURSOR if before is None else before
        n = limit + 1
        join = f"SELECT {_MSG_COLS} FROM messages m JOIN users u ON u.id = m.sender"
        c = self._c
        if ch == "dm":
            # Two ordered index ranges (one per direction), merged: no sort of the whole chat.
            rows = c.execute(
                f"{join} WHERE m.id IN ("
                " SELECT id FROM (SELECT id FROM messages WHERE ch = 'dm' AND target = :a"
                "   AND sender = :b AND id < :cur ORDER BY id DESC LIMIT :n)"
                " UNION"
                " SELECT id FROM (SELECT id FROM messages WHERE ch = 'dm' AND target = :b"
                "   AND sender = :a AND id < :cur ORDER BY id DESC LIMIT :n))"
                " ORDER BY m.id DESC LIMIT :n",
                {"a": user_id, "b": other, "cur": cursor, "n": n}).fetchall()
        elif ch == "group":
            self._require("groups", other)
            if not self.is_member(other, user_id):
                raise StoreError("not_member", f"user {user_id} is not in group {other}")
            rows = c.execute(
                f"{join} WHERE m.ch = 'group' AND m.target = ? AND m.id < ?"
                " ORDER BY m.id DESC LIMIT ?", (other, cursor, n)).fetchall()
        elif ch == "near":
            rows = c.execute(
                f"{join} WHERE m.ch = 'near' AND m.space = ? AND m.id < ?"
                " ORDER BY m.id DESC LIMIT ?", (other, cursor, n)).fetchall()
        else:
            raise ValueError(f"unknown channel {ch!r}")
        return [Message(*r) for r in rows[:limit]], len(rows) > limit

    # -- groups --------------------------------------------------------------------

    def create_group(self, owner: int, name: str, ts: int | None = None) -> Group:
        """New group; the owner is its first member."""
        ts = now_ms() if ts is None else ts
        with self._tx() as c:
            self._require("users", owner)
            gid = c.execute("INSERT INTO groups (name, owner, created_ms) VALUES (?, ?, ?)",
                            (name, owner, ts)).lastrowid
            c.execute("INSERT INTO group_members (group_id, user_id, joined_ms) VALUES (?, ?, ?)",
                      (gid, owner, ts))
        return Group(gid, name, owner, ts)

    def get_group(self, group_id: int) -> Group | None:
        row = self._c.execute("SELECT id, name, owner, created_ms FROM groups WHERE id = ?",
                              (group_id,)).fetchone()
        return None if row is None else Group(*row)

    def invite(self, group_id: int, inviter: int, user_id: int, ts: int | None = None) -> None:
        """inviter (a member) invites user_id. Inviting a member is a no-op."""
        with self._tx() as c:
            self._require("groups", group_id)
            self._require("users", user_id)
            if not self.is_member(group_id, inviter):
                raise StoreError("not_member", f"user {inviter} is not in group {group_id}")
            if self.is_member(group_id, user_id):
                return
            c.execute("INSERT OR REPLACE INTO group_invites (group_id, user_id, inviter, created_ms)"
                      " VALUES (?, ?, ?, ?)", (group_id, user_id, inviter, now_ms() if ts is None else ts))

    def invites_of(self, user_id: int) -> list[tuple[Group, int]]:
        """Open invitations to user_id: (group, inviter), oldest first."""
        rows = self._c.execute(
            "SELECT g.id, g.name, g.owner, g.created_ms, i.inviter FROM group_invites i"
            " JOIN groups g ON g.id = i.group_id WHERE i.user_id = ? ORDER BY i.created_ms, g.id",
            (user_id,)).fetchall()
        return [(Group(*r[:4]), r[4]) for r in rows]

    def is_invited(self, group_id: int, user_id: int) -> bool:
        return self._c.execute("SELECT 1 FROM group_invites WHERE group_id = ? AND user_id = ?",
                               (group_id, user_id)).fetchone() is not None

    def is_member(self, group_id: int, user_id: int) -> bool:
        return self._c.execute("SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ?",
                               (group_id, user_id)).fetchone() is not None

    def join(self, group_id: int, user_id: int, ts: int | None = None) -> None:
        """Join on an invitation (consumed); members joining again is a no-op."""
        with self._tx() as c:
            self._require("groups", group_id)
            if self.is_member(group_id, user_id):
                return
            if c.execute("DELETE FROM group_invites WHERE group_id = ? AND user_id = ?",
                         (group_id, user_id)).rowcount == 0:
                raise StoreError("not_invited", f"user {user_id} has no invitation to group {group_id}")
            c.execute("INSERT INTO group_members (group_id, user_id, joined_ms) VALUES (?, ?, ?)",
                      (group_id, user_id, now_ms() if ts is None else ts))

    def leave(self, group_id: int, user_id: int) -> None:
        """Leave a group. An owner who leaves hands the group to the longest-standing member."""
        with self._tx() as c:
            self._require("groups", group_id)
            if c.execute("DELETE FROM group_members WHERE group_id = ? AND user_id = ?",
                         (group_id, user_id)).rowcount == 0:
                raise StoreError("not_member", f"user {user_id} is not in group {group_id}")
            heir = c.execute("SELECT user_id FROM group_members WHERE group_id = ?"
                             " ORDER BY joined_ms, user_id LIMIT 1", (group_id,)).fetchone()
            if heir is not None:
                c.execute("UPDATE groups SET owner = ? WHERE id = ? AND owner = ?",
                          (heir[0], group_id, user_id))

    def members(self, group_id: int) -> list[tuple[int, str]]:
        """(user_id, name) of every member, in joining order."""
        self._require("groups", group_id)
        return [tuple(r) for r in self._c.execute(
            "SELECT u.id, u.name FROM group_members g JOIN users u ON u.id = g.user_id"
            " WHERE g.group_id = ? ORDER BY g.joined_ms, g.user_id", (group_id,))]

    def groups_of(self, user_id: int) -> list[Group]:
        return [Group(*r) for r in self._c.execute(
            "SELECT g.id, g.name, g.owner, g.created_ms FROM group_members m"
            " JOIN groups g ON g.id = m.group_id WHERE m.user_id = ? ORDER BY g.id", (user_id,))]

    # -- moderation audit ------------------------------------------------------------

    def audit(self, actor: int | None, action: str, target: int | None, detail: str = "",
              ts: int | None = None) -> int:
        """Record a moderation action; returns its id."""
        with self._tx() as c:
            return c.execute("INSERT INTO audit (ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                             (now_ms() if ts is None else ts, actor, action, target, detail)).lastrowid

    def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        """The newest `limit` audit entries, newest first."""
        return [AuditEntry(*r) for r in self._c.execute(
            "SELECT id, ts, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?",
            (limit,))]

    # -- agent accounts --------------------------------------------------------------

    def agent_account(self, key: str, name: str) -> int:
        """The user id of the agent configured as `key`, created (kind 'agent') on first use.

        The same key maps to the same id forever; `name` refreshes the display name."""
        _text(key, "agent key", MAX_AGENT_KEY)
        _text(name, "name", MAX_ITEM_TEXT)
        with self._tx() as c:
            row = c.execute("SELECT user_id FROM agent_accounts WHERE key = ?", (key,)).fetchone()
            if row is not None:
                c.execute("UPDATE users SET name = ? WHERE id = ? AND name != ?", (name, row[0], name))
                return row[0]
            uid, _token = self.create_user(name, "agent")     # agents never log in: token unused
            c.execute("INSERT INTO agent_accounts (key, user_id) VALUES (?, ?)", (key, uid))
            return uid

    # -- private memories (every query is keyed by agent AND user) --------------------

    def add_memory(self, agent: str, user_id: int, text: str, importance: float,
                   kind: str = "fact", ts: int | None = None) -> Memory:
        """Append a memory to the (agent, user_id) stream."""
        _text(agent, "agent", MAX_AGENT_KEY)
        _int(user_id, "user_id")
        _text(text, "text", MAX_MEMORY_TEXT)
        imp = _importance(importance)
        if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
            raise _bad(f"kind must be a short lowercase word, not {kind!r}")
        ts = _ts(ts)
        with self._tx() as c:
            self._require("users", user_id)
            mid = c.execute(
                "INSERT INTO memories (agent, user_id, kind, text, importance, created_ms, accessed_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", (agent, user_id, kind, text, imp, ts, ts)).lastrowid
        return Memory(mid, agent, user_id, kind, text, imp, ts, ts, None)

    def memories(self, agent: str, user_id: int, *, limit: int | None = None,
                 include_superseded: bool = False) -> list[Memory]:
        """The pair's memories, oldest first (live ones only unless include_superseded).

        With a limit: the newest `limit` of them, still oldest first. This is the only
        read path for private memories, and it always filters on both agent and user."""
        _text(agent, "agent", MAX_AGENT_KEY)
        _int(user_id, "user_id")
        if limit is not None:
            _int(limit, "limit", 1)
        live = "" if include_superseded else " AND superseded_by IS NULL"
        rows = self._c.execute(
            f"SELECT {_MEM_COLS} FROM memories WHERE agent = ? AND user_id = ?{live}"
            " ORDER BY id DESC LIMIT ?", (agent, user_id, -1 if limit is None else limit)).fetchall()
        rows.reverse()
        return [Memory(*r) for r in rows]

    def count_memories(self, agent: str, user_id: int) -> int:
        """How many live (not superseded) memories the pair has."""
        _text(agent, "agent", MAX_AGENT_KEY)
        _int(user_id, "user_id")
        return self._c.execute("SELECT count(*) FROM memories WHERE agent = ? AND user_id = ?"
                               " AND superseded_by IS NULL", (agent, user_id)).fetchone()[0]

    def touch_memories(self, agent: str, user_id: int, ids: Iterable[int],
                       ts: int | None = None) -> int:
        """Mark memories as recalled at ts; ids outside the pair are ignored. Returns rows touched."""
        _text(agent, "agent", MAX_AGENT_KEY)
        _int(user_id, "user_id")
        ids, ts = _ids(ids), _ts(ts)
        if not ids:
            return 0
        with self._tx() as c:
            cur = c.executemany(
                "UPDATE memories SET accessed_ms = max(accessed_ms, ?)"
                " WHERE id = ? AND agent = ? AND user_id = ?", [(ts, i, agent, user_id) for i in ids])
            return cur.rowcount

    def summarise_memories(self, agent: str, user_id: int, keep_recent: int, summary_text: str,
                           ids: Iterable[int], ts: int | None = None,
                           importance: float | None = None) -> Memory:
        """Replace the pair's memories `ids` by one 'summary' memory, atomically.

        Every id must be a live memory of this pair and none may be among the pair's
        `keep_recent` newest live non-summary memories (else bad_request, nothing changes).
        The summary's importance defaults to the highest of the rows it replaces, and its
        accessed time is theirs (latest), so summarising does not make old things look fresh."""
        _text(agent, "agent", MAX_AGENT_KEY)
        _int(user_id, "user_id")
        _int(keep_recent, "keep_recent", 0)
        _text(summary_text, "summary_text", MAX_MEMORY_TEXT)
        ids, ts = _ids(ids), _ts(ts)
        if not ids:
            raise _bad("nothing to summarise")
        if len(ids) > MAX_SUMMARISE_IDS:
            raise _bad(f"at most {MAX_SUMMARISE_IDS} memories per summary")
        imp = None if importance is None else _importance(importance)
        with self._tx() as c:
            marks = ",".join("?" * len(ids))
            found = c.execute(
                f"SELECT count(*), max(importance), max(accessed_ms) FROM memories"
                f" WHERE agent = ? AND user_id = ? AND superseded_by IS NULL AND id IN ({marks})",
                (agent, user_id, *ids)).fetchone()
            if found[0] != len(ids):
                raise _bad(f"{len(ids) - found[0]} of the ids are not live memories of this pair")
            if keep_recent:
                recent = {r[0] for r in c.execute(
                    "SELECT id FROM memories WHERE agent = ? AND user_id = ? AND superseded_by IS NULL"
                    " AND kind != 'summary' ORDER BY id DESC LIMIT ?", (agent, user_id, keep_recent))}
                if recent.intersection(ids):
                    raise _bad(f"cannot summarise the {keep_recent} most recent memories")
            imp = found[1] if imp is None else imp
            mid = c.execute(
                "INSERT INTO memories (agent, user_id, kind, text, importance, created_ms, accessed_ms)"
                " VALUES (?, ?, 'summary', ?, ?, ?, ?)",
                (agent, user_id, summary_text, imp, ts, found[2])).lastrowid
            c.execute(f"UPDATE memories SET superseded_by = ? WHERE agent = ? AND user_id = ?"
                      f" AND id IN ({marks})", (mid, agent, user_id, *ids))
        return Memory(mid, agent, user_id, "summary", summary_text, imp, ts, found[2], None)

    def forget_memories(self, agent: str, user_id: int) -> int:
        """Delete everything `agent` remembers about `user_id` (live and superseded). Returns rows."""
        _text(agent, "agent", MAX_AGENT_KEY)
        _int(user_id, "user_id")
        with self._tx() as c:
            return c.execute("DELETE FROM memories WHERE agent = ? AND user_id = ?",
                             (agent, user_id)).rowcount

    # -- orders -------------------------------------------------------------------------

    def place_order(self, agent: str, user_id: int, items: list[dict], total_cents: int,
                    ts: int | None = None) -> Order:
        """Persist a new order (status 'placed'). Items: {"item", "options"=[], "qty"=1,
        "price_cents"=0}; they are stored, and returned, with the defaults filled in."""
        _text(agent, "agent", MAX_AGENT_KEY)
        _int(user_id, "user_id")
        blob = _items(items)
        _int(total_cents, "total_cents", 0)
        ts = _ts(ts)
        with self._tx() as c:
            self._require("users", user_id)
            oid = c.execute(
                "INSERT INTO orders (agent, user_id, items, total_cents, status, created_ms, updated_ms)"
                " VALUES (?, ?, ?, ?, 'placed', ?, ?)", (agent, user_id, blob, total_cents, ts, ts)).lastrowid
        return Order(oid, agent, user_id, json.loads(blob), total_cents, "placed", ts, ts)

    def get_order(self, order_id: int, user_id: int) -> Order | None:
        """The order if it is user_id's; another customer's order id gives None."""
        _int(order_id, "order_id")
        _int(user_id, "user_id")
        row = self._c.execute(f"SELECT {_ORDER_COLS} FROM orders WHERE id = ? AND user_id = ?",
                              (order_id, user_id)).fetchone()
        return None if row is None else _order(row)

    def orders_of(self, agent: str, user_id: int, limit: int = 20) -> list[Order]:
        """The customer's orders with this agent, newest first."""
        _text(agent, "agent", MAX_AGENT_KEY)
        _int(user_id, "user_id")
        _int(limit, "limit", 1)
        return [_order(r) for r in self._c.execute(
            f"SELECT {_ORDER_COLS} FROM orders WHERE agent = ? AND user_id = ? ORDER BY id DESC LIMIT ?",
            (agent, user_id, limit))]

    def set_order_status(self, order_id: int, status: str, ts: int | None = None) -> Order:
        """Move an order along placed -> preparing -> ready -> collected (or -> cancelled).

        Unknown status: bad_request; a move the state machine forbids (including to the
        same status): bad_transition; unknown order: not_found."""
        _int(order_id, "order_id")
        if status not in schema.ORDER_STATUSES:
            raise _bad(f"unknown order status {status!r}")
        ts = _ts(ts)
        with self._tx() as c:
            row = c.execute(f"SELECT {_ORDER_COLS} FROM orders WHERE id = ?", (order_id,)).fetchone()
            if row is None:
                raise StoreError("not_found", f"order {order_id}")
            if status not in schema.ORDER_TRANSITIONS[row[5]]:
                raise StoreError("bad_transition", f"order {order_id} is {row[5]}, cannot become {status}")
            c.execute("UPDATE orders SET status = ?, updated_ms = ? WHERE id = ?", (status, ts, order_id))
        return _order(row)._replace(status=status, updated_ms=ts)

    def order_queue(self, include_done: bool = False, limit: int = 200) -> list[QueuedOrder]:
        """Orders for staff, oldest first: open ones (placed, preparing, ready), or all of them
        (the newest `limit`) with include_done. Each with the customer's current name."""
        _int(limit, "limit", 1)
        cols = ", ".join(f"o.{c.strip()}" for c in _ORDER_COLS.split(","))
        if include_done:
            sql = (f"SELECT {cols}, u.name FROM orders o JOIN users u ON u.id = o.user_id"
                   f" ORDER BY o.id DESC LIMIT ?")
        else:
            sql = (f"SELECT {cols}, u.name FROM orders o JOIN users u ON u.id = o.user_id"
                   f" WHERE o.status IN ('placed', 'preparing', 'ready') ORDER BY o.id DESC LIMIT ?")
        rows = self._c.execute(sql, (limit,)).fetchall()
        return [QueuedOrder(_order(r[:-1]), r[-1]) for r in reversed(rows)]

    def orders_to_announce(self, agents: Sequence[str], limit: int = 20) -> list[Order]:
        """Orders of these agents whose status changed since the customer was last told,
        oldest first (an index holds only those rows, so the poll costs next to nothing)."""
        keys = [_text(a, "agent", MAX_AGENT_KEY) for a in agents]
        _int(limit, "limit", 1)
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        return [_order(r) for r in self._c.execute(
            f"SELECT {_ORDER_COLS} FROM orders WHERE status != announced AND agent IN ({marks})"
            f" ORDER BY id LIMIT ?", (*keys, limit))]

    def mark_announced(self, order_id: int, status: str) -> None:
        """The customer has been told that the order is `status`."""
        _int(order_id, "order_id")
        if status not in schema.ORDER_STATUSES:
            raise _bad(f"unknown order status {status!r}")
        with self._tx() as c:
            if c.execute("UPDATE orders SET announced = ? WHERE id = ?", (status, order_id)).rowcount == 0:
                raise StoreError("not_found", f"order {order_id}")

    def usual_order(self, agent: str, user_id: int) -> list[dict] | None:
        """The customer's usual: the most frequent item list among their latest non-cancelled
        orders with this agent (ties: the most recent). Items as last ordered; None if none."""
        _text(agent, "agent", MAX_AGENT_KEY)
        _int(user_id, "user_id")
        rows = self._c.execute(
            "SELECT items FROM orders WHERE agent = ? AND user_id = ? AND status != 'cancelled'"
            " ORDER BY id DESC LIMIT ?", (agent, user_id, USUAL_ORDER_WINDOW)).fetchall()
        counts: dict[str, int] = {}
        latest: dict[str, str] = {}
        for (blob,) in rows:                    # newest first: the first seen is the most recent
            key = _usual_key(blob)
            counts[key] = counts.get(key, 0) + 1
            latest.setdefault(key, blob)
        if not counts:
            return None
        best = max(counts, key=lambda k: counts[k])     # max keeps the first (most recent) of ties
        return json.loads(latest[best])
