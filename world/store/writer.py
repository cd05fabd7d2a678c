"""AsyncStore: the asyncio face of Store, with group commit on one background thread.

The thread owns the Store. It blocks for the first queued job, drains whatever
else is queued (up to `batch_max`), runs the batch inside ONE transaction with
each job in its own SAVEPOINT (a failing job rolls back only itself), COMMITs
once, and only then resolves the jobs' futures on their event loops. So an
awaited result means the write is committed: the server may acknowledge it.

Startup code may use `astore.store` synchronously before the thread starts
(the first `call`/`run`, or `start()`); after that only the thread touches it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from world.logs import event
from world.store.sqlite import Store, StoreError

log = logging.getLogger("agora.store.writer")

BATCH_MAX = 256
T = TypeVar("T")

# SQLite's primary result codes that mean "the storage cannot take writes now" (a full disk,
# an I/O error, a read-only or vanished file, a lock held elsewhere): the request was not
# stored and may succeed later. They reach the server as StoreError("unavailable").
_STORAGE_CODES = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY,
                  sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_BUSY,
                  sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_PROTOCOL}


def storage_failure(exc: BaseException) -> StoreError | None:
    """A coded `unavailable` StoreError for a storage-level SQLite failure, else None."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _STORAGE_CODES:
        reason = "storage is full" if code & 0xFF == sqlite3.SQLITE_FULL else f"storage failed ({exc})"
        return StoreError("unavailable", reason)
    return None


class _Job(NamedTuple):
    fn: Callable[[Store], Any] | None       # None: the stop marker
    fut: asyncio.Future
    loop: asyncio.AbstractEventLoop


@dataclass
class _Outcome:
    result: Any = None
    exc: BaseException | None = None


class WriterStats(NamedTuple):
    batches: int     # transactions committed (or attempted) by the thread
    jobs: int        # jobs run


def _settle(fut: asyncio.Future, outcome: _Outcome) -> None:
    if fut.done():          # the awaiting task was cancelled; the write still happened
        return
    if outcome.exc is not None:
        fut.set_exception(outcome.exc)
    else:
        fut.set_result(outcome.result)


