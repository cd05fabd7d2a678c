"""Persistence: users and auth, blocks, chat, groups and the moderation audit.

`Store` is the synchronous SQLite engine (WAL); `AsyncStore` runs it on one
writer thread with group commit, so an awaited write is already committed.
"""

from world.store.schema import AuditEntry, Group, Message, User
from world.store.sqlite import Store, StoreError
from world.store.writer import AsyncStore, WriterStats

__all__ = [
    "AsyncStore", "AuditEntry", "Group", "Message", "Store", "StoreError", "User", "WriterStats",
]
