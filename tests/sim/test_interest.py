"""Interest management: hysteresis, nearest cap, change tracking, budget and snapshot frames.

Every test steps real Bodies through `world.sim.pipeline.step` and replays each observer's
frames into a client-side model (the ids it knows, the last record and tick of each). After
every tick `Scene.step` checks the frames against a reference model of the promises: the
known set, exact enter/leave, records equal to the quantised state of that tick, unchanged
entities not resent, mandatory records present, the byte budget kept and not wasted, poses
beside their body records, and a valid WebSocket header in front of every msgpack frame.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import msgpack
import numpy as np
from hypothesis import assume, given, settings, strategies as st

from world.protocol import records
from world.sim.grid import grid_for_bounds
from world.sim.pipeline import Frames, Interest, TickParams, step
from world.sim.state import KIND_AVATAR, Bodies

BOUNDS = np.array([-100.0, -100.0, 100.0, 100.0])
NO_BOXES = np.zeros((0, 4), np.float64)
BODY = records.BODY_DTYPE.itemsize
POSE = records.POSE_DTYPE.itemsize


def tick_params(**overrides) -> TickParams:
    """Small radii for small worlds; everything else explicit."""
    base = dict(r_enter=20.0, r_leave=24.0, near_r=5.0, cap=128, budget_bytes=640, max_interval=10)
    base.update(overrides)
    return TickParams(**base)


# -- decoding what a client receives --------------------------------------------------------------

class Snap(NamedTuple):
    tick: int
    ack: int | None
    bodies: np.ndarray          # BODY_DTYPE records, the observer's own first
    poses: np.ndarray | None    # POSE_DTYPE records, or None when the frame has no 'p'
    enters: list[int]
    leaves: list[int]


def websocket_payload(framed: bytes) -> bytes:
    """The payload of one unmasked binary RFC 6455 frame, checking the header is minimal."""
    assert framed[0] == 0x82, "FIN + binary opcode"
    n7 = framed[1]
    assert n7 & 0x80 == 0, "a server's frames are not masked"
    if n7 < 126:
        length, head = n7, 2
    elif n7 == 126:
        length, head = int.from_bytes(framed[2:4], "big"), 4
        assert length >= 126, "16-bit length only when 7 bits do not suffice"
    else:
        length, head = int.from_bytes(framed[2:10], "big"), 10
        assert length >= 65536, "64-bit length only when 16 bits do not suffice"
    assert len(framed) - head == length, f"header says {length} bytes, {len(framed) - head} follow"
    return framed[head:]


def decode(frames: Frames, i: int) -> Snap:
    """Observer i's frame as a client sees it, events included."""
    payload = bytes(frames.buf[frames.start[i]:frames.end[i]])
    assert websocket_payload(bytes(frames.buf[frames.ws_start[i]:frames.end[i]])) == payload
    msg = msgpack.unpackb(payload)
    assert msg["t"] == "snap"
    assert set(msg) == ({"t", "tick", "ack", "b", "p"} if "p" in msg else {"t", "tick", "ack", "b"})
    assert len(msg["b"]) % BODY == 0
    poses = None
    if "p" in msg:
        assert len(msg["p"]) % POSE == 0 and len(msg["p"]) > 0
        poses = records.poses_from_bytes(msg["p"])
    enters = frames.enter_ids[frames.enter_off[i]:frames.enter_off[i + 1]].tolist()
    leaves = frames.leave_ids[frames.leave_off[i]:frames.leave_off[i + 1]].tolist()
    return Snap(msg["tick"], msg["ack"], records.bodies_from_bytes(msg["b"]), poses, enters, leaves)


def record_key(rec) -> tuple[int, int, int, int]:
    return int(rec["x"]), int(rec["y"]), int(rec["z"]), int(rec["yawf"])


# -- a space under test and its clients -----------------------------------------------------------

class Client:
    """What one observer's client knows: ids in view, last record and the tick it came."""

    def __init__(self) -> None:
        self.known: set[int] = set()
        self.last: dict[int, tuple[int, int, int, int]] = {}
        self.last_tick: dict[int, int] = {}
        self.snaps: list[Snap] = []


