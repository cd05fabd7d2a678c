"""The staff queue: placed orders wait for people to make them, and the barista tells the customer.

A placed order has status `placed`. Staff move it along with `agora orders preparing|ready|
collected|cancel ID` (a second process on the server's SQLite file, in WAL mode) or through
`mark_ready` and friends in this module, the one path every caller takes (the CLI, the
dialogue runner, the demo timer). The running server polls the store about once a second for
orders whose status moved past what the customer was last told (`orders.announced`, behind a
partial index that holds only those rows), says it (near speech if the customer is within
hearing range of a barista, else a direct message, which waits for them if they are offline)
and records it as told, so each change is said once, also across a restart.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from world.logs import event

if TYPE_CHECKING:
    from world.agents.agent import Agent
    from world.agents.host import AgentHost
    from world.store import AsyncStore
    from world.store.schema import Order

log = logging.getLogger("agora.agents.orders")

POLL_S = 1.0            # how often the server looks for orders staff changed
BATCH = 20              # orders told per poll, at most
# What the customer is told when staff move an order to this status (others are not said).
TELL = {"ready": "{name}, order #{id} is ready!",
        "cancelled": "{name}, sorry: order #{id} was cancelled."}


async def set_status(store: AsyncStore, order_id: int, status: str) -> Order:
    """Move an order along (StoreError not_found, bad_transition); the server tells the customer."""
    return await store.call("set_order_status", order_id, status)


async def mark_preparing(store: AsyncStore, order_id: int) -> Order:
    return await set_status(store, order_id, "preparing")


async def mark_ready(store: AsyncStore, order_id: int) -> Order:
    """Staff finished the order: the barista tells the customer within about POLL_S seconds."""
    return await set_status(store, order_id, "ready")


async def mark_collected(store: AsyncStore, order_id: int) -> Order:
    return await set_status(store, order_id, "collected")


async def cancel(store: AsyncStore, order_id: int) -> Order:
    return await set_status(store, order_id, "cancelled")


# -- the server side -------------------------------------------------------------------------------

def baristas(host: AgentHost) -> dict[str, list[Agent]]:
    """Live agents that take orders, by the key their orders are stored under."""
    out: dict[str, list[Agent]] = {}
    for a in host.agents.values():
        if a.persona.kind == "business" and a.alive and a.session is not None:
            out.setdefault(a.memory_key, []).append(a)
    return out


async def announce_due(host: AgentHost) -> int:
    """Tell customers about orders staff changed since they were last told; returns how many
    lines were said. Orders of a barista that is not running wait until one is."""
    staff = baristas(host)
    if not staff:
        return 0
    said = 0
    for o in await host.store.call("orders_to_announce", sorted(staff), BATCH):
        template = TELL.get(o.status)
        if template is not None:
            name = await _name(host, o.user_id)
            await tell(host, staff[o.agent], o.user_id, name, template.format(name=name, id=o.id))
            said += 1
        await host.store.call("mark_announced", o.id, o.status)
        event("order_announced", logger=log, order=o.id, status=o.status, said=template is not None)
    return said


async def tell(host: AgentHost, agents: list[Agent], customer: int, name: str, text: str) -> None:
    """Near speech from a barista the customer can hear, else a direct message from one."""
    from world.agents.agent import Heard
    person = host.realm.online(customer)
    speaker = agents[0]
    if person is not None and person.space is not None:
        for a in agents:
            if a.space is person.space and person in a.space.hearers(a.entity):
                await a.say_plain(text, re_=customer)
                return
        speaker = next((a for a in agents if a.space is person.space), speaker)
    await speaker.say_plain(text, Heard(customer, None, name, "", "dm", "avatar"))


async def _name(host: AgentHost, user: int) -> str:
    person = host.realm.online(user)
    if person is not None:
        return person.name
    row = await host.store.call("get_user", user)
    return row.name if row is not None else "Hello"


async def watch(host: AgentHost, every_s: float = POLL_S) -> None:
    """The server's poll: runs until cancelled; a failure is logged and tried again."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await announce_due(host)
        except asyncio.CancelledError:
            raise
        except Exception as exc:      # the store may be failing for a while: keep polling
            event("orders_announce_failed", logger=log, error=repr(exc), level=logging.WARNING)


async def demo_progress(store: AsyncStore, order_id: int, ready_after_s: float) -> None:
    """Demo mode (`orders_demo_ready_s` > 0): nobody is behind the counter, so the order is
    prepared and then ready by itself, through the same path staff use."""
    first = min(2.0, ready_after_s / 4)
    for wait, status in ((first, "preparing"), (max(0.0, ready_after_s - first), "ready")):
        await asyncio.sleep(wait)
        try:
            await set_status(store, order_id, status)
        except Exception as exc:      # staff got there first (bad_transition), or the store failed
            event("order_demo_skipped", logger=log, order=order_id, status=status, error=str(exc))
