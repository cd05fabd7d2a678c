"""Chat as the client shows it: tabs (near, one per DM peer, one per group), history, speech.

Pure model: fed with server maps, read by the HUD. Lines are deduplicated by message id
(DMs are delivered at least once). Agent speech streams as `chat` maps with
`partial: true` and a speech id `sid`, each carrying the next chunk; the final map with
the same `sid` carries the authoritative full text, which replaces the chunks. A
streaming line lives in its tab (and in the speaker's bubble) from its first chunk.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

TAB_LINES = 200           # lines kept per tab
BUBBLE_S = 6.0            # a speech bubble stays this long after its last words
BUBBLES_SHOWN = 3         # lines over one head at once; an older one makes way for the newest
STREAM_STALE_S = 30.0     # a streamed line with no final this long after its last piece is dropped
NEAR = "near"


@dataclass
class Line:
    """One chat line (or system note) in a tab."""

    text: str
    name: str = ""
    sender: int = 0           # user id (0 for system notes)
    id: int | None = None     # message id (None while streaming or for notes)
    ts: int = 0
    partial: bool = False
    system: bool = False


@dataclass
class Bubble:
    """One line over its speaker's head; streamed speech grows in place (same Line)."""

    line: Line
    until: float              # local monotonic seconds

    @property
    def text(self) -> str:
        return self.line.text

    @property
    def partial(self) -> bool:
        return self.line.partial


@dataclass
class Tab:
    key: str                  # "near", "dm:<user>", "group:<id>"
    title: str
    lines: deque[Line] = field(default_factory=lambda: deque(maxlen=TAB_LINES))
    unread: int = 0
    history_cursor: int | None = None
    history_more: bool = True


def tab_key(ch: str, other: int | None = None) -> str:
    return NEAR if ch == NEAR else f"{ch}:{other}"