class Scene:
    """Bodies, interest slots and grid of one small space, stepped and checked tick by tick."""

    def __init__(self, params: TickParams, interest_cap: int | None = None, slots: int = 4) -> None:
        self.params = params
        self.bodies = Bodies()
        self.interest = Interest(slots=slots, cap=params.cap if interest_cap is None else interest_cap)
        self.grid = grid_for_bounds(BOUNDS, params.r_leave / 2.0)
        self.clients: dict[int, Client] = {}
        self.tick = 0

    # setup
    def add(self, eid: int, x: float, y: float, *, z: float = 0.0, yaw: float = 0.0,
            observer: bool = False) -> int:
        # radius 0: no separation pushes, so scripted positions are exactly where bodies are
        row = self.bodies.add(eid, KIND_AVATAR, x, y, z, yaw, radius=0.0, observer=observer)
        if observer:
            self.open(eid)
        return row

    def open(self, eid: int) -> None:
        self.bodies.slot[self.bodies.row(eid)] = self.interest.open_slot()
        self.clients[eid] = Client()

    def close(self, eid: int) -> None:
        row = self.bodies.row(eid)
        self.interest.close_slot(int(self.bodies.slot[row]))
        self.bodies.slot[row] = -1
        del self.clients[eid]

    def remove(self, eid: int) -> None:
        if eid in self.clients:
            self.close(eid)
        self.bodies.remove(eid)

    def place(self, eid: int, x: float | None = None, y: float | None = None, *,
              z: float | None = None, yaw: float | None = None) -> None:
        """Script a position (and yaw) for the next tick; intents stay zero so nothing drifts."""
        b, row = self.bodies, self.bodies.row(eid)
        if x is not None:
            b.x[row] = x
        if y is not None:
            b.y[row] = y
        if z is not None:
            b.z[row] = z
        if yaw is not None:
            b.yaw[row] = yaw
            b.iyaw[row] = yaw          # integrate sets yaw from the intended yaw
        b.set_intent(row, 0.0, 0.0, b.iyaw[row], False)

    def set_pose(self, eid: int, seed: int) -> bytes:
        """A new VR pose record for the next tick; returns its bytes."""
        rec = np.zeros(1, records.POSE_DTYPE)
        rec["id"] = eid
        rng = np.random.default_rng(seed)
        for p in "hlr":
            rec[p + "x"], rec[p + "y"], rec[p + "z"] = rng.integers(-2000, 2000, 3)
            rec[p + "q"] = rng.integers(0, 2**32, dtype=np.uint64)
        row = self.bodies.row(eid)
        self.bodies.pose[row] = rec.view(np.uint8)
        self.bodies.pose_tick[row] = self.tick + 1
        self.bodies.flags[row] |= records.FLAG_VR
        return rec.tobytes()

    def slot(self, eid: int) -> int:
        return int(self.bodies.slot[self.bodies.row(eid)])

    # the tick
    def step(self) -> dict[int, Snap]:
        """One tick; every observer's frame is checked against the reference model."""
        self.tick += 1
        frames = step(self.bodies, self.interest, self.grid, NO_BOXES, BOUNDS, self.params, self.tick)
        b = self.bodies
        observers = [int(e) for e in b.ids[:b.n][b.slot[:b.n] >= 0]]
        # frames come in the kernel's serving order (cell order): one per observer
        assert sorted(int(b.ids[r]) for r in frames.obs_rows) == sorted(observers)
        assert len(frames.enter_off) == len(frames.leave_off) == len(observers) + 1
        snaps = {}
        for i, row in enumerate(frames.obs_rows):
            eid = int(b.ids[row])
            snap = decode(frames, i)
            self.check(eid, snap)
            snaps[eid] = snap
        return snaps

    def state(self, row: int) -> tuple[int, int, int, int]:
        """The quantised state of a row, by the numpy reference in records.py."""
        b = self.bodies
        return (int(records.quantise_pos(b.x[row])), int(records.quantise_pos(b.y[row])),
                int(records.quantise_pos(b.z[row])), int(records.pack_yaw_flags(b.yaw[row], b.flags[row])))

    def expected_known(self, o: int, prev: set[int]) -> set[int]:
        """Within r_enter, or within r_leave and already known; the nearest `cap` of those."""
        b, p, n = self.bodies, self.params, self.bodies.n
        dx = b.x[:n] - b.x[o]
        dy = b.y[:n] - b.y[o]
        d2 = dx * dx + dy * dy
        ids = b.ids[:n].astype(np.int64)
        known = np.isin(ids, np.fromiter(prev, np.int64, len(prev)))
        cand = (d2 <= p.r_enter ** 2) | ((d2 <= p.r_leave ** 2) & known)
        cand[o] = False
        rows = np.flatnonzero(cand)
        cap = min(p.cap, self.interest.cap)
        if len(rows) > cap:
            rows = rows[np.argsort(d2[rows], kind="stable")[:cap]]
        return set(ids[rows].tolist())

    def check(self, eid: int, snap: Snap) -> None:
        b, p, client, tick = self.bodies, self.params, self.clients[eid], self.tick
        o = b.row(eid)
        s = self.slot(eid)
        assert snap.tick == tick
        assert snap.ack == (None if self.interest.acks[s] < 0 else int(self.interest.acks[s]))
        prev = client.known
        want = self.expected_known(o, prev)
        # exact enter / leave: each id once, and only across the border of the known set
        assert len(snap.enters) == len(set(snap.enters)) and len(snap.leaves) == len(set(snap.leaves))
        assert not set(snap.enters) & prev, "entered twice without leaving"
        assert set(snap.leaves) <= prev, "left without having entered"
        known = (prev - set(snap.leaves)) | set(snap.enters)
        assert known == want
        kernel = [e for e in self.interest.known_ids[s, :self.interest.known_n[s]].tolist() if e >= 0]
        assert len(kernel) == len(set(kernel)) and set(kernel) == known   # -1 marks a reusable hole
        # records: own first, then each known id at most once, with this tick's state
        recs = snap.bodies
        assert len(recs) >= 1 and int(recs[0]["id"]) == eid
        assert record_key(recs[0]) == self.state(o)
        sent = [int(r["id"]) for r in recs[1:]]
        assert len(sent) == len(set(sent)) and set(sent) <= known
        assert set(snap.enters) <= set(sent), "an entered id comes with its record"
        for r in recs[1:]:
            assert record_key(r) == self.state(b.row(int(r["id"])))
        # change tracking against what this client last received
        px, py = b.x[o], b.y[o]
        mandatory, changed = set(snap.enters), set()
        for e in known - set(snap.enters):
            row = b.row(e)
            if client.last[e] != self.state(row) or b.pose_tick[row] > client.last_tick[e]:
                changed.add(e)
                dx, dy = b.x[row] - px, b.y[row] - py
                if dx * dx + dy * dy <= p.near_r ** 2 or tick - client.last_tick[e] >= p.max_interval:
                    mandatory.add(e)
        assert set(sent) - set(snap.enters) <= changed, "an unchanged entity was resent"
        assert mandatory <= set(sent), f"mandatory records missing: {sorted(mandatory - set(sent))}"
        # the byte budget holds for optional records and is not wasted while changes wait

        def cost(e: int) -> int:
            return BODY + (POSE if b.flags[b.row(e)] & records.FLAG_VR else 0)
        used = BODY + sum(cost(e) for e in sent)
        assert used <= max(p.budget_bytes, BODY + sum(cost(e) for e in mandatory))
        waiting = changed - set(sent)
        if waiting and all(cost(e) == BODY for e in changed):
            assert used + BODY > p.budget_bytes, "budget left unused while changes wait"
            # priority: no waiting entity is at once staler, nearer and no less in front than
            # an optional one that was sent (equal on all three is a tie either way)
            fx, fy = -math.sin(b.yaw[o]), math.cos(b.yaw[o])

            def rank(e: int) -> tuple[int, bool, float]:
                dx, dy = b.x[b.row(e)] - px, b.y[b.row(e)] - py
                return tick - client.last_tick[e], dx * fx + dy * fy > 0.0, dx * dx + dy * dy
            for e in set(sent) - mandatory:
                age, front, d2 = rank(e)
                for w in waiting:
                    w_age, w_front, w_d2 = rank(w)
                    tie = abs(w_d2 - d2) <= 1e-9 * max(1.0, d2)    # float noise is a tie
                    assert not (w_age >= age and w_front >= front and (w_d2 < d2 and not tie)
                                or (w_age > age and w_front >= front and (w_d2 <= d2 or tie))
                                or (w_age >= age and w_front > front and (w_d2 <= d2 or tie))), \
                        f"{w} waits while {e}, ranked lower, was sent"
        # poses follow their body records, in the same order
        vr = [e for e in sent if b.flags[b.row(e)] & records.FLAG_VR]
        if vr:
            assert snap.poses is not None
            assert snap.poses.tobytes() == b"".join(b.pose[b.row(e)].tobytes() for e in vr)
        else:
            assert snap.poses is None
        # the client applies the frame
        client.known = known
        for e in snap.leaves:
            client.last.pop(e)
            client.last_tick.pop(e)
        for r in recs[1:]:
            client.last[int(r["id"])] = record_key(r)
            client.last_tick[int(r["id"])] = tick
        client.snaps.append(snap)


