"""The checks every sentence of an agent's line passes before anyone hears it, on data: lines
people saw (quoted in the issue), lies a small model tells, and paraphrases it may make."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from world.agents.wording import (
    Source,
    acceptable,
    check,
    has_fact,
    sentences,
    words_of,
)

MENU = ("We have espresso 2.20, flat white 3.20, latte 3.40, cappuccino 3.30, tea 2.50, "
        "hot chocolate 3.60, croissant 2.80, blueberry muffin 2.90.")
WHERE = "The Cafe is about 43 m north-east of here."
LOCKER = "You told me your locker code is 4471."
EVENTS = "Here's what's on: Open mic night at the Stage, Fridays at 19:00."

# (draft, facts, a sentence the model wrote that nobody may hear)
REFUSED = [
    # seen by people (the issue)
    (EVENTS, ["Open mic night", "Fridays at 19:00"],
     'Rewrite the DRAFT as Mira would say: "Drafty, here\'s what we have today..."'),
    (MENU, ["2.20"], "We have espresso 2.40, flat white 3/16 (approximately), latte 5"),
    (LOCKER, ["4471"], "your locker code is 4783"),
    ("Got it: a tea.", ["tea"], "Got it: a tea made of oats."),
    ("So that's a latte, 3.40 in total.", ["3.40"], "A latte, 3.40 in total, take it or leave it."),
    # what a 135M model does with a draft
    (WHERE, ["Cafe", "north-east"], "The Cafe is about 43 m south-east of here."),
    (WHERE, ["Cafe", "north-east"], "The Cafe is not about 43 m north-east of here."),
    (WHERE, ["Cafe", "north-east"], "The Cafe is about 43 m north-east of here, next to the Library."),
    (WHERE, ["Cafe", "north-east"], "The Cafe is 43 m north-east, 5 minutes away."),
    (WHERE, ["Cafe", "north-east"], "Is the Cafe about 43 m north-east of here?"),
    (WHERE, ["Cafe", "north-east"], "Did Into the Cafe, about 43 m?"),
    (WHERE, ["Cafe", "north-east"], "The Cafe the Cafe is about about 43 m m north-east."),
    (WHERE, ["Cafe", "north-east"], "<|im_start|>assistant The Cafe is 43 m north-east."),
    (WHERE, ["Cafe", "north-east"], "The Cafe is ~~~~ 43 m north-east."),
    (WHERE, ["Cafe", "north-east"], "The Cafe is free and about 43 m north-east of here."),
    (LOCKER, ["4471"], "I told you my locker code is 4471."),
    (LOCKER, ["4471"], "My locker code is 4471."),
    (LOCKER, ["4471"], "I'm sorry, but I can't provide a locker code."),
    ("You told me your sister is called Ana.", ["Ana"], "She's called Ana."),
    ("You told me your sister is called Ana.", ["Ana"], "Your sister is called Anna."),
    ("A latte is 3.40.", ["3.40"], "A latte costs 3.40 euros, which is equivalent to 5 USD."),
    ("A latte is 3.40.", ["3.40"], "A latte is 3.40 liters of espresso."),
    ("We're open every day from 07:00 to 22:00.", ["07:00", "22:00"], "We're open every day from 07:31 to 24:59."),
    ("We're open every day from 07:00 to 22:00.", ["07:00", "22:00"], "We're open every day, always."),
    ("Got it: a flat white with oat milk and 2 croissants.", ["flat white", "croissant"],
     "A flat white with oat milk and three croissants."),
    ("Order #12 is placed: a latte, 3.40.", ["#12", "3.40"], "Order #13 is placed: a latte, 3.40."),
    ("Follow me to the Stage!", ["Stage"], "Bye! Follow me to the stage."),
    ("No problem. Ask me if you need anything.", [], "DRAFT: No problem. Draft over."),
    ("You're welcome!", [], "As an AI, you're welcome!"),
    ("That's the Fountain, about 12 m away.", ["Fountain"], "The Fountain is about 12 m away, persona."),
    # seen in agora talk with the local model
    ("Your order so far: a latte and a latte with vanilla syrup, 7.30.", ["7.30"],
     "The latte and the latte with vanilla syrup, a 7.30."),
    ("So that's an espresso, 2.20 in total.", ["2.20"], "A espresso is 2.20 in total."),
]


@pytest.mark.parametrize("draft, facts, text", REFUSED)
def test_every_sentence_people_must_not_hear_is_refused(draft, facts, text):
    source = Source.of(draft, facts)
    verdicts = [check(s, source) for s in sentences(text)]
    assert any(v is not None for v in verdicts), (text, verdicts)
    assert not acceptable(text, facts, source=draft)


# (draft, facts, what the model may say instead)
ACCEPTED = [
    (WHERE, ["Cafe", "north-east"], "The Cafe? It's about 43 m north-east of here."),
    (WHERE, ["Cafe", "north-east"], "Sure! The Cafe is around 43 m to the north-east."),
    (WHERE, ["Cafe", "north-east"], "You'll find the Cafe roughly 43 metres north-east of here."),
    (WHERE, ["Cafe", "north-east"], "The café is about 43 m northeast of here."),
    ("A latte is 3.40.", ["3.40"], "A latte costs 3.40."),
    ("A latte is 3.40.", ["3.40"], "Sure! A latte is 3.40 euros."),
    (LOCKER, ["4471"], "Your locker code is 4471, you told me."),
    (LOCKER, ["4471"], "You said your locker code is 4471."),
    ("We're open every day from 07:00 to 22:00.", ["07:00", "22:00"], "We're open daily, from 07:00 until 22:00."),
    ("Got it: a flat white with oat milk and 2 croissants.", ["flat white", "croissant"],
     "Got it: a flat white with oat milk and two croissants."),
    ("Got it: a flat white with oat milk and 2 croissants.", ["flat white", "croissant"],
     "A flat white with oat milk and 2 croissants."),
    ("So that's a latte, 3.40 in total.", ["3.40"], "That's a latte, 3.40 in total."),
    ("So that's a latte, 3.40 in total.", ["3.40"], "A latte costs 3.40 in total."),
    ("Here we are: the Garden. A quiet garden with hedges and benches, west of the plaza.", ["Garden"],
     "The Garden. A quiet garden with hedges and benches, west of the plaza."),
    ("That's the Fountain, about 12 m away.", ["Fountain"], "Happy to help! The Fountain is about 12 m away."),
    ("That's the Fountain, about 12 m away.", ["Fountain"], "The Fountain's about 12 m away."),
    ("You're welcome! Enjoy.", [], "You're welcome! Enjoy!"),
    ("Goodbye, enjoy Agora!", [], "Bye! Enjoy Agora."),
    ("I don't think you've told me that yet.", [], "I don't think you've told me that."),
    ("Welcome to the cafe! I'm Bruno. What can I get you?", [], "Welcome to the cafe! What can I get you?"),
    ("Order #12 (a latte) is preparing.", ["#12", "preparing"], "Order #12, a latte, is preparing."),
]


@pytest.mark.parametrize("draft, facts, text", ACCEPTED)
def test_good_paraphrases_are_accepted(draft, facts, text):
    source = Source.of(draft, facts)
    said: list[str] = []
    for s in sentences(text):
        assert check(s, source, said) is None, (s, check(s, source, said))
        said.append(s)
    assert acceptable(text, facts, source=draft)


def test_numbers_in_the_draft_are_facts_too():
    source = Source.of("Order #12 is placed: a latte, 3.40. It'll be ready in about 1 minute.", ["#12", "3.40"])
    assert "1" in source.facts
    assert source.missing("Order #12 is placed: a latte, 3.40.") == ["1"]
    assert source.missing("Order #12, a latte, 3.40, ready in about one minute.") == ["1"]   # digits, as drafted


def test_a_sentence_that_only_repeats_an_earlier_one_is_refused():
    source = Source.of(WHERE, ["Cafe"])
    first = "The Cafe is about 43 m north-east of here."
    assert check("The Cafe is 43 m north-east.", source, [first]) == "repeat"
    assert check(first, source, [first]) == "repeat"


def test_words_open_contractions_and_number_words():
    assert words_of("You can't miss it, it's two doors down") == \
        ["you", "can", "not", "miss", "it", "it", "is", "2", "doors", "down"]
    assert words_of("The café's 3,20") == ["the", "cafe", "is", "3.20"]


def test_has_fact_boundaries():
    assert has_fact("At the Cafe.", "cafe")
    assert not has_fact("At the Cafeteria.", "Cafe")
    assert has_fact("It costs 3.20.", "3.20")
    assert has_fact("It costs €3.20!", "3.20")
    assert not has_fact("It costs 3,205", "3.20")
    assert not has_fact("It costs 13.20", "3.20")
    assert has_fact("go north  east", "north east")
    assert has_fact("and 2 croissants", "croissant")
    assert has_fact("43 m northeast", "north-east") and has_fact("north east", "north-east")
    assert has_fact("anything", "")


words = st.sampled_from(["the", "Cafe", "is", "about", "43", "m", "north-east", "of", "here", "Sure!",
                         "south", "44", "not", "I", "you", "Library", "free", "draft", "it's", "away", "."])


@given(st.lists(words, min_size=1, max_size=14))
@settings(max_examples=300, deadline=None)
def test_no_accepted_sentence_carries_a_word_or_number_the_draft_lacks(ws):
    source = Source.of(WHERE, ["Cafe", "north-east"])
    text = " ".join(ws)
    for s in sentences(text):
        if check(s, source) is None:
            said = set(words_of(s))
            assert not said & {"south", "44", "not", "i", "library", "free", "draft"}, s
