"""AsyncStore: group commit, per-job rollback, and acknowledged writes surviving SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from world.store import AsyncStore, Message, Store, StoreError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path):
    return tmp_path / "agora.db"


def seeded(db: Path, *names: str) -> tuple[AsyncStore, list[int]]:
    astore = AsyncStore(Store(db))
    ids = [astore.store.create_user(n, "bot")[0] for n in names]    # synchronous startup use
    return astore, ids


async def hold_writer(astore: AsyncStore) -> tuple[threading.Event, asyncio.Task]:
    """Occupy the writer thread so that the jobs queued next land in one batch."""
    started, release = threading.Event(), threading.Event()
    task = asyncio.create_task(astore.run(lambda s: (started.set(), release.wait(10))))
    await asyncio.to_thread(started.wait, 10)
    return release, task


def count(db: Path, sql: str, *args) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchone()[0]
    finally:
        conn.close()


def test_many_concurrent_calls_commit_in_few_batches(db):
    astore, (a, b) = seeded(db, "ann", "bob")

    async def main():
        release, holder = await hold_writer(astore)
        calls = [asyncio.ensure_future(astore.call("add_message", "dm", a, f"m{i}", target=b))
                 for i in range(200)]
        await asyncio.sleep(0.05)                  # all 200 are queued behind the holder
        release.set()
        await holder
        msgs = await asyncio.gather(*calls)
        stats = astore.stats
        await astore.close()
        return msgs, stats

    msgs, stats = asyncio.run(main())
    assert all(isinstance(m, Message) for m in msgs)
    assert len({m.id for m in msgs}) == 200
    assert [m.text for m in msgs] == [f"m{i}" for i in range(200)]     # queue order kept
    assert stats.jobs == 201 and stats.batches == 2                      # one COMMIT for the 200
    assert count(db, "SELECT COUNT(*) FROM messages") == 200


def test_failing_job_rolls_back_only_itself(db):
    astore, (a, b) = seeded(db, "ann", "bob")
    g = astore.store.create_group(a, "hikers")

    def half_then_fail(s: Store):
        s.add_message("dm", a, "never committed", target=b)
        raise ValueError("boom")

    async def main():
        release, holder = await hold_writer(astore)
        jobs = [
            asyncio.ensure_future(astore.call("add_message", "dm", a, "before", target=b)),
            asyncio.ensure_future(astore.run(half_then_fail)),
            asyncio.ensure_future(astore.call("join", g.id, b)),             # not invited
            asyncio.ensure_future(astore.call("add_message", "dm", b, "after", target=a)),
        ]
        await asyncio.sleep(0.05)
        release.set()
        await holder
        results = await asyncio.gather(*jobs, return_exceptions=True)
        stats = astore.stats
        await astore.close()
        return results, stats

    (before, boom, not_invited, after), stats = asyncio.run(main())
    assert stats.batches == 2
    assert isinstance(boom, ValueError)
    assert isinstance(not_invited, StoreError) and not_invited.code == "not_invited"
    assert before.text == "before" and after.text == "after"
    s = Store(db)
    page, _ = s.history("dm", a, b)
    assert [m.text for m in page] == ["after", "before"]
    assert not s.is_member(g.id, b)
    s.close()


def test_result_is_delivered_after_commit(db):
    astore, (a, b) = seeded(db, "ann", "bob")

    async def main():
        m = await astore.call("add_message", "dm", a, "hi", target=b)
        # Another connection sees the row as soon as the await returns.
        seen = count(db, "SELECT COUNT(*) FROM messages WHERE id = ?", m.id)
        await astore.close()
        return seen

    assert asyncio.run(main()) == 1


def test_close_finishes_queued_jobs_and_refuses_new_ones(db):
    astore, (a,) = seeded(db, "ann")

    async def main():
        jobs = [asyncio.ensure_future(astore.call("audit", a, "note", None, str(i))) for i in range(50)]
        await asyncio.sleep(0)                      # let every call enqueue
        await astore.close()
        await astore.close()                        # idempotent
        with pytest.raises(StoreError) as e:
            await astore.call("get_user", a)
        assert e.value.code == "closed"
        return await asyncio.gather(*jobs)

    assert len(set(asyncio.run(main()))) == 50
    assert count(db, "SELECT COUNT(*) FROM audit") == 50
    with pytest.raises(RuntimeError):
        astore.store                                # the thread owned it


def test_unknown_or_private_method_is_rejected_at_once(db):
    astore, _ = seeded(db)

    async def main():
        for name in ("nope", "_tx", "close"):
            with pytest.raises(AttributeError):
                await astore.call(name)
        await astore.close()

    asyncio.run(main())


WRITER = textwrap.dedent("""
    import asyncio, sys
    from world.store import AsyncStore, Store

    async def main(path, uid):
        astore = AsyncStore(Store(path))

        async def writer(k):
            i = 0
            while True:
                m = await astore.call("add_message", "near", uid, f"w{k}-{i}", space="plaza#1")
                sys.stdout.write(f"{m.id}\\n")
                sys.stdout.flush()
                i += 1

        await asyncio.gather(*(writer(k) for k in range(16)))

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
""")


def test_every_acknowledged_message_survives_sigkill(db, tmp_path):
    s = Store(db)
    uid, _ = s.create_user("ann", "bot")
    s.close()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(uid)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    acked: list[int] = []
    try:
        while len(acked) < 400:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"writer exited early: {proc.wait()} {proc.stderr.read().decode()}")
            acked.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()                   # ids printed before the kill landed
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    acked += [int(x) for x in rest.split(b"\n")[:-1]]   # the last piece may be a torn line
    s = Store(db)
    stored = {r[0] for r in s._c.execute("SELECT id FROM messages")}
    s.close()
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged messages lost"
    assert len(set(acked)) == len(acked)


def test_a_full_database_answers_unavailable_logs_once_and_recovers(db, caplog):
    """SQLITE_FULL (here from max_page_count, the same error a full disk gives) is a coded,
    retryable `unavailable`, logged once per outage; writes work again once there is room."""
    astore, (a, b) = seeded(db, "ann", "bob")
    pages = astore.store._c.execute("PRAGMA page_count").fetchone()[0]
    astore.store._c.execute(f"PRAGMA max_page_count = {pages}")

    async def main():
        failures = []
        for i in range(6):      # the first may still fit in a page's free space
            try:
                await astore.call("add_message", "dm", a, f"{i}" + "x" * 4000, target=b)
            except StoreError as exc:
                failures.append(exc)
        assert len(failures) >= 5 and {e.code for e in failures} == {"unavailable"}
        assert "full" in failures[0].msg
        assert astore.failing is not None
        await astore.run(lambda s: s._c.execute("PRAGMA max_page_count = 1000000"))
        msg = await astore.call("add_message", "dm", a, "room again", target=b)
        assert astore.failing is None
        await astore.close()
        return msg

    with caplog.at_level("INFO"):
        msg = asyncio.run(main())
    assert count(db, "SELECT count(*) FROM messages WHERE id = ?", msg.id) == 1
    said = [r.getMessage() for r in caplog.records]
    assert sum("store_unavailable" in line for line in said) == 1
    assert sum("store_recovered" in line for line in said) == 1
