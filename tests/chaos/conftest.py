"""The chaos scenarios in their --short versions: real server processes, real sockets."""

from __future__ import annotations

from pathlib import Path

from world.chaos.cli import presets, run_scenario
from world.chaos.report import Outcome


def short(name: str, work: Path) -> Outcome:
    """Run one scenario's --short version in `work`."""
    return run_scenario(name, presets(short=True)[name], work)


def checks(outcome: Outcome) -> dict[str, bool]:
    return {c.name: c.ok for c in outcome.checks}


def failed(outcome: Outcome) -> list[str]:
    return [f"{c.name}: {c.value} (want {c.limit})" for c in outcome.checks if not c.ok] + \
        ([outcome.reason] if outcome.reason else [])
