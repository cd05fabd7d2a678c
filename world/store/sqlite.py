"""SQLite store: one synchronous connection in WAL mode, the embedded default engine.

Every public method runs inside a transaction if none is open, or inside a
SAVEPOINT of the caller's transaction if one is (that is how AsyncStore batches
many calls into one COMMIT). Timestamps are integer milliseconds since the epoch.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from world.store import schema
from world.store.schema import AuditEntry, Group, Message, User

log = logging.getLogger("world.store")

BUSY_TIMEOUT_MS = 5000
TOKEN_BYTES = 32
_NO_CURSOR = 2**63 - 1   # `before` when paging from the newest message

_USER_COLS = "id, name, kind, role, created_ms, muted_until, banned_until, ban_reason, world, x, y, z, yaw"
_MSG_COLS = "m.id, m.ts, m.ch, m.sender, u.name, m.target, m.space, m.text"


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
            log.info("event=migrated path=%s version=%d", self.path, version + 1)

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
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
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
