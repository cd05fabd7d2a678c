"""`agora bench agents`: what agents cost.

  brain      the local brain (SmolLM2-135M through llama-cpp-python): time to first token
             p50/p95 and tokens per second, over short rephrasing prompts
  phrasing   20 drafts of the three personas phrased as agents phrase them: time to the first
             words released (p50), the share of lines the model worded, and lines whose
             streamed words are not all in the final; today's checked streaming and, in the
             same process, the frozen phrasing before it (world/bench/speech_baseline.py)
  quiet      one person and their companion in conversation on an otherwise empty server:
             time from the person's line to the first words back (p50) and the model's share
  memory     retrieval (recency + importance + relevance) over 10,000 memories of one pair
  tick       the server's tick p99 with 200 bots walking and chatting, first with no agent
             talking, then with 20 companions in conversation with their owners (each owner
             sends a line every few seconds and waits for the streamed reply), local brain

The two tick runs use the same server settings, one fresh `agora serve` process each, so the
ratio between them is what agents cost the tick. Loopback only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TALK_LINES = ("remember that my favourite colour is teal", "what is my favourite colour?",
              "my sister is called Ana", "what am I looking at?", "what's my sister called?",
              "hello Pip", "remember that my locker code is 4471", "what is my locker code?")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bots", type=int, default=200, help="walking bots in the tick runs (default 200)")
    parser.add_argument("--agents", type=int, default=20, help="companions in conversation (default 20)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per tick run (default 30)")
    parser.add_argument("--prompts", type=int, default=20, help="brain prompts timed (default 20)")
    parser.add_argument("--lines", type=int, default=40, help="drafts phrased, and quiet-conversation lines (default 40)")
    parser.add_argument("--skip-tick", action="store_true", help="no tick runs (brain, phrasing, memory, quiet)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")


def start_server(data: Path, agents: str, env_extra: dict[str, str]) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, **env_extra)
    proc = subprocess.Popen([sys.executable, "-m", "world.cli", "serve", "--port", "0", "--data", str(data),
                             "--agents", agents, "--brain", "local"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"ws://127\.0\.0\.1:\d+", line or "")
        if found:
            return proc, found.group(0)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("agora serve did not start")


async def talkers(url: str, n: int, until: float, pause: float = 1.0) -> dict[str, Any]:
    """n owners, each with a summoned companion, talking to it until the deadline (a line,
    the reply, then `pause` seconds)."""
    from client.bot import Bot
    from world.bench.brain_speed import unheard_words
    bots = [await Bot.connect(url, f"Owner{i}") for i in range(n)]
    comps = [(await b.request("summon", agent="companion", timeout=30))["user"] for b in bots]
    firsts: list[float] = []
    finals: list[float] = []
    failed = drafted = bad = 0

    async def converse(i: int, bot: Any, comp: int) -> None:
        nonlocal failed, drafted, bad
        k = i
        await asyncio.sleep(i * 0.15)                         # staggered starts
        while time.monotonic() < until:
            mark = bot.mark()
            t0 = time.perf_counter()
            await bot.dm(comp, TALK_LINES[k % len(TALK_LINES)], timeout=30)
            k += 1
            try:
                # the first words: a streamed piece, or the whole line when nothing was streamed
                first = await bot.wait_for(lambda m: m.get("t") == "chat" and m.get("from") == comp,
                                           timeout=30, since=mark)
                firsts.append(time.perf_counter() - t0)
                final = first
                if first.get("partial"):
                    final = await bot.wait_for(lambda m: m.get("t") == "chat" and m.get("from") == comp
                                               and not m.get("partial"), timeout=30, since=mark)
                finals.append(time.perf_counter() - t0)
                drafted += not first.get("partial")
                pieces = [m.get("text", "") for m in bot.inbox["chat"] if m.get("from") == comp
                          and m.get("partial") and m.get("sid") == final.get("sid")]
                bad += unheard_words(final.get("text", ""), pieces) > 0
            except TimeoutError:
                failed += 1
            await asyncio.sleep(pause)

    await asyncio.gather(*(converse(i, b, c) for i, (b, c) in enumerate(zip(bots, comps))))
    for b in bots:
        await b.close()
    return {"replies": len(finals), "reply_timeouts": failed, "replies_unstreamed": drafted,
            "replies_bad_partials": bad,
            "reply_first_p50_ms": round(statistics.median(firsts) * 1000, 1) if firsts else None,
            "reply_final_p50_ms": round(statistics.median(finals) * 1000, 1) if finals else None}


def tick_run(n_bots: int, n_agents: int, duration: float) -> dict[str, Any]:
    """One fresh server; n_bots walking bots (a subprocess); n_agents companions talking."""
    from client.load import fetch_server_stats
    with tempfile.TemporaryDirectory() as tmp:
        cap = str(n_bots + 2 * n_agents + 10)
        proc, url = start_server(Path(tmp), "guide,barista" if n_agents else "", {"AGORA_CAPACITY": cap})
        try:
            bots = subprocess.Popen([sys.executable, "-m", "world.cli", "bots", "--url", url, "--count",
                                     str(n_bots), "--duration", str(duration + 10), "--json"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            time.sleep(8.0)                                     # bots connected and walking
            talk: dict[str, Any] = {}
            if n_agents:
                talk = asyncio.run(talkers(url, n_agents, time.monotonic() + duration))
            else:
                time.sleep(duration)
            stats = fetch_server_stats(url) or {}
            out, _ = bots.communicate(timeout=duration + 120)
            lines = [ln for ln in out.splitlines() if ln.startswith("{")]
            load = json.loads(lines[-1]) if lines else {}
            return {"tick_p50_ms": stats.get("tick_p50_ms"), "tick_p99_ms": stats.get("tick_p99_ms"),
                    "tick_max_ms": stats.get("tick_max_ms"), "clients": stats.get("clients"),
                    "bots_disconnects": load.get("disconnects"), "ack_p99_ms": load.get("ack_p99_ms"),
                    "lines": (stats.get("agents") or {}).get("lines"), **talk}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def model_share(lines: dict[str, int] | None, cached: bool = False) -> float | None:
    """Lines the model worded for this line (alone or with draft sentences for lost facts), of
    all lines; with ``cached``, also lines said in a wording it gave the same draft before."""
    if not lines or not lines.get("total"):
        return None
    worded = lines.get("model", 0) + lines.get("mixed", 0) + (lines.get("cached", 0) if cached else 0)
    return round(worded / lines["total"], 3)


def quiet_run(n_lines: int) -> dict[str, Any]:
    """One fresh server with the stationed agents and no crowd; one person talks with their
    companion, a line at a time, ``n_lines`` lines."""
    from client.load import fetch_server_stats
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp), "guide,barista", {})
        try:
            per_line = 4.0                                      # about: the reply and a pause
            talk = asyncio.run(talkers(url, 1, time.monotonic() + n_lines * per_line, pause=0.5))
            stats = fetch_server_stats(url) or {}
            agents = stats.get("agents") or {}
            return {**talk, "lines": agents.get("lines"), "server_first_word_p50_ms": agents.get("first_word_p50_ms")}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def phrasing_part(n: int) -> dict[str, Any]:
    """Today's phrasing and the frozen one before it, on the same drafts, in this process."""
    from world.agents.brain import LocalBrain
    from world.bench.brain_speed import measure_phrasing
    # The baseline brain as it was: repeat penalties on, llama-cpp-python's own prefix reuse only.
    old = LocalBrain(repeat_penalty=1.3, frequency_penalty=0.2, presence_penalty=0.1, prefix_states=False)
    new = LocalBrain()
    try:
        base = await measure_phrasing(old, n, baseline=True)
        now = await measure_phrasing(new, n)
    finally:
        await old.close()
        await new.close()
    out = {f"phrasing_{k}": v for k, v in now.items()}
    out.update({f"baseline_{k}": v for k, v in base.items()})
    if base["first_word_p50_ms"]:
        out["first_word_p50_ratio"] = round(now["first_word_p50_ms"] / base["first_word_p50_ms"], 2)
    out["prompt_prefix"] = dict(new.prefix)
    return out


