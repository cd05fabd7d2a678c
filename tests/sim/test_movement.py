"""Movement rule, integrate, separation and the Bodies store."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from world.sim.grid import build_grid, grid_for_bounds
from world.sim.movement import Params, integrate, move_one, resolve_static, separate, wrap_angle
from world.sim.state import KIND_AGENT, KIND_AVATAR, Bodies

P = Params()
DT = 1.0 / 30.0
BOUNDS = np.array([0.0, 0.0, 20.0, 20.0])
NO_BOXES = np.zeros((0, 4))
TOL = 1e-6


def gap(x, y, box):
    """Signed distance to a box: minus the depth when the centre is inside."""
    dx = x - min(max(x, box[0]), box[2])
    dy = y - min(max(y, box[1]), box[3])
    if dx or dy:
        return math.hypot(dx, dy)
    return -min(x - box[0], box[2] - x, y - box[1], box[3] - y)


def clear_of(x, y, r, boxes):
    return all(gap(x, y, b) >= r - TOL for b in boxes)


def in_bounds(x, y, r, bounds):
    return (bounds[0] + r - TOL <= x <= bounds[2] - r + TOL
            and bounds[1] + r - TOL <= y <= bounds[3] - r + TOL)


def step(x, y, fwd, side, yaw, run, r=0.3, dt=DT, boxes=NO_BOXES, bounds=BOUNDS):
    return move_one(x, y, fwd, side, yaw, run, dt, P.walk_speed, P.run_speed, r, boxes, bounds)


unit = st.floats(-1, 1)
angles = st.floats(-10, 10)


def test_yaw_zero_faces_north_and_positive_yaw_turns_west():
    x, y = step(10.0, 10.0, 1.0, 0.0, 0.0, False, dt=1.0)
    assert (x, y) == pytest.approx((10.0, 13.0))
    x, y = step(10.0, 10.0, 1.0, 0.0, math.pi / 2, False, dt=1.0)
    assert (x, y) == pytest.approx((7.0, 10.0))
    x, y = step(10.0, 10.0, 0.0, 1.0, 0.0, True, dt=1.0)  # strafe right at yaw 0 is +x
    assert (x, y) == pytest.approx((16.0, 10.0))


@settings(deadline=None, max_examples=200)
@given(fwd=st.floats(-5, 5), side=st.floats(-5, 5), yaw=angles, run=st.booleans())
def test_speed_is_capped_whatever_the_intent(fwd, side, yaw, run):
    x, y = step(10.0, 10.0, fwd, side, yaw, run, bounds=np.array([-1e3, -1e3, 1e3, 1e3]))
    speed = P.run_speed if run else P.walk_speed
    assert math.hypot(x - 10.0, y - 10.0) <= speed * DT * (1 + 1e-12)


def test_diagonal_intent_moves_at_walk_speed_not_faster():
    x, y = step(10.0, 10.0, 1.0, 1.0, 0.3, False)
    assert math.hypot(x - 10.0, y - 10.0) == pytest.approx(P.walk_speed * DT)


def test_a_runaway_dt_is_cut_short_not_hung():
    huge = np.array([-1e15, -1e15, 1e15, 1e15])
    x, y = step(0.0, 0.0, 1.0, 0.0, 0.0, True, r=0.0, dt=1e12, bounds=huge)
    assert x == 0.0 and 0.0 < y <= 256 * 0.05 + 1e-9


def test_non_finite_intent_does_not_move():
    assert step(10.0, 10.0, math.nan, 0.0, 0.0, True) == (10.0, 10.0)
    assert step(10.0, 10.0, 1.0, 0.0, math.inf, True) == (10.0, 10.0)


boxes_st = st.lists(
    st.tuples(st.floats(0, 18), st.floats(0, 18), st.floats(0.2, 4), st.floats(0.2, 4)),
    min_size=1, max_size=6,
).map(lambda bs: np.array([(x, y, x + w, y + h) for x, y, w, h in bs], dtype=np.float64))


@settings(deadline=None, max_examples=300)
@given(boxes=boxes_st, x=st.floats(0.3, 19.7), y=st.floats(0.3, 19.7),
       fwd=unit, side=unit, yaw=angles, run=st.booleans(), r=st.floats(0.05, 0.6),
       dt=st.floats(0.001, 0.5))
def test_a_step_never_ends_inside_a_box_or_out_of_bounds(boxes, x, y, fwd, side, yaw, run, r, dt):
    assume(clear_of(x, y, r, boxes) and in_bounds(x, y, r, BOUNDS))
    nx, ny = step(x, y, fwd, side, yaw, run, r=r, dt=dt, boxes=boxes)
    assert clear_of(nx, ny, r, boxes)
    assert in_bounds(nx, ny, r, BOUNDS)


@pytest.mark.parametrize("r", [0.0, 0.05, 0.3, 0.5])
@pytest.mark.parametrize("yaw", [0.0, 0.3, -1.2, 0.7853981633974483])
@pytest.mark.parametrize("dt", [DT, 0.25])
def test_cannot_cross_a_thin_wall_running_into_it(r, yaw, dt):
    wall = np.array([[-60.0, 5.0, 60.0, 5.2]])  # 0.2 m thick, east-west, bounds to bounds
    bounds = np.array([-60.0, -60.0, 60.0, 60.0])
    x, y = 0.0, 4.0
    for _ in range(100):
        x, y = move_one(x, y, 1.0, 0.0, yaw, True, dt, P.walk_speed, P.run_speed, r, wall, bounds)
        assert y <= 5.0 - r + TOL
    # and from the other side, walking backwards
    x, y = 0.0, 6.0
    for _ in range(100):
        x, y = move_one(x, y, -1.0, 0.0, yaw, True, dt, P.walk_speed, P.run_speed, r, wall, bounds)
        assert y >= 5.2 + r - TOL


def test_stays_within_bounds_running_into_a_corner():
    x, y = 10.0, 10.0
    for _ in range(200):
        x, y = step(x, y, 1.0, -1.0, 0.4, True)
        assert in_bounds(x, y, 0.3, BOUNDS)
    assert (x, y) == pytest.approx((0.3, 19.7))


def test_a_gap_narrower_than_the_avatar_is_not_entered():
    boxes = np.array([[0.0, 5.0, 9.8, 5.2], [10.2, 5.0, 20.0, 5.2]])  # 0.4 m gap, r = 0.3
    x, y = 10.0, 4.0
    for _ in range(100):
        x, y = step(x, y, 1.0, 0.0, 0.0, True, boxes=boxes)
        assert clear_of(x, y, 0.3, boxes)
    assert y < 5.0


def test_resolve_static_pushes_out_through_the_nearest_face():
    boxes = np.array([[5.0, 5.0, 7.0, 6.0]])
    x, y, ok = resolve_static(5.2, 5.5, 0.3, boxes, BOUNDS)
    assert ok and x == pytest.approx(4.7) and y == 5.5


def test_a_box_against_the_world_edge_is_left_inward():
    boxes = np.array([[0.0, 5.0, 1.0, 9.0]])  # touches the west bound; west is nearest
    x, y, ok = resolve_static(0.1, 7.0, 0.3, boxes, BOUNDS)
    assert ok and x == pytest.approx(1.3) and y == 7.0


def test_wrap_angle_is_half_open():
    for a in [-math.pi, math.pi, 3 * math.pi, -1e-17, 0.0, 7.0, -7.0]:
        w = wrap_angle(a)
        assert -math.pi <= w < math.pi
        assert math.isclose(math.cos(w), math.cos(a), abs_tol=1e-9)
        assert math.isclose(math.sin(w), math.sin(a), abs_tol=1e-9)


def make_bodies(points, r=0.3):
    b = Bodies()
    for k, (x, y) in enumerate(points):
        b.add(100 + k, KIND_AVATAR, x, y, radius=r)
    return b


def run_integrate(b, dt=DT, boxes=NO_BOXES, bounds=BOUNDS):
    n = b.n
    integrate(b.x[:n], b.y[:n], b.yaw[:n], b.ux[:n], b.uy[:n], b.iyaw[:n], b.run[:n],
              b.radius[:n], b.moved[:n], n, dt, P.walk_speed, P.run_speed, boxes, bounds)


def test_integrate_moves_rows_sets_yaw_and_moved_flags():
    b = make_bodies([(5.0, 5.0), (10.0, 10.0), (15.0, 15.0)])
    b.set_intent(0, 1.0, 0.0, 4.0, False)       # yaw wraps to 4 - 2pi
    b.set_intent(2, 0.0, 1.0, -math.pi / 2, True)
    run_integrate(b)
    assert b.yaw[0] == pytest.approx(4.0 - 2 * math.pi)
    assert b.moved[:3].tolist() == [True, False, True]
    ex, ey = move_one(5.0, 5.0, 1.0, 0.0, b.yaw[0], False, DT, P.walk_speed, P.run_speed, 0.3,
                      NO_BOXES, BOUNDS)
    assert (b.x[0], b.y[0]) == (ex, ey)  # integrate is exactly move_one per row
    assert (b.x[1], b.y[1]) == (10.0, 10.0)
    assert b.x[2] == 15.0 and b.y[2] == pytest.approx(15.0 - P.run_speed * DT)


def test_integrate_cannot_cross_a_wall_at_run_speed():
    wall = np.array([[0.0, 10.0, 20.0, 10.2]])
    b = make_bodies([(3.0, 8.0), (12.0, 12.0)])
    b.set_intent(0, 1.0, 0.0, 0.0, True)
    b.set_intent(1, -1.0, 0.0, 0.0, True)
    for _ in range(100):
        run_integrate(b, boxes=wall)
    assert b.y[0] == pytest.approx(9.7, abs=1e-6) and b.y[1] == pytest.approx(10.5, abs=1e-6)


def run_separate(b, boxes=NO_BOXES, bounds=BOUNDS, cell=2.0):
    n = b.n
    spec = grid_for_bounds(bounds, cell)
    cell_start, cell_rows = build_grid(b.x[:n], b.y[:n], n, *spec)
    moved = np.zeros(n, np.bool_)
    count = separate(b.x[:n], b.y[:n], b.radius[:n], n, cell_start, cell_rows, *spec,
                     boxes, bounds, moved)
    return count, moved


def overlapping_pairs(b):
    n = b.n
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            if math.hypot(b.x[i] - b.x[j], b.y[i] - b.y[j]) < b.radius[i] + b.radius[j] - TOL:
                out.append((i, j))
    return out


@settings(deadline=None, max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), pairs=st.integers(0, 12))
def test_separate_leaves_no_overlap_in_sparse_layouts(seed, pairs):
    rng = np.random.default_rng(seed)
    # well-spaced anchors on a 3 m lattice, each with a partner that overlaps it (or coincides)
    anchors = [(1.5 + 3 * (k % 6), 1.5 + 3 * (k // 6)) for k in range(pairs)]
    points = []
    for ax, ay in anchors:
        off = rng.uniform(-0.5, 0.5, 2) if rng.random() < 0.8 else np.zeros(2)
        points += [(ax, ay), (ax + off[0], ay + off[1])]
    b = make_bodies(points)
    count, moved = run_separate(b)
    assert overlapping_pairs(b) == []
    assert count == moved.sum()


def test_separate_splits_coincident_rows_along_x_by_row_order():
    b = make_bodies([(10.0, 10.0), (10.0, 10.0)])
    run_separate(b)
    assert b.x[0] < 10.0 < b.x[1] and b.y[0] == b.y[1] == 10.0
    assert b.x[1] - b.x[0] == pytest.approx(0.6, abs=1e-6)


@settings(deadline=None, max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60), boxes=boxes_st)
def test_separate_never_pushes_into_boxes_or_out_of_bounds(seed, n, boxes):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0.3, 19.7, (n * 4, 2))
    pts = [p for p in pts if clear_of(p[0], p[1], 0.3, boxes)][:n]
    # crowd them toward the walls and each other
    pts += [(p[0] + 0.1, p[1]) for p in pts[: n // 2] if clear_of(p[0] + 0.1, p[1], 0.3, boxes)]
    b = make_bodies(pts)
    run_separate(b, boxes=boxes)
    for i in range(b.n):
        assert clear_of(b.x[i], b.y[i], 0.3, boxes)
        assert in_bounds(b.x[i], b.y[i], 0.3, BOUNDS)


def test_bodies_swap_remove_keeps_rows_consistent_and_grows():
    b = Bodies()
    for k in range(200):  # past the starting capacity of 64, twice
        assert b.add(k, KIND_AGENT if k % 2 else KIND_AVATAR, float(k), 0.0) == k
    assert b.capacity == 256 and len(b) == 200
    b.remove(3)
    assert len(b) == 199 and 3 not in b
    assert b.row(199) == 3 and b.x[3] == 199.0 and b.kind[3] == KIND_AGENT
    b.remove(198)  # the last row: nothing moves
    assert len(b) == 198 and b.ids[197] == 197
    for eid, row in b.row_of.items():
        assert b.ids[row] == eid
    assert sorted(b.row_of.values()) == list(range(len(b)))
    with pytest.raises(KeyError):
        b.row(3)
    with pytest.raises(ValueError):
        b.add(5, KIND_AVATAR, 0.0, 0.0)


def test_set_intent_clamps_to_unit_range():
    b = make_bodies([(1.0, 1.0)])
    b.set_intent(0, 3.0, -math.inf, 1.0, True)
    assert (b.fwd[0], b.side[0], b.iyaw[0], b.run[0]) == (1.0, 0.0, 1.0, True)
