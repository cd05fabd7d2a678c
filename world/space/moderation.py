"""Moderation: roles, mute, kick, timed ban, per-user block, and the audit log.

Rules: moderators and admins moderate; only admins change roles; nobody acts on
someone of equal or higher rank. Each action and its audit entry commit together.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from world.protocol import CLOSE
from world.protocol import messages as m
from world.space.realm import Refusal, now_ms, reply
from world.space.session import ROLE_RANK, Session

if TYPE_CHECKING:
    from world.space.realm import Realm

FOREVER_MS = 2**62


async def handle_mod(realm: Realm, s: Session, msg: m.Mod) -> None:
    if s.rank < ROLE_RANK["moderator"] or (msg.op == "role" and s.rank < ROLE_RANK["admin"]):
        raise Refusal("forbidden", f"{s.role} may not {msg.op}")
    if msg.user == s.user:
        raise Refusal("self", "moderation cannot target yourself")
    target = await realm.store.call("get_user", msg.user)
    if target is None:
        raise Refusal("not_found", f"no user {msg.user}")
    if ROLE_RANK.get(target.role, 0) >= s.rank:
        raise Refusal("forbidden", f"{s.role} may not act on a {target.role}")
    until = now_ms() + msg.minutes * 60_000 if msg.minutes else FOREVER_MS
    reason = msg.reason or ""
    detail = json.dumps({k: v for k, v in (("reason", reason), ("minutes", msg.minutes), ("role", msg.role))
                         if v})
    op = msg.op
    if op == "kick" and realm.online(target.id) is None:
        raise Refusal("not_found", "that user is not online")

    def apply(st) -> None:  # runs on the store thread: the action and its audit entry in one transaction
        if op == "mute":
            st.set_mute(target.id, until)
        elif op == "unmute":
            st.set_mute(target.id, None)
        elif op == "ban":
            st.set_ban(target.id, until, reason)
        elif op == "unban":
            st.set_ban(target.id, None, "")
        elif op == "role":
            st.set_role(target.id, msg.role)
        st.audit(s.user, op, target.id, detail)

    await realm.store.run(apply)
    realm.mod_epoch[target.id] = realm.mod_epoch.get(target.id, 0) + 1
    live = realm.online(target.id)       # looked up after the commit: a join may have finished meanwhile
    if live is not None:
        if op == "mute":
            live.muted_until = until
            live.sink.send({"t": "notice", "code": "muted", "msg": reason or "you are muted",
                            "until": until if msg.minutes else None})
        elif op == "unmute":
            live.muted_until = None
            live.sink.send({"t": "notice", "code": "unmuted", "msg": "you may speak again"})
        elif op == "role":
            live.role = msg.role
            live.sink.send({"t": "notice", "code": "role", "msg": f"your role is now {msg.role}", "role": msg.role})
        elif op in ("kick", "ban"):
            code = "kicked" if op == "kick" else "banned"
            live.sink.send({"t": "notice", "code": code, "msg": reason or code,
                            "until": until if op == "ban" else None})
            live.sink.close(CLOSE[code], reason or code)
            await realm.leave(live)
    s.sink.send(reply("ok", msg.rid, op=op, user=target.id))


async def handle_block(realm: Realm, s: Session, msg: m.Block) -> None:
    if msg.user == s.user:
        raise Refusal("self", "you cannot block yourself")
    if await realm.store.call("get_user", msg.user) is None:
        raise Refusal("not_found", f"no user {msg.user}")
    await realm.store.call("set_block", s.user, msg.user, msg.on)
    if msg.on:
        s.blocks.add(msg.user)
    else:
        s.blocks.discard(msg.user)
    s.sink.send(reply("ok", msg.rid, op="block" if msg.on else "unblock", user=msg.user))