async def brain_part(prompts: int) -> dict[str, Any]:
    from world.agents.brain import LocalBrain
    from world.bench.brain_speed import measure
    brain = LocalBrain()
    await brain.start(lambda line: print(f"  {line}", file=sys.stderr))
    try:
        return await measure(brain, n=prompts)
    finally:
        await brain.close()


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from world.bench.retrieval import bench_retrieval
    console = Console(stderr=not args.json)
    res: dict[str, Any] = {}
    console.print("[bold]brain[/] (local SmolLM2-135M, 1 generation at a time)")
    res.update(asyncio.run(brain_part(args.prompts)))
    console.print(f"[bold]phrasing[/]: {args.lines} drafts, today's checked streaming and the baseline before it")
    res.update(asyncio.run(phrasing_part(args.lines)))
    console.print(f"[bold]quiet[/]: one person and their companion, {args.lines} lines")
    quiet = quiet_run(args.lines)
    res.update(quiet_first_word_p50_ms=quiet.get("reply_first_p50_ms"), quiet_replies=quiet.get("replies"),
               quiet_lines=quiet.get("lines"), quiet_model_share=model_share(quiet.get("lines")),
               quiet_bad_partials=quiet.get("replies_bad_partials"))
    with tempfile.TemporaryDirectory() as tmp:
        res["retrieval_ms_10k"] = round(asyncio.run(bench_retrieval(tmp)), 3)
    if not args.skip_tick:
        console.print(f"[bold]tick[/]: {args.bots} bots, no agent talking ({args.duration:.0f} s)")
        idle = tick_run(args.bots, 0, args.duration)
        console.print(f"[bold]tick[/]: {args.bots} bots + {args.agents} companions in conversation")
        busy = tick_run(args.bots, args.agents, args.duration)
        res.update(tick_p99_ms_idle=idle["tick_p99_ms"], tick_p99_ms_agents=busy["tick_p99_ms"],
                   tick_p50_ms_idle=idle["tick_p50_ms"], tick_p50_ms_agents=busy["tick_p50_ms"],
                   agent_replies=busy.get("replies"), agent_reply_timeouts=busy.get("reply_timeouts"),
                   agent_replies_unstreamed=busy.get("replies_unstreamed"),
                   agent_bad_partials=busy.get("replies_bad_partials"),
                   load_lines=busy.get("lines"), load_model_share=model_share(busy.get("lines")),
                   load_model_share_with_kept=model_share(busy.get("lines"), cached=True),
                   agent_first_word_p50_ms=busy.get("reply_first_p50_ms"),
                   agent_final_p50_ms=busy.get("reply_final_p50_ms"),
                   bots_disconnects=[idle.get("bots_disconnects"), busy.get("bots_disconnects")])
        if idle["tick_p99_ms"] and busy["tick_p99_ms"]:
            res["tick_p99_ratio"] = round(busy["tick_p99_ms"] / idle["tick_p99_ms"], 2)
    table = Table(title="agora bench agents")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k, v in res.items():
        table.add_row(k, str(v))
    console.print(table)
    if args.json:
        print(json.dumps(res))
    return 0
