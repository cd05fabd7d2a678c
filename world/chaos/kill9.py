"""kill9: SIGKILL the server in the middle of chat, restart it on the same data, count acked lines lost.

Each round: the bots (re)join with their tokens, say lines on every channel and keep a ledger
of what the server acknowledged; at a random moment the server gets SIGKILL (no shutdown, no
flush); it is restarted on the same data directory and every line acknowledged so far, in
every round, is read back. Check: none is lost.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path

from world.chaos.ledger import Cast, Ledger, audit, chat_until, db_path
from world.chaos.process import ServerProcess, server_env
from world.chaos.report import Outcome


@dataclass
class Kill9Options:
    rounds: int = 5
    bots: int = 8
    min_s: float = 5.0          # the kill comes this long after the bots start talking, at the earliest
    max_s: float = 20.0         # ... and at the latest
    seed: int = 0


async def run(opts: Kill9Options, work: Path) -> Outcome:
    out = Outcome("kill9")
    rng = random.Random(opts.seed)
    data, log = work / "data", work / "server.log"
    ledger = Ledger()
    cast: Cast | None = None
    lost_after: list[int] = []
    kills: list[float] = []
    acked_per_round: list[int] = []
    restart_s: list[float] = []
    srv = ServerProcess.start(data, log, env=server_env())
    try:
        for r in range(opts.rounds):
            if cast is None:
                cast = await Cast.assemble(srv.url, opts.bots, "k9-")
            else:
                await cast.rejoin(srv.url)
                lost_after.append((await audit(cast, ledger, db_path(data))).lost)
            stop = asyncio.Event()
            talkers = [asyncio.create_task(chat_until(bot, cast, ledger, random.Random(rng.random()), f"r{r}", stop))
                       for bot in cast.bots]
            before = len(ledger.lines)
            when = rng.uniform(opts.min_s, opts.max_s)
            await asyncio.sleep(when)
            await asyncio.to_thread(srv.kill9)           # mid-chat: some lines are in flight
            kills.append(round(when, 2))
            stop.set()
            await asyncio.wait_for(asyncio.gather(*talkers), 30)
            acked_per_round.append(len(ledger.lines) - before)
            await cast.leave()
            t0 = time.monotonic()
            srv = ServerProcess.start(data, log, env=server_env())
            restart_s.append(round(time.monotonic() - t0, 2))
        assert cast is not None
        await cast.rejoin(srv.url)
        final = await audit(cast, ledger, db_path(data))
        lost_after.append(final.lost)
        await cast.leave()
        clean_exit = await asyncio.to_thread(srv.terminate)
    finally:
        if cast is not None:
            await cast.leave()
        srv.close()

    out.at_least("lines acknowledged", len(ledger.lines), 1)
    out.equal("acked lines lost after kill -9", final.lost, 0)
    out.equal("restarted after every kill", len(restart_s), opts.rounds)
    out.metrics.update({
        "rounds": opts.rounds, "bots": opts.bots,
        "acked": len(ledger.lines), "acked by channel": ledger.by_channel(),
        "acked per round": acked_per_round, "kill after (s)": kills,
        "lost after each restart": lost_after,
        "missing via history (dm, group)": [line.id for line in final.missing_history][:20],
        "missing in store file (all channels)": [line.id for line in final.missing_store][:20],
        "lines not acked (closed = in flight at the kill)": dict(ledger.refused) or 0,
        "restart time (s)": restart_s,
        "final SIGTERM exit status": clean_exit,
    })
    return out
