"""The store's tables (as ordered migrations) and the row types read from them.

Migration N (1-based) brings a database from `PRAGMA user_version` N-1 to N.
Each runs in its own transaction together with the version bump, so a crash
or an error mid-migration leaves the database at the previous version.
Never edit a migration that has shipped; append a new one.

The row types are plain NamedTuples so that no engine object leaks upward and
another engine can return the same shapes.
"""

from __future__ import annotations

from typing import NamedTuple

MIGRATIONS: list[str] = [
    # 1: users, blocks, chat, groups, moderation audit.
    """
    CREATE TABLE users (
        id           INTEGER PRIMARY KEY,
        name         TEXT    NOT NULL,
        kind         TEXT    NOT NULL,
        role         TEXT    NOT NULL DEFAULT 'member',
        token_hash   TEXT    NOT NULL UNIQUE,      -- sha256 hex; the token itself is never stored
        created_ms   INTEGER NOT NULL,
        muted_until  INTEGER,
        banned_until INTEGER,
        ban_reason   TEXT    NOT NULL DEFAULT '',
        world        TEXT,                         -- NULL until the first position save
        x            REAL    NOT NULL DEFAULT 0,
        y            REAL    NOT NULL DEFAULT 0,
        z            REAL    NOT NULL DEFAULT 0,
        yaw          REAL    NOT NULL DEFAULT 0
    );

    CREATE TABLE blocks (
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        other_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (user_id, other_id)
    ) WITHOUT ROWID;
    CREATE INDEX blocks_other ON blocks(other_id, user_id);

    CREATE TABLE groups (
        id         INTEGER PRIMARY KEY,
        name       TEXT    NOT NULL,
        owner      INTEGER NOT NULL REFERENCES users(id),
        created_ms INTEGER NOT NULL
    );

    CREATE TABLE group_members (
        group_id  INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        joined_ms INTEGER NOT NULL,
        PRIMARY KEY (group_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX group_members_user ON group_members(user_id, group_id);

    CREATE TABLE group_invites (
        group_id   INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        inviter    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (group_id, user_id)
    ) WITHOUT ROWID;

    -- All chat in one table. target: dm -> recipient user id, group -> group id,
    -- near -> NULL. space: near -> instance id. delivered: dm only, else NULL.
    CREATE TABLE messages (
        id        INTEGER PRIMARY KEY,
        ts        INTEGER NOT NULL,
        ch        TEXT    NOT NULL CHECK (ch IN ('near', 'dm', 'group')),
        sender    INTEGER NOT NULL REFERENCES users(id),
        target    INTEGER,
        space     TEXT,
        text      TEXT    NOT NULL,
        delivered INTEGER CHECK ((ch = 'dm') = (delivered IS NOT NULL))
    );
    -- Partial indexes: each serves one channel's history or the DM inbox.
    CREATE INDEX messages_dm      ON messages(target, sender, id) WHERE ch = 'dm';
    CREATE INDEX messages_pending ON messages(target, id)         WHERE ch = 'dm' AND delivered = 0;
    CREATE INDEX messages_group   ON messages(target, id)         WHERE ch = 'group';
    CREATE INDEX messages_near    ON messages(space, id)          WHERE ch = 'near';

    -- Actor and target are user ids without foreign keys: the record must outlive them.
    CREATE TABLE audit (
        id     INTEGER PRIMARY KEY,
        ts     INTEGER NOT NULL,
        actor  INTEGER,
        action TEXT    NOT NULL,
        target INTEGER,
        detail TEXT    NOT NULL DEFAULT ''
    );
    """,
    # 2: AI agents: stable agent accounts, private memory streams per (agent, user), orders.
    """
    -- An agent is a user of kind 'agent'; its configured key maps to the same user id forever.
    CREATE TABLE agent_accounts (
        key     TEXT    PRIMARY KEY,
        user_id INTEGER NOT NULL UNIQUE REFERENCES users(id)
    ) WITHOUT ROWID;

    -- One private memory stream per (agent, user) pair. Every read is keyed by both.
    -- accessed_ms starts at created_ms; superseded_by points at the summary that replaced
    -- the row (NULL: live). No foreign key on it: the rows of a pair are only ever deleted together.
    CREATE TABLE memories (
        id            INTEGER PRIMARY KEY,
        agent         TEXT    NOT NULL,
        user_id       INTEGER NOT NULL REFERENCES users(id),
        kind          TEXT    NOT NULL,
        text          TEXT    NOT NULL,
        importance    REAL    NOT NULL CHECK (importance >= 0 AND importance <= 1),
        created_ms    INTEGER NOT NULL,
        accessed_ms   INTEGER NOT NULL,
        superseded_by INTEGER
    );
    CREATE INDEX memories_pair ON memories(agent, user_id, id);

    -- items: canonical JSON list of {"item", "options", "qty", "price_cents"}.
    CREATE TABLE orders (
        id          INTEGER PRIMARY KEY,
        agent       TEXT    NOT NULL,
        user_id     INTEGER NOT NULL REFERENCES users(id),
        items       TEXT    NOT NULL,
        total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
        status      TEXT    NOT NULL
                    CHECK (status IN ('placed', 'preparing', 'ready', 'collected', 'cancelled')),
        created_ms  INTEGER NOT NULL,
        updated_ms  INTEGER NOT NULL
    );
    CREATE INDEX orders_pair ON orders(agent, user_id, id);
    """,
    # 3: the staff queue. `announced` is the status the customer was last told about; the
    # server polls the (usually empty) partial index for orders whose status moved past it.
    # Orders from before this version were announced by the old timer: nothing is owed.
    """
    ALTER TABLE orders ADD COLUMN announced TEXT NOT NULL DEFAULT 'placed';
    UPDATE orders SET announced = status;
    CREATE INDEX orders_untold ON orders(agent, id) WHERE status != announced;
    CREATE INDEX orders_open ON orders(id) WHERE status IN ('placed', 'preparing', 'ready');
    """,
]


