"""Chat: near speech (hearing range), direct messages (anywhere, stored for offline users),
group messages, emotes and history. Every chat line is committed before it is acknowledged.

One function per behaviour, and every speaker goes through it: people's handlers
(`handle_chat`, `handle_emote`) and agents (world/agents/agent.py) alike.

  say(realm, s, msg, speech)      mute check, blocks, store, then fan-out (near / dm / group)
  say_piece(realm, s, ..., speech)  a streamed piece of an agent's line, to a fixed audience
  emote(realm, s, e)              mute check, then fan-out to whoever sees the emoter

A streamed line (`Speech`) fixes its audience when its first piece goes out: pieces go to
that audience only (someone walking into range mid-line hears the final, not half a line),
and the final goes to that audience plus whoever hears it when it is stored (someone who
walked out of range mid-line still gets the final that replaces the pieces they saw).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from world.protocol import ProtocolError, encode
from world.protocol import messages as m
from world.space.realm import Refusal, chat_map, now_ms, reply
from world.space.session import Session

if TYPE_CHECKING:
    from world.space.realm import Realm

_TEXT = m.Chat.SCHEMA["text"]          # the protocol's own rule for a chat text


@dataclass
class Speech:
    """One streamed line: its speech id, whom it answers, and who has seen its pieces."""

    sid: int
    re: int | None = None
    seq: int = 0
    audience: list[Session] | None = None     # fixed when the first piece goes out
    text: str = ""                            # the pieces so far, joined

    @property
    def started(self) -> bool:
        return self.audience is not None


def _tag(out: dict[str, Any], speech: Speech | None) -> dict[str, Any]:
    if speech is not None:
        out["sid"] = speech.sid
        if speech.re is not None:
            out["re"] = speech.re
    return out


def hearers(realm: Realm, s: Session, ch: str, to: int | None) -> list[Session]:
    """Who would receive a `near` or `dm` line from ``s`` now (blocks applied)."""
    if ch == "near":
        if s.space is None:
            return []
        return [h for h in s.space.hearers(s.entity) if h is not s and s.user not in h.blocks]
    if ch == "dm" and to is not None:
        person = realm.online(to)
        return [person] if person is not None and s.user not in person.blocks else []
    return []


def _check_muted(s: Session, what: str = "chat") -> None:
    if s.is_muted(now_ms()):
        if what == "emote":
            raise Refusal("muted", "you are muted; emotes are dropped too")
        raise Refusal("muted", f"you are muted until {s.muted_until} (ms since epoch)")


async def say(realm: Realm, s: Session, msg: m.Chat, speech: Speech | None = None) -> Any:
    """Store one line, then send it to whoever should get it; returns the stored row.

    Refusals (`muted`, `self`, `blocked`, `not_found`) raise `Refusal`. A streamed line
    whose pieces already went out is not refused for a mute set meanwhile: the mute applies
    from the next line, and those who saw the pieces get the final that replaces them.
    """
    if speech is None or not speech.started:
        _check_muted(s)
    store = realm.store
    if msg.ch == "near":
        if s.space is None:
            raise Refusal("not_found", "you are not in a space")
        stored = await store.call("add_message", "near", s.user, msg.text, space=s.space.id)
        if s.space is not None:
            frame = encode(_tag(chat_map(stored, entity=s.entity), speech))
            for h in _final_audience(realm, s, speech):
                h.sink.send_frame(frame)
    elif msg.ch == "dm":
        if msg.to == s.user:
            raise Refusal("self", "you cannot send a direct message to yourself")
        recipient = realm.online(msg.to)
        blockers = recipient.blocks if recipient is not None else await store.call("blocked_by", msg.to)
        if s.user in blockers:
            raise Refusal("blocked", "this user does not accept your messages")
        # Stored undelivered; whoever is online after the commit gets it now and it is marked
        # delivered; otherwise it waits for the recipient's next login (at least once).
        stored = await store.call("add_message", "dm", s.user, msg.text, target=msg.to)
        recipient = realm.online(msg.to)
        if recipient is not None and s.user not in recipient.blocks:
            recipient.sink.send(_tag(chat_map(stored), speech))
            if realm.online(msg.to) is recipient:
                await store.call("mark_delivered", [stored.id])
    else:
        stored = await store.call("add_message", "group", s.user, msg.text, target=msg.to)
        frame = encode(_tag(chat_map(stored), speech))
        for uid, _ in await store.call("members", msg.to):
            member = realm.online(uid)
            if member is not None and member is not s and s.user not in member.blocks:
                member.sink.send_frame(frame)
    return stored


def _final_audience(realm: Realm, s: Session, speech: Speech | None) -> list[Session]:
    """Near: the hearers now, plus everyone who saw this line's pieces and is still online."""
    now = hearers(realm, s, "near", None)
    if speech is None or not speech.audience:
        return now
    seen = {id(h) for h in now}
    for h in speech.audience:
        if id(h) not in seen and realm.online(h.user) is h and s.user not in h.blocks:
            now.append(h)
            seen.add(id(h))
    return now


def say_piece(realm: Realm, s: Session, ch: str, to: int | None, speech: Speech, text: str) -> int:
    """Send the next streamed piece of a line (`partial`, no id, not stored); returns how many
    got it. The first piece fixes the audience (after the mute check); later pieces go to
    that audience only. The pieces joined must stay a valid chat text (protocol §2.4)."""
    try:
        _TEXT.check(speech.text + text, "text")
    except ProtocolError as exc:
        raise Refusal(exc.code, exc.msg) from None
    if not speech.started:
        _check_muted(s)
        speech.audience = hearers(realm, s, ch, to)
    out: dict[str, Any] = {"t": "chat", "ch": ch, "from": s.user, "name": s.name, "partial": True,
                           "seq": speech.seq, "text": text}
    if ch == "near":
        out["e"] = s.entity
    elif to is not None:
        out["to"] = to
    frame = encode(_tag(out, speech))
    sent = 0
    assert speech.audience is not None
    for h in speech.audience:
        if realm.online(h.user) is h and s.user not in h.blocks:
            h.sink.send_frame(frame)
            sent += 1
    speech.seq += 1
    speech.text += text
    return sent


def emote(realm: Realm, s: Session, e: str) -> None:
    """Everyone who can see the emoter (the emoter included) gets it; refused while muted."""
    _check_muted(s, "emote")
    if s.space is None:
        return
    frame = encode({"t": "emote", "e": s.entity, "emote": e})
    for w in s.space.hearers(s.entity, realm.cfg.interest_radius):
        if s.user not in w.blocks:
            w.sink.send_frame(frame)


# -- people's handlers --------------------------------------------------------------------------

async def handle_chat(realm: Realm, s: Session, msg: m.Chat) -> None:
    stored = await say(realm, s, msg)
    s.sink.send(reply("ack", msg.rid, id=stored.id, ts=stored.ts))


async def handle_history(realm: Realm, s: Session, msg: m.History) -> None:
    msgs, more = await realm.store.call("history", msg.ch, s.user, msg.to, msg.before, msg.limit or 50)
    lines = [chat_map(x) for x in msgs if x.sender not in s.blocks]
    cursor = msgs[-1].id if msgs else None
    s.sink.send(reply("history", msg.rid, ch=msg.ch, to=msg.to, msgs=lines, more=more, cursor=cursor))


def handle_emote(realm: Realm, s: Session, msg: m.Emote) -> None:
    """Emotes are visual: everyone who can see the emoter (the emoter included) gets one."""
    emote(realm, s, msg.e)
