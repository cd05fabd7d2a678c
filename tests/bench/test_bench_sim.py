"""`agora bench sim` runs end to end on tiny sizes; its results are checked for shape, not speed."""

from __future__ import annotations

import argparse
import json
import sys

import pytest

from world.bench import sim

KEYS = {"entities", "observers", "tick_ms", "neighbours_ms", "ckdtree_ms", "bruteforce_ms",
        "speedup_vs_ckdtree", "cache_warm_start_s", "tick_observers", "tick_all_clients_ms"}
PER_SIZE = ("tick_ms", "neighbours_ms", "ckdtree_ms", "bruteforce_ms", "speedup_vs_ckdtree", "tick_observers")


def bench(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sim.add_arguments(parser)
    return sim.run(parser.parse_args(list(argv)))


def test_json_run_ends_with_one_object_per_size(capsys):
    assert bench("--entities", "200,500", "--repeats", "1", "--json") == 0
    out = capsys.readouterr().out
    assert "same pairs" in out and "DIFFERENT" not in out
    result = json.loads(out.strip().splitlines()[-1])
    assert set(result) == KEYS
    assert result["entities"] == [200, 500] and result["observers"] == [200, 500]
    for key in PER_SIZE:
        assert set(result[key]) == {"200", "500"}
    for n in ("200", "500"):
        assert result["neighbours_ms"][n] > 0 and result["ckdtree_ms"][n] > 0
        assert result["bruteforce_ms"][n] > 0 and result["speedup_vs_ckdtree"][n] > 0
    if sim.pipeline_missing() is None:
        assert all(result["tick_ms"][n] > 0 for n in ("200", "500"))
        assert result["cache_warm_start_s"] > 0
    else:
        assert result["tick_ms"] == {"200": None, "500": None}
        assert result["cache_warm_start_s"] is None


def test_observers_option_sets_the_observers_of_every_size(capsys):
    assert bench("--entities", "300,40", "--observers", "50", "--repeats", "1", "--json") == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["entities"] == [300, 40] and result["observers"] == [50, 40]


def test_plot_is_written_as_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "sim.png"
    assert bench("--entities", "100,300", "--repeats", "1", "--plot", str(path)) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(path) in capsys.readouterr().out


def test_plot_without_matplotlib_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert bench("--entities", "100", "--plot", str(tmp_path / "x.png")) == 2
    assert 'pip install ".[bench]"' in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("argv", [["--entities", "0"], ["--entities", "ten"],
                                  ["--repeats", "0"], ["--radius", "-1"]])
def test_bad_arguments_are_usage_errors(argv):
    with pytest.raises(SystemExit) as exc:
        bench(*argv)
    assert exc.value.code == 2


def test_neighbour_methods_find_the_same_lists():
    lay = sim.make_layout(400, 120, 30.0)
    grid = sim.grid_neighbours(lay, 30.0, 30.0)()
    assert sim.same_lists(grid, sim.ckdtree_neighbours(lay, 30.0)(), 120)
    assert sim.same_lists(grid, sim.brute_neighbours(lay, 30.0)(), 120)
