"""What a scenario found: named checks (pass/fail with the measured value and the limit) and metrics.

Every scenario returns one `Outcome`; the command prints each as a rich table on stderr and,
with --json, all of them as one JSON line on stdout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Check:
    name: str            # what must hold, in words: "acked messages lost"
    ok: bool
    value: Any           # what was measured
    limit: str           # the condition, e.g. "== 0", "< 1.0 s"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "value": self.value, "limit": self.limit}


@dataclass
class Outcome:
    scenario: str
    ran: bool = True
    reason: str = ""                 # why it did not run, or what stopped it early
    checks: list[Check] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    required: bool = True            # a scenario that did not run fails the command only if required

    def check(self, name: str, ok: bool, value: Any, limit: str) -> bool:
        self.checks.append(Check(name, bool(ok), value, limit))
        return bool(ok)

    def at_most(self, name: str, value: float | None, limit: float, unit: str = "") -> bool:
        return self.check(name, value is not None and value <= limit, _round(value), f"<= {limit:g}{unit}")

    def below(self, name: str, value: float | None, limit: float, unit: str = "") -> bool:
        return self.check(name, value is not None and value < limit, _round(value), f"< {limit:g}{unit}")

    def at_least(self, name: str, value: float | None, limit: float, unit: str = "") -> bool:
        return self.check(name, value is not None and value >= limit, _round(value), f">= {limit:g}{unit}")

    def equal(self, name: str, value: Any, want: Any) -> bool:
        return self.check(name, value == want, value, f"== {want}")

    @property
    def ok(self) -> bool:
        if not self.ran:
            return not self.required
        return bool(self.checks) and all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "ran": self.ran, "reason": self.reason,
                "checks": [c.as_dict() for c in self.checks], "metrics": self.metrics}


def _round(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(_show(v) for v in value) or "-"
    return "-" if value is None else str(value)


def render(outcome: Outcome) -> Any:
    """A rich table: checks first (PASS/FAIL), then the metrics."""
    from rich.table import Table

    if not outcome.ran:
        verdict = "NOT RUN" if not outcome.required else "FAILED TO RUN"
        title = f"agora chaos {outcome.scenario}: {verdict} ({outcome.reason})"
    else:
        title = f"agora chaos {outcome.scenario}: {'PASS' if outcome.ok else 'FAIL'}"
        if outcome.reason:
            title += f" ({outcome.reason})"
    t = Table(title=title, title_justify="left")
    t.add_column("")
    t.add_column("check / metric")
    t.add_column("value", justify="right", overflow="fold")
    t.add_column("limit")
    for c in outcome.checks:
        t.add_row("[green]PASS[/]" if c.ok else "[red]FAIL[/]", c.name, _show(c.value), c.limit)
    for key, value in outcome.metrics.items():
        t.add_row("", key, _show(value), "")
    return t


def json_line(outcomes: list[Outcome]) -> str:
    ok = all(o.ok for o in outcomes)
    return json.dumps({"ok": ok, "scenarios": {o.scenario: o.as_dict() for o in outcomes}},
                      separators=(",", ":"), default=str)