def record_ids(snap: Snap) -> list[int]:
    """Ids of the records other than the observer's own."""
    return [int(e) for e in snap.bodies["id"][1:]]


# -- 1. exactness over random walks ---------------------------------------------------------------

@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 60), n_obs=st.integers(1, 4),
       cap=st.sampled_from([3, 8, 128]), budget=st.sampled_from([16, 64, 200, 640]),
       max_interval=st.integers(1, 6))
def test_known_set_and_events_stay_exact_over_random_walks(seed, n, n_obs, cap, budget, max_interval):
    rng = np.random.default_rng(seed)
    scene = Scene(tick_params(cap=cap, budget_bytes=budget, max_interval=max_interval))
    ids = list(dict.fromkeys(rng.integers(1, 2**32, n + 40).tolist()))  # large ids probe the hashing
    fresh = ids[n:]
    for k, eid in enumerate(ids[:n]):
        scene.add(eid, *rng.uniform(-40, 40, 2), yaw=rng.uniform(-math.pi, math.pi),
                  observer=k < n_obs)
    observers = ids[:n_obs]
    removed: list[int] = []
    for _ in range(40):
        for eid in [int(e) for e in scene.bodies.ids[:scene.bodies.n]]:
            u = rng.random()
            row = scene.bodies.row(eid)
            if u < 0.4:        # a step
                scene.place(eid, scene.bodies.x[row] + rng.normal(0, 1.0),
                            scene.bodies.y[row] + rng.normal(0, 1.0))
            elif u < 0.5:      # a teleport, often across the radius
                scene.place(eid, *rng.uniform(-40, 40, 2))
            elif u < 0.55:
                scene.place(eid, yaw=rng.uniform(-math.pi, math.pi))
            elif u < 0.58:
                scene.bodies.flags[row] ^= records.FLAG_SPEAKING
            elif u < 0.62:
                scene.set_pose(eid, seed=int(rng.integers(2**32)))
            # else: still
        if rng.random() < 0.3 and scene.bodies.n > n_obs:
            others = [int(e) for e in scene.bodies.ids[:scene.bodies.n] if int(e) not in observers]
            gone = others[rng.integers(len(others))]
            scene.remove(gone)
            removed.append(gone)
        if rng.random() < 0.3 and (removed or fresh):
            if removed and (rng.random() < 0.5 or not fresh):
                back = removed.pop(rng.integers(len(removed)))
            else:
                back = fresh.pop()
            scene.add(back, *rng.uniform(-40, 40, 2))
        scene.step()
    # the walk really exercised entering and leaving
    snaps = [s for c in scene.clients.values() for s in c.snaps]
    assert len(snaps) == 40 * n_obs
    # (a walk that happened to produce no enter or no leave proves less: hypothesis tries another)
    assume(sum(len(s.enters) for s in snaps) > 0 and sum(len(s.leaves) for s in snaps) > 0)


