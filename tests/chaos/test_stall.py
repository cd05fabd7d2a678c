"""`agora chaos stall --short`: a client that stops reading is dropped after the stall timeout."""

from __future__ import annotations

from tests.chaos.conftest import failed, short


def test_a_client_that_stops_reading_is_dropped_within_the_stall_timeout_and_others_are_unaffected(tmp_path):
    outcome = short("stall", tmp_path)
    assert outcome.ok, failed(outcome)