class AsyncStore:
    """Runs Store methods on one writer thread; results arrive after their COMMIT."""

    def __init__(self, store: Store, *, batch_max: int = BATCH_MAX) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        self._store = store
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()       # makes "not closed, then enqueue" atomic
        self._thread: threading.Thread | None = None
        self._closing = False
        self._batches = 0
        self._jobs = 0
        self.failing: str | None = None     # the storage failure of the last batch, until one commits

    @classmethod
    def open(cls, path: str, *, batch_max: int = BATCH_MAX, **store_kw: Any) -> AsyncStore:
        """Open (and migrate) the Store at path and wrap it."""
        return cls(Store(path, **store_kw), batch_max=batch_max)

    @property
    def store(self) -> Store:
        """The Store for synchronous use before the writer thread starts."""
        if self._thread is not None:
            raise RuntimeError("the writer thread owns the store; use call() or run()")
        return self._store

    @property
    def stats(self) -> WriterStats:
        return WriterStats(self._batches, self._jobs)

    def start(self) -> None:
        """Start the writer thread (call/run start it on first use). Idempotent."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._closing:
            raise StoreError("closed", "store is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="agora-store", daemon=True)
            self._thread.start()

    async def call(self, method: str, *args: Any, **kw: Any) -> Any:
        """`await astore.call("add_message", "dm", 1, "hi", target=2)` -> Store.add_message(...)."""
        if method.startswith("_") or method == "close" or not callable(getattr(Store, method, None)):
            raise AttributeError(f"Store has no public method {method!r}")
        return await self.run(lambda store: getattr(store, method)(*args, **kw))

    async def run(self, fn: Callable[[Store], T]) -> T:
        """Run fn(store) on the writer thread inside the next batch; return its result."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._put(_Job(fn, fut, loop))
        return await fut

    async def close(self) -> None:
        """Finish every queued job, then checkpoint and close the Store. Idempotent."""
        loop = asyncio.get_running_loop()
        with self._lock:
            already, self._closing = self._closing, True
            thread = self._thread
        if thread is None:
            if not already:
                self._store.close()
            return
        if already:     # another close() queued the stop marker; just wait for the thread
            await loop.run_in_executor(None, thread.join)
            return
        fut = loop.create_future()
        self._queue.put(_Job(None, fut, loop))
        await fut

    def _put(self, job: _Job) -> None:
        with self._lock:
            self._start_locked()
            self._queue.put(job)

    # -- the writer thread ------------------------------------------------------------

    def _serve(self) -> None:
        stop: list[_Job] = []
        while not stop:
            batch = [self._queue.get()]
            while len(batch) < self._batch_max:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = [j for j in batch if j.fn is None]
            jobs = [j for j in batch if j.fn is not None]
            if jobs:
                try:
                    self._run_batch(jobs)
                except BaseException as e:   # noqa: BLE001 - the thread must outlive any batch
                    event("batch_crashed", level=logging.ERROR, exc_info=True, logger=log, jobs=len(jobs))
                    err = StoreError("internal", f"store writer failed: {e!r}")
                    for j in jobs:
                        self._deliver(j, _Outcome(exc=err))
        # Jobs can no longer be queued after the stop marker (see close/_put); none remain.
        outcome = _Outcome()
        try:
            self._store.close()
        except BaseException as e:          # noqa: BLE001 - reported to whoever awaits close()
            event("store_close_failed", level=logging.ERROR, exc_info=True, logger=log)
            outcome = _Outcome(exc=e)
        for j in stop:
            self._deliver(j, outcome)

    def _run_batch(self, jobs: list[_Job]) -> None:
        self._batches += 1
        self._jobs += len(jobs)
        try:
            outcomes = self._in_one_transaction(jobs)
        except Exception as exc:
            # The batch transaction itself failed (BEGIN, COMMIT, or SQLite aborted it):
            # nothing was committed, so run each job alone to isolate the failure.
            if storage_failure(exc) is None:     # a storage outage is logged once, below
                event("batch_failed", level=logging.WARNING, exc_info=True, logger=log, jobs=len(jobs),
                      fallback="one_by_one")
            outcomes = [self._alone(j) for j in jobs]
        failure = None
        for job, outcome in zip(jobs, outcomes):
            coded = storage_failure(outcome.exc) if outcome.exc is not None else None
            if coded is not None:
                failure = coded.msg
                outcome = _Outcome(exc=coded)
            self._deliver(job, outcome)
        self._note_health(failure, any(o.exc is None for o in outcomes))

    def _note_health(self, failure: str | None, committed: bool) -> None:
        """Log a storage failure once when it starts and once when writes succeed again."""
        if failure is not None and self.failing is None:
            self.failing = failure
            event("store_unavailable", level=logging.ERROR, logger=log, reason=failure)
        elif failure is None and committed and self.failing is not None:
            event("store_recovered", level=logging.WARNING, logger=log, after=self.failing)
            self.failing = None

    def _in_one_transaction(self, jobs: list[_Job]) -> list[_Outcome]:
        c = self._store._c
        c.execute("BEGIN IMMEDIATE")
        try:
            outcomes = []
            for job in jobs:
                c.execute("SAVEPOINT job")
                try:
                    result = job.fn(self._store)
                except BaseException as e:  # noqa: BLE001 - the job's own failure, reported to it
                    if not c.in_transaction:
                        raise           # SQLite rolled back the whole transaction
                    c.execute("ROLLBACK TO job")
                    c.execute("RELEASE job")
                    outcomes.append(_Outcome(exc=e))
                else:
                    c.execute("RELEASE job")
                    outcomes.append(_Outcome(result=result))
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        return outcomes

    def _alone(self, job: _Job) -> _Outcome:
        store = self._store
        try:
            # Store methods open their own transaction; a run() job may need several.
            store._c.execute("BEGIN IMMEDIATE")
            result = job.fn(store)
            store._c.execute("COMMIT")
            return _Outcome(result=result)
        except BaseException as e:          # noqa: BLE001 - reported to the job's awaiter
            if store.conn is not None and store.conn.in_transaction:
                store.conn.execute("ROLLBACK")
            return _Outcome(exc=e)

    @staticmethod
    def _deliver(job: _Job, outcome: _Outcome) -> None:
        try:
            job.loop.call_soon_threadsafe(_settle, job.fut, outcome)
        except RuntimeError:        # that event loop is closed; nobody is waiting
            pass