class ChatModel:
    """Tabs of lines, speech bubbles by entity (oldest first), and own lines waiting for their ack."""

    def __init__(self) -> None:
        self.me = 0
        self.tabs: dict[str, Tab] = {NEAR: Tab(NEAR, "Near")}
        self.active = NEAR
        self.bubbles: dict[int, deque[Bubble]] = {}
        self._seen: set[int] = set()
        self._streams: dict[tuple[int, int], Line] = {}       # (sender, sid) -> streaming line
        self._stream_at: dict[tuple[int, int], tuple[float, str]] = {}   # last piece: when, which tab
        self._pending: dict[int, tuple[str, Line]] = {}       # rid -> (tab, own line)
        self._rids = itertools.count(1)
        self.names: dict[int, str] = {}                       # user id -> name, for tab titles

    # -- tabs ------------------------------------------------------------------------------------
    def tab(self, key: str, title: str | None = None) -> Tab:
        tab = self.tabs.get(key)
        if tab is None:
            ch, _, other = key.partition(":")
            if title is None:
                title = (f"@{self.names.get(int(other), other)}" if ch == "dm" else f"#{other}")
            tab = self.tabs[key] = Tab(key, title)
        return tab

    def cycle(self, step: int = 1) -> str:
        keys = list(self.tabs)
        self.active = keys[(keys.index(self.active) + step) % len(keys)]
        self.tabs[self.active].unread = 0
        return self.active

    def lines(self, key: str | None = None) -> list[Line]:
        tab = self.tabs.get(key or self.active)
        return list(tab.lines) if tab is not None else []

    def texts(self, key: str | None = None) -> list[str]:
        return [line.text for line in self.lines(key)]

    def note(self, text: str, key: str | None = None) -> None:
        """A system line (errors, notices, connection state) in a tab (default: the active one)."""
        self.tab(key or self.active).lines.append(Line(text, system=True))

    # -- incoming --------------------------------------------------------------------------------
    def on_chat(self, msg: dict[str, Any], now: float) -> Line | None:
        """A server `chat` map; returns the line shown (None for a duplicate)."""
        if self._stream_at:
            self.expire_streams(now)
        ch = str(msg["ch"])
        sender = int(msg.get("from") or 0)
        text = msg["text"]
        if not isinstance(text, str):
            raise ValueError("chat.text is not a string")
        name = str(msg.get("name", "?"))
        if sender:
            self.names[sender] = name
        if ch == "dm":
            key = tab_key("dm", sender if sender != self.me else int(msg["to"]))
        elif ch == "group":
            key = tab_key("group", int(msg["to"]))
        else:
            key = NEAR
        tab = self.tab(key)
        sid = msg.get("sid")
        mid = msg.get("id")
        speaker = msg.get("e")
        new = True
        if sid is not None:
            stream = (sender, int(sid))
            line = self._streams.get(stream)
            new = line is None
            if line is None:
                line = Line("", name, sender, partial=True)
                self._streams[stream] = line
                tab.lines.append(line)
            if msg.get("partial"):
                line.text += text
                self._stream_at[stream] = (now, key)
            else:
                # The final is authoritative: its whole text replaces the pieces, however long.
                line.text, line.partial = text, False
                line.id, line.ts = mid, int(msg.get("ts") or 0)
                del self._streams[stream]
                self._stream_at.pop(stream, None)
                if mid is not None:
                    self._seen.add(int(mid))
        else:
            if mid is not None:
                if int(mid) in self._seen:
                    return None
                self._seen.add(int(mid))
            line = Line(text, name, sender, mid, int(msg.get("ts") or 0))
            tab.lines.append(line)
        if key != self.active and new:
            tab.unread += 1
        if speaker is not None:
            said = self.bubbles.setdefault(int(speaker), deque(maxlen=BUBBLES_SHOWN))
            bubble = next((b for b in said if b.line is line), None)
            if bubble is None:
                said.append(Bubble(line, now + BUBBLE_S))
            else:
                bubble.until = now + BUBBLE_S
        return line

    def on_history(self, msg: dict[str, Any]) -> None:
        """A `history` page (newest first): older lines go before what the tab shows."""
        key = tab_key(str(msg["ch"]), int(msg["to"]))
        tab = self.tab(key)
        older = []
        for m in reversed(msg.get("msgs") or []):
            mid = m.get("id")
            if mid is not None and int(mid) in self._seen:
                continue
            if mid is not None:
                self._seen.add(int(mid))
            older.append(Line(str(m.get("text", "")), str(m.get("name", "?")), int(m.get("from") or 0),
                              mid, int(m.get("ts") or 0)))
        merged = older + list(tab.lines)
        tab.lines.clear()
        tab.lines.extend(merged[-TAB_LINES:])
        tab.history_cursor = msg.get("cursor")
        tab.history_more = bool(msg.get("more"))

    def on_ack(self, msg: dict[str, Any]) -> bool:
        pending = self._pending.pop(int(msg.get("rid", -1)), None)
        if pending is None:
            return False
        _, line = pending
        line.id, line.ts, line.partial = msg.get("id"), int(msg.get("ts") or 0), False
        if line.id is not None:
            self._seen.add(int(line.id))
        return True

    def on_error(self, msg: dict[str, Any]) -> bool:
        """An error answering one of our chat lines: mark the line; returns whether it was ours."""
        pending = self._pending.pop(int(msg.get("rid", -1)), None)
        if pending is None:
            return False
        key, line = pending
        line.partial = False
        line.text += f"  [not sent: {msg.get('code')}]"
        return True

    # -- outgoing --------------------------------------------------------------------------------
    def compose(self, text: str, my_name: str, key: str | None = None) -> dict[str, Any]:
        """The `chat` request for `text` in a tab; the line shows at once, marked until acked."""
        key = key or self.active
        ch, _, other = key.partition(":")
        rid = next(self._rids)
        msg: dict[str, Any] = {"t": "chat", "rid": rid, "ch": ch, "text": text}
        if other:
            msg["to"] = int(other)
        line = Line(text, my_name, self.me, partial=True)
        self.tab(key).lines.append(line)
        self._pending[rid] = (key, line)
        return msg

    def history_request(self, key: str | None = None, limit: int = 50) -> dict[str, Any] | None:
        """The `history` request for the next older page of a dm/group tab (None for near)."""
        key = key or self.active
        ch, _, other = key.partition(":")
        tab = self.tab(key)
        if not other or not tab.history_more:
            return None
        msg: dict[str, Any] = {"t": "history", "ch": ch, "to": int(other), "limit": limit}
        if tab.history_cursor is not None:
            msg["before"] = tab.history_cursor
        return msg

    def expire_streams(self, now: float) -> None:
        """Drop streamed lines whose final never came (the speaker left, the connection
        dropped): their words were never confirmed, so they do not stay in the tab or bubble."""
        for stream, (at, key) in list(self._stream_at.items()):
            if now - at < STREAM_STALE_S:
                continue
            line = self._streams.pop(stream)
            del self._stream_at[stream]
            tab = self.tabs.get(key)
            if tab is not None and line in tab.lines:
                tab.lines.remove(line)
            for e, said in list(self.bubbles.items()):
                kept = [b for b in said if b.line is not line]
                if len(kept) != len(said):
                    if kept:
                        self.bubbles[e] = deque(kept, maxlen=BUBBLES_SHOWN)
                    else:
                        del self.bubbles[e]

    def expire_bubbles(self, now: float) -> None:
        self.expire_streams(now)
        for e, said in list(self.bubbles.items()):
            if any(b.until < now for b in said):
                kept = [b for b in said if b.until >= now]
                if kept:
                    self.bubbles[e] = deque(kept, maxlen=BUBBLES_SHOWN)
                else:
                    del self.bubbles[e]
