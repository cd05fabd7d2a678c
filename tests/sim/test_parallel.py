"""The interest pass split over threads: the same frames, events and state as on one thread."""

from __future__ import annotations

import numpy as np
import pytest

from world.sim.grid import grid_for_bounds
from world.sim.pipeline import Interest, TickParams, step
from world.sim.state import Bodies


def world(n: int, seed: int = 5) -> tuple[Bodies, Interest]:
    rng = np.random.default_rng(seed)
    b, it = Bodies(n), Interest(8, 128)
    for k in range(n):
        row = b.add(k + 1, 0, rng.uniform(0, 200), rng.uniform(0, 200), radius=0.3)
        if k % 3:
            b.slot[row] = it.open_slot()
        b.set_intent(row, rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-3, 3), bool(k % 5 == 0))
    return b, it


def frames(f) -> list:
    out = []
    for i in range(len(f.obs_rows)):
        out.append((int(f.obs_rows[i]), bytes(f.buf[f.ws_start[i]:f.end[i]]), f.start[i] - f.ws_start[i],
                    f.enter_ids[f.enter_off[i]:f.enter_off[i + 1]].tolist(),
                    f.leave_ids[f.leave_off[i]:f.leave_off[i + 1]].tolist()))
    return out


@pytest.mark.parametrize("phases, chunks", [(1, 2), (2, 3)])
def test_parallel_pass_matches_the_serial_pass_byte_for_byte(phases, chunks, monkeypatch):
    import world.sim.pipeline as pipeline
    monkeypatch.setattr(pipeline.numba, "get_num_threads", lambda: chunks)   # chunks, whatever the cores
    bounds = np.array([0.0, 0.0, 200.0, 200.0])
    grid = grid_for_bounds(bounds, 22.0)
    params = TickParams(r_enter=40.0, r_leave=44.0, cap=48, budget_bytes=320)   # cap and budget bind
    serial, parallel = world(1500), world(1500)
    rng = np.random.default_rng(9)
    events = [0, 0]
    for tick in range(1, 12):
        vr = rng.choice(1500, 200, replace=False)
        pose = rng.integers(0, 256, (200, 34), dtype=np.uint8)
        for b, _ in (serial, parallel):
            rows = np.array([b.row(int(e) + 1) for e in vr])
            b.pose[rows] = pose
            b.pose_tick[rows] = tick
            b.flags[rows] |= 1
        fs = step(*serial, grid, np.zeros((0, 4)), bounds, params, tick, phases, parallel=False)
        fp = step(*parallel, grid, np.zeros((0, 4)), bounds, params, tick, phases, parallel=True)
        assert frames(fs) == frames(fp)
        events[0] += len(fs.enter_ids[:fs.enter_off[-1]])
        events[1] += len(fs.leave_ids[:fs.leave_off[-1]])
    assert min(events) > 0                  # entities entered and left views along the way
    for name in ("known_ids", "known_n", "sent_q", "sent_tick"):
        assert np.array_equal(getattr(serial[1], name), getattr(parallel[1], name))