def test_removed_entity_leaves_and_readded_one_enters_again():
    scene = Scene(tick_params())
    scene.add(1, 0.0, 0.0, observer=True)
    scene.add(2, 8.0, 0.0)
    assert scene.step()[1].enters == [2]
    scene.remove(2)
    assert scene.step()[1].leaves == [2]
    scene.add(2, 9.0, 0.0)
    snap = scene.step()[1]
    assert snap.enters == [2] and record_ids(snap) == [2]


# -- 2. hysteresis --------------------------------------------------------------------------------

def oscillate(scene: Scene, angle: float, radii: list[float], ticks: int) -> tuple[int, int]:
    """Entity 2 alternates between the given distances from observer 1; (enters, leaves)."""
    ux, uy = math.cos(angle), math.sin(angle)
    enters = leaves = 0
    for t in range(ticks):
        r = radii[t % len(radii)]
        scene.place(2, r * ux, r * uy)
        snap = scene.step()[1]
        enters += snap.enters.count(2)
        leaves += snap.leaves.count(2)
    return enters, leaves


@settings(deadline=None, max_examples=20)
@given(angle=st.floats(-math.pi, math.pi), jitter=st.floats(0.01, 1.9))
def test_hysteresis_prevents_flicker_at_the_border(angle, jitter):
    p = tick_params()
    scene = Scene(p)
    scene.add(1, 0.0, 0.0, observer=True)
    scene.add(2, 0.0, 0.0)
    # across r_enter and deep into the margin, never past r_leave: one enter, no leave
    radii = [p.r_enter - 0.5, p.r_leave - 0.5, p.r_enter + jitter, p.r_enter - jitter / 4]
    assert oscillate(scene, angle, radii, 40) == (1, 0)


