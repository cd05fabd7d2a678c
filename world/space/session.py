"""A participant in the realm: a person, a bot or (later) an agent, behind a Sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from world.space.space import Space


class Sink(Protocol):
    """Where a session's outbound traffic goes (a WebSocket outbox, or an in-process agent)."""

    def send(self, msg: dict[str, Any]) -> None: ...
    def send_frame(self, frame: bytes) -> None: ...
    def send_snapshot(self, frame: bytes | memoryview, framed: bytes | memoryview | None = None) -> bool | None:
        """Newest-wins delivery; `framed` is the same frame with its WebSocket header (a
        transport may write it as is). False means an unsent older snapshot was dropped."""

    def close(self, code: int, reason: str) -> None: ...


ROLE_RANK = {"member": 0, "moderator": 1, "admin": 2}


@dataclass(eq=False)
class Session:
    user: int
    name: str
    kind: str                       # client kind: desktop, vr, bot (agent later)
    role: str
    sink: Sink
    token: str = ""
    muted_until: int | None = None  # ms since epoch; None = not muted
    blocks: set[int] = field(default_factory=set)      # users this session does not want to hear
    space: Space | None = None
    pose_seq: int = -1
    slot: int = -1                  # interest slot in the current space
    alive: bool = True

    @property
    def entity(self) -> int:
        # An avatar's entity id is its user id: stable across reconnects and restarts.
        return self.user

    @property
    def rank(self) -> int:
        return ROLE_RANK.get(self.role, 0)

    def is_muted(self, now_ms: int) -> bool:
        return self.muted_until is not None and self.muted_until > now_ms
