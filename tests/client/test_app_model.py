"""The client's pure layer: interpolation, prediction, chat model, malformed input (no sockets)."""

from __future__ import annotations

import math
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from client.app.chat import ChatModel
from client.app.interp import EXTRAPOLATE_LIMIT_S, Interpolator, ServerClock
from client.app.model import ClientModel
from client.app.predict import Intent, Predictor
from world.protocol.records import BODY_DTYPE, FLAG_MOVING, pack_yaw_flags

HZ = 30


def records(entity: int, x: float, y: float, yaw: float = 0.0, moving: bool = True) -> np.ndarray:
    rec = np.zeros(1, BODY_DTYPE)
    rec["id"] = entity
    rec["x"] = round(x * 1000)
    rec["y"] = round(y * 1000)
    rec["yawf"] = pack_yaw_flags(yaw, FLAG_MOVING if moving else 0)
    return rec


def walk(t: float, speed: float = 3.0) -> tuple[float, float]:
    """An entity walking east, turning north after 2 s."""
    if t < 2.0:
        return speed * t, 0.0
    return speed * 2.0, speed * (t - 2.0)


def jittered_arrivals(ticks: int, jitter_s: float, seed: int) -> list[tuple[int, float]]:
    """(tick, arrival) pairs: sent every 1/30 s, delayed by 20 ms + U(0, jitter), in order (TCP)."""
    rng = random.Random(seed)
    out, last = [], 0.0
    for n in range(1, ticks + 1):
        arrival = max(last, n / HZ + 0.02 + rng.uniform(0.0, jitter_s))
        out.append((n, arrival))
        last = arrival
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), jitter_ms=st.integers(0, 150), frame_hz=st.sampled_from([30, 60, 144]),
       drop=st.floats(0.0, 0.5))
def test_interpolation_never_extrapolates_beyond_its_limit(seed, jitter_ms, frame_hz, drop):
    rng = random.Random(seed + 1)
    interp = Interpolator(HZ)
    clock = ServerClock(HZ)
    interp.add(7)
    arrivals = jittered_arrivals(90, jitter_ms / 1000, seed)
    pushed: list[tuple[int, float, float]] = []
    i = 0
    t = 0.0
    end = arrivals[-1][1] + 0.5
    while t < end:
        while i < len(arrivals) and arrivals[i][1] <= t:
            tick, at = arrivals[i]
            i += 1
            if rng.random() < drop and i < len(arrivals) - 5:
                continue        # a record the server chose not to send this tick (budget/far)
            x, y = walk(tick / HZ)
            interp.push(tick, records(7, x, y))
            clock.on_snapshot(tick, at)
            pushed.append((tick, x, y))
        render = clock.advance(t)
        if render is not None:
            rows, xs, ys, _, _, ahead = interp.sample(render)
            assert ahead[0] <= EXTRAPOLATE_LIMIT_S + 1e-9
            newest_tick, nx, ny = pushed[-1]
            # Never further from the newest record than the limit allows at walking speed.
            assert math.hypot(xs[0] - nx, ys[0] - ny) <= 3.0 * (EXTRAPOLATE_LIMIT_S + 1e-6) or render <= newest_tick
            if render <= newest_tick:
                # Interpolating: on the path between two received records, not past them.
                assert -1e-6 <= xs[0] <= 6.0 + 1e-6 and -1e-6 <= ys[0] <= ny + 1e-6
        t += 1.0 / frame_hz