@settings(deadline=None, max_examples=20)
@given(angle=st.floats(-math.pi, math.pi))
def test_crossing_r_leave_does_leave_and_reenter(angle):
    p = tick_params()
    scene = Scene(p)
    scene.add(1, 0.0, 0.0, observer=True)
    scene.add(2, 0.0, 0.0)
    assert oscillate(scene, angle, [p.r_enter - 0.5, p.r_leave + 0.5], 20) == (10, 10)


def test_entity_in_the_margin_that_never_came_inside_r_enter_does_not_enter():
    p = tick_params()
    scene = Scene(p)
    scene.add(1, 0.0, 0.0, observer=True)
    scene.add(2, 0.0, 0.0)
    assert oscillate(scene, 0.7, [p.r_enter + 0.1, p.r_leave - 0.1], 10) == (0, 0)


# -- 3. cap ---------------------------------------------------------------------------------------

@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 2**32 - 1), cap=st.integers(1, 12), extra=st.integers(1, 30),
       interest_cap_smaller=st.booleans())
def test_cap_keeps_exactly_the_nearest(seed, cap, extra, interest_cap_smaller):
    rng = np.random.default_rng(seed)
    # the cap in effect is the smaller of TickParams.cap and the Interest's own
    p = tick_params(cap=cap + 5 if interest_cap_smaller else cap)
    scene = Scene(p, interest_cap=cap)
    scene.add(1, 3.0, -2.0, observer=True)
    count = cap + extra
    dist = rng.permutation(np.linspace(0.5, p.r_enter - 0.5, count))   # distinct distances
    angle = rng.uniform(-math.pi, math.pi, count)
    for k in range(count):
        scene.add(100 + k, 3.0 + dist[k] * math.cos(angle[k]), -2.0 + dist[k] * math.sin(angle[k]))
    snap = scene.step()[1]
    nearest = {100 + k for k in np.argsort(dist)[:cap]}
    assert set(snap.enters) == nearest
    # reshuffle the distances: still exactly the nearest (Scene.step checks events, records)
    for _ in range(3):
        dist = rng.permutation(dist)
        for k in range(count):
            scene.place(100 + k, 3.0 + dist[k] * math.cos(angle[k]), -2.0 + dist[k] * math.sin(angle[k]))
        scene.step()
        assert scene.clients[1].known == {100 + k for k in np.argsort(dist)[:cap]}


# -- 4. change tracking ---------------------------------------------------------------------------

@settings(deadline=None, max_examples=20)
@given(dist=st.sampled_from([3.0, 12.0]), budget=st.sampled_from([16, 640]),
       dx=st.floats(-0.00049, 0.00049), dy=st.floats(-0.00049, 0.00049),
       dyaw=st.floats(-0.04, 0.04), still=st.integers(1, 15))
def test_unchanged_entity_is_sent_once_and_sub_step_moves_are_not_resent(dist, budget, dx, dy, dyaw,
                                                                         still):
    p = tick_params(budget_bytes=budget, max_interval=4)
    scene = Scene(p)
    scene.add(1, 0.0, 0.0, observer=True)
    x0, y0, yaw0 = dist * 0.6, -dist * 0.8, math.radians(12.3)   # exact millimetres and tenths
    scene.add(2, x0, y0, yaw=yaw0)
    got = []
    for _ in range(still):
        got.append(record_ids(scene.step()[1]))
    assert got == [[2]] + [[]] * (still - 1)
    # less than half a millimetre (and half a tenth of a degree) changes no quantised value
    scene.place(2, x0 + dx, y0 + dy, yaw=yaw0 + math.radians(dyaw))
    for _ in range(3 * p.max_interval):
        assert record_ids(scene.step()[1]) == []
    # two millimetres do, and arrive within max_interval ticks, once
    scene.place(2, x0 + 0.002)
    got = [record_ids(scene.step()[1]) for _ in range(3 * p.max_interval)]
    first = got.index([2])
    assert first < p.max_interval
    assert got[first + 1:] == [[]] * (len(got) - first - 1)
    assert scene.clients[1].last[2][0] == round((x0 + 0.002) * 1000)


