"""`agora soak`: a few bots for a few seconds, through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

from world.chaos.process import ROOT


def test_a_short_soak_reports_memory_growth_and_tick_drift_without_disconnects():
    done = subprocess.run([sys.executable, "-m", "world.cli", "soak", "--bots", "6", "--minutes", "0.1",
                           "--sample-every", "1", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    report = json.loads(done.stdout)["scenarios"]["soak"]
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["bots connected (peak)"]["value"] == 6
    assert checks["memory growth, first minute vs last (%)"]["value"] is not None
    assert done.returncode == 0 and report["ok"], done.stderr[-3000:]