def test_no_visible_snapping_at_30hz_with_150ms_jitter():
    """Frame-to-frame steps stay close to the true speed, and the drawn entity stays on its path."""
    interp = Interpolator(HZ)
    clock = ServerClock(HZ)
    interp.add(1)
    arrivals = jittered_arrivals(150, 0.150, seed=3)
    i, t, steps, prev, carried = 0, 0.0, [], None, 0
    frame = 1 / 60
    while t < arrivals[-1][1]:
        while i < len(arrivals) and arrivals[i][1] <= t:
            tick, at = arrivals[i]
            i += 1
            interp.push(tick, records(1, *walk(tick / HZ)))
            clock.on_snapshot(tick, at)
        render = clock.advance(t)
        if render is not None and t > 1.0:
            _, xs, ys, _, _, ahead = interp.sample(render)
            carried += ahead[0] > 0
            if prev is not None:
                steps.append(math.hypot(xs[0] - prev[0], ys[0] - prev[1]))
            prev = (xs[0], ys[0])
        t += frame
    true_step = 3.0 * frame
    assert max(steps) < 1.5 * true_step, max(steps)          # no pops
    assert np.percentile(steps, 10) > 0.8 * true_step       # no stalls
    assert carried <= 0.02 * len(steps)                     # the delay covers the jitter


def test_entity_that_stopped_holds_still():
    interp = Interpolator(HZ)
    interp.add(3)
    interp.push(10, records(3, 0.0, 0.0))
    interp.push(11, records(3, 0.1, 0.0, moving=False))
    _, xs, _, _, _, ahead = interp.sample(20.0)
    assert xs[0] == 0.1 and ahead[0] == 0.0


def test_new_entity_appears_where_it_is_not_sliding_in():
    interp = Interpolator(HZ)
    interp.add(3)
    interp.push(10, records(3, 5.0, 5.0))
    _, xs, ys, _, _, _ = interp.sample(5.0)
    assert (xs[0], ys[0]) == (5.0, 5.0)


def test_prediction_replays_unacknowledged_ticks_after_a_correction():
    boxes = np.zeros((0, 4))
    p = Predictor(0.0, 0.0, 0.0, tick_hz=HZ, limits={}, boxes=boxes, bounds=[-50, -50, 50, 50])
    sent = [p.step(Intent(1.0, 0.0, 0.0)) for _ in range(10)]
    assert [m["seq"] for m in sent] == list(range(1, 11))
    assert math.isclose(p.y, 1.0)
    # The server applied moves 1..4 but was blocked at y = 0.3 (a wall the client did not know).
    err = p.reconcile(4, 0.0, 0.3)
    assert math.isclose(p.y, 0.3 + 0.6) and math.isclose(err, 0.1)
    shown = p.shown(0.0)
    assert math.isclose(shown[1], 1.0)                       # the correction is smoothed...
    for _ in range(30):
        shown = p.shown(1 / 60)
    assert abs(shown[1] - p.y) < 1e-3                        # ...and gone within half a second


def test_idle_avatar_sends_no_moves():
    p = Predictor(0.0, 0.0, 0.0, tick_hz=HZ, limits={}, boxes=np.zeros((0, 4)), bounds=[-5, -5, 5, 5])
    assert p.step(Intent(0.0, 0.0, 0.5)) is not None          # turning is a change
    assert p.step(Intent(0.0, 0.0, 0.5)) is None
    assert p.step(Intent(0.0, 0.0, 0.5)) is None


def test_streamed_agent_speech_grows_then_is_replaced_by_the_final_text():
    chat = ChatModel()
    chat.me = 1
    base = {"t": "chat", "ch": "near", "from": 9, "name": "Iris", "e": 9, "sid": 4}
    chat.on_chat({**base, "text": "Hel", "partial": True}, now=0.0)
    chat.on_chat({**base, "text": "lo th", "partial": True}, now=0.1)
    assert chat.texts() == ["Hello th"] and [(b.text, b.partial) for b in chat.bubbles[9]] == [("Hello th", True)]
    chat.on_chat({**base, "text": "Hello there!", "id": 50, "ts": 1}, now=0.2)
    assert chat.texts() == ["Hello there!"] and not chat.lines()[0].partial
    assert [(b.text, b.partial) for b in chat.bubbles[9]] == [("Hello there!", False)]     # the same bubble


