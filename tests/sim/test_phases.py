"""Staggered phases: in a crowd each observer is served every `phases` ticks, none is skipped."""

from __future__ import annotations

import numpy as np

from world.sim.grid import grid_for_bounds
from world.sim.pipeline import Interest, TickParams, step
from world.sim.state import Bodies


def crowd(n: int) -> tuple[Bodies, Interest]:
    b, it = Bodies(n), Interest(4, 64)
    rng = np.random.default_rng(3)
    for k in range(n):
        row = b.add(k + 1, 0, rng.uniform(-20, 20), rng.uniform(-20, 20), radius=0.0)
        b.slot[row] = it.open_slot()
    return b, it


def test_each_observer_gets_one_frame_per_phase_cycle_with_a_scaled_budget():
    bounds = np.array([-50.0, -50.0, 50.0, 50.0])
    grid = grid_for_bounds(bounds, 22.0)
    b, it = crowd(40)
    params = TickParams(r_enter=40.0, r_leave=44.0, budget_bytes=160, max_interval=100, near_r=1.0)
    served: list[int] = []
    sizes = []
    for tick in range(1, 5):
        b.x[:b.n] += 0.01                   # everyone changes every tick
        f = step(b, it, grid, np.zeros((0, 4)), bounds, params, tick, phases=2)
        served += b.ids[f.obs_rows].tolist()
        assert len(f.obs_rows) == 20
        if tick > 2:                        # past the entering frames: budget-bound
            sizes += ((f.end - f.start - 30) // 16).tolist()
    assert sorted(served) == sorted(list(range(1, 41)) * 2)
    assert max(sizes) == 2 * 160 // 16     # twice the per-tick budget, since frames are half as frequent


def test_one_phase_serves_everyone_every_tick():
    bounds = np.array([-50.0, -50.0, 50.0, 50.0])
    b, it = crowd(10)
    f = step(b, it, grid_for_bounds(bounds, 22.0), np.zeros((0, 4)), bounds, TickParams(), 1)
    assert sorted(b.ids[f.obs_rows].tolist()) == list(range(1, 11))
