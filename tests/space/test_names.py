"""Names people may not take: agents' names, their look-alikes, and AI tags."""

from __future__ import annotations

import pytest

from world.agents.host import companion_name
from world.protocol.messages import MAX_NAME
from world.space.names import NameRules, skeleton

RULES = NameRules(["Mira", "Bruno", "Pip"])


@pytest.mark.parametrize("name", [
    "Mira", "mira", "MIRA", "M i r a", "Mira.", "mi-ra",
    "Mіra",          # Cyrillic i
    "Μira",          # Greek capital mu
    "Ｍｉｒａ",       # full-width
    "Mírá",          # accents
    "Brun0", "8runo", "Bruno [AI]", "Mira (AI)", "Mira AI", "mira-bot",
    "Pip (Alice)",   # a companion's name
    "[AI] Bob", "Alice [ai]", "Carol (bot)", "Dan [NPC]",
])
def test_agent_names_and_lookalikes_and_ai_tags_are_refused(name):
    assert RULES.refusal(name) is not None


@pytest.mark.parametrize("name", ["Alice", "Miranda", "Bruno2", "Pipal", "Bob bot", "Amira", "Pippa", "ΜΙΡΑ"])
def test_other_names_are_allowed(name):
    assert RULES.refusal(name) is None


def test_skeletons_fold_case_accents_scripts_and_spacing():
    assert skeleton("  Mírа ") == skeleton("MIRA") == skeleton("m.i.r.a")
    assert skeleton("rn") == skeleton("m")


def test_companion_names_are_unique_when_owners_share_a_name():
    assert companion_name("Pip", "Alice", 7, set()) == "Pip (Alice)"
    assert companion_name("Pip", "Alice", 7, {"Pip (Alice)"}) == "Pip (Alice #7)"
    long = companion_name("Pip", "A" * 40, 123456, set())
    assert len(long) <= MAX_NAME and long.endswith("#123456)")
