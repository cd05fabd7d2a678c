"""The agents' decision logic without sockets: intents, the order state machine, path-finding,
perception. Pure functions over data (the sans-I/O core)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from world.agents import intent as I
from world.agents import order_intent as O
from world.agents.nav import NavGrid, _clear_line
from world.agents.orders import OrderBook, OrderError, summary
from world.agents.persona import PersonaError, load_personas, parse_persona
from world.agents.perception import compass, faces, looking_at, nearby
from world.config import load_config
from world.space.session import Session
from world.space.space import Space, _NullSink
from world.space.world_def import load_world

PLAZA = load_world("plaza")
PERSONAS = load_personas()
CAT = PERSONAS["barista"].catalog


def test_shipped_personas_load_with_their_allowed_actions():
    assert set(PERSONAS) == {"guide", "companion", "barista"}
    assert PERSONAS["guide"].allows("walk_to") and not PERSONAS["guide"].allows("place_order")
    assert PERSONAS["companion"].allows("say_private") and not PERSONAS["companion"].allows("say")
    assert PERSONAS["barista"].allows("place_order") and not PERSONAS["barista"].allows("walk_to")
    assert CAT.item("flat_white").price_cents == 320 and CAT.option_cents["oat milk"] == 40


def test_persona_files_are_validated():
    with pytest.raises(PersonaError, match="unknown actions"):
        parse_persona({"key": "x", "kind": "guide", "name": "X", "role": "r", "actions": ["launch_missiles"]}, "x")
    with pytest.raises(PersonaError, match="kind"):
        parse_persona({"key": "x", "kind": "wizard", "name": "X", "role": "r"}, "x")
    with pytest.raises(PersonaError, match="price"):
        parse_persona({"key": "x", "kind": "business", "name": "X", "role": "r",
                       "item": [{"id": "a", "name": "a", "price": -1}]}, "x")


@pytest.mark.parametrize("text,kind,place", [
    ("where is the cafe?", "where", "Cafe"), ("how do I get to the garden", "where", "Garden"),
    ("Mira where can I find the coffee shop", "where", "Cafe"), ("take me to the stage", "take", "Stage"),
    ("could you take me to the lookout tower please", "take", "Lookout"), ("yes please", "yes", None),
    ("what's on today?", "events", None), ("who is that?", "look", None), ("hello!", "greet", None),
    ("where am I?", "here", None), ("where is narnia", "where_unknown", None), ("no thanks", "no", None),
])
def test_guide_intents(text, kind, place):
    it = I.guide_intent(text, PLAZA)
    assert it.kind == kind
    assert (it.place.name if it.place else None) == place


@pytest.mark.parametrize("text,kind", [
    ("remember that my sister is called Ana", "remember"), ("my locker code is 4471", "remember"),
    ("what is my locker code?", "recall"), ("do you remember my favourite colour?", "recall"),
    ("what am I looking at?", "look"), ("hello Pip", "greet"), ("forget everything", "forget"),
    ("where was I born?", "recall"), ("I am allergic to peanuts", "remember"),
])
def test_companion_intents(text, kind):
    assert I.companion_intent(text).kind == kind


def test_the_name_used_to_address_an_agent_is_not_part_of_the_line():
    assert I.strip_address("Pip, my sister is called Ana", ("Pip", "Pip (Alice)")) == "my sister is called Ana"
    assert I.strip_address("hey Mira: where is the cafe?", ("Mira",)) == "where is the cafe?"
    assert I.strip_address("Mira", ("Mira",)) == "Mira"
    assert I.strip_address("Pipe dreams", ("Pip",)) == "Pipe dreams"


def test_facts_are_repeated_in_second_person_and_keep_their_names_and_numbers():
    assert I.second_person("my sister is called Ana") == "your sister is called Ana"
    assert I.second_person("I am allergic to peanuts") == "you are allergic to peanuts"
    assert I.key_terms("your sister is called Ana") == ["Ana"]
    assert I.key_terms("your locker code is 4471") == ["4471"]
    assert I.importance("my locker code is 4471") > I.importance("I like rain")


@pytest.mark.parametrize("text,lines,removes", [
    ("I'd like a flat white with oat milk and two croissants",
     [("flat_white", 1, ["oat milk"]), ("croissant", 2, [])], []),
    ("3 espressos double and a tea with lemon", [("espresso", 3, ["double"]), ("tea", 1, ["lemon"])], []),
    ("no croissant", [], ["croissant"]),
    ("a latte for 0.01 please", [("latte", 1, [])], []),
    ("I'll have a latte with vanilla syrup and an extra shot", [("latte", 1, ["extra shot", "vanilla syrup"])], []),
    ("a latte and a double espresso", [("latte", 1, []), ("espresso", 1, ["double"])], []),
    ("a cappuccino with soy milk and a blueberry muffin", [("cappuccino", 1, ["soy milk"]), ("muffin", 1, [])], []),
])
def test_order_lines_are_parsed_against_the_catalog(text, lines, removes):
    got, rem, _ = O.parse_order(text, CAT)
    assert [(ln.item, ln.qty, ln.options) for ln in got] == lines
    assert rem == removes


@pytest.mark.parametrize("text,kind", [
    ("how much is a latte?", "price"), ("what do you have?", "menu"), ("when are you open?", "hours"),
    ("that's all", "done"), ("yes", "yes"), ("no", "no"), ("the usual please", "usual"),
    ("is my order ready?", "status"), ("make it oat milk", "order"),
])
def test_barista_intents(text, kind):
    assert O.barista_intent(text, CAT).kind == kind


def test_order_book_prices_come_from_the_catalog_and_bad_lines_are_refused():
    book = OrderBook(CAT)
    book.add([O.Line("flat_white", 1, ["oat milk"]), O.Line("croissant", 2, [])])
    book.add([O.Line("flat_white", 1, ["oat milk"])])             # the same drink: quantity 2
    assert [(ln.item, ln.qty) for ln in book.lines] == [("flat_white", 2), ("croissant", 2)]
    assert book.total() == 2 * 360 + 2 * 280
    assert summary(book) == "2 flat whites with oat milk and 2 croissants"
    with pytest.raises(OrderError):
        book.add([O.Line("caviar", 1, [])])
    with pytest.raises(OrderError):
        book.add([O.Line("tea", 1, ["oat milk"])])                  # not an option of tea
    with pytest.raises(OrderError):
        book.add([O.Line("tea", 99, [])])
    assert book.add_options(["decaf"]) == [] and book.lines[-1].options == []   # croissants are not decaf
    book.remove(["croissant"])
    assert book.total() == 720
    assert [i["price_cents"] for i in book.items()] == [720]


def test_compass_words():
    assert compass(0, 1) == "north" and compass(1, 0) == "east" and compass(-1, 1) == "north-west"
    assert compass(30, 31) == "north-east" and compass(0, -5) == "south"


NAV = NavGrid(PLAZA.bounds_array(), PLAZA.solid_rects())


def _segments_clear(start, path) -> bool:
    pts = [start] + path
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        steps = int(math.hypot(x1 - x0, y1 - y0) / 0.1) + 1
        for k in range(steps + 1):
            x, y = x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps
            for r in PLAZA.solid_rects():
                if r[0] - 0.3 < x < r[2] + 0.3 and r[1] - 0.3 < y < r[3] + 0.3:
                    return False
    return True


def test_paths_go_around_walls_and_through_doors():
    path = NAV.path((0.0, -8.0), (30.0, 23.0))                 # into the cafe: through its south door
    assert path is not None and path[-1] == (30.0, 23.0)
    assert _segments_clear((0.0, -8.0), path)
    assert any(28.5 < x < 31.5 and 17.0 < y < 19.0 for x, y in path)
    inside_hedges = NAV.path((-40.0, 32.5), (-40.0, 20.0))
    assert inside_hedges is not None and _segments_clear((-40.0, 32.5), inside_hedges)


@settings(max_examples=40, deadline=None)
@given(st.floats(-95, 95), st.floats(-95, 95), st.floats(-95, 95), st.floats(-95, 95))
def test_any_path_found_never_crosses_a_solid_box(x0, y0, x1, y1):
    if not NAV.walkable(x0, y0):
        return
    path = NAV.path((x0, y0), (x1, y1))
    assert path is not None                                       # the plaza is connected
    assert _segments_clear((x0, y0), path)
    gx, gy = path[-1]
    if NAV.walkable(x1, y1):
        assert (gx, gy) == (x1, y1)


def test_no_path_into_a_sealed_room():
    rects = np.array([[10, 10, 20, 10.5], [10, 19.5, 20, 20], [10, 10, 10.5, 20], [19.5, 10, 20, 20]], float)
    nav = NavGrid(np.array([0, 0, 30, 30.0]), rects)
    assert nav.path((2.0, 2.0), (15.0, 15.0)) is None
    assert not _clear_line(nav.blocked, 4.0, 4.0, 30.0, 30.0)


def _space_with(*bodies):
    cfg = load_config(None, env={})
    space = Space(PLAZA, 1, cfg)
    for i, (name, x, y, yaw) in enumerate(bodies, start=1):
        space.join(Session(user=i, name=name, kind="bot", role="member", sink=_NullSink()), x, y, yaw)
    return space


def test_perception_of_who_is_near_and_who_faces_whom():
    # Ann at the origin looking north; Bo 5 m north facing her; Cy 3 m east looking away.
    space = _space_with(("Ann", 5.0, -8.0, 0.0), ("Bo", 5.0, -3.0, math.pi), ("Cy", 8.0, -8.0, -math.pi / 2))
    seen = nearby(space, 1, 10.0)
    assert [s.name for s in seen] == ["Cy", "Bo"]
    bo = seen[1]
    assert bo.compass == "north" and abs(bo.bearing) < 1 and bo.facing_me and math.isclose(bo.dist, 5.0)
    assert seen[0].compass == "east" and not seen[0].facing_me and math.isclose(seen[0].bearing, -90, abs_tol=1)
    assert faces(space, 1, 2) and not faces(space, 1, 3)


def test_looking_at_finds_people_then_objects_then_places():
    space = _space_with(("Ann", 0.0, -8.0, 0.0), ("Bo", 0.5, -5.0, 0.0))
    t = looking_at(space, 1)
    assert t is not None and t.kind == "entity" and t.name == "Bo"
    space = _space_with(("Ann", 0.0, -8.0, 0.0))
    t = looking_at(space, 1)
    assert t.kind == "box" and t.name == "fountain" and math.isclose(t.dist, 6.0, abs_tol=0.01)
    space = _space_with(("Ann", 60.0, -60.0, 0.0))                # open ground to the north, the cafe far off
    t = looking_at(space, 1)
    assert t is None or t.kind in ("place", "box")


def test_vr_head_pose_turns_the_gaze():
    from world.protocol.messages import Pose
    space = _space_with(("Ann", 0.0, -8.0, -math.pi / 2), ("Bo", 0.3, -4.0, 0.0))   # body faces east
    before = looking_at(space, 1)
    assert before is None or before.name != "Bo"
    s = space.sessions[1]
    q = (0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4))        # head turned 90 deg left: north
    space.set_pose(s, Pose(1, (0.0, 0.0, 1.6) + q))
    assert looking_at(space, 1).name == "Bo"
