"""Group chats: create, invite, join by invitation, leave, list, members."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from world.protocol import messages as m
from world.space.realm import Refusal, reply
from world.space.session import Session

if TYPE_CHECKING:
    from world.space.realm import Realm


def group_map(g: Any) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "owner": g.owner}


async def _tell_members(realm: Realm, group_id: int, msg: dict[str, Any], skip: int) -> None:
    for uid, _ in await realm.store.call("members", group_id):
        member = realm.online(uid)
        if member is not None and uid != skip:
            member.sink.send(msg)


async def handle_group(realm: Realm, s: Session, msg: m.Group) -> None:
    store = realm.store
    op = msg.op
    if op == "create":
        g = await store.call("create_group", s.user, msg.name)
        s.sink.send(reply("ok", msg.rid, op=op, group=group_map(g)))
        return
    if op == "list":
        groups = await store.call("groups_of", s.user)
        s.sink.send(reply("ok", msg.rid, op=op, groups=[group_map(g) for g in groups]))
        return
    g = await store.call("get_group", msg.group)
    if g is None:
        raise Refusal("not_found", f"no group {msg.group}")
    if op == "invite":
        if not await store.call("is_member", g.id, s.user):
            raise Refusal("not_member", "only members can invite")
        if msg.user == s.user:
            raise Refusal("self", "you are already a member")
        already = await store.call("is_member", g.id, msg.user)
        await store.call("invite", g.id, s.user, msg.user)
        invitee = realm.online(msg.user)
        if invitee is not None and not already:
            invitee.sink.send({"t": "invite", "group": group_map(g), "by": s.user, "by_name": s.name})
    elif op == "join":
        if await store.call("is_member", g.id, s.user):
            s.sink.send(reply("ok", msg.rid, op=op, group=group_map(g)))
            return
        await store.call("join", g.id, s.user)
        await _tell_members(realm, g.id, {"t": "member", "group": g.id, "user": s.user, "name": s.name,
                                          "joined": True}, skip=s.user)
    elif op == "leave":
        await store.call("leave", g.id, s.user)
        await _tell_members(realm, g.id, {"t": "member", "group": g.id, "user": s.user, "name": s.name,
                                          "joined": False}, skip=s.user)
        g = await store.call("get_group", g.id) or g       # ownership may have passed on
    elif op == "members":
        if not await store.call("is_member", g.id, s.user):
            raise Refusal("not_member", "only members can list members")
        members = await store.call("members", g.id)
        online = [{"user": uid, "name": name, "online": realm.online(uid) is not None} for uid, name in members]
        s.sink.send(reply("ok", msg.rid, op=op, group=group_map(g), members=online))
        return
    s.sink.send(reply("ok", msg.rid, op=op, group=group_map(g)))
