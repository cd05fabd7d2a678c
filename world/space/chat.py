"""Chat: near speech (hearing range), direct messages (anywhere, stored for offline users),
group messages, emotes and history. Every chat line is committed before it is acknowledged."""

from __future__ import annotations

from typing import TYPE_CHECKING

from world.protocol import encode
from world.protocol import messages as m
from world.space.realm import Refusal, chat_map, now_ms, reply
from world.space.session import Session

if TYPE_CHECKING:
    from world.space.realm import Realm


async def handle_chat(realm: Realm, s: Session, msg: m.Chat) -> None:
    if s.is_muted(now_ms()):
        raise Refusal("muted", f"you are muted until {s.muted_until} (ms since epoch)")
    store = realm.store
    if msg.ch == "near":
        if s.space is None:
            raise Refusal("not_found", "you are not in a space")
        stored = await store.call("add_message", "near", s.user, msg.text, space=s.space.id)
        if s.space is not None:
            frame = encode(chat_map(stored, entity=s.entity))
            for h in s.space.hearers(s.entity):
                if h is not s and s.user not in h.blocks:
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
        if recipient is not None:
            recipient.sink.send(chat_map(stored))
            if realm.online(msg.to) is recipient:
                await store.call("mark_delivered", [stored.id])
    else:
        stored = await store.call("add_message", "group", s.user, msg.text, target=msg.to)
        frame = encode(chat_map(stored))
        for uid, _ in await store.call("members", msg.to):
            member = realm.online(uid)
            if member is not None and member is not s and s.user not in member.blocks:
                member.sink.send_frame(frame)
    s.sink.send(reply("ack", msg.rid, id=stored.id, ts=stored.ts))


async def handle_history(realm: Realm, s: Session, msg: m.History) -> None:
    msgs, more = await realm.store.call("history", msg.ch, s.user, msg.to, msg.before, msg.limit or 50)
    lines = [chat_map(x) for x in msgs if x.sender not in s.blocks]
    cursor = msgs[-1].id if msgs else None
    s.sink.send(reply("history", msg.rid, ch=msg.ch, to=msg.to, msgs=lines, more=more, cursor=cursor))


def handle_emote(realm: Realm, s: Session, msg: m.Emote) -> None:
    """Emotes are visual: everyone who can see the emoter (the emoter included) gets one."""
    if s.is_muted(now_ms()):
        raise Refusal("muted", "you are muted; emotes are dropped too")
    if s.space is None:
        return
    frame = encode({"t": "emote", "e": s.entity, "emote": msg.e})
    for w in s.space.hearers(s.entity, realm.cfg.interest_radius):
        if s.user not in w.blocks:
            w.sink.send_frame(frame)