def test_flag_change_alone_is_resent():
    scene = Scene(tick_params())
    scene.add(1, 0.0, 0.0, observer=True)
    scene.add(2, 12.0, 0.0)
    scene.step()
    scene.step()
    scene.bodies.flags[scene.bodies.row(2)] |= records.FLAG_SPEAKING
    snap = scene.step()[1]
    assert record_ids(snap) == [2]
    assert records.unpack_yaw_flags(snap.bodies["yawf"][1:])[1].tolist() == [records.FLAG_SPEAKING]


# -- 5. budget and starvation ---------------------------------------------------------------------

@settings(deadline=None, max_examples=4)
@given(seed=st.integers(0, 2**32 - 1), budget=st.sampled_from([16, 96, 160, 400]),
       max_interval=st.integers(2, 9))
def test_budget_bounds_optional_records_and_no_changing_entity_starves(seed, budget, max_interval):
    rng = np.random.default_rng(seed)
    p = tick_params(cap=128, budget_bytes=budget, max_interval=max_interval)
    scene = Scene(p)
    scene.add(1, 0.0, 0.0, observer=True)
    count, n_near = 100, 8
    angle = rng.uniform(-math.pi, math.pi, count)
    spin = rng.choice([-1.0, 1.0], count) * rng.uniform(0.002, 0.02, count)   # rad per tick
    base = np.concatenate([rng.uniform(1.0, p.near_r - 0.6, n_near),
                           rng.uniform(p.near_r + 0.6, p.r_enter - 0.6, count - n_near)])
    for k in range(count):
        scene.add(100 + k, base[k] * math.cos(angle[k]), base[k] * math.sin(angle[k]))
    ticks = 40
    received: dict[int, list[int]] = {100 + k: [] for k in range(count)}
    for t in range(1, ticks + 1):
        a = angle + spin * t                          # every entity moves every tick, and
        for k in range(count):                        # never back to a state sent before
            scene.place(100 + k, base[k] * math.cos(a[k]), base[k] * math.sin(a[k]))
        snap = scene.step()[1]                        # checks the budget bound and mandatory set
        for e in record_ids(snap):
            received[e].append(t)
    for k in range(count):
        got = received[100 + k]
        assert got[0] == 1
        gaps = np.diff(got + [ticks + 1])
        assert gaps.max() <= max_interval, f"entity {100 + k} starved: gaps {gaps.tolist()}"
        if k < n_near:
            assert got == list(range(1, ticks + 1)), "near entities are sent every tick"
    # the budget really limited far ones (otherwise this test proves nothing)
    if budget < BODY * (1 + count):
        assert any(len(received[100 + k]) < ticks for k in range(n_near, count))


# -- 6. priority ----------------------------------------------------------------------------------

@settings(deadline=None, max_examples=10)
@given(yaw=st.floats(-math.pi, math.pi), spread=st.floats(0.1, 1.2))
def test_entities_in_front_are_updated_more_often_than_ones_behind(yaw, spread):
    p = tick_params(budget_bytes=3 * BODY, max_interval=1000)   # two optional records a tick
    scene = Scene(p)
    scene.add(1, 5.0, 5.0, yaw=yaw, observer=True)
    facing = yaw + math.pi / 2          # forward = (-sin yaw, cos yaw) points along this angle
    offsets = {10: spread, 11: -spread, 12: spread / 2, 13: -spread / 2}
    for eid, off in offsets.items():
        for side, base in ((0, facing), (10, facing + math.pi)):     # 1x: in front, 2x: behind
            a = base + off
            scene.add(eid + side, 5.0 + 12.0 * math.cos(a), 5.0 + 12.0 * math.sin(a))
    front = behind = 0
    for t in range(60):
        for eid in list(offsets) + [e + 10 for e in offsets]:
            scene.place(eid, z=0.001 * t)         # a change that keeps every distance equal
        sent = record_ids(scene.step()[1])
        if t:
            front += sum(1 for e in sent if e < 20)
            behind += sum(1 for e in sent if e >= 20)
    assert front + behind == 2 * 59
    assert front > 1.5 * behind
    assert behind > 0, "those behind are updated less often, not never"


