"""`agora bench sim`: the neighbour pass and the full tick, against cKDTree and brute force.

For each entity count N: entities uniform in a square sized so that each has about
MEAN_NEIGHBOURS others within r, and a fixed seed. Timed in one process, after one
warm-up run, as the median (and p90) of several runs:

  grid         our neighbour pass: `build_grid` + `query_neighbours` (cap that never binds)
  cKDTree      scipy `cKDTree(...).query_pairs(r)`, both directions, as CSR for the observers
  brute force  numpy distances in chunks (N <= BRUTE_MAX only)
  tick         `world.sim.pipeline.step`: integrate, separate, grid, interest, encode

All three neighbour methods must find the same pairs; the run fails if they do not.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

MEAN_NEIGHBOURS = 50          # expected others within r of each entity
SEED = 2024
NEIGHBOUR_CAP = 512           # far above any list here, so the cap never binds
TICK_OBSERVERS = 2_000        # the full tick serves this many clients (issue 3's 100k case)
BRUTE_MAX = 10_000            # brute force is O(N * observers): skipped above this
BRUTE_CHUNK = 4_000_000       # distances per numpy chunk (32 MB of float64)
TIME_BUDGET_S = 1.0           # per method and size, when --repeats is auto
MIN_REPEATS, MAX_REPEATS = 3, 50
CHECK_LISTS = 200             # lists compared exactly between methods (all are counted)
WARM_START_ENTITIES = 200     # the state the fresh-process first tick runs on

METHODS = ("grid", "ckdtree", "brute", "tick", "tick_all")
LABELS = {"grid": "grid (ours)", "ckdtree": "cKDTree+CSR", "brute": "numpy brute",
          "tick": f"server tick ({TICK_OBSERVERS:,} clients)",
          "tick_all": "tick, every client every tick"}

# Runs in a fresh interpreter: import the simulation and run its first tick.
_FIRST_TICK = f"""
import numpy as np
from world.bench.sim import tick_world
import time
rng = np.random.default_rng({SEED})
n = {WARM_START_ENTITIES}
tick = tick_world(rng.uniform(0, 80, n), rng.uniform(0, 80, n), np.arange(0, n, 4), 30.0, 10.0,
                  80.0)
tick(0)
print(time.monotonic())
"""


class Timing(NamedTuple):
    """Milliseconds per run."""

    median_ms: float
    p90_ms: float
    runs: int


class Layout(NamedTuple):
    x: np.ndarray
    y: np.ndarray
    side: float
    observers: np.ndarray    # int32 rows, ascending


def make_layout(n: int, observers: int | None, radius: float, seed: int = SEED) -> Layout:
    """N entities uniform in a square with ~MEAN_NEIGHBOURS within radius; observers sampled."""
    side = math.sqrt(n * math.pi * radius * radius / MEAN_NEIGHBOURS)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, side, n)
    y = rng.uniform(0.0, side, n)
    if observers is None or observers >= n:
        obs = np.arange(n, dtype=np.int32)
    else:
        obs = np.sort(rng.choice(n, observers, replace=False)).astype(np.int32)
    return Layout(x, y, side, obs)


def time_runs(fn: Callable[[], Any], repeats: int | None) -> tuple[Timing, Any]:
    """Warm up once, then time `repeats` runs (auto: fit TIME_BUDGET_S); returns the last result."""
    result = fn()
    samples: list[float] = []
    gc.collect()
    gc.disable()
    try:
        while True:
            t = time.perf_counter()
            result = fn()
            samples.append(time.perf_counter() - t)
            if repeats is None:
                repeats = min(MAX_REPEATS, max(MIN_REPEATS, int(TIME_BUDGET_S / samples[0])))
            if len(samples) >= repeats:
                break
    finally:
        gc.enable()
    ms = np.array(samples) * 1e3
    return Timing(float(np.median(ms)), float(np.percentile(ms, 90)), len(ms)), result


def grid_neighbours(lay: Layout, radius: float, cell: float) -> Callable[[], tuple]:
    """Our neighbour pass: build the grid and query every observer."""
    from world.sim.grid import build_grid, grid_for_bounds, query_neighbours

    spec = grid_for_bounds(np.array([0.0, 0.0, lay.side, lay.side]), cell)
    n = len(lay.x)

    def run() -> tuple:
        cell_start, cell_rows = build_grid(lay.x, lay.y, n, *spec)
        return query_neighbours(lay.observers, lay.x, lay.y, n, cell_start, cell_rows, *spec,
                                radius, NEIGHBOUR_CAP)
    return run


def ckdtree_neighbours(lay: Layout, radius: float) -> Callable[[], tuple]:
    """scipy's cKDTree.query_pairs over all rows, both directions, as CSR for the observers."""
    from scipy.spatial import cKDTree

    n, m = len(lay.x), len(lay.observers)
    everyone = m == n
    position = np.full(n, -1, np.int64)
    position[lay.observers] = np.arange(m)

    def run() -> tuple:
        pairs = cKDTree(np.column_stack((lay.x, lay.y))).query_pairs(radius, output_type="ndarray")
        src = np.concatenate((pairs[:, 0], pairs[:, 1]))
        dst = np.concatenate((pairs[:, 1], pairs[:, 0]))
        if not everyone:
            src = position[src]
            keep = src >= 0
            src, dst = src[keep], dst[keep]
        offsets = np.zeros(m + 1, np.int64)
        np.cumsum(np.bincount(src, minlength=m), out=offsets[1:])
        return offsets, dst[np.argsort(src, kind="stable")]
    return run


