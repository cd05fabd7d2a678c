"""The companion's decisions without sockets: pronouns turned round, what a line asks for
(remember, recall, list, forget one, forget all), which memory answers a question, and how
a list of facts fits one line."""

from __future__ import annotations

import pytest

from world.agents import intent as I
from world.agents.companion import (
    answers,
    asked_about,
    asked_terms,
    best_answer,
    facts_to_keep,
    known_list,
)
from world.agents.memory import Hit
from world.agents.pronouns import to_listener
from world.store.schema import Memory


@pytest.mark.parametrize("said,back", [
    ("my bike is red", "your bike is red"),
    ("I'm allergic to peanuts", "you're allergic to peanuts"),
    ("I am allergic to peanuts", "you are allergic to peanuts"),
    ("I was born in Porto", "you were born in Porto"),
    ("where was I born?", "where were you born?"),
    ("I've got two cats", "you've got two cats"),
    ("this is mine, not yours", "this is yours, not mine"),
    ("I hurt myself", "you hurt yourself"),
    ("you promised to remind me about the bins", "I promised to remind you about the bins"),
    ("I told my brother I'd call him", "you told your brother you'd call him"),
    ("I told you my PIN", "you told me your PIN"),
    ("are you ok", "am I ok"),
    ("My sister is called Ana.", "Your sister is called Ana"),
    ("my dog's name is Biscuit", "your dog's name is Biscuit"),
])
def test_pronouns_are_turned_round_in_one_pass(said, back):
    assert to_listener(said) == back


def test_second_person_keeps_its_old_behaviour():
    assert I.second_person("my sister is called Ana") == "your sister is called Ana"
    assert I.second_person("I am allergic to peanuts") == "you are allergic to peanuts"


def test_a_fact_is_kept_word_for_word_so_a_turned_round_rephrasing_is_refused():
    assert facts_to_keep("your bike is red.") == ["your bike is red"]
    assert facts_to_keep("your bike is red")[0] not in "I'll remember that my bike is red."


@pytest.mark.parametrize("text,kind,topic", [
    ("remember that my bike is red", "remember", ""),
    ("I'm allergic to peanuts", "remember", ""),
    ("what do you know about me?", "list", ""),
    ("what have I told you?", "list", ""),
    ("tell me everything you remember", "list", ""),
    ("what did I tell you about my sister?", "recall", ""),
    ("what's my locker code?", "recall", ""),
    ("forget my locker code", "forget_one", "my locker code"),
    ("please forget that I like jazz", "forget_one", "I like jazz"),
    ("Forget what I told you about my bike", "forget_one", "my bike"),
    ("can you forget my sister's name?", "forget_one", "my sister's name"),
    ("delete my PIN please", "forget_one", "my PIN"),
    ("forget that", "forget_one", ""),
    ("forget everything", "forget", ""),
    ("forget everything you know about me", "forget", ""),
    ("wipe your memory", "forget", ""),
    ("oh, forget it", "never_mind", ""),
    ("how are you?", "small", "how_are_you"),
    ("who are you?", "small", "who_are_you"),
    ("don't forget my keys are in the drawer", "remember", ""),
])
def test_companion_understands_its_owner(text, kind, topic):
    it = I.companion_intent(text)
    assert (it.kind, it.topic) == (kind, topic)


def hit(text: str, relevance: float = 1.0, kind: str = "fact") -> Hit:
    return Hit(Memory(1, "companion", 1, kind, text, 0.5, 0, 0, None), 1.0, relevance, 1.0, 0.5)


@pytest.mark.parametrize("question,fact,ok", [
    ("what's your locker code?", "your locker code is 4471", True),
    ("what is your sister called?", "your sister is called Ana", True),
    ("what's your sister's name?", "your sister is called Ana", True),
    ("what is your dog's name?", "your dog's name is Biscuit", True),
    ("where were you born?", "you were born in Porto", True),
    ("what is your flight number?", "your flight number is TP1234", True),
    ("what colour is your bike?", "your bike is red", True),
    ("what is your favorite color?", "your favourite colour is teal", True),
    ("when is your mother's birthday?", "your mum's birthday is on 3 May", True),
    ("what are you allergic to?", "you're allergic to peanuts", True),
    ("what's your favourite band?", "your favourite colour is teal", False),
    ("what's your locker code?", "your bike lock code is 1234", False),
    ("what colour is your bike?", "your car is red", False),
])
def test_a_fact_answers_only_what_it_holds(question, fact, ok):
    assert answers(fact, asked_terms(question)) is ok


def test_best_answer_skips_near_misses_and_finds_the_sentence_in_a_summary():
    hits = [hit("your favourite colour is teal"), hit("your favourite band is Radiohead", 0.8)]
    assert best_answer(hits, "what's your favourite band?") == "your favourite band is Radiohead"
    assert best_answer(hits[:1], "what's your favourite band?") is None
    summary = hit("You like jazz. Your locker code is 4471. You were born in Porto.", kind="summary")
    assert best_answer([summary], "what is your locker code?") == "Your locker code is 4471"


def test_a_list_of_facts_fits_one_line_and_counts_the_rest():
    facts = [f"fact number {i} is a fairly long thing to say out loud" for i in range(8)]
    said, more = known_list(facts, chars=170)
    assert 1 <= len(said) < 8 and more == 8 - len(said)
    assert sum(len(f) + 2 for f in said) <= 170
    assert known_list(["a"] * 10)[0] == ["a"] * 6            # at most six


def test_a_dont_know_answer_names_what_was_asked():
    assert asked_about("what's my locker code?") == "your locker code"
    assert asked_about("what is my favourite band") == "your favourite band"
    assert asked_about("where was I born?") is None
