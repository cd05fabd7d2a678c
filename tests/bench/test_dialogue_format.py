"""The dialogue files' format: what the loader accepts, refuses, and how replies are judged."""

from __future__ import annotations

import pytest

from world.bench.dialogues import (DialogueError, Step, check_reply, load_dialogues, parse_dialogue,
                                   stray_words)


def test_a_dialogue_parses_with_its_steps_and_order(tmp_path):
    (tmp_path / "one.toml").write_text('''
[[dialogue]]
name = "latte"
agent = "barista"
at = [1.5, -2]
steps = [{ say = "a latte", has = "latte" }, { staff = "ready", any = ["ready", "done"] }]
order = [{ item = "latte", options = ["oat milk", "decaf"] }]
''')
    (d,) = load_dialogues(tmp_path)
    assert d.at == (1.5, -2.0) and d.steps[0].has == ("latte",) and d.steps[1].staff == "ready"
    assert d.order == (("latte", 1, ("decaf", "oat milk")),)


@pytest.mark.parametrize("raw, why", [
    ({"name": "x", "agent": "chef", "steps": [{"say": "hi"}]}, "agent"),
    ({"name": "x", "agent": "guide", "steps": []}, "no steps"),
    ({"name": "x", "agent": "guide", "steps": [{"say": "hi", "expect": "hello"}]}, "unknown keys"),
    ({"name": "x", "agent": "guide", "steps": [{"has": ["hi"]}]}, "exactly one of say and staff"),
    ({"name": "x", "agent": "guide", "steps": [{"say": "hi", "via": "shout"}]}, "via"),
    ({"name": "x", "agent": "guide", "colour": "red", "steps": [{"say": "hi"}]}, "unknown keys"),
])
def test_malformed_dialogues_are_refused_with_the_reason(raw, why):
    with pytest.raises(DialogueError, match=why):
        parse_dialogue(raw, "bad.toml")


def test_names_must_be_unique(tmp_path):
    one = '[[dialogue]]\nname = "same"\nagent = "guide"\nsteps = [{ say = "hi" }]\n'
    (tmp_path / "a.toml").write_text(one)
    (tmp_path / "b.toml").write_text(one)
    with pytest.raises(DialogueError, match="unique"):
        load_dialogues(tmp_path)


def test_replies_are_judged_by_has_any_lacks_and_silence():
    step = Step(say="x", has=("Latte", "3.40"), any=("placed", "ready"), lacks=("flat white",))
    assert check_reply(step, "Order #2 is placed: a latte, 3.40.") == []
    assert check_reply(step, "a latte and a flat white, 3.40, placed") == ["has 'flat white'"]
    assert check_reply(step, "a latte") == ["missing '3.40'", "none of ['placed', 'ready']"]
    assert check_reply(step, None) == ["no reply"]
    assert check_reply(Step(say="x", silent=True), None) == []
    assert check_reply(Step(say="x", silent=True), "hi")


def test_partial_words_missing_from_the_final_are_found():
    assert stray_words(["Your locker code is 4783"], "Your locker code is 4471.") == ["4783"]
    assert stray_words(["The Cafe is", " about 43 m north-east."], "The Cafe is about 43 m north-east. Shall I?") == []
