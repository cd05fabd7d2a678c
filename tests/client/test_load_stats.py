"""The load tool's arithmetic and report shape: percentiles, merging across processes, the JSON line."""

from __future__ import annotations

import argparse
import json
import math
import pickle
import random
import socket
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client import load
from client.load import Samples, Stats, heading_to, json_line, merge_stats, summarise

REQUIRED_KEYS = ("connected", "disconnects", "errors", "ack_p50_ms", "ack_p99_ms", "rtt_p50_ms",
                 "rtt_p99_ms", "snapshots_per_s", "bytes_per_client_s")


def samples_of(values, cap: int = load.SAMPLE_CAP, seed: int = 1) -> Samples:
    s = Samples(cap, seed=seed)
    for v in values:
        s.add(float(v))
    return s


def test_percentiles_are_nearest_rank():
    s = samples_of(range(1, 101))
    assert (s.percentile(0), s.percentile(50), s.percentile(99), s.percentile(100)) == (1, 50, 99, 100)
    assert s.percentile(7) == 7 and s.percentile(29) == 29     # no float drift to the next rank
    assert s.count == 100


def test_no_samples_gives_none_not_zero():
    assert Samples().percentile(50) is None
    assert Samples.merge([Samples(), Samples()]).percentile(99) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(0, 1e4, allow_nan=False), max_size=40), min_size=1, max_size=4),
       st.sampled_from([1, 10, 50, 90, 99, 100]))
def test_merged_exact_parts_equal_the_percentile_of_all_samples(parts, q):
    merged = Samples.merge(samples_of(p) for p in parts)
    everything = [v for p in parts for v in p]
    if not everything:
        assert merged.percentile(q) is None
        return
    assert merged.percentile(q) == np.percentile(everything, q, method="inverted_cdf")
    assert merged.count == len(everything)


def test_reservoir_is_bounded_and_still_counts_everything():
    s = samples_of(range(100_000), cap=1000)
    assert len(s.values) == 1000 and s.count == 100_000
    assert abs(s.percentile(50) - 50_000) < 5_000
    assert abs(s.percentile(99) - 99_000) < 2_000


def test_merge_weighs_each_process_by_what_it_saw_not_by_what_it_kept():
    busy = samples_of([10.0] * 1000, cap=100)        # kept 100 of 1000
    quiet = samples_of([1000.0] * 100)                # kept all 100
    merged = Samples.merge([busy, quiet])
    assert merged.count == 1100
    assert merged.percentile(75) == 10.0 and merged.percentile(90) == 10.0   # 1000/1100 = 90.9 %
    assert merged.percentile(95) == 1000.0


def test_merge_of_merged_samples_keeps_weights():
    a, b, c = samples_of([1.0] * 10), samples_of([2.0] * 10), samples_of([3.0] * 20)
    nested = Samples.merge([Samples.merge([a, b]), c])
    assert nested.count == 40
    assert (nested.percentile(25), nested.percentile(50), nested.percentile(51)) == (1.0, 2.0, 3.0)


def worker_stats(seed: int, ack: list[float], rtt: list[float], **kw) -> Stats:
    s = Stats(**kw)
    s.ack = samples_of(ack, seed=seed)
    s.rtt = samples_of(rtt, seed=seed)
    return s


def test_merge_stats_adds_counts_and_merges_samples():
    a = worker_stats(1, [10, 20, 30], [1, 2], bots=500, connected=490, connected_peak=500, inputs=1000,
                     snaps=2000, bytes=300_000, client_s=100.0, window_s=10.0, wall_s=30.0, cpu_s=4.0,
                     cpu_window_s=2.0, errors=Counter(rate_limited=3),
                     disconnects=Counter({"4004": 2}), connect_failed=Counter(full=10))
    b = worker_stats(2, [40, 50], [3], bots=500, connected=500, connected_peak=500, inputs=1500,
                     snaps=2100, bytes=310_000, client_s=110.0, window_s=10.2, wall_s=31.0, cpu_s=5.0,
                     cpu_window_s=2.5, errors=Counter(rate_limited=1, muted=2),
                     disconnects=Counter({"4004": 1, "1006": 1}),
                     server={"tick_p50_ms": 3.0, "tick_p99_ms": 9.5})
    m = merge_stats([a, b])
    assert (m.bots, m.connected, m.connected_peak, m.inputs, m.snaps, m.bytes) == (
        1000, 990, 1000, 2500, 4100, 610_000)
    assert m.errors == Counter(rate_limited=4, muted=2)
    assert m.disconnects == Counter({"4004": 3, "1006": 1})
    assert m.connect_failed == Counter(full=10)
    assert m.client_s == 210.0 and m.cpu_s == 9.0 and m.cpu_window_s == 4.5
    assert m.window_s == 10.2 and m.wall_s == 31.0 and m.procs == 2
    assert m.server == {"tick_p50_ms": 3.0, "tick_p99_ms": 9.5}
    assert m.ack.count == 5 and m.ack.percentile(50) == 30 and m.ack.percentile(100) == 50
    assert m.rtt.percentile(99) == 3


def test_stats_survive_the_trip_between_processes():
    a = worker_stats(1, [5.0, 6.0], [1.0], bots=2, errors=Counter(muted=1))
    back = pickle.loads(pickle.dumps(a))
    m = merge_stats([back, back])
    assert m.ack.count == 4 and m.errors == Counter(muted=2)


