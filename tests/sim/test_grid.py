"""Grid build and neighbour queries agree exactly with numpy brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from world.sim.grid import (
    GridSpec, build_grid, cell_coord, diff_sorted, grid_for_bounds, query_neighbours, rows_within,
)

BOUNDS = np.array([0.0, 0.0, 40.0, 30.0])


def brute_neighbours(x, y, i, r, cap):
    """Rows j != i with d2 <= r*r; over cap keep nearest (ties: lower row); sorted by row."""
    dx = x - x[i]
    dy = y - y[i]
    d2 = dx * dx + dy * dy
    rows = np.flatnonzero(d2 <= r * r)
    rows = rows[rows != i]
    if len(rows) > cap:
        order = np.lexsort((rows, d2[rows]))
        rows = rows[order[:max(cap, 0)]]
    return np.sort(rows).astype(np.int32)


def brute_within(x, y, cx, cy, r):
    dx = x - cx
    dy = y - cy
    return np.flatnonzero(dx * dx + dy * dy <= r * r).astype(np.int32)


def make_layout(mode: str, n: int, seed: int, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions for a test: uniform, clustered, on cell borders/lattice, or partly outside."""
    rng = np.random.default_rng(seed)
    if mode == "uniform":
        x = rng.uniform(0, 40, n)
        y = rng.uniform(0, 30, n)
    elif mode == "clusters":
        centres = rng.uniform(0, 30, (3, 2))
        pick = rng.integers(0, 3, n)
        x = centres[pick, 0] + rng.normal(0, 0.5, n)
        y = centres[pick, 1] + rng.normal(0, 0.5, n)
    elif mode == "borders":
        # Exactly on cell borders and on an integer lattice: exact-distance ties and duplicates.
        x = rng.integers(0, 9, n) * (cell / 2)
        y = rng.integers(0, 7, n) * (cell / 2)
    elif mode == "corner":
        # Everything in one corner: most of the grid is empty space.
        x = rng.uniform(38, 40, n)
        y = rng.uniform(0, 2, n)
    else:  # "outside": beyond the grid on every side, clamped into border cells
        x = rng.uniform(-60, 100, n)
        y = rng.uniform(-50, 80, n)
    return x.astype(np.float64), y.astype(np.float64)


layouts = st.sampled_from(["uniform", "clusters", "borders", "corner", "outside"])


def pick_observers(n: int, how: str, seed: int) -> np.ndarray:
    """All rows in reverse, or a random subset, or random rows with repeats."""
    rng = np.random.default_rng(seed)
    if how == "all" or n == 0:
        return np.arange(n, dtype=np.int32)[::-1].copy()
    if how == "subset":
        return rng.permutation(n)[:rng.integers(0, n + 1)].astype(np.int32)
    return rng.integers(0, n, rng.integers(1, 2 * n + 1)).astype(np.int32)


def assert_lists_equal_brute_force(observers, offsets, rows, x, y, r, cap):
    assert offsets.dtype == np.int32 and rows.dtype == np.int32
    assert len(offsets) == len(observers) + 1 and offsets[0] == 0 and offsets[-1] == len(rows)
    for o, i in enumerate(observers):
        got = np.sort(rows[offsets[o]:offsets[o + 1]])  # lists come in no particular order
        np.testing.assert_array_equal(got, brute_neighbours(x, y, i, r, cap))


@settings(deadline=None, max_examples=200)
@given(mode=layouts, n=st.integers(0, 120), seed=st.integers(0, 2**32 - 1),
       cell=st.sampled_from([1.0, 2.5, 4.0, 10.0, 50.0]),
       r=st.sampled_from([0.0, 0.5, 1.0, 2.0, 2.5, 3.7, 5.0, 12.0, 100.0]),
       cap=st.integers(0, 130), how=st.sampled_from(["all", "subset", "repeats"]))
def test_neighbour_lists_equal_brute_force(mode, n, seed, cell, r, cap, how):
    x, y = make_layout(mode, n, seed, cell)
    spec = grid_for_bounds(BOUNDS, cell)
    cell_start, cell_rows = build_grid(x, y, n, *spec)
    observers = pick_observers(n, how, seed)
    offsets, rows = query_neighbours(observers, x, y, n, cell_start, cell_rows, *spec, r, cap)
    assert_lists_equal_brute_force(observers, offsets, rows, x, y, r, cap)


@settings(deadline=None, max_examples=25)
@given(n=st.integers(300, 2000), seed=st.integers(0, 2**32 - 1),
       cell_per_r=st.sampled_from([0.3, 0.5, 1.0, 1.7]), cap=st.sampled_from([4, 32, 10_000]))