# -- 7. quantised values --------------------------------------------------------------------------

@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2**32 - 1))
def test_records_carry_the_quantised_state_of_that_tick(seed):
    rng = np.random.default_rng(seed)
    scene = Scene(tick_params(budget_bytes=4096))
    scene.add(1, 0.0, 0.0, observer=True)
    n = 6
    for k in range(n):
        scene.add(10 + k, 0.0, 0.0)
    for _ in range(5):
        want = {}
        for k in range(n):
            x, y = rng.uniform(-14, 14, 2)
            z = rng.uniform(-30, 30)
            yaw = rng.uniform(-20, 20)
            scene.place(10 + k, x, y, z=z, yaw=yaw)
            flags = int(rng.integers(0, 16)) & ~records.FLAG_MOVING & ~records.FLAG_VR
            scene.bodies.flags[scene.bodies.row(10 + k)] = flags
            want[10 + k] = (int(records.quantise_pos(x)), int(records.quantise_pos(y)),
                            int(records.quantise_pos(z)),
                            int(records.pack_yaw_flags(math.atan2(math.sin(yaw), math.cos(yaw)), flags)))
        snap = scene.step()[1]
        got = {int(r["id"]): record_key(r) for r in snap.bodies[1:]}
        assert got == want


# -- 8. edge cases: nothing, one, non-observers, reopened slots -----------------------------------

def test_zero_entities_give_empty_frames():
    scene = Scene(tick_params())
    frames = step(scene.bodies, scene.interest, scene.grid, NO_BOXES, BOUNDS, scene.params, 1)
    for arr in (frames.obs_rows, frames.ws_start, frames.start, frames.end):
        assert len(arr) == 0
    assert frames.enter_off.tolist() == [0] and frames.leave_off.tolist() == [0]


def test_one_observer_alone_gets_only_its_own_record():
    scene = Scene(tick_params())
    scene.add(7, 1.5, -2.25, yaw=0.5, observer=True)
    for _ in range(3):
        snap = scene.step()[7]
        assert snap.bodies["id"].tolist() == [7]
        assert snap.enters == [] and snap.leaves == [] and snap.poses is None


def test_entity_without_slot_is_seen_but_gets_no_frame():
    scene = Scene(tick_params())
    scene.add(1, 0.0, 0.0)
    scene.add(2, 3.0, 0.0, observer=True)
    snaps = scene.step()
    assert list(snaps) == [2] and snaps[2].enters == [1]


def test_everything_leaves_when_all_others_are_removed():
    scene = Scene(tick_params())
    scene.add(1, 0.0, 0.0, observer=True)
    for k in range(5):
        scene.add(10 + k, k + 1.0, 0.0)
    scene.step()
    for k in range(5):
        scene.remove(10 + k)
    snap = scene.step()[1]
    assert sorted(snap.leaves) == [10, 11, 12, 13, 14] and snap.bodies["id"].tolist() == [1]


def test_reopened_slot_starts_from_an_empty_known_set():
    scene = Scene(tick_params())
    scene.add(1, 0.0, 0.0, observer=True)
    scene.add(2, 4.0, 0.0, observer=True)
    scene.add(3, 15.0, 0.0)
    scene.step()
    scene.step()
    scene.close(1)
    assert list(scene.step()) == [2]
    scene.open(1)
    snap = scene.step()[1]
    assert sorted(snap.enters) == [2, 3] and sorted(record_ids(snap)) == [2, 3]
    assert snap.leaves == []


def test_slots_grow_past_the_initial_count():
    scene = Scene(tick_params(), slots=1)
    for k in range(5):
        scene.add(k + 1, 2.0 * k, 0.0, observer=True)
    snaps = scene.step()
    assert all(sorted(s.enters) == sorted(set(range(1, 6)) - {e}) for e, s in snaps.items())


# -- 9. VR poses ----------------------------------------------------------------------------------

def test_pose_travels_with_its_body_record_and_a_pose_change_alone_is_resent():
    scene = Scene(tick_params())
    scene.add(1, 0.0, 0.0, observer=True)
    scene.add(2, 12.0, 0.0)
    scene.add(3, -6.0, 6.0)                            # not VR: never in 'p'
    pose = scene.set_pose(2, seed=1)
    snap = scene.step()[1]
    assert sorted(snap.enters) == [2, 3]
    assert snap.poses is not None and snap.poses.tobytes() == pose
    for _ in range(3):                                 # nothing changed: neither body nor pose
        snap = scene.step()[1]
        assert record_ids(snap) == [] and snap.poses is None
    pose = scene.set_pose(2, seed=2)                   # the body stays put
    snap = scene.step()[1]
    assert record_ids(snap) == [2]
    assert snap.poses.tobytes() == pose and snap.poses["id"].tolist() == [2]
    assert scene.step()[1].poses is None


