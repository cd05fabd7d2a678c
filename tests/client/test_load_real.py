"""`agora bots` against a real `agora serve` process: the JSON line a CI or a person reads."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.server.test_process import ROOT, start_server

KEYS = {"connected", "disconnects", "errors", "ack_p50_ms", "ack_p99_ms", "rtt_p50_ms", "rtt_p99_ms",
        "snapshots_per_s", "bytes_per_client_s"}


def test_bots_walk_chat_and_print_only_the_json_line_on_stdout(tmp_path):
    proc, url = start_server(tmp_path)
    try:
        out = subprocess.run([sys.executable, "-m", "world.cli", "bots", "--url", url, "--count", "8",
                              "--duration", "3", "--chat-every", "1", "--json"],
                             cwd=ROOT, capture_output=True, text=True, timeout=90)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)                     # all of stdout: `agora bots --json | jq` works
    assert "disconnects" in out.stderr                  # the table a person reads went to stderr
    assert KEYS <= set(report)
    assert report["connected"] == 8 and report["disconnects"] == 0 and report["errors"] == 0
    assert 10 <= report["snapshots_per_s"] <= 31          # the server ticks at 30 Hz
    assert 0 < report["ack_p50_ms"] <= report["ack_p99_ms"]
    assert report["bytes_per_client_s"] > 0
    assert report["chats_acked"] > 0 and report["chats_heard"] > 0