def brute_neighbours(lay: Layout, radius: float) -> Callable[[], tuple]:
    """All distances with numpy, a chunk of observers at a time."""
    n, m = len(lay.x), len(lay.observers)
    chunk = max(1, BRUTE_CHUNK // max(n, 1))
    rr = radius * radius

    def run() -> tuple:
        counts = np.empty(m, np.int64)
        parts = []
        for a in range(0, m, chunk):
            obs = lay.observers[a:a + chunk]
            dx = lay.x[None, :] - lay.x[obs, None]
            dy = lay.y[None, :] - lay.y[obs, None]
            near = dx * dx + dy * dy <= rr
            near[np.arange(len(obs)), obs] = False
            counts[a:a + len(obs)] = near.sum(axis=1)
            parts.append(np.nonzero(near)[1])
        offsets = np.zeros(m + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        return offsets, np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return run


def tick_world(x: np.ndarray, y: np.ndarray, observers: np.ndarray, radius: float,
               cell: float, side: float, seed: int = SEED, phases: int = 1,
               parallel_from: int = 0) -> Callable[[int], Any]:
    """A square space of walking entities (random intents); returns a function running tick t."""
    from world.sim.grid import grid_for_bounds
    from world.sim.pipeline import Interest, step
    from world.sim.state import KIND_AVATAR, Bodies

    from world.config import Config
    from world.space.space import tick_params

    n = len(x)
    # The server's own parameters (budget, cap, near radius...), with this run's radius.
    cfg = Config()
    params = tick_params(cfg)._replace(r_enter=radius, r_leave=radius + cfg.interest_margin)
    interest = Interest(slots=max(1, len(observers)), cap=params.cap)
    bodies = Bodies(max(1, n))
    rng = np.random.default_rng(seed)
    is_observer = np.zeros(n, bool)
    is_observer[observers] = True
    yaw = rng.uniform(-math.pi, math.pi, n)
    fwd, strafe = rng.uniform(-1.0, 1.0, (2, n))
    run = rng.random(n) < 0.2
    for k in range(n):
        row = bodies.add(k + 1, KIND_AVATAR, x[k], y[k], 0.0, yaw[k], 0.3,
                         observer=bool(is_observer[k]))
        if is_observer[k]:
            bodies.slot[row] = interest.open_slot()
        bodies.set_intent(row, fwd[k], strafe[k], yaw[k], bool(run[k]))
    bounds = np.array([0.0, 0.0, side, side])
    grid = grid_for_bounds(bounds, cell)
    boxes = np.zeros((0, 4), np.float64)

    def tick(t: int) -> Any:
        return step(bodies, interest, grid, boxes, bounds, params, t, phases, parallel_from=parallel_from)
    return tick


def pipeline_missing() -> str | None:
    """Why the full tick cannot run here, or None if it can."""
    try:
        import world.sim.pipeline  # noqa: F401
    except ImportError as exc:
        return f"world.sim.pipeline is not importable ({exc})"
    return None


def warm_start_seconds() -> tuple[float, float]:
    """Seconds from launching a fresh interpreter to its first tick done: (first, second run).

    The first run fills numba's cache if it is cold; the second starts with it warm.
    """
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    runs = []
    for _ in range(2):
        t0 = time.monotonic()  # CLOCK_MONOTONIC: one clock for both processes
        done = subprocess.run([sys.executable, "-c", _FIRST_TICK], env=env, capture_output=True,
                              text=True, timeout=600, check=True)
        runs.append(float(done.stdout.split()[-1]) - t0)
    return runs[0], runs[1]


def same_lists(a: tuple, b: tuple, lists: int) -> bool:
    """Same pair count, and the first `lists` neighbour lists equal as sets."""
    (oa, ra), (ob, rb) = a, b
    if oa[-1] != ob[-1]:
        return False
    for o in range(min(lists, len(oa) - 1)):
        if not np.array_equal(np.sort(ra[oa[o]:oa[o + 1]]), np.sort(rb[ob[o]:ob[o + 1]])):
            return False
    return True


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of counts: {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("entity counts must be positive")
    return sizes


def parse_repeats(text: str) -> int | None:
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("--repeats is 'auto' or a positive count")
    return int(text)


def positive(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `agora bench sim`."""
    parser.add_argument("--entities", type=parse_sizes, default=[1_000, 10_000, 100_000],
                        help="comma-separated entity counts (default 1000,10000,100000)")
    parser.add_argument("--observers", type=int, default=None,
                        help="observers per size (default: every entity)")
    parser.add_argument("--radius", type=positive, default=30.0,
                        help="neighbour / interest radius in metres (default 30)")
    parser.add_argument("--cell", type=positive, default=None,
                        help="grid cell (m) for the neighbour pass (default: the radius)")
    parser.add_argument("--tick-cell", type=positive, default=None,
                        help="grid cell (m) for the full tick (default: half the leave radius, as the server)")
    parser.add_argument("--tick-observers", type=int, default=TICK_OBSERVERS,
                        help=f"observers (connected clients) in the full tick (default {TICK_OBSERVERS}, "
                             "or every entity if fewer)")
    parser.add_argument("--parallel-from", type=int, default=None, metavar="N",
                        help="the full tick serves observers on numba's threads in spaces of N or more "
                             "entities (default: the server's parallel_entities, 0 = never)")
    parser.add_argument("--repeats", type=parse_repeats, default=None,
                        help="timed runs per method: a count or 'auto' (default)")
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the results")
    parser.add_argument("--plot", metavar="FILE.png", default=None,
                        help="draw time against entity count for every method (needs matplotlib)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark: 0 if it ran and the methods agree, 1 if they differ or the tick
    failed, 2 on bad options (or --plot without matplotlib)."""
    from rich.console import Console

    console = Console()
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print('agora bench sim --plot needs matplotlib: pip install ".[bench]"',
                  file=sys.stderr)
            return 2
    if args.tick_observers < 1:
        print("agora bench sim: --tick-observers must be positive", file=sys.stderr)
        return 2
    if args.observers is not None and args.observers < 1:
        print("agora bench sim: --observers must be positive", file=sys.stderr)
        return 2
    radius = args.radius
    cell = args.cell or radius
    tick_cell = args.tick_cell or (radius + _server_margin()) / 2.0
    parallel_from = getattr(args, "parallel_from", None)
    if parallel_from is None:
        from world.config import Config
        parallel_from = Config().parallel_entities
    no_tick = pipeline_missing()
    try:
        import scipy.spatial  # noqa: F401
        no_ckdtree = None
    except ImportError:
        no_ckdtree = 'scipy is not installed (pip install ".[bench]")'
    results: dict[int, dict[str, Timing | None]] = {}
    observers: dict[int, int] = {}
    ok = True
    for n in args.entities:
        lay = make_layout(n, args.observers, radius)
        observers[n] = len(lay.observers)
        row: dict[str, Timing | None] = dict.fromkeys(METHODS)
        found: dict[str, tuple] = {}
        with console.status(f"{n:,} entities ..."):
            row["grid"], found["grid"] = time_runs(grid_neighbours(lay, radius, cell), args.repeats)
            if not no_ckdtree:
                row["ckdtree"], found["ckdtree"] = time_runs(ckdtree_neighbours(lay, radius),
                                                             args.repeats)
            if n <= BRUTE_MAX:
                row["brute"], found["brute"] = time_runs(brute_neighbours(lay, radius),
                                                         args.repeats)
            if not no_tick:
                try:
                    row["tick"] = _time_tick(lay, radius, tick_cell, args.repeats, args.tick_observers,
                                             server=True, parallel_from=parallel_from)
                    row["tick_all"] = _time_tick(lay, radius, tick_cell, args.repeats,
                                                 args.tick_observers, server=False,
                                                 parallel_from=parallel_from)
                except Exception as exc:  # a broken tick is reported, the comparison still runs
                    console.print(f"[red]full tick failed at {n:,} entities: {exc!r}[/]")
                    ok = False
        results[n] = row
        agree = all(same_lists(found["grid"], other, CHECK_LISTS) for other in found.values())
        ok &= agree
        _print_size(console, n, lay, radius, cell, tick_cell, row, found, agree)
    warm = None
    if not no_tick:
        try:
            with console.status("first tick in a fresh process ..."):
                first, warm = warm_start_seconds()
            console.print(f"fresh process to first tick done: {warm:.2f} s with a warm numba "
                          f"cache (first launch {first:.2f} s)")
        except (subprocess.SubprocessError, ValueError, IndexError) as exc:
            detail = getattr(exc, "stderr", None) or ""
            console.print(f"[red]first tick in a fresh process failed: {exc}[/]\n{detail[-2000:]}")
            ok = False
    for method, why in (("tick", no_tick), ("ckdtree", no_ckdtree)):
        if why:
            console.print(f"[yellow]{LABELS[method]} not measured: {why}[/]")
    _print_summary(console, results, observers)
    if args.plot:
        _plot(args.plot, results, observers, radius)
        console.print(f"plot written to {args.plot}")
    if not ok:
        console.print("[red]failed: see the errors above[/]")
    if args.json:
        summary = _summary_json(results, observers, warm)
        summary["tick_observers"] = {str(n): min(n, args.tick_observers) for n in results}
        print(json.dumps(summary))
    return 0 if ok else 1


def _server_margin() -> float:
    from world.config import Config
    return float(Config.interest_margin)


def _time_tick(lay: Layout, radius: float, cell: float, repeats: int | None, observers: int,
               server: bool, parallel_from: int = 0) -> Timing:
    """The tick as the server runs it (server=True: crowds served in staggered phases, see
    Space.tick), or with every client served every tick."""
    from world.config import Config

    n = len(lay.x)
    rows = lay.observers if observers >= n else \
        np.sort(np.random.default_rng(SEED + 1).choice(n, observers, replace=False)).astype(np.int32)
    cfg = Config()
    phases = cfg.crowd_phases if server and len(rows) > cfg.crowd_observers else 1
    tick = tick_world(lay.x, lay.y, rows, radius, cell, lay.side, phases=phases, parallel_from=parallel_from)
    count = iter(range(1 << 62))
    return time_runs(lambda: tick(next(count)), repeats)[0]


def _ratio(base: Timing | None, other: Timing | None) -> str:
    if base is None or other is None or other.median_ms <= 0:
        return ""
    v = base.median_ms / other.median_ms
    return f"{v:,.1f}x" if v >= 1 else f"{v:.2g}x"


def _print_size(console: Any, n: int, lay: Layout, radius: float, cell: float, tick_cell: float,
                row: dict[str, Timing | None], found: dict[str, tuple], agree: bool) -> None:
    from rich.table import Table

    table = Table(title=f"{n:,} entities, {len(lay.observers):,} observers",
                  caption=f"r = {radius:g} m in a {lay.side:,.0f} m square; grid cell {cell:g} m "
                          f"(tick {tick_cell:g} m); 'vs': times faster than that baseline"
                          + ("" if len(lay.observers) == n else
                             "; cKDTree finds all pairs, then keeps the observers'"))
    for col in ("method", "median ms", "p90 ms", "runs", "pairs", "vs cKDTree", "vs brute"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for method in METHODS:
        t = row[method]
        if t is None:
            continue
        pairs = f"{int(found[method][0][-1]):,}" if method in found else ""
        neighbour = not method.startswith("tick")
        table.add_row(LABELS[method], f"{t.median_ms:,.3f}", f"{t.p90_ms:,.3f}", str(t.runs),
                      pairs, _ratio(row["ckdtree"], t) if neighbour else "",
                      _ratio(row["brute"], t) if neighbour else "")
    console.print(table)
    names = " = ".join(LABELS[m] for m in found)
    verdict = "[green]same pairs[/]" if agree else "[red]DIFFERENT pairs[/]"
    console.print(f"check: {names}: {verdict} ({min(CHECK_LISTS, len(lay.observers))} lists "
                  "compared exactly, all counted)\n")


def _print_summary(console: Any, results: dict, observers: dict) -> None:
    from rich.table import Table

    table = Table(title="summary (median ms)")
    for col in ("entities", "observers", "grid (ours)", "cKDTree", "brute", "server tick",
                "tick (all)", "grid vs cKDTree"):
        table.add_column(col, justify="right")

    def ms(t: Timing | None) -> str:
        return "-" if t is None else f"{t.median_ms:,.3f}"
    for n, row in results.items():
        table.add_row(f"{n:,}", f"{observers[n]:,}", ms(row["grid"]), ms(row["ckdtree"]),
                      ms(row["brute"]), ms(row["tick"]), ms(row["tick_all"]),
                      _ratio(row["ckdtree"], row["grid"]))
    console.print(table)


def _summary_json(results: dict, observers: dict, warm: float | None) -> dict[str, Any]:
    def per_size(method: str) -> dict[str, float | None]:
        return {str(n): (None if row[method] is None else round(row[method].median_ms, 4))
                for n, row in results.items()}

    speedup = {}
    for n, row in results.items():
        g, c = row["grid"], row["ckdtree"]
        speedup[str(n)] = None if c is None else round(c.median_ms / g.median_ms, 2)
    return {
        "entities": list(results), "observers": [observers[n] for n in results],
        "tick_ms": per_size("tick"), "tick_all_clients_ms": per_size("tick_all"),
        "neighbours_ms": per_size("grid"),
        "ckdtree_ms": per_size("ckdtree"), "bruteforce_ms": per_size("brute"),
        "speedup_vs_ckdtree": speedup,
        "cache_warm_start_s": None if warm is None else round(warm, 3),
    }


def _plot(path: str, results: dict, observers: dict, radius: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    sizes = list(results)
    for method, style in zip(METHODS, ("o-", "s--", "^:", "d-.", "v-.")):
        points = [(n, results[n][method].median_ms) for n in sizes if results[n][method]]
        if points:
            ax.plot(*zip(*points), style, label=LABELS[method])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("entities")
    ax.set_ylabel("median ms per run")
    obs = ", ".join(f"{observers[n]:,}" for n in sizes)
    ax.set_title(f"agora bench sim: r = {radius:g} m, ~{MEAN_NEIGHBOURS} neighbours each\n"
                 f"observers: {obs}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
