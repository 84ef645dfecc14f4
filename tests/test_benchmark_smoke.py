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
from repository_driver import WORKLOAD_NAMES  # noqa: E402

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