def test_pose_changes_within_budget_and_starvation_bound():
    p = tick_params(budget_bytes=BODY, max_interval=5)     # no room for optional records
    scene = Scene(p)
    scene.add(1, 0.0, 0.0, observer=True)
    scene.add(2, 12.0, 0.0)
    scene.set_pose(2, seed=1)
    scene.step()
    pose = scene.set_pose(2, seed=3)
    got = [scene.step()[1] for _ in range(p.max_interval + 2)]
    sent = [k for k, s in enumerate(got) if s.poses is not None]
    assert len(sent) == 1 and sent[0] < p.max_interval and got[sent[0]].poses.tobytes() == pose


def test_near_vr_entity_changing_pose_every_tick_is_sent_every_tick():
    scene = Scene(tick_params(budget_bytes=BODY))
    scene.add(1, 0.0, 0.0, observer=True)
    scene.add(2, 2.0, 1.0)
    for t in range(10):
        pose = scene.set_pose(2, seed=t)
        snap = scene.step()[1]
        assert record_ids(snap) == [2] and snap.poses.tobytes() == pose


# -- 10. acks -------------------------------------------------------------------------------------

def test_ack_is_carried_per_observer():
    scene = Scene(tick_params())
    scene.add(1, 0.0, 0.0, observer=True)
    scene.add(2, 3.0, 0.0, observer=True)
    snaps = scene.step()
    assert snaps[1].ack is None and snaps[2].ack is None
    scene.interest.acks[scene.slot(1)] = 77
    scene.interest.acks[scene.slot(2)] = 2**32 - 1
    snaps = scene.step()
    assert snaps[1].ack == 77 and snaps[2].ack == 2**32 - 1
    scene.interest.acks[scene.slot(1)] = -1
    assert scene.step()[1].ack is None


# -- frames larger than the short WebSocket length forms -------------------------------------------

def test_frame_with_more_than_125_bytes_uses_the_16_bit_length():
    scene = Scene(tick_params())
    scene.add(1, 0.0, 0.0, observer=True)
    for k in range(12):
        scene.add(10 + k, 1.0 + k, 0.5)
    snap = scene.step()[1]                             # decode() checks the header form
    assert len(snap.bodies) == 13


def test_websocket_header_is_valid_for_frames_over_64_kib():
    # An interest cap of 1400 (config `interest_cap` is not bounded) and 1400 VR avatars in
    # view: all enter at once, so the frame is ~70 kB, past what a 16-bit length can say.
    count = 1400
    scene = Scene(tick_params(cap=count, budget_bytes=640))
    scene.add(1, 0.0, 0.0, observer=True)
    angle = np.linspace(0.0, 2 * math.pi, count, endpoint=False)
    for k in range(count):
        scene.add(10 + k, (1.0 + k * 0.01) * math.cos(angle[k]), (1.0 + k * 0.01) * math.sin(angle[k]))
        scene.set_pose(10 + k, seed=k)
    snap = scene.step()[1]
    assert len(snap.enters) == count


# -- float rounding at the border of the scanned cells ---------------------------------------------

def test_known_entity_just_inside_r_leave_stays_known_wherever_the_cells_fall():
    # Cells of r_leave / 2 = 15 m from x = -100. The observer sits one ulp below a cell border
    # (x = 5 - 1e-14 rounds into cell 6) and the entity at d**2 = 899.9999999999998 < 900,
    # i.e. inside r_leave, whose x rounds up onto the border of cell 9: three cells away,
    # past the two cells the scan reaches.
    p = tick_params(r_enter=26.0, r_leave=30.0, near_r=5.0)
    scene = Scene(p)
    px, ex = 4.99999999999999, 34.999999999999986
    assert (ex - px) ** 2 < p.r_leave ** 2
    scene.add(1, px, 0.0, observer=True)
    scene.add(2, px + 10.0, 0.0)
    assert scene.step()[1].enters == [2]
    scene.place(2, ex, 0.0)
    snap = scene.step()[1]                             # the model expects it to stay known
    assert snap.leaves == []
