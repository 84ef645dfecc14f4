"""`pgunify verify` on the bundled pepgmp example: cases per second and where the time goes.

Copies examples/pepgmp into a temporary git repository, runs `pgunify migrate --write` on
it (not measured), then runs verify with the default number of examples over every
repository and DAO method and the example's scenario files, `--runs` times. The first run
starts with an empty scan cache, the later ones reuse it (after `pgunify migrate` a user's
cache already holds the legacy files, so their first run is a warm one). Reported per
run: total wall time, and its parts: scan of the legacy tree, provisioning, the seeded
template database, starting the two side processes, and the cases themselves (cases/s and
milliseconds per case, both sides and the state comparison included).

With `--mutants`, every run is a plain run and a `--mutants` run side by side (one after
the other, on the same migrated copy): the ratio of their wall times is the cost of the
mutation score, which is reported with it (planted, equivalent, killed).

    .venv/bin/python benchmarks/verify_throughput.py --json benchmarks/results/verify_throughput.json
    .venv/bin/python benchmarks/verify_throughput.py --mutants --json benchmarks/results/verify_mutants.json
    .venv/bin/python benchmarks/verify_throughput.py --quick      # tiny, to check that it runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "pepgmp"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args], cwd=cwd,
                   check=True, capture_output=True)


def make_migrated_copy(workdir: Path) -> tuple[Path, float]:
    target = workdir / "pepgmp"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".pgunify"))
    _git(target, "init", "-q")
    _git(target, "add", "-A")
    _git(target, "commit", "-qm", "legacy")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pgunify", "migrate", str(target), "--write", "--no-diff"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"pgunify migrate failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return target, time.perf_counter() - started


def one_run(target: Path, examples: int, select: tuple[str, ...], dsn: str | None, mutants: bool = False) -> dict:
    from pgunify.verify.runner import verify
    from pgunify.verify.scenarios import load_scenarios
    from pgunify.verify.settings import load_verify_settings
    from pgunify.verify.trees import from_baseline

    settings = load_verify_settings(target)
    scenarios = load_scenarios(target / settings.scenarios, target)
    started = time.perf_counter()
    result = verify(target, lambda work: from_baseline(target, work), settings, examples=examples, seed=settings.seed,
                    scenarios=scenarios, dsn=dsn, select=select, mutants=mutants)
    wall = time.perf_counter() - started
    t = result.timings
    scored = result.mutation
    return {
        **({"mutants": {"planted": len(scored.planted), "equivalent": len(scored.equivalent),
                        "killed": len(scored.killed), "score": round(scored.score, 4) if scored.score is not None else None,
                        "mutants_s": round(t.mutants, 2)}} if scored is not None else {}),
        "wall_s": round(wall, 2),
        "cases": result.cases,
        "methods": result.methods,
        "classes": result.targets,
        "scenarios": result.scenarios,
        "differences": len(result.differences),
        "cases_per_s": round(result.cases_per_second, 1),
        "ms_per_case": round(1000 * t.cases / result.cases, 2) if result.cases else None,
        "parts_s": {"scan": round(t.scan, 2), "provision": round(t.provision, 2), "template": round(t.template, 2),
                    "processes": round(t.processes, 2), "cases": round(t.cases, 2), "cleanup": round(t.cleanup, 2)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two examples, one class, one run (numbers mean nothing)")
    parser.add_argument("--runs", type=int, default=2, help="verify runs on the same migrated copy (default 2)")
    parser.add_argument("--examples", type=int, help="generated calls per method (default: verify's default)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    parser.add_argument("--dsn", help="PostgreSQL server URL (default: UNIFY_DATABASE_URL, then provisioning)")
    parser.add_argument("--mutants", action="store_true", help="each run: a plain run, then a --mutants run; their ratio")
    args = parser.parse_args(argv)

    from pgunify.verify.settings import VerifySettings

    examples = args.examples if args.examples is not None else (2 if args.quick else VerifySettings().examples)
    runs = 1 if args.quick else max(1, args.runs)
    select = ("PostgreSQLCameraRepository",) if args.quick else ()
    with tempfile.TemporaryDirectory(prefix="pgunify-verify-bench-") as tmp:
        work = Path(tmp)
        os.environ["UNIFY_CACHE_DIR"] = str(work / "migrate-cache")
        target, migrate_s = make_migrated_copy(work)
        os.environ["UNIFY_CACHE_DIR"] = str(work / "verify-cache")  # the first run scans cold, the next warm
        print(f"migrated a copy of examples/pepgmp in {migrate_s:.1f}s (not part of the measurement)", file=sys.stderr)
        results = []
        for number in range(1, runs + 1):
            run = one_run(target, examples, select, args.dsn)
            run["scan_cache"] = "cold" if number == 1 else "warm"
            results.append(run)
            if args.mutants:
                scored = one_run(target, examples, select, args.dsn, mutants=True)
                run["with_mutants"] = scored
                run["mutants_to_plain"] = round(scored["wall_s"] / run["wall_s"], 2)
                m = scored["mutants"]
                print(f"run {number} with --mutants: {scored['wall_s']:.1f}s ({run['mutants_to_plain']}x the plain run); "
                      f"{m['planted']} planted, {m['equivalent']} equivalent, {m['killed']} killed, score {m['score']}",
                      file=sys.stderr)
            p = run["parts_s"]
            print(f"run {number} ({run['scan_cache']} scan cache): {run['cases']} cases, {run['methods']} methods, "
                  f"{run['scenarios']} scenarios, {run['differences']} differences in {run['wall_s']:.1f}s; "
                  f"{run['cases_per_s']:.0f} cases/s ({run['ms_per_case']} ms/case); scan {p['scan']}s, "
                  f"provisioning {p['provision']}s, template {p['template']}s, processes {p['processes']}s, "
                  f"cases {p['cases']}s, cleanup {p['cleanup']}s")
    data = {
        "benchmark": "verify_throughput",
        "mode": "quick" if args.quick else "full",
        "mutants": args.mutants,
        "examples_per_method": examples,
        "migrate_s": round(migrate_s, 1),
        "runs": results,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None},
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
