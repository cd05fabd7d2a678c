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
        except Exception as exc:      # noqa: BLE001 - the store may be failing for a while: keep polling
            event("orders_announce_failed", logger=log, error=repr(exc), level=logging.WARNING)


async def demo_progress(store: AsyncStore, order_id: int, ready_after_s: float) -> None:
    """Demo mode (`orders_demo_ready_s` > 0): nobody is behind the counter, so the order is
    prepared and then ready by itself, through the same path staff use."""
    first = min(2.0, ready_after_s / 4)
    for wait, status in ((first, "preparing"), (max(0.0, ready_after_s - first), "ready")):
        await asyncio.sleep(wait)
        try:
            await set_status(store, order_id, status)
        except Exception as exc:      # noqa: BLE001 - staff got there first (bad_transition), or the store failed
            event("order_demo_skipped", logger=log, order=order_id, status=status, error=str(exc))


# -- the staff's command line (`agora orders`) -----------------------------------------------------

ACTIONS = {"preparing": mark_preparing, "ready": mark_ready, "collected": mark_collected, "cancel": cancel}


def age(ms: int) -> str:
    """'45s', '3m 05s', '2h 10m'."""
    s = max(0, ms // 1000)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def queue_table(rows: list, now_ms: int) -> list[str]:
    """The queue as aligned text lines: id, customer, items, total, status, age."""
    from world.agents.orders import stored_summary
    from world.agents.persona import load_personas, money
    catalogs = {k: p.catalog for k, p in load_personas().items() if p.catalog is not None}
    table = [("ID", "CUSTOMER", "ITEMS", "TOTAL", "STATUS", "AGE")]
    for q in rows:
        o = q.order
        cat = catalogs.get(o.agent)
        items = stored_summary(cat, o.items) if cat else ", ".join(f"{i['qty']} {i['item']}" for i in o.items)
        table.append((f"#{o.id}", q.customer, items, money(o.total_cents), o.status, age(now_ms - o.created_ms)))
    widths = [max(len(r[k]) for r in table) for k in range(len(table[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]


async def staff_command(db_path: str, action: str, order_id: int | None, include_done: bool,
                        synchronous: str = "FULL") -> tuple[int, list[str]]:
    """Run one `agora orders` action on the server's store; (exit code, lines to print)."""
    import time

    from world.store import AsyncStore, StoreError
    store = AsyncStore.open(db_path, synchronous=synchronous)
    try:
        if action == "list":
            rows = await store.call("order_queue", include_done)
            if not rows:
                return 0, ["no orders" if include_done else "no open orders"]
            return 0, queue_table(rows, int(time.time() * 1000))
        assert order_id is not None
        try:
            o = await ACTIONS[action](store, order_id)
        except StoreError as exc:
            why = {"not_found": f"no order #{order_id}", "bad_transition": exc.msg}.get(exc.code, str(exc))
            return 1, [why]
        told = " (the barista tells the customer)" if o.status in TELL else ""
        return 0, [f"order #{o.id} is {o.status}{told}"]
    finally:
        await store.close()
