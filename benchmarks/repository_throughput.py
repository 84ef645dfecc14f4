"""Repository throughput, before and after `pgunify migrate`, on the bundled pepgmp example.

    python benchmarks/repository_throughput.py [--quick] [--rounds N] [--json FILE]
        [--workload NAME]... [--what-if CHANGE]... [--latency-ms MS] [--scale F] [--dsn URL]
        [--codemod NAME]... [--baseline legacy|migrated] [--three-way]

What it does:

1. copies examples/pepgmp twice into a temporary directory: `legacy` as it is, and
   `migrated`, on which `pgunify migrate --write --allow-dirty` runs;
2. provisions PostgreSQL (pgunify.postgres: --dsn / UNIFY_DATABASE_URL, a local server,
   Docker, ...) and creates a scratch database, dropped at the end;
3. starts one process per side (both copies have a package named `src`), each with the
   application's own DatabaseService: an asyncpg pool (min 5, max 20) on the legacy side,
   the shared SQLAlchemy engine (pool of 20, AUTOCOMMIT view) on the migrated side;
4. applies the schema once (legacy DatabaseService.init_schema()) and seeds read data
   through the legacy repositories: cameras, alerts and detection records;
5. warms every workload up on both sides, then runs N rounds. Each round starts from the
   same database state (rows written by the previous round are deleted, tables vacuumed)
   and runs every workload on both sides back to back, interleaved: old then new in even
   rounds, new then old in odd rounds, so that drift on a shared machine hits both;
6. prints a table and optionally writes JSON: operations per second per workload for old
   and new (median over rounds), the new/old ratio (median of the per-round ratios), and
   overall the median of the per-workload median ratios.

With `--three-way` a third copy runs beside them: the example with its database service
and repositories replaced by benchmarks/handwritten_core/src, the same repositories
migrated to SQLAlchemy Core by hand (AsyncEngine, `engine.connect()`/`engine.begin()`,
`text()` with named binds, `.mappings()`). The table then gives, per workload, new/core
(generated against hand-written), new/old, and the floor core/old, each the median of
the per-round ratios, and which of the three-way targets a workload misses. Before any
timing, every side makes the same few calls of every workload and must return the same
objects.

Reads only touch seeded rows of the seeded cameras; writes go to a camera of their own per
side, so no write changes what a read or the other side's writes see.

`--quick` runs tiny sizes (a few operations per workload) to check that everything works;
its numbers mean nothing.

Experiments (see docs/performance.md), none of which edits the generated code on disk:

- `--what-if CHANGE` applies a suggested change to the migrated side at run time
  (pre-ping, cached-text, json-text; see repository_driver.py);
- `--codemod NAME` runs an opt-in codemod on the migrated side (`--extend-select NAME`),
  and `--baseline migrated` makes the old side the plain migration instead of the legacy
  code: new/old is then what the opt-in codemod buys, measured side by side;
- `--latency-ms MS` puts a proxy adding MS milliseconds each way between both sides and
  PostgreSQL, to see what round trips cost when the database is not on loopback
  (`--scale 0.1` keeps such a run short).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLE = ROOT / "examples" / "pepgmp"
DRIVER = HERE / "repository_driver.py"

sys.path.insert(0, str(HERE))
from repository_driver import WHAT_IFS, WORKLOAD_NAMES, WORKLOADS, Workload  # noqa: E402

HANDWRITTEN = HERE / "handwritten_core"

SIDES = ("legacy", "migrated")
#: --three-way: the hand-written SQLAlchemy Core migration runs beside the other two
THREE_SIDES = ("legacy", "handwritten", "migrated")
LABEL = {"legacy": "old", "handwritten": "core", "migrated": "new"}

#: The two-way targets: overall median ratio >= 1.0, no workload below 0.9.
OVERALL_TARGET = 1.0
WORKLOAD_FLOOR = 0.9

#: The three-way targets. new/core on every workload, at every latency; new/old overall
#: at 0.5 ms added each way, and on every single-statement workload at 0.1 ms; on
#: loopback, new/old on no workload below the floor, core/old measured in the same run.
NEW_VS_CORE_TARGET = 0.95
OVERALL_AT_LATENCY = (0.5, 1.0)
SINGLE_STATEMENT_AT_LATENCY = (0.1, 0.9)

#: calls of every workload whose results are compared across the sides before timing
CHECK_OPS = 3


@dataclass(frozen=True)
class Sizes:
    rounds: int
    warmup_fraction: float
    cameras: int
    alerts: int
    detections: int
    quick: bool

    def ops(self, workload: Workload, scale: float = 1.0) -> int:
        base = workload.quick_ops if self.quick else workload.ops
        return max(workload.tasks, 1, round(base * scale))

    def warmup_ops(self, workload: Workload, scale: float = 1.0) -> int:
        return max(workload.tasks, 2, int(self.ops(workload, scale) * self.warmup_fraction))


FULL = Sizes(rounds=9, warmup_fraction=0.3, cameras=20, alerts=5000, detections=10000, quick=False)
QUICK = Sizes(rounds=2, warmup_fraction=0.5, cameras=20, alerts=200, detections=200, quick=True)


# --------------------------------------------------------------------------- #
# Preparing the two copies
# --------------------------------------------------------------------------- #


def _migrate(copy: Path, codemods: list[str], log) -> tuple[float, dict[str, Any]]:
    log(f"migrating {copy}{' with ' + ', '.join(codemods) if codemods else ''} ...")
    env = dict(os.environ, UNIFY_NO_CACHE="1")
    extra = [arg for name in codemods for arg in ("--extend-select", name)]
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pgunify", "migrate", str(copy), "--write", "--allow-dirty", "--no-diff", "--format", "json",
         *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(
            f"pgunify migrate failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}\n{proc.stdout[-4000:]}"
        )
    report = json.loads(proc.stdout)
    service = (copy / "src" / "services" / "database_service.py").read_text(encoding="utf-8")
    if "create_pool" in service or "use_database_url" not in service:
        raise SystemExit("the migrated copy still creates an asyncpg pool; the migration did not apply")
    summary = report["summary"]
    log(
        f"migrated in {seconds:.1f}s: {summary['files_changed']} files changed, "
        f"{summary['statements_proven']} statements proven unchanged, changes by codemod "
        f"{summary['changes_by_codemod']}"
    )
    return seconds, summary


def make_copies(workdir: Path, log, codemods: list[str] = (), baseline: str = "legacy",
                handwritten: bool = False) -> dict[str, Any]:
    """The sides: `legacy` (the example as it is, or with `baseline="migrated"` the plain
    migration), `migrated` (migrated with the opt-in `codemods` as well) and, with
    `handwritten`, the example on the hand-written Core migration."""
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".pgunify", "*.pyc")
    legacy = workdir / "legacy"
    migrated = workdir / "migrated"
    shutil.copytree(EXAMPLE, legacy, ignore=ignore)
    shutil.copytree(EXAMPLE, migrated, ignore=ignore)
    copies: dict[str, Any] = {}
    if handwritten:
        # the example with its database service and repositories replaced by the
        # hand-written Core migration (benchmarks/handwritten_core/src, same layout)
        core = workdir / "handwritten"
        shutil.copytree(EXAMPLE, core, ignore=ignore)
        shutil.copytree(HANDWRITTEN / "src", core / "src", ignore=ignore, dirs_exist_ok=True)
        copies["handwritten"] = str(core)
    if baseline == "migrated":
        _migrate(legacy, [], log)
    seconds, summary = _migrate(migrated, list(codemods), log)
    return {
        "legacy": str(legacy),
        "migrated": str(migrated),
        **copies,
        "migrate_seconds": round(seconds, 1),
        "migrate_summary": summary,
    }


# --------------------------------------------------------------------------- #
# The two driver processes
# --------------------------------------------------------------------------- #


class Side:
    """A driver process for one copy of the application."""

    def __init__(self, side: str, copy: Path, database_url: str, logdir: Path) -> None:
        self.side = side
        self.stderr_path = logdir / f"{side}.stderr.txt"
        self._stderr = open(self.stderr_path, "w", encoding="utf-8")
        env = dict(os.environ)
        env["PYTHONPATH"] = str(copy)
        env["DATABASE_URL"] = database_url
        env["ASYNC_DATABASE_URL"] = _with_driver(database_url, "postgresql+asyncpg")
        env.pop("PYTHONSTARTUP", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), "--side", side],
            cwd=copy,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )

    def call(self, cmd: str, **fields: Any) -> dict[str, Any]:
        request = dict(fields, cmd=cmd)
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            raise SystemExit(f"the {self.side} driver exited (code {self.proc.poll()}):\n{self._stderr_tail()}")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise SystemExit(
                f"the {self.side} driver failed on {cmd}: {reply.get('error')}\n{reply.get('traceback', '')}"
            )
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.call("stop")
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    def _stderr_tail(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")[-4000:]


def _with_driver(url: str, drivername: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername=drivername).render_as_string(hide_password=False)


async def _reset(database_url: str, write_cameras: list[int]) -> None:
    """Delete what the previous round wrote and vacuum, so every round starts alike."""
    import asyncpg

    conn = await asyncpg.connect(_with_driver(database_url, "postgresql"))
    try:
        await conn.execute("DELETE FROM alerts WHERE camera_id = ANY($1::int[])", write_cameras)
        await conn.execute("DELETE FROM detection_records WHERE camera_id = ANY($1::int[])", write_cameras)
        await conn.execute("VACUUM (ANALYZE) alerts, detection_records, cameras")
    finally:
        await conn.close()


# --------------------------------------------------------------------------- #
# Measuring
# --------------------------------------------------------------------------- #


@dataclass
class Result:
    workload: Workload
    ops: int
    sides: tuple[str, ...] = SIDES
    rates: dict[str, list[float]] = field(default_factory=dict)
    cpu_us: dict[str, list[float]] = field(default_factory=dict)
    ratios: list[float] = field(default_factory=list)  # new/old, per round
    #: with the hand-written side: "new/core" and "core/old" (the floor), per round
    pairs: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for side in self.sides:
            self.rates.setdefault(side, [])
            self.cpu_us.setdefault(side, [])
        if "handwritten" in self.sides:
            self.pairs.setdefault("new/core", [])
            self.pairs.setdefault("core/old", [])

    def median_rate(self, side: str) -> float:
        return statistics.median(self.rates[side])

    def median_cpu(self, side: str) -> float:
        return statistics.median(self.cpu_us[side])

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def pair(self, name: str) -> float:
        return statistics.median(self.pairs[name])

    def record(self, rate: dict[str, float]) -> None:
        """One round's rates of every side."""
        self.ratios.append(rate["migrated"] / rate["legacy"])
        if self.pairs:
            self.pairs["new/core"].append(rate["migrated"] / rate["handwritten"])
            self.pairs["core/old"].append(rate["handwritten"] / rate["legacy"])

    def as_json(self) -> dict[str, Any]:
        w = self.workload
        document = {
            "name": w.name,
            "kind": w.kind,
            "calls": w.calls,
            "tasks": w.tasks,
            "ops_per_round": self.ops,
            "old_ops_per_s": [round(r, 1) for r in self.rates["legacy"]],
            "new_ops_per_s": [round(r, 1) for r in self.rates["migrated"]],
            "ratios": [round(r, 4) for r in self.ratios],
            "old_client_cpu_us_per_op": round(self.median_cpu("legacy"), 1),
            "new_client_cpu_us_per_op": round(self.median_cpu("migrated"), 1),
            "old_median_ops_per_s": round(self.median_rate("legacy"), 1),
            "new_median_ops_per_s": round(self.median_rate("migrated"), 1),
            "ratio_median": round(self.ratio, 4),
            "ratio_min": round(min(self.ratios), 4),
            "ratio_max": round(max(self.ratios), 4),
        }
        if self.pairs:
            document.update(
                single_statement=w.single,
                core_ops_per_s=[round(r, 1) for r in self.rates["handwritten"]],
                core_client_cpu_us_per_op=round(self.median_cpu("handwritten"), 1),
                core_median_ops_per_s=round(self.median_rate("handwritten"), 1),
                new_vs_core_ratios=[round(r, 4) for r in self.pairs["new/core"]],
                new_vs_core_median=round(self.pair("new/core"), 4),
                core_vs_old_ratios=[round(r, 4) for r in self.pairs["core/old"]],
                core_vs_old_median=round(self.pair("core/old"), 4),
            )
        return document


