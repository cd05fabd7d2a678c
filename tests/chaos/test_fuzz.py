"""`agora chaos fuzz --short`: every invalid frame gets its coded error; a bystander keeps 30 Hz."""

from __future__ import annotations

from tests.chaos.conftest import failed, short


def test_every_fuzzed_invalid_frame_is_answered_with_its_code_while_a_bystander_keeps_its_snapshots(tmp_path):
    outcome = short("fuzz", tmp_path)
    assert outcome.ok, failed(outcome)
    assert outcome.metrics["fuzzer connections"] > 1      # strikes closed it, and it came back
