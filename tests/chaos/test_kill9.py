"""`agora chaos kill9 --short`: SIGKILL mid-chat loses no acknowledged line (through the CLI)."""

from __future__ import annotations

import json
import subprocess
import sys

from world.chaos.process import ROOT


def test_kill_9_mid_chat_loses_no_acknowledged_line_and_the_cli_prints_one_json_line():
    done = subprocess.run([sys.executable, "-m", "world.cli", "chaos", "kill9", "--short", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout                   # stdout holds the JSON line and nothing else
    report = json.loads(lines[0])["scenarios"]["kill9"]
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["acked lines lost after kill -9"]["value"] == 0
    assert report["metrics"]["acked"] > 0
    assert done.returncode == 0 and report["ok"], done.stderr[-3000:]
    assert "kill9" in done.stderr                           # the table went to stderr