def round_order(sides: tuple[str, ...], rnd: int) -> tuple[str, ...]:
    """The order of the sides in round `rnd`: with two, old then new in even rounds and
    new then old in odd ones; with three, each rotation forwards, then each backwards,
    so that over six rounds every side runs first, second and last twice."""
    if len(sides) == 2:
        return sides if rnd % 2 == 0 else tuple(reversed(sides))
    shift = rnd % len(sides)
    order = sides[shift:] + sides[:shift]
    return order if (rnd // len(sides)) % 2 == 0 else tuple(reversed(order))


def measure(
    sides: dict[str, Side],
    workloads: list[Workload],
    sizes: Sizes,
    rounds: int,
    database_url: str,
    write_cameras: list[int],
    log,
    scale: float = 1.0,
) -> list[Result]:
    names = tuple(sides)
    results = [Result(w, sizes.ops(w, scale), names) for w in workloads]

    log("warming up ...")
    for w in workloads:
        for side in names:
            sides[side].call("run", workload=w.name, ops=sizes.warmup_ops(w, scale), seed="warmup")

    for rnd in range(rounds):
        asyncio.run(_reset(database_url, write_cameras))
        order = round_order(names, rnd)
        started = time.perf_counter()
        for result in results:
            rate = {}
            for side in order:
                reply = sides[side].call("run", workload=result.workload.name, ops=result.ops, seed=f"round-{rnd}")
                rate[side] = reply["ops"] / reply["seconds"]
                result.rates[side].append(rate[side])
                result.cpu_us[side].append(1e6 * reply["cpu_seconds"] / reply["ops"])
            result.record(rate)
        log(
            f"round {rnd + 1}/{rounds} ({' then '.join(LABEL[s] for s in order)}) "
            f"in {time.perf_counter() - started:.1f}s"
        )
    return results


def check_same_results(sides: dict[str, Side], ops: int) -> dict[str, int]:
    """Every side returns the same objects for the same calls, before anything is timed
    (ids of new rows, the sides' own write camera and server timestamps left out)."""
    answers = {side: driver.call("check", ops=ops)["results"] for side, driver in sides.items()}
    reference_side, reference = next(iter(answers.items()))
    for side, results in answers.items():
        for workload, returned in results.items():
            if returned != reference[workload]:
                raise SystemExit(
                    f"{LABEL[side]} ({side}) and {LABEL[reference_side]} ({reference_side}) return "
                    f"different results for {workload}:\n{json.dumps(returned)[:1500]}\n"
                    f"{json.dumps(reference[workload])[:1500]}"
                )
    return {workload: len(returned) for workload, returned in reference.items()}


# --------------------------------------------------------------------------- #
# Reporting
# --------------------------------------------------------------------------- #


def summarise(results: list[Result], latency_ms: float = 0.0) -> dict[str, Any]:
    overall = statistics.median(r.ratio for r in results)
    below = [r.workload.name for r in results if r.ratio < WORKLOAD_FLOOR]
    summary: dict[str, Any] = {
        "overall_ratio": round(overall, 4),
        "targets": {
            "overall_median_ratio_at_least": OVERALL_TARGET,
            "every_workload_ratio_at_least": WORKLOAD_FLOOR,
            "overall_met": overall >= OVERALL_TARGET,
            "every_workload_met": not below,
            "met": overall >= OVERALL_TARGET and not below,
            "workloads_below_floor": below,
        },
    }
    if results and results[0].pairs:
        summary["three_way"] = summarise_three_way(results, latency_ms)
    return summary


def summarise_three_way(results: list[Result], latency_ms: float) -> dict[str, Any]:
    """The three-way targets that apply at this latency, met or missed per workload."""
    targets: dict[str, Any] = {
        "new_vs_core_every_workload": {
            "at_least": NEW_VS_CORE_TARGET,
            "missed": [r.workload.name for r in results if r.pair("new/core") < NEW_VS_CORE_TARGET],
        }
    }
    if latency_ms == 0:
        # the floor: what hand-written Core reaches against asyncpg in the same run
        targets["new_vs_old_not_below_floor"] = {
            "missed": [r.workload.name for r in results if r.ratio < r.pair("core/old")],
        }
    if latency_ms == SINGLE_STATEMENT_AT_LATENCY[0]:
        least = SINGLE_STATEMENT_AT_LATENCY[1]
        targets["new_vs_old_single_statement"] = {
            "at_least": least,
            "workloads": [r.workload.name for r in results if r.workload.single],
            "missed": [r.workload.name for r in results if r.workload.single and r.ratio < least],
        }
    overall = statistics.median(r.ratio for r in results)
    if latency_ms == OVERALL_AT_LATENCY[0]:
        least = OVERALL_AT_LATENCY[1]
        targets["new_vs_old_overall"] = {"at_least": least, "value": round(overall, 4), "met": overall >= least}
    for target in targets.values():
        target.setdefault("met", not target.get("missed"))
    return {
        "overall_new_vs_core": round(statistics.median(r.pair("new/core") for r in results), 4),
        "overall_core_vs_old": round(statistics.median(r.pair("core/old") for r in results), 4),
        "overall_new_vs_old": round(overall, 4),
        "targets": targets,
    }


def render_table(results: list[Result], summary: dict[str, Any], rounds: int) -> str:
    if "three_way" in summary:
        return render_three_way_table(results, summary, rounds)
    name_width = max(len("workload"), *(len(r.workload.name) for r in results))
    header = (
        f"{'workload':<{name_width}}  {'ops':>5}  {'old ops/s':>10}  {'new ops/s':>10}  "
        f"{'new/old':>7}  {'min-max':>11}  {'CPU us/op old':>13}  {'new':>5}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        flag = "  < 0.9" if r.ratio < WORKLOAD_FLOOR else ""
        lines.append(
            f"{r.workload.name:<{name_width}}  {r.ops:>5}  {r.median_rate('legacy'):>10.0f}  "
            f"{r.median_rate('migrated'):>10.0f}  {r.ratio:>7.2f}  "
            f"{min(r.ratios):>5.2f}-{max(r.ratios):<5.2f}  "
            f"{statistics.median(r.cpu_us['legacy']):>13.0f}  {statistics.median(r.cpu_us['migrated']):>5.0f}{flag}"
        )
    lines.append("-" * len(header))
    t = summary["targets"]
    lines.append(
        f"{'overall (median of the medians)':<{name_width + 31}}  {summary['overall_ratio']:>7.2f}"
    )
    lines.append("")
    lines.append(f"ops/s and new/old: medians over {rounds} rounds; min-max: range of the per-round ratios;")
    lines.append("CPU us/op: client (driver process) CPU time per operation, median over rounds")
    lines.append(
        f"targets: overall >= {OVERALL_TARGET:.1f}: {'met' if t['overall_met'] else 'NOT met'}; "
        f"every workload >= {WORKLOAD_FLOOR:.1f}: "
        + ("met" if t["every_workload_met"] else f"NOT met ({', '.join(t['workloads_below_floor'])})")
    )
    return "\n".join(lines)


def render_three_way_table(results: list[Result], summary: dict[str, Any], rounds: int) -> str:
    three = summary["three_way"]
    targets = three["targets"]
    name_width = max(len("workload"), *(len(r.workload.name) for r in results))
    header = (
        f"{'workload':<{name_width}}  {'ops':>5}  {'old/s':>6}  {'core/s':>6}  {'new/s':>6}  "
        f"{'new/core':>8} {'min-max':>9}  {'new/old':>7} {'min-max':>9}  {'floor':>5}  "
        f"{'CPU us/op old':>13} {'core':>5} {'new':>5}  missed"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        name = r.workload.name
        missed = [
            label
            for label, key in (
                (f"new/core<{NEW_VS_CORE_TARGET}", "new_vs_core_every_workload"),
                ("below floor", "new_vs_old_not_below_floor"),
                (f"new/old<{SINGLE_STATEMENT_AT_LATENCY[1]}", "new_vs_old_single_statement"),
            )
            if name in targets.get(key, {}).get("missed", ())
        ]
        new_core = r.pairs["new/core"]
        lines.append(
            f"{name:<{name_width}}  {r.ops:>5}  {r.median_rate('legacy'):>6.0f}  "
            f"{r.median_rate('handwritten'):>6.0f}  {r.median_rate('migrated'):>6.0f}  "
            f"{r.pair('new/core'):>8.2f} {min(new_core):>4.2f}-{max(new_core):<4.2f}  "
            f"{r.ratio:>7.2f} {min(r.ratios):>4.2f}-{max(r.ratios):<4.2f}  "
            f"{r.pair('core/old'):>5.2f}  {r.median_cpu('legacy'):>13.0f} "
            f"{r.median_cpu('handwritten'):>5.0f} {r.median_cpu('migrated'):>5.0f}  {', '.join(missed)}".rstrip()
        )
    lines.append("-" * len(header))
    lines.append(
        f"{'overall (median of the medians)':<{name_width + 31}}  {three['overall_new_vs_core']:>8.2f} "
        f"{'':>9}  {three['overall_new_vs_old']:>7.2f} {'':>9}  {three['overall_core_vs_old']:>5.2f}"
    )
    lines.append("")
    lines.append(
        f"old: legacy asyncpg; core: hand-written SQLAlchemy Core; new: pgunify-generated. "
        f"Rates and ratios: medians over {rounds} rounds;"
    )
    lines.append(
        "min-max: range of the per-round ratios; floor: core/old in the same run; "
        "CPU us/op: client CPU time per operation"
    )
    descriptions = {
        "new_vs_core_every_workload": f"new/core >= {NEW_VS_CORE_TARGET} on every workload",
        "new_vs_old_not_below_floor": "new/old not below the floor (core/old) on any workload",
        "new_vs_old_single_statement": f"new/old >= {SINGLE_STATEMENT_AT_LATENCY[1]} on every single-statement workload",
        "new_vs_old_overall": f"new/old >= {OVERALL_AT_LATENCY[1]} overall",
    }
    for key, target in targets.items():
        verdict = "met" if target["met"] else "NOT met"
        if target.get("missed"):
            verdict += f" ({len(target['missed'])}: {', '.join(target['missed'])})"
        lines.append(f"target: {descriptions[key]}: {verdict}")
    return "\n".join(lines)


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    with contextlib.suppress(OSError, AttributeError):
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    versions = {}
    for module in ("asyncpg", "sqlalchemy"):
        with contextlib.suppress(Exception):
            versions[module] = __import__(module).__version__
    info["versions"] = versions
    return info


# --------------------------------------------------------------------------- #
# Main
# --------------------------------------------------------------------------- #


def _delayed(url: str, delay: float, stack: contextlib.ExitStack) -> tuple[str, float]:
    """A URL through a proxy that adds `delay` seconds each way, and the round trip measured on it."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from pg_proxy import Proxy, through

    target = make_url(url)
    proxy = Proxy(target.host or "127.0.0.1", target.port or 5432, delay=delay)
    port = proxy.start()
    stack.callback(proxy.stop)
    proxied = through(url, port)

    async def rtt() -> float:
        conn = await asyncpg.connect(_with_driver(proxied, "postgresql"))
        try:
            samples = []
            for _ in range(30):
                started = time.perf_counter()
                await conn.fetchval("SELECT 1")
                samples.append(time.perf_counter() - started)
            return statistics.median(samples) * 1000
        finally:
            await conn.close()

    return proxied, asyncio.run(rtt())


@contextlib.contextmanager
def _database(dsn: str | None, log) -> Iterator[tuple[Any, str]]:
    from pgunify.postgres import provision, scratch_database

    with provision(dsn=dsn) as server:
        log(f"PostgreSQL: {server.describe()}")
        with scratch_database(server, prefix="unify_bench") as url:
            yield server, url


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Throughput of the pepgmp repositories before (asyncpg pool) and after "
        "(shared SQLAlchemy engine) `pgunify migrate`.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that it runs (numbers mean nothing)")
    parser.add_argument("--rounds", type=int, help=f"measured rounds (default {FULL.rounds}, quick {QUICK.rounds})")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    parser.add_argument("--dsn", help="PostgreSQL server URL (default: UNIFY_DATABASE_URL, then provisioning)")
    parser.add_argument(
        "--workload",
        action="append",
        choices=WORKLOAD_NAMES,
        metavar="NAME",
        help="run only this workload (repeatable); one of: " + ", ".join(WORKLOAD_NAMES),
    )
    parser.add_argument("--keep", metavar="DIR", help="make the copies in DIR and keep them")
    parser.add_argument(
        "--three-way",
        action="store_true",
        help="add a third side: the hand-written SQLAlchemy Core migration of the same "
        "repositories (benchmarks/handwritten_core), and report new/core, new/old and the "
        "floor core/old",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="add this much one-way latency between the application and PostgreSQL (a delaying "
        "proxy), to see what round trips cost off loopback; the measured round trip is reported",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, metavar="F", help="multiply the operations per measurement by F"
    )
    parser.add_argument(
        "--what-if",
        action="append",
        choices=sorted(WHAT_IFS),
        default=[],
        metavar="CHANGE",
        help="price a suggested change: apply it at run time to the migrated side only (the "
        "generated code on disk is not edited); repeatable; one of: " + ", ".join(sorted(WHAT_IFS)),
    )
    parser.add_argument(
        "--codemod",
        action="append",
        default=[],
        metavar="NAME",
        help="also run this opt-in codemod on the migrated side (--extend-select NAME); repeatable",
    )
    parser.add_argument(
        "--baseline",
        choices=("legacy", "migrated"),
        default="legacy",
        help="the old side: the legacy example (default), or the plain migration, to price --codemod",
    )
    args = parser.parse_args(argv)
    if args.three_way and args.what_if:
        parser.error("--what-if changes the migrated side of a two-way run only")
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.latency_ms < 0 or args.scale <= 0:
        parser.error("--latency-ms must be >= 0 and --scale > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    rounds = args.rounds or sizes.rounds
    workloads = [w for w in WORKLOADS if not args.workload or w.name in args.workload]
    names = THREE_SIDES if args.three_way else SIDES

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    machine_before = _machine()
    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = Path(args.keep).resolve()
            workdir.mkdir(parents=True, exist_ok=True)
            for side in names:
                shutil.rmtree(workdir / side, ignore_errors=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pgunify-bench-")))
        copies = make_copies(workdir, log, args.codemod, args.baseline, handwritten=args.three_way)
        server, url = stack.enter_context(_database(args.dsn, log))
        app_url, rtt_ms = url, None
        if args.latency_ms:
            app_url, rtt_ms = _delayed(url, args.latency_ms / 1000, stack)
            log(f"{args.latency_ms:g} ms added each way; measured round trip {rtt_ms:.2f} ms")

        sides: dict[str, Side] = {}
        for side in names:
            sides[side] = Side(side, Path(copies[side]), app_url, workdir)
            stack.callback(sides[side].close)
        pools = {LABEL[side]: sides[side].call("start")["pool"] for side in names}
        if args.what_if:
            pools["new"] = sides["migrated"].call("what_if", changes=args.what_if)["pool"]
            log(f"what-if on the migrated side (run time only): {', '.join(args.what_if)}")

        sides["legacy"].call("schema")
        context = sides["legacy"].call(
            "seed", cameras=sizes.cameras, alerts=sizes.alerts, detections=sizes.detections, sides=list(names), seed=1
        )["context"]
        for side in names:
            sides[side].call("context", context=context)
        log(
            f"seeded {len(context['camera_ids'])} cameras, {len(context['alert_ids'])} alerts, "
            f"{len(context['frame_keys'])} detection records"
        )
        checked = check_same_results(sides, CHECK_OPS)
        log(f"the {len(names)} sides return the same results ({CHECK_OPS} calls of {len(checked)} workloads)")
        write_cameras = list(context["write_cameras"].values())
        results = measure(sides, workloads, sizes, rounds, url, write_cameras, log, args.scale)

    summary = summarise(results, args.latency_ms)
    table = render_table(results, summary, rounds)
    if args.latency_ms:
        table = f"LATENCY run: {args.latency_ms:g} ms added each way, round trip measured at {rtt_ms:.2f} ms\n\n" + table
    if args.what_if:
        table = f"WHAT-IF run, migrated side changed at run time: {', '.join(args.what_if)}\n\n" + table
    if args.codemod or args.baseline != "legacy":
        table = (f"CODEMOD run: old = the {args.baseline} example, new = migrated with "
                 f"{', '.join(args.codemod) or 'the default codemods'}\n\n" + table)
    print(table)
    elapsed = time.perf_counter() - started
    log(f"done in {elapsed:.0f}s")

    if args.json:
        machine_after = _machine()
        document = {
            "schema_version": 1,
            "benchmark": "repository_throughput",
            "command": "python benchmarks/repository_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "mode": "quick" if sizes.quick else "full",
            "rounds": rounds,
            "what_if": args.what_if,
            "codemods": args.codemod,
            "baseline": args.baseline,
            "added_latency_ms_each_way": args.latency_ms,
            "measured_round_trip_ms": None if rtt_ms is None else round(rtt_ms, 3),
            "scale": args.scale,
            "sides": {LABEL[side]: side for side in names},
            "order": (
                "interleaved per workload: old then new in even rounds, new then old in odd rounds"
                if len(names) == 2
                else "interleaved per workload: the rotations old-core-new, core-new-old, new-old-core, "
                "then the same backwards, one per round"
            ),
            "results_checked": {"calls_per_workload": CHECK_OPS, "workloads": sorted(checked)},
            "seconds": round(elapsed, 1),
            "machine": machine_before,
            "loadavg_after": machine_after.get("loadavg"),
            "postgresql": {"source": server.source, "version": server.version},
            "pools": pools,
            "concurrent_tasks": max(w.tasks for w in WORKLOADS),
            "data": {
                "cameras": len(context["camera_ids"]),
                "alerts": len(context["alert_ids"]),
                "detection_records": len(context["frame_keys"]),
            },
            "migration": {"seconds": copies["migrate_seconds"], "summary": copies["migrate_summary"]},
            **summary,
            "workloads": [r.as_json() for r in results],
            "table": table,
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
