"""Logs: every logger in the project sits under "agora", so the one handler setup_logging installs
formats its lines as events, key=value or JSON, tracebacks included."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest

from tests.conftest import aio
from world.logs import event, setup_logging
from world.store import AsyncStore, Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def captured():
    """setup_logging writing into a buffer; the "agora" logger is restored afterwards."""
    root = logging.getLogger("agora")
    saved = (root.handlers[:], root.level, root.propagate)
    buf = io.StringIO()

    def setup(as_json: bool = False) -> io.StringIO:
        setup_logging("INFO", as_json, stream=buf)
        return buf

    yield setup
    root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]


def test_the_stores_lines_go_through_the_agora_handler_as_events(captured, tmp_path):
    buf = captured()
    Store(tmp_path / "agora.db").close()          # a new file is migrated: one line per version
    lines = [line for line in buf.getvalue().splitlines() if "event=migrated" in line]
    assert lines, buf.getvalue()
    assert re.search(r"level=info event=migrated logger=agora\.store path=\S+agora\.db version=1$", lines[0])


@pytest.mark.parametrize("as_json", [False, True])
@aio
async def test_a_failed_store_batch_is_a_warning_with_its_traceback(captured, tmp_path, as_json):
    buf = captured(as_json)
    astore = AsyncStore(Store(tmp_path / "agora.db"))
    try:
        # A job that ends the batch's transaction itself makes the batch's COMMIT fail.
        with pytest.raises(Exception):
            await astore.run(lambda s: s.conn.execute("COMMIT"))
    finally:
        await astore.close()
    warned = [line for line in buf.getvalue().splitlines() if "warning" in line]
    assert len(warned) >= 1, buf.getvalue()
    if as_json:
        line = json.loads(warned[0])
        assert line["level"] == "warning" and line["logger"] == "agora.store.writer"
        assert line["exc"].startswith("Traceback (most recent call last):") and "sqlite3." in line["exc"]
    else:
        assert " level=warning " in warned[0] and " logger=agora.store.writer " in warned[0]
        exc = json.loads(warned[0].split(" exc=", 1)[1])
        assert exc.startswith("Traceback (most recent call last):") and "sqlite3." in exc


@pytest.mark.parametrize("as_json", [False, True])
def test_an_event_with_a_traceback_keeps_it_in_both_forms(captured, as_json):
    buf = captured(as_json)
    try:
        raise RuntimeError("disk on fire")
    except RuntimeError:
        event("save_failed", level=logging.ERROR, exc_info=True, rows=3)
    (line,) = buf.getvalue().splitlines()
    if as_json:
        data = json.loads(line)
        assert (data["event"], data["level"], data["rows"]) == ("save_failed", "error", 3)
        assert "RuntimeError: disk on fire" in data["exc"] and "Traceback" in data["exc"]
    else:
        assert " level=error event=save_failed rows=3 exc=" in line
        assert "RuntimeError: disk on fire" in json.loads(line.split(" exc=", 1)[1])


def test_a_value_with_a_newline_stays_on_one_line(captured):
    buf = captured()
    event("chat", text="one\ntwo")
    assert buf.getvalue().count("\n") == 1 and 'text="one\\ntwo"' in buf.getvalue()


def test_no_logger_in_the_project_sits_outside_the_agora_tree():
    # A logger outside "agora" has no handler: its lines vanish, or print unformatted as warnings.
    outside = []
    for path in sorted([*ROOT.glob("world/**/*.py"), *ROOT.glob("client/**/*.py")]):
        for name in re.findall(r"getLogger\(\s*([^)]*)\)", path.read_text()):
            if not re.fullmatch(r"""["']agora(\.[\w.]+)?["']|ROOT""", name.strip()):
                outside.append(f"{path.relative_to(ROOT)}: getLogger({name})")
    assert not outside, outside