def test_a_long_streamed_line_is_replaced_whole_and_one_whose_final_never_came_is_dropped():
    from client.app.chat import STREAM_STALE_S
    chat = ChatModel()
    chat.me = 1
    base = {"t": "chat", "ch": "near", "from": 9, "name": "Iris", "e": 9, "sid": 5}
    long = "The Cafe is about 43 m north-east of here, past the fountain. " * 6
    chat.on_chat({**base, "text": long, "partial": True}, now=0.0)
    chat.on_chat({**base, "text": "Short final.", "id": 60, "ts": 1}, now=0.5)
    assert chat.texts() == ["Short final."] and chat.bubbles[9][-1].text == "Short final."
    chat.on_chat({**base, "sid": 6, "text": "Half a line", "partial": True}, now=1.0)
    chat.on_chat({"t": "chat", "ch": "dm", "from": 9, "to": 1, "name": "Iris", "sid": 7, "text": "psst",
                  "partial": True}, now=1.0)
    assert chat.tabs["dm:9"].unread == 1
    chat.on_chat({**base, "sid": 6, "text": " more", "partial": True}, now=2.0)
    assert chat.texts() == ["Short final.", "Half a line more"]
    chat.expire_bubbles(2.0 + STREAM_STALE_S + 1)
    assert chat.texts() == ["Short final."] and chat.texts("dm:9") == []
    assert all(b.line.text != "Half a line more" for b in chat.bubbles.get(9, ()))


def test_chat_tabs_history_and_dm_dedupe():
    chat = ChatModel()
    chat.me = 1
    dm = {"t": "chat", "id": 7, "ch": "dm", "from": 2, "name": "Bob", "text": "hi", "ts": 1, "to": 1}
    chat.on_chat(dm, 0.0)
    chat.on_chat(dm, 0.0)                                     # at-least-once delivery
    chat.on_chat({"t": "chat", "id": 8, "ch": "group", "from": 3, "name": "Cy", "text": "g", "ts": 2,
                  "to": 5}, 0.0)
    assert list(chat.tabs) == ["near", "dm:2", "group:5"]
    assert chat.texts("dm:2") == ["hi"] and chat.tabs["dm:2"].unread == 1
    chat.on_history({"t": "history", "ch": "dm", "to": 2, "more": False, "cursor": 3,
                     "msgs": [{"id": 7, "from": 2, "name": "Bob", "text": "hi"},
                              {"id": 4, "from": 1, "name": "Me", "text": "older"}]})
    assert chat.texts("dm:2") == ["older", "hi"]
    assert chat.cycle() == "dm:2" and chat.tabs["dm:2"].unread == 0
    req = chat.compose("back at you", "Me")
    assert req == {"t": "chat", "rid": req["rid"], "ch": "dm", "text": "back at you", "to": 2}
    assert chat.on_ack({"t": "ack", "rid": req["rid"], "id": 9, "ts": 3})
    assert chat.texts("dm:2")[-1] == "back at you" and not chat.lines("dm:2")[-1].partial


def test_malformed_server_messages_are_skipped_not_raised():
    m = ClientModel("Ada")
    bad = [None, 5, {"no": "type"}, {"t": 3}, {"t": "snap"}, {"t": "snap", "tick": 1, "b": b"\x00" * 17},
           {"t": "snap", "tick": 1, "b": "text"}, {"t": "enter", "e": "x"}, {"t": "enter", "e": [{"no": 1}]},
           {"t": "chat", "text": "no channel"}, {"t": "leave", "e": [None]}, {"t": "welcome"},
           {"t": "presence", "online": [{}]}]
    for msg in bad:
        assert m.handle(msg) is False
    assert m.bad_messages == len(bad)
    assert m.handle({"t": "some_future_type", "x": 1})          # unknown types are ignored
    assert m.handle({"t": "chat", "id": 1, "ch": "near", "from": 2, "name": "Bob", "text": "still here",
                     "ts": 1, "e": 2})
    assert m.chat.texts("near") == ["still here"]
