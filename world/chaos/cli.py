"""`agora chaos` and `agora soak`: arguments, presets (full and --short), and the run loop.

Each scenario prints its table on stderr as it finishes; `--json` adds one JSON line on stdout
(nothing else is written there). Exit status 0 when every check of every scenario holds.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from world.chaos.report import Outcome, json_line, render

SCENARIOS = ("kill9", "fuzz", "flood", "stall", "disk")

# flag dest -> (scenario, options field). A flag left out keeps the preset's value.
FLAGS: dict[str, tuple[str, str]] = {
    "rounds": ("kill9", "rounds"), "kill9_bots": ("kill9", "bots"),
    "kill_min": ("kill9", "min_s"), "kill_max": ("kill9", "max_s"),
    "frames": ("fuzz", "frames"), "fuzz_window": ("fuzz", "window"),
    "sources": ("flood", "sources"), "per_source": ("flood", "per_source"),
    "flood_frames": ("flood", "frames"), "heavy_share": ("flood", "heavy_share"),
    "flood_rate": ("flood", "rate"), "flood_hold": ("flood", "hold_s"), "settle": ("flood", "settle_s"),
    "probe_every": ("flood", "probe_every"),
    "stall_timeout": ("stall", "stall_timeout"), "stall_requests": ("stall", "requests"),
    "disk_mb": ("disk", "size_mb"), "disk_chats": ("disk", "full_chats"), "disk_via": ("disk", "via"),
}


def presets(short: bool) -> dict[str, Any]:
    """Options per scenario: the full-length defaults, or the small versions the test suite runs."""
    from world.chaos.disk import DiskOptions
    from world.chaos.flood import FloodOptions
    from world.chaos.fuzz import FuzzOptions
    from world.chaos.kill9 import Kill9Options
    from world.chaos.stall import StallOptions

    if not short:
        return {"kill9": Kill9Options(), "fuzz": FuzzOptions(), "flood": FloodOptions(),
                "stall": StallOptions(), "disk": DiskOptions()}
    return {"kill9": Kill9Options(rounds=2, bots=3, min_s=1.0, max_s=2.0),
            "fuzz": FuzzOptions(frames=12_000, seconds=60.0),
            "flood": FloodOptions(sources=4, per_source=25, frames=2, rate=200.0, hold_s=2.5, settle_s=2.0,
                                  probe_every=0.5),
            "stall": StallOptions(),
            "disk": DiskOptions(size_mb=8, full_chats=3)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help=f"any of {', '.join(SCENARIOS)} (default: all, in that order)")
    p.add_argument("--short", action="store_true", help="the small version (seconds each) the test suite runs")
    p.add_argument("--json", action="store_true", help="print one JSON line with every result on stdout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", action="store_true", help="keep the work directory (server logs, data)")
    k = p.add_argument_group("kill9")
    k.add_argument("--rounds", type=int, help="kill -9 rounds (5)")
    k.add_argument("--kill9-bots", type=int, help="chatting bots (8)")
    k.add_argument("--kill-min", type=float, help="earliest kill, seconds into a round (5)")
    k.add_argument("--kill-max", type=float, help="latest kill, seconds into a round (20)")
    f = p.add_argument_group("fuzz")
    f.add_argument("--frames", type=int, help="fuzzed frames to send (50000)")
    f.add_argument("--fuzz-window", type=int, help="invalid frames in flight at most (16)")
    fl = p.add_argument_group("flood")
    fl.add_argument("--sources", type=int, help="source addresses 127.0.0.2 ... (20)")
    fl.add_argument("--per-source", type=int, help="connections per source address (250)")
    fl.add_argument("--flood-frames", type=int, help="32-64 KiB frames each heavy connection sends before hello (4)")
    fl.add_argument("--heavy-share", type=float, help="share of connections that send frames (0.5)")
    fl.add_argument("--flood-rate", type=float, help="new connections per second, all sources (5000)")
    fl.add_argument("--flood-hold", type=float, help="seconds a flood connection is held at most (15)")
    fl.add_argument("--settle", type=float, help="seconds after the flood before RSS is read (10)")
    fl.add_argument("--probe-every", type=float, help="seconds between the real user's joins (1)")
    s = p.add_argument_group("stall")
    s.add_argument("--stall-timeout", type=float, help="the server's AGORA_STALL_TIMEOUT (2)")
    s.add_argument("--stall-requests", type=int,
                   help="history pages the stalled client asks for (default: enough to fill the server's socket buffer)")
    d = p.add_argument_group("disk")
    d.add_argument("--disk-mb", type=int, help="size of the tmpfs holding the data (16)")
    d.add_argument("--disk-chats", type=int, help="lines each bot tries while the disk is full (6)")
    d.add_argument("--disk-via", choices=("auto", "mount", "namespace"),
                   help="how to make the tmpfs (auto: mount when root, else unshare + nsenter)")
    d.add_argument("--require-disk", action="store_true",
                   help="fail if the disk scenario cannot run here (no tmpfs)")


def options(args: argparse.Namespace) -> dict[str, Any]:
    chosen = presets(args.short)
    for dest, (scenario, name) in FLAGS.items():
        value = getattr(args, dest, None)
        if value is not None:
            chosen[scenario] = dataclasses.replace(chosen[scenario], **{name: value})
    for scenario, opts in chosen.items():
        if hasattr(opts, "seed"):
            chosen[scenario] = dataclasses.replace(opts, seed=args.seed)
    chosen["disk"] = dataclasses.replace(chosen["disk"], required=args.require_disk)
    return chosen


# Bounds: the harness refuses loads larger than these (the machine is shared; loopback only).
BOUNDS: dict[tuple[str, str], tuple[float, float]] = {
    ("kill9", "rounds"): (1, 100), ("kill9", "bots"): (2, 200), ("kill9", "min_s"): (0.5, 600),
    ("kill9", "max_s"): (0.5, 600), ("fuzz", "frames"): (1, 1_000_000), ("fuzz", "window"): (1, 256),
    ("flood", "sources"): (1, 200), ("flood", "per_source"): (1, 1000), ("flood", "frames"): (0, 64),
    ("flood", "heavy_share"): (0, 1), ("flood", "rate"): (1, 20_000), ("flood", "hold_s"): (0.5, 120),
    ("flood", "settle_s"): (0, 300), ("flood", "probe_every"): (0.1, 60), ("stall", "stall_timeout"): (0.5, 30),
    ("stall", "requests"): (1, 40), ("disk", "size_mb"): (4, 1024), ("disk", "full_chats"): (1, 100),
}


def problems(chosen: dict[str, Any]) -> list[str]:
    """Reasons to refuse the chosen options (out of bounds, inconsistent)."""
    out = []
    for (scenario, name), (lo, hi) in BOUNDS.items():
        value = getattr(chosen[scenario], name)
        if value is not None and not lo <= value <= hi:
            out.append(f"{scenario} {name} must be in [{lo:g}, {hi:g}], not {value:g}")
    if chosen["kill9"].min_s > chosen["kill9"].max_s:
        out.append("--kill-min must not exceed --kill-max")
    flood = chosen["flood"]
    if flood.sources * flood.per_source > 20_000:
        out.append("a flood of at most 20000 connections")
    return out


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console(stderr=True)
    wanted = [s for s in args.scenarios if s != "all"] or list(SCENARIOS)
    unknown = [s for s in wanted if s not in SCENARIOS]
    if unknown:
        console.print(f"agora chaos: unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
        return 2
    chosen = options(args)
    refused = problems(chosen)
    if refused:
        console.print("agora chaos: " + "; ".join(refused))
        return 2
    work = Path(tempfile.mkdtemp(prefix="agora-chaos-"))
    outcomes: list[Outcome] = []
    try:
        for name in wanted:
            t0 = time.monotonic()
            with console.status(f"agora chaos {name} ..."):
                outcome = run_scenario(name, chosen[name], work / name)
            outcome.metrics["scenario wall time (s)"] = round(time.monotonic() - t0, 1)
            console.print(render(outcome))
            outcomes.append(outcome)
    finally:
        if args.keep:
            console.print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json_line(outcomes), flush=True)
    return 0 if all(o.ok for o in outcomes) else 1


def run_scenario(name: str, opts: Any, work: Path) -> Outcome:
    """Run one scenario to its Outcome; a crash of the harness itself is a failed check, not a traceback."""
    work.mkdir(parents=True, exist_ok=True)
    module = importlib.import_module(f"world.chaos.{name}")
    try:
        return asyncio.run(module.run(opts, work))
    except Exception as exc:
        out = Outcome(name, reason=f"stopped by {type(exc).__name__}: {exc}"[:300])
        out.check("scenario ran to its end", False, type(exc).__name__, "no exception")
        return out


# -- soak -----------------------------------------------------------------------------------------
def add_soak_arguments(p: argparse.ArgumentParser) -> None:
    from world.chaos.soak import SoakOptions

    d = SoakOptions()
    p.add_argument("--bots", type=int, default=d.bots, help=f"walking, chatting bots ({d.bots})")
    p.add_argument("--minutes", type=float, default=d.minutes, help=f"measured window ({d.minutes:g})")
    p.add_argument("--procs", type=int, default=None, help="bot processes (default: one per 250 bots, at most 4)")
    p.add_argument("--ramp", type=float, default=d.ramp, help=f"connections per second ({d.ramp:g})")
    p.add_argument("--sample-every", type=float, default=d.sample_every,
                   help=f"seconds between RSS and /stats samples ({d.sample_every:g})")
    p.add_argument("--max-growth", type=float, default=d.max_growth_pct,
                   help=f"memory growth allowed, first minute vs last, %% ({d.max_growth_pct:g})")
    p.add_argument("--json", action="store_true", help="print one JSON line on stdout")
    p.add_argument("--keep", action="store_true", help="keep the work directory (server log, data)")


def run_soak(args: argparse.Namespace) -> int:
    from rich.console import Console

    from world.chaos import soak

    console = Console(stderr=True)
    opts = soak.SoakOptions(bots=args.bots, minutes=args.minutes, procs=args.procs, ramp=args.ramp,
                            sample_every=args.sample_every, max_growth_pct=args.max_growth)
    problem = soak.check_options(opts)
    if problem:
        console.print(f"agora soak: {problem}")
        return 2
    work = Path(tempfile.mkdtemp(prefix="agora-soak-"))
    try:
        with console.status(f"agora soak: {opts.bots} bots for {opts.minutes:g} min ..."):
            outcome = run_scenario("soak", opts, work)
        console.print(render(outcome))
    finally:
        if args.keep:
            console.print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json_line([outcome]), flush=True)
    return 0 if outcome.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agora chaos")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