def test_crowds_at_tick_scale_equal_brute_force(n, seed, cell_per_r, cap):
    # Uniform crowd with ~50 neighbours each, plus a dense knot where the cap binds.
    rng = np.random.default_rng(seed)
    r = 30.0
    side = float(np.sqrt(n * np.pi * r * r / 50))
    x = rng.uniform(0, side, n)
    y = rng.uniform(0, side, n)
    knot = rng.integers(0, n, n // 10)
    x[knot] = side / 2 + rng.normal(0, 2, len(knot))
    y[knot] = side / 2 + rng.normal(0, 2, len(knot))
    spec = grid_for_bounds(np.array([0.0, 0.0, side, side]), r * cell_per_r)
    cell_start, cell_rows = build_grid(x, y, n, *spec)
    observers = pick_observers(n, "subset", seed)
    offsets, rows = query_neighbours(observers, x, y, n, cell_start, cell_rows, *spec, r, cap)
    assert_lists_equal_brute_force(observers, offsets, rows, x, y, r, cap)


def test_nan_positions_see_nobody_and_are_seen_by_nobody():
    x = np.array([1.0, np.nan, 2.0, 3.0])
    y = np.array([1.0, 1.0, np.nan, 1.0])
    spec = grid_for_bounds(BOUNDS, 2.0)
    cell_start, cell_rows = build_grid(x, y, 4, *spec)
    for observers in (np.arange(4, dtype=np.int32), np.arange(4, dtype=np.int32)[::-1].copy()):
        offsets, rows = query_neighbours(observers, x, y, 4, cell_start, cell_rows, *spec, 10.0, 8)
        assert_lists_equal_brute_force(observers, offsets, rows, x, y, 10.0, 8)
        lists = {int(i): sorted(rows[offsets[o]:offsets[o + 1]].tolist())
                 for o, i in enumerate(observers)}
        assert lists == {0: [3], 1: [], 2: [], 3: [0]}


def test_negative_or_nan_radius_and_negative_cap_give_empty_lists():
    x = np.array([1.0, 2.0, 3.0])
    spec = grid_for_bounds(BOUNDS, 2.0)
    cell_start, cell_rows = build_grid(x, x, 3, *spec)
    observers = np.arange(3, dtype=np.int32)
    for r, cap in [(-1.0, 8), (np.nan, 8), (10.0, -3)]:
        offsets, rows = query_neighbours(observers, x, x, 3, cell_start, cell_rows, *spec, r, cap)
        assert offsets.tolist() == [0, 0, 0, 0] and len(rows) == 0


def test_infinite_radius_sees_everyone():
    x, y = make_layout("outside", 50, 7, 10.0)
    spec = grid_for_bounds(BOUNDS, 10.0)
    cell_start, cell_rows = build_grid(x, y, 50, *spec)
    observers = np.arange(50, dtype=np.int32)
    offsets, rows = query_neighbours(observers, x, y, 50, cell_start, cell_rows, *spec, np.inf,
                                     1000)
    assert np.diff(offsets).tolist() == [49] * 50


def test_no_observers_and_no_rows():
    spec = grid_for_bounds(BOUNDS, 5.0)
    x = np.zeros(0)
    cell_start, cell_rows = build_grid(x, x, 0, *spec)
    assert cell_start.shape == (spec.nx * spec.ny + 1,) and not cell_start.any()
    offsets, rows = query_neighbours(np.zeros(0, np.int32), x, x, 0, cell_start, cell_rows,
                                     *spec, 10.0, 8)
    assert offsets.tolist() == [0] and len(rows) == 0


def test_single_row_sees_nobody():
    spec = grid_for_bounds(BOUNDS, 5.0)
    x = np.array([3.0])
    cell_start, cell_rows = build_grid(x, x, 1, *spec)
    offsets, rows = query_neighbours(np.zeros(1, np.int32), x, x, 1, cell_start, cell_rows,
                                     *spec, 10.0, 8)
    assert offsets.tolist() == [0, 0] and len(rows) == 0


def test_cap_keeps_the_nearest_and_breaks_ties_by_lower_row():
    #          row: 0 (observer), 1     2     3     4     5
    x = np.array([10.0, 14.0, 11.0, 13.0, 12.0, 8.0])
    y = np.full(6, 10.0)
    spec = grid_for_bounds(BOUNDS, 2.0)
    cell_start, cell_rows = build_grid(x, y, 6, *spec)
    offsets, rows = query_neighbours(np.array([0], np.int32), x, y, 6, cell_start, cell_rows,
                                     *spec, 10.0, 3)
    # distances: 1->4, 2->1, 3->3, 4->2, 5->2; nearest three: 2, then the 4/5 tie (both kept)
    assert sorted(rows.tolist()) == [2, 4, 5]
    offsets, rows = query_neighbours(np.array([0], np.int32), x, y, 6, cell_start, cell_rows,
                                     *spec, 10.0, 2)
    assert sorted(rows.tolist()) == [2, 4]  # tie at distance 2: lower row wins


def test_distance_exactly_r_is_included():
    x = np.array([5.0, 8.0, 5.0])
    y = np.array([5.0, 5.0, 9.0])
    spec = grid_for_bounds(BOUNDS, 3.0)  # row 1 sits exactly on a cell border
    cell_start, cell_rows = build_grid(x, y, 3, *spec)
    offsets, rows = query_neighbours(np.array([0], np.int32), x, y, 3, cell_start, cell_rows,
                                     *spec, 3.0, 10)
    assert rows.tolist() == [1]
    offsets, rows = query_neighbours(np.array([0], np.int32), x, y, 3, cell_start, cell_rows,
                                     *spec, 4.0, 10)
    assert sorted(rows.tolist()) == [1, 2]


@settings(deadline=None, max_examples=80)
@given(mode=layouts, n=st.integers(0, 80), seed=st.integers(0, 2**32 - 1),
       cell=st.sampled_from([1.0, 2.5, 10.0]),
       cx=st.floats(-10, 50), cy=st.floats(-10, 40), r=st.floats(0, 30))
def test_rows_within_equals_brute_force(mode, n, seed, cell, cx, cy, r):
    x, y = make_layout(mode, n, seed, cell)
    spec = grid_for_bounds(BOUNDS, cell)
    cell_start, cell_rows = build_grid(x, y, n, *spec)
    got = rows_within(cx, cy, r, x, y, n, cell_start, cell_rows, *spec)
    np.testing.assert_array_equal(got, brute_within(x, y, cx, cy, r))


def test_rows_within_handles_zero_and_one_rows():
    spec = grid_for_bounds(BOUNDS, 5.0)
    x = np.zeros(0)
    cell_start, cell_rows = build_grid(x, x, 0, *spec)
    assert rows_within(1.0, 1.0, 10.0, x, x, 0, cell_start, cell_rows, *spec).tolist() == []
    x = np.array([3.0])
    cell_start, cell_rows = build_grid(x, x, 1, *spec)
    assert rows_within(1.0, 1.0, 10.0, x, x, 1, cell_start, cell_rows, *spec).tolist() == [0]
    assert rows_within(1.0, 1.0, 1.0, x, x, 1, cell_start, cell_rows, *spec).tolist() == []


@settings(deadline=None, max_examples=60)
@given(mode=layouts, n=st.integers(0, 80), seed=st.integers(0, 2**32 - 1),
       cell=st.sampled_from([1.0, 2.5, 10.0]))
def test_build_grid_is_a_permutation_sorted_by_cell(mode, n, seed, cell):
    x, y = make_layout(mode, n, seed, cell)
    spec = grid_for_bounds(BOUNDS, cell)
    cell_start, cell_rows = build_grid(x, y, n, *spec)
    assert cell_start.dtype == np.int32 and cell_rows.dtype == np.int32
    assert sorted(cell_rows.tolist()) == list(range(n))
    assert cell_start[0] == 0 and cell_start[-1] == n and np.all(np.diff(cell_start) >= 0)
    for c in range(spec.nx * spec.ny):
        members = cell_rows[cell_start[c]:cell_start[c + 1]]
        assert np.all(np.diff(members) > 0)
        for i in members:
            cx = cell_coord(x[i], spec.origin_x, spec.cell, spec.nx)
            cy = cell_coord(y[i], spec.origin_y, spec.cell, spec.ny)
            assert cy * spec.nx + cx == c


def test_positions_outside_are_clamped_to_border_cells():
    spec = GridSpec(0.0, 0.0, 10.0, 3, 2)
    x = np.array([-5.0, 100.0, np.nan])
    y = np.array([-5.0, 100.0, 5.0])
    cell_start, cell_rows = build_grid(x, y, 3, *spec)
    counts = np.diff(cell_start)
    assert counts[0] == 2 and counts[5] == 1  # (-5,-5) and NaN in cell 0, (100,100) in the last


def test_grid_for_bounds_covers_the_bounds():
    spec = grid_for_bounds(np.array([-10.0, 5.0, 31.0, 25.0]), 10.0)
    assert spec == GridSpec(-10.0, 5.0, 10.0, 5, 2)
    with pytest.raises(ValueError):
        grid_for_bounds(BOUNDS, 0.0)


id_sets = st.sets(st.integers(0, 2**32 - 1), max_size=40)


@settings(deadline=None, max_examples=100)
@given(prev=id_sets, new=id_sets)
def test_diff_sorted_reports_entered_and_left(prev, new):
    a = np.array(sorted(prev), np.uint32)
    b = np.array(sorted(new), np.uint32)
    entered, left = diff_sorted(a, b)
    assert entered.dtype == np.uint32 and left.dtype == np.uint32
    assert entered.tolist() == sorted(new - prev)
    assert left.tolist() == sorted(prev - new)