def latest_version() -> int:
    """The schema version this code writes."""
    return len(MIGRATIONS)


class User(NamedTuple):
    """A person, bot or agent account and its last saved position."""

    id: int
    name: str
    kind: str
    role: str
    created_ms: int
    muted_until: int | None
    banned_until: int | None
    ban_reason: str
    world: str | None
    x: float
    y: float
    z: float
    yaw: float

    def is_muted(self, now_ms: int) -> bool:
        return self.muted_until is not None and now_ms < self.muted_until

    def is_banned(self, now_ms: int) -> bool:
        return self.banned_until is not None and now_ms < self.banned_until


class Message(NamedTuple):
    """One chat line; sender_name is the sender's current display name."""

    id: int
    ts: int
    ch: str
    sender: int
    sender_name: str
    target: int | None
    space: str | None
    text: str


class Group(NamedTuple):
    id: int
    name: str
    owner: int
    created_ms: int


class AuditEntry(NamedTuple):
    id: int
    ts: int
    actor: int | None
    action: str
    target: int | None
    detail: str


class Memory(NamedTuple):
    """One private memory an agent holds about one user (superseded_by: None while live)."""

    id: int
    agent: str
    user_id: int
    kind: str
    text: str
    importance: float
    created_ms: int
    accessed_ms: int
    superseded_by: int | None


class Order(NamedTuple):
    """A customer's order with an agent; items is the decoded list of item dicts."""

    id: int
    agent: str
    user_id: int
    items: list[dict]
    total_cents: int
    status: str
    created_ms: int
    updated_ms: int


class QueuedOrder(NamedTuple):
    """An order as staff see it: the order and the customer's current display name."""

    order: Order
    customer: str


CHANNELS = ("near", "dm", "group")
ORDER_STATUSES = ("placed", "preparing", "ready", "collected", "cancelled")
# Allowed status changes; collected and cancelled are final.
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    "placed": frozenset({"preparing", "ready", "cancelled"}),
    "preparing": frozenset({"ready", "cancelled"}),
    "ready": frozenset({"collected", "cancelled"}),
    "collected": frozenset(),
    "cancelled": frozenset(),
}
SYNCHRONOUS = ("FULL", "NORMAL")
