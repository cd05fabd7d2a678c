"""`agora chaos disk --short`: the data directory fills up; what could not be stored is refused."""

from __future__ import annotations

import os

import pytest

from tests.chaos.conftest import checks, short
from world.chaos.report import Outcome


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    outcome = short("disk", tmp_path_factory.mktemp("disk"))
    if not outcome.ran:
        # Only where neither `mount` (root) nor a user namespace is allowed; CI has both,
        # so there a scenario that could not run is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(f"the full-disk scenario could not run: {outcome.reason}")
        pytest.skip(outcome.reason)
    assert "scenario ran to its end" not in checks(outcome), outcome.reason
    return outcome


def test_lines_acked_before_and_during_a_full_disk_survive_a_restart(full_disk):
    ok = checks(full_disk)
    assert ok["lines acked before the disk filled"]
    assert ok["acked lines lost (before and during the full disk)"]


def test_movement_goes_on_while_the_disk_is_full(full_disk):
    assert checks(full_disk)["movement on a full disk (m walked)"]


def test_chat_on_a_full_disk_is_refused_as_unavailable_not_internal(full_disk):
    ok = checks(full_disk)
    assert ok["chat on a full disk answered `unavailable`"]
    assert ok["`internal` errors on a full disk"]


def test_a_newcomer_on_a_full_disk_gets_unavailable_and_close_1013(full_disk):
    assert checks(full_disk)["newcomer's hello on a full disk (code, close)"]


def test_sigterm_on_a_full_disk_exits_0_without_a_traceback(full_disk):
    ok = checks(full_disk)
    assert ok["SIGTERM on a full disk: exit status"]
    assert ok["traceback on stderr after SIGTERM"]
