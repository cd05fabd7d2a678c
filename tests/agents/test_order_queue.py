"""The staff queue on real SQLite files and a real server: orders placed with Bruno wait for
staff (`agora orders`, a second process on the same database), and Bruno tells the customer
once, by near speech within hearing range, else by direct message, also across a restart."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from client.bot import Bot
from tests.agents.test_agents_live import agent, face, final_from, walk
from tests.conftest import aio, running_server
from world.agents.order_queue import age, mark_ready
from world.store import Store, schema

ROOT = Path(__file__).resolve().parents[2]
LATTE = {"item": "latte", "options": ["oat milk"], "qty": 2, "price_cents": 760}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "agora.db")
    yield s
    s.close()


# -- the store -------------------------------------------------------------------------------------

def test_orders_from_before_the_queue_owe_no_announcement(tmp_path, monkeypatch):
    shipped = list(schema.MIGRATIONS)
    monkeypatch.setattr(schema, "MIGRATIONS", shipped[:2])        # the code as it was at version 2
    s = Store(tmp_path / "agora.db")
    uid, _ = s.create_user("Ada", "desktop")
    done = s.place_order("barista", uid, [LATTE], 760)
    s.set_order_status(done.id, "ready")
    s.close()
    monkeypatch.setattr(schema, "MIGRATIONS", shipped)
    s = Store(tmp_path / "agora.db")
    assert s.schema_version == schema.latest_version() >= 3
    assert s.orders_to_announce(["barista"]) == []                 # the old timer already said it
    s.close()


def test_only_orders_whose_status_moved_past_what_was_told_are_due(store):
    uid, _ = store.create_user("Ada", "desktop")
    a = store.place_order("barista", uid, [LATTE], 760)
    b = store.place_order("barista", uid, [LATTE], 760)
    other = store.place_order("florist", uid, [LATTE], 760)
    assert store.orders_to_announce(["barista"]) == []             # placing was said in the reply
    store.set_order_status(b.id, "ready")
    store.set_order_status(other.id, "ready")
    assert [o.id for o in store.orders_to_announce(["barista"])] == [b.id]
    store.mark_announced(b.id, "ready")
    assert store.orders_to_announce(["barista"]) == []
    store.set_order_status(a.id, "preparing")
    assert [(o.id, o.status) for o in store.orders_to_announce(["barista", "florist"])] == \
        [(a.id, "preparing"), (other.id, "ready")]


def test_the_poll_reads_a_partial_index_not_the_orders_table(store):
    plan = store._c.execute("EXPLAIN QUERY PLAN SELECT id FROM orders WHERE status != announced AND agent IN (?)"
                            " ORDER BY id LIMIT 20", ("barista",)).fetchall()
    assert any("orders_untold" in row[-1] for row in plan), plan


def test_the_queue_lists_open_orders_oldest_first_with_the_customer(store):
    ada, _ = store.create_user("Ada", "desktop")
    bob, _ = store.create_user("Bob", "desktop")
    a = store.place_order("barista", ada, [LATTE], 760)
    b = store.place_order("barista", bob, [LATTE], 760)
    c = store.place_order("barista", ada, [LATTE], 760)
    store.set_order_status(b.id, "ready")
    store.set_order_status(b.id, "collected")
    assert [(q.order.id, q.customer) for q in store.order_queue()] == [(a.id, "Ada"), (c.id, "Ada")]
    assert [q.order.id for q in store.order_queue(include_done=True)] == [a.id, b.id, c.id]


def test_ages_read_like_a_clock():
    assert (age(4_200), age(185_000), age(7_800_000)) == ("4s", "3m 05s", "2h 10m")


# -- the staff's command line, a second process ----------------------------------------------------

async def agora(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "world.cli", *args, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def order_near(bot: Bot, bruno: int, *lines: str) -> str:
    said = ""
    for line in lines:
        await bot.say(line)
        said = (await bot.wait_for(final_from(bruno), timeout=10))["text"]
    return said


@aio
async def test_staff_mark_an_order_ready_and_bruno_tells_the_customer_near_once(tmp_path):
    async with running_server(tmp_path, agents="barista") as srv:
        barista = await agent(srv, "barista")
        async with await Bot.connect(srv.url, "Ada") as ada:
            bx, by, _, _ = barista.space.position(barista.entity)
            await walk(ada, bx, by - 2.5)
            await face(ada, bx, by)
            said = await order_near(ada, barista.user, "a latte with oat milk and a croissant", "that's all", "yes")
            (o,) = await srv.store.call("orders_of", "barista", ada.user)
            assert f"#{o.id}" in said and "tell you when it's ready" in said
            await asyncio.sleep(1.5)
            assert (await srv.store.call("get_order", o.id, ada.user)).status == "placed"   # nobody made it yet

            code, out, _ = await agora("orders", "list", "--data", str(tmp_path))
            assert code == 0 and f"#{o.id}" in out and "Ada" in out and "a latte with oat milk and a croissant" in out
            assert "6.60" in out and "placed" in out
            ada.mark()
            code, out, _ = await agora("orders", "ready", str(o.id), "--data", str(tmp_path))
            assert code == 0 and f"order #{o.id} is ready" in out
            told = await ada.wait_for(final_from(barista.user), timeout=5)
            assert told["text"] == f"Ada, order #{o.id} is ready!" and told["ch"] == "near"
            assert told.get("re") == ada.user
            await asyncio.sleep(2.5)
            assert not [m for _, m in ada._log if m.get("t") == "chat" and "is ready" in m.get("text", "")
                        and m is not told and not m.get("partial")]                       # said once

            code, _, err = await agora("orders", "ready", str(o.id), "--data", str(tmp_path))
            assert code == 1 and "cannot become ready" in err
            code, _, err = await agora("orders", "ready", "9999", "--data", str(tmp_path))
            assert code == 1 and "no order #9999" in err
            code, out, _ = await agora("orders", "collected", str(o.id), "--data", str(tmp_path))
            assert code == 0
            code, out, _ = await agora("orders", "list", "--data", str(tmp_path))
            assert out.strip() == "no open orders"
    code, _, err = await agora("orders", "list", "--data", str(tmp_path / "elsewhere"))
    assert code == 2 and "no store" in err


@aio
async def test_a_customer_out_of_hearing_range_or_offline_is_told_by_message_once_across_restarts(tmp_path):
    async with running_server(tmp_path, agents="barista") as srv:
        barista = await agent(srv, "barista")
        bob = await Bot.connect(srv.url, "Bob")             # at the plaza, far from the cafe
        for line in ("two flat whites", "done", "yes"):
            await bob.dm(barista.user, line)
            await bob.wait_for(final_from(barista.user), timeout=10)
        (o,) = await srv.store.call("orders_of", "barista", bob.user)
        bob.mark()
        await mark_ready(srv.store, o.id)
        told = await bob.wait_for(final_from(barista.user), timeout=5)
        assert told["text"] == f"Bob, order #{o.id} is ready!" and told["ch"] == "dm"
        for line in ("an espresso", "done", "yes"):
            await bob.dm(barista.user, line)
            await bob.wait_for(final_from(barista.user), timeout=10)
        (second, _) = await srv.store.call("orders_of", "barista", bob.user)
        token = bob.token
        await bob.close()
    # the server is down: staff finish the second order, as a second process would
    s = Store(tmp_path / "agora.sqlite3")
    s.set_order_status(second.id, "ready")
    s.close()
    async with running_server(tmp_path, agents="barista") as srv:
        barista = await agent(srv, "barista")
        await asyncio.sleep(2.5)                            # the poll found it; Bob is offline: a DM waits
        bob = await Bot.connect(srv.url, "Bob", token=token)
        told = await bob.wait_for(final_from(barista.user), timeout=5)
        assert told["text"] == f"Bob, order #{second.id} is ready!"
        await asyncio.sleep(1.5)
        ready_lines = [m for _, m in bob._log if m.get("t") == "chat" and "is ready" in m.get("text", "")]
        assert len(ready_lines) == 1                        # not the first order again, and not twice
        await bob.close()
    async with running_server(tmp_path, agents="barista") as srv:
        await agent(srv, "barista")
        async with await Bot.connect(srv.url, "Bob", token=token) as bob:
            await asyncio.sleep(2.5)
            assert not [m for _, m in bob._log if m.get("t") == "chat" and "is ready" in m.get("text", "")]


@aio
async def test_demo_mode_makes_orders_ready_by_themselves(tmp_path):
    async with running_server(tmp_path, agents="barista", orders_demo_ready_s=1.0) as srv:
        barista = await agent(srv, "barista")
        async with await Bot.connect(srv.url, "Cy") as cy:
            said = ""
            for line in ("a tea", "done", "yes"):
                await cy.dm(barista.user, line)
                said = (await cy.wait_for(final_from(barista.user), timeout=10))["text"]
            assert "ready in about 1 minute" in said
            told = await cy.wait_for(final_from(barista.user), timeout=5)
            (o,) = await srv.store.call("orders_of", "barista", cy.user)
            assert told["text"] == f"Cy, order #{o.id} is ready!" and o.status == "ready"

