"""What each kind of persona does with a line addressed to it: explicit, tested logic.

Each behaviour turns (agent, heard line, conversation state) into actions: a draft with the
facts it must keep (from data: the world file, the catalog, the store), walking, following,
placing an order. The brain only phrases the draft (world/agents/speech.py).
"""

from __future__ import annotations

from world.agents.barista import Barista
from world.agents.behaviour import Behaviour
from world.agents.companion import Companion
from world.agents.guide import Guide

BEHAVIOURS: dict[str, Behaviour] = {"guide": Guide(), "companion": Companion(), "business": Barista()}

__all__ = ["BEHAVIOURS", "Behaviour"]
