"""`agora chaos flood --short`: a connection flood from many addresses; a real user still gets in."""

from __future__ import annotations

from tests.chaos.conftest import failed, short


def test_during_a_flood_a_real_user_joins_quickly_memory_comes_back_and_the_bystander_is_served(tmp_path):
    outcome = short("flood", tmp_path)
    assert outcome.ok, failed(outcome)
    outcomes = outcome.metrics["outcomes"]
    assert sum(n for k, n in outcomes.items() if k != "upgrade accepted") == 100    # every connection accounted for
