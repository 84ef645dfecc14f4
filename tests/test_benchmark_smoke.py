"""The repository throughput benchmark runs end to end (quick mode) and reports a ratio
for every workload. Nothing here looks at the numbers: quick mode makes a few calls per
workload, which says nothing about speed."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = ROOT / "benchmarks" / "repository_throughput.py"

sys.path.insert(0, str(ROOT / "benchmarks"))
from repository_driver import BY_NAME, WORKLOAD_NAMES  # noqa: E402
from repository_throughput import THREE_SIDES, Result, round_order, summarise  # noqa: E402

pytestmark = pytest.mark.postgres


def test_quick_run_reports_a_ratio_for_every_workload(pg_server, tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--json", str(out)],
        cwd=ROOT,
        env=dict(os.environ, UNIFY_DATABASE_URL=pg_server.dsn),  # the server of this test run; not in argv
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]

    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["mode"] == "quick"
    assert [w["name"] for w in results["workloads"]] == list(WORKLOAD_NAMES)
    for workload in results["workloads"]:
        assert len(workload["ratios"]) == results["rounds"]
        for key in ("ratio_median", "old_median_ops_per_s", "new_median_ops_per_s"):
            assert math.isfinite(workload[key]) and workload[key] > 0, (workload["name"], key)
    assert math.isfinite(results["overall_ratio"]) and results["overall_ratio"] > 0
    assert set(results["targets"]) >= {"overall_met", "every_workload_met", "workloads_below_floor"}
    assert results["pools"]["old"]["kind"] == "asyncpg.Pool"
    assert results["pools"]["new"]["kind"].startswith("SQLAlchemy AsyncEngine")

    # the printed table names every workload and the overall ratio
    for name in WORKLOAD_NAMES:
        assert name in proc.stdout
    assert "overall" in proc.stdout


def test_three_way_quick_run_reports_every_pair_and_the_targets(pg_server, tmp_path):
    out = tmp_path / "three_way.json"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--three-way", "--json", str(out)],
        cwd=ROOT,
        env=dict(os.environ, UNIFY_DATABASE_URL=pg_server.dsn),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]
    assert "the 3 sides return the same results" in proc.stderr

    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["mode"] == "quick"
    assert results["sides"] == {"old": "legacy", "core": "handwritten", "new": "migrated"}
    # the hand-written side runs on an engine of its own making, sized like the others
    core_pool = results["pools"]["core"]
    assert core_pool["kind"].startswith("SQLAlchemy AsyncEngine") and core_pool["pool_size"] == 20
    assert core_pool["isolation_level"] is None  # SQLAlchemy's transactions, not AUTOCOMMIT
    assert results["pools"]["new"]["isolation_level"] == "AUTOCOMMIT"
    # every sequential workload was called on every side and compared before timing
    assert results["results_checked"]["workloads"] == sorted(n for n in WORKLOAD_NAMES if BY_NAME[n].tasks == 1)

    assert [w["name"] for w in results["workloads"]] == list(WORKLOAD_NAMES)
    for workload in results["workloads"]:
        for key in ("new_vs_core_ratios", "core_vs_old_ratios", "ratios", "core_ops_per_s"):
            assert len(workload[key]) == results["rounds"], (workload["name"], key)
        for key in ("new_vs_core_median", "core_vs_old_median", "ratio_median", "core_median_ops_per_s"):
            assert math.isfinite(workload[key]) and workload[key] > 0, (workload["name"], key)
        assert workload["single_statement"] == BY_NAME[workload["name"]].single

    three = results["three_way"]
    # on loopback: new/core everywhere and the floor; the latency targets do not apply
    assert set(three["targets"]) == {"new_vs_core_every_workload", "new_vs_old_not_below_floor"}
    for target in three["targets"].values():
        assert target["met"] == (not target["missed"])
        assert set(target["missed"]) <= set(WORKLOAD_NAMES)
    for name in WORKLOAD_NAMES:
        assert name in proc.stdout
    assert "floor" in proc.stdout and "target: new/core >= 0.95" in proc.stdout


def _result(name: str, old: float, core: float, new: float) -> Result:
    result = Result(BY_NAME[name], 10, THREE_SIDES)
    result.record({"legacy": old, "handwritten": core, "migrated": new})
    return result


def test_three_way_targets_follow_the_latency():
    results = [
        _result("alert.get_by_id", old=100, core=80, new=85),  # new/core 1.06, new/old 0.85
        _result("detection.save_batch", old=100, core=90, new=80),  # new/core 0.89, new/old 0.80
        _result("alert.create", old=100, core=70, new=120),  # new/core 1.71, new/old 1.20
    ]
    loopback = summarise(results, 0.0)["three_way"]["targets"]
    assert loopback["new_vs_core_every_workload"]["missed"] == ["detection.save_batch"]
    # the floor is core/old of the same workload: 0.80 < 0.90 misses it, 0.85 >= 0.80 does not
    assert loopback["new_vs_old_not_below_floor"]["missed"] == ["detection.save_batch"]
    assert "new_vs_old_single_statement" not in loopback and "new_vs_old_overall" not in loopback

    near = summarise(results, 0.1)["three_way"]["targets"]
    # save_batch is a transaction, not a single statement: only get_by_id counts
    assert near["new_vs_old_single_statement"]["missed"] == ["alert.get_by_id"]
    assert "new_vs_old_not_below_floor" not in near

    far = summarise(results, 0.5)["three_way"]
    assert far["overall_new_vs_old"] == 0.85 and far["targets"]["new_vs_old_overall"]["met"] is False


def test_three_sides_take_every_place_in_the_order_over_six_rounds():
    orders = [round_order(THREE_SIDES, rnd) for rnd in range(6)]
    for side in THREE_SIDES:
        assert sorted(order.index(side) for order in orders) == [0, 0, 1, 1, 2, 2]
    assert [round_order(("legacy", "migrated"), rnd) for rnd in range(2)] == [
        ("legacy", "migrated"),
        ("migrated", "legacy"),
    ]


def test_verify_benchmark_quick_run_reports_where_the_time_goes(pg_server, tmp_path):
    out = tmp_path / "verify.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "verify_throughput.py"), "--quick", "--json", str(out)],
        cwd=ROOT, env=dict(os.environ, UNIFY_DATABASE_URL=pg_server.dsn), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["mode"] == "quick"
    [run] = results["runs"]
    assert run["cases"] > 0 and run["differences"] == 0 and run["cases_per_s"] > 0
    assert set(run["parts_s"]) == {"scan", "provision", "template", "processes", "cases", "cleanup"}


def test_codemod_benchmark_quick_run_compares_with_the_noop_and_the_cache(tmp_path):
    out = tmp_path / "codemod.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "codemod_throughput.py"), "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["mode"] == "quick"
    [row] = results["rounds"]
    for run in ("noop", "cold", "warm"):
        assert row[run]["wall_s"] > 0 and row[run]["peak_rss_mb"] > 0, run
    assert results["tree"]["files"] >= 40 and 0 < results["tree"]["asyncpg_files"] < results["tree"]["files"]
    assert [m["files"] for m in results["memory"]] == [20, 40]
    assert set(results["targets"]) == {"cold_within_1_3x_of_noop", "warm_within_10pct_of_cold", "memory_flat"}
    assert "median" in proc.stdout and "targets:" in proc.stdout


def test_statement_paths_prints_a_rate_for_every_path(pg_server):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "statement_paths.py"), "--calls", "50", "--rounds", "1"],
        cwd=ROOT,
        env=dict(os.environ, UNIFY_DATABASE_URL=pg_server.dsn),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()[1:]}
    assert list(rows) == ["asyncpg", "core", "driver_sql", "driver_auto", "driver_plain"]
    for name, cells in rows.items():
        sequential, ratio, concurrent, concurrent_ratio = map(float, cells)
        assert sequential > 0 and concurrent > 0, name
    assert float(rows["asyncpg"][1]) == 1.0  # every ratio is against asyncpg itself
