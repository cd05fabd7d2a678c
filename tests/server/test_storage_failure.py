"""When storage fails (a full disk), chat is refused with a coded `unavailable`, nobody gets a
false ack, movement goes on, newcomers are told to come back later, and it all recovers."""

from __future__ import annotations

import pytest

from client.bot import Bot, BotError
from tests.conftest import aio, running_server, until
from world.protocol import CLOSE
from world.store import StoreError


async def fill_store(srv, sender: int, target: int) -> None:
    """Make the database full: the same SQLITE_FULL a full disk gives, without a disk."""
    def cap(store):
        pages = store._c.execute("PRAGMA page_count").fetchone()[0]
        store._c.execute(f"PRAGMA max_page_count = {pages}")
    await srv.store.run(cap)
    # Use up the free space left in the pages of messages and of users.
    for method, args in (("add_message", ("dm", sender, "filler " + "x" * 400)), ("create_user", ("Filler", "bot"))):
        for _ in range(2000):
            try:
                await srv.store.call(method, *args, **({"target": target} if method == "add_message" else {}))
            except StoreError as exc:
                assert exc.code == "unavailable"
                break
        else:
            raise AssertionError(f"the store never filled up ({method})")


@aio
async def test_a_full_store_refuses_chat_with_unavailable_and_movement_goes_on(tmp_path):
    async with running_server(tmp_path) as srv:
        ada = await Bot.connect(srv.url, "Ada")
        bob = await Bot.connect(srv.url, "Bob")
        await ada.say("before the disk filled")
        await fill_store(srv, bob.user, ada.user)
        refused = []
        for i in range(4):
            try:
                await ada.dm(bob.user, f"{i} " + "x" * 450)
            except BotError as exc:
                refused.append(exc)
        assert len(refused) == 4 and {e.code for e in refused} == {"unavailable"}
        assert "try again later" in refused[-1].msg
        assert not ada.closed
        start = ada.position()
        await ada.move(1.0, 0.0, yaw=0.0)
        await until(lambda: ada.position() != start)
        with pytest.raises(BotError) as newcomer:
            await Bot.connect(srv.url, "Newcomer")
        assert newcomer.value.code == "unavailable"
        assert newcomer.value.close_code == CLOSE["try_later"]
        token = bob.token
        await bob.close()
        bob = await Bot.connect(srv.url, "Bob", token=token)      # a returning user needs no write
        await srv.store.run(lambda s: s._c.execute("PRAGMA max_page_count = 1000000"))
        ack = await ada.dm(bob.user, "room again")
        assert ack["t"] == "ack"
        for b in (ada, bob):
            await b.close()
