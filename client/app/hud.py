"""2-D overlay: connection state, chat panel with tabs, chat entry, people list, help line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from direct.gui.DirectGui import DirectEntry
from direct.gui.OnscreenText import OnscreenText
from panda3d.core import TextNode

from client.app.model import ClientModel, Status

CHAT_ROWS = 9
HELP = ("WASD move  Shift run  RMB/arrows look  V camera  Enter chat  Tab chat tab  "
        "P people  C companion  1-8 emotes  Esc quit")


class Hud:
    """Reads the model every frame; rewrites text only when it changed."""

    def __init__(self, base: Any, model: ClientModel, on_submit: Callable[[str], None]) -> None:
        self.base = base
        self.model = model
        self.on_submit = on_submit
        a2d = base.aspect2d
        self.status = OnscreenText(text="", parent=getattr(base, "a2dTopCenter", a2d), pos=(0, -0.1),
                                   scale=0.06, fg=(1, 1, 1, 1), bg=(0.6, 0.1, 0.1, 0.75), mayChange=True)
        self.tabs = OnscreenText(text="", parent=getattr(base, "a2dBottomLeft", a2d), pos=(0.05, 0.72),
                                 scale=0.045, fg=(1, 1, 0.8, 1), align=TextNode.ALeft, mayChange=True,
                                 shadow=(0, 0, 0, 1))
        self.chat = OnscreenText(text="", parent=getattr(base, "a2dBottomLeft", a2d), pos=(0.05, 0.66),
                                 scale=0.042, fg=(1, 1, 1, 1), align=TextNode.ALeft, mayChange=True,
                                 shadow=(0, 0, 0, 1), bg=(0, 0, 0, 0.35), wordwrap=36)
        self.people = OnscreenText(text="", parent=getattr(base, "a2dTopRight", a2d), pos=(-0.05, -0.1),
                                   scale=0.042, fg=(1, 1, 1, 1), align=TextNode.ARight, mayChange=True,
                                   shadow=(0, 0, 0, 1), bg=(0, 0, 0, 0.35))
        self.help = OnscreenText(text=HELP, parent=getattr(base, "a2dBottomCenter", a2d), pos=(0, 0.03),
                                 scale=0.035, fg=(1, 1, 1, 0.8), shadow=(0, 0, 0, 1))
        self.entry: DirectEntry | None = None
        self.show_people = True
        self.closed_at_frame = -1       # the Enter that sends a line must not reopen the entry
        self._cache: dict[str, str] = {}

    @property
    def typing(self) -> bool:
        return self.entry is not None

    def open_entry(self) -> None:
        if self.entry is not None:
            return
        self.entry = DirectEntry(parent=getattr(self.base, "a2dBottomLeft", self.base.aspect2d),
                                 pos=(0.05, 0, 0.12), scale=0.045, width=30, numLines=1, focus=1,
                                 command=self._submit, initialText="", frameColor=(0, 0, 0, 0.6),
                                 text_fg=(1, 1, 1, 1), focusOutCommand=self.close_entry)

    def _submit(self, text: str) -> None:
        self.close_entry()
        if text.strip():
            self.on_submit(text)

    def close_entry(self) -> None:
        if self.entry is not None:
            entry, self.entry = self.entry, None
            self.closed_at_frame = self.base.clock.getFrameCount()
            entry.destroy()

    def _set(self, widget: OnscreenText, key: str, text: str) -> None:
        if self._cache.get(key) != text:
            self._cache[key] = text
            widget.setText(text)

    def update(self) -> None:
        m = self.model
        status = ""
        if m.status == Status.RECONNECTING:
            status = f"reconnecting...  {m.status_detail}"
        elif m.status == Status.CONNECTING:
            status = "connecting..."
        elif m.status == Status.CLOSED:
            status = f"disconnected: {m.status_detail}"
        self._set(self.status, "status", status)
        if status:
            self.status.show()
        else:
            self.status.hide()
        chat = m.chat
        tabs = []
        for key, tab in chat.tabs.items():
            label = tab.title + (f" ({tab.unread})" if tab.unread else "")
            tabs.append(f"[{label}]" if key == chat.active else f" {label} ")
        self._set(self.tabs, "tabs", "  ".join(tabs))
        rows = []
        for line in chat.lines()[-CHAT_ROWS:]:
            if line.system:
                rows.append(f"* {line.text}")
            else:
                rows.append(f"{line.name}: {line.text}" + (" ..." if line.partial else ""))
        self._set(self.chat, "chat", "\n".join(rows))
        if self.show_people:
            people = m.people_list()
            text = f"Online ({len(people)})\n" + "\n".join(
                f"{u.get('name')}  {u.get('kind', '')}  {u.get('place') or ''}" for u in people[:20])
            self._set(self.people, "people", text)
            self.people.show()
        else:
            self.people.hide()

    def destroy(self) -> None:
        self.close_entry()
        for w in (self.status, self.tabs, self.chat, self.people, self.help):
            w.destroy()