def test_summary_rates_are_per_window_and_per_connected_client_second():
    s = worker_stats(1, [40.0] * 99 + [200.0], [2.0, 4.0], bots=10, connected=10, connected_peak=10,
                     inputs=1000, snaps=2000, bytes=2_000_000, client_s=100.0, window_s=10.0, wall_s=14.0,
                     cpu_s=7.0, cpu_window_s=5.0, errors=Counter(rate_limited=2, muted=1),
                     disconnects=Counter({"4003": 1}))
    out = summarise(s)
    assert out["inputs_per_s"] == 100.0
    assert out["snapshots_per_s"] == 20.0
    assert out["bytes_per_client_s"] == 20_000.0
    assert (out["ack_p50_ms"], out["ack_p99_ms"], out["rtt_p50_ms"]) == (40.0, 40.0, 2.0)
    assert out["errors"] == 3 and out["errors_by_code"] == {"rate_limited": 2, "muted": 1}
    assert out["disconnects"] == 1 and out["disconnects_by_code"] == {"4003": 1}
    assert out["cpu_pct_of_core"] == 50.0
    assert out["server_tick_p50_ms"] is None


def test_json_line_is_one_line_with_the_contract_keys_and_json_types():
    s = worker_stats(1, [1.5], [0.5], bots=3, connected=3, client_s=3.0, window_s=1.0,
                     server={"tick_p50_ms": 2.0, "tick_p99_ms": 4.0},
                     errors=Counter({"bad\nfield": 1}))
    line = json_line(summarise(s))
    assert "\n" not in line
    out = json.loads(line)
    assert isinstance(out, dict)
    for key in REQUIRED_KEYS:
        assert key in out
    for key in ("connected", "disconnects", "errors"):
        assert isinstance(out[key], int)
    assert out["server_tick_p50_ms"] == 2.0 and out["server_tick_p99_ms"] == 4.0
    empty = json.loads(json_line(summarise(Stats())))
    assert empty["ack_p50_ms"] is None and empty["snapshots_per_s"] == 0.0


def test_table_renders_with_and_without_samples():
    from rich.console import Console

    for s in (Stats(), worker_stats(1, [3.0], [1.0], bots=1, connected=1, client_s=1.0, window_s=1.0,
                                    errors=Counter(muted=1), server={"tick_p50_ms": 1, "tick_p99_ms": 2})):
        console = Console(record=True, width=120)
        console.print(load.render(summarise(s)))
        assert "input->ack" in console.export_text()


def test_heading_points_forward_along_the_wanted_direction():
    for dx, dy in ((0, 1), (1, 0), (-1, 0), (0, -1), (3, -4), (-2.5, 0.1)):
        yaw = heading_to(dx, dy)
        n = math.hypot(dx, dy)
        assert math.isclose(-math.sin(yaw), dx / n, abs_tol=1e-12)
        assert math.isclose(math.cos(yaw), dy / n, abs_tol=1e-12)
        assert -math.pi <= yaw <= math.pi


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    load.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("url,ok", [("ws://127.0.0.1:8765", True), ("ws://localhost:1/x", True),
                                    ("ws://[::1]:9", True), ("ws://127.8.0.1:9", True),
                                    ("ws://10.0.0.1:8765", False), ("ws://example.com", False),
                                    ("http://127.0.0.1:8765", False), ("ws://:80", False)])
def test_only_loopback_servers_are_loaded(url, ok):
    assert load.is_loopback(url) is ok


@pytest.mark.parametrize("argv", [("--count", "0"), ("--count", str(load.MAX_COUNT + 1)),
                                  ("--duration", "0"), ("--duration", "1e6"), ("--procs", "0"),
                                  ("--ramp", "0"), ("--url", "ws://192.168.1.1:8765")])
def test_unbounded_or_remote_runs_are_refused(argv):
    assert load.check_args(args(*argv)) is not None
    assert load.run(args(*argv)) == 2


def test_defaults_are_accepted_and_split_across_processes():
    a = args("--count", "10", "--procs", "3")
    assert load.check_args(a) is None
    cfgs = load.worker_configs(a, start_at=0.0)
    assert sorted(i for c in cfgs for i in c.indices) == list(range(10))
    assert [c.fetch_server_stats for c in cfgs] == [True, False, False]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_without_a_server_stops_by_itself_and_ends_with_the_json_line(capsys):
    rc = load.main(["--url", f"ws://127.0.0.1:{closed_port()}", "--count", "5", "--ramp", "100",
                    "--duration", "30", "--json"])
    assert rc == 1                                   # nobody connected
    lines = capsys.readouterr().out.strip().splitlines()
    out = json.loads(lines[-1])
    assert out["connected"] == 0 and out["connect_failed"] == 5
    assert out["connect_failed_by_reason"] == {"ConnectionRefusedError": 5}
    assert out["wall_s"] < 10                        # did not wait out the 30 s window


def test_samples_reservoir_is_deterministic_per_seed():
    values = [random.Random(3).random() for _ in range(5000)]
    a, b = samples_of(values, cap=100, seed=7), samples_of(values, cap=100, seed=7)
    assert list(a.values) == list(b.values)
