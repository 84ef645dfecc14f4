"""How fast `pgunify migrate` goes through a large monorepo, next to libcst doing nothing.

The yardstick is libcst's own no-op codemod over the same tree with the same number of
processes: it parses and renders every file and changes none, so it is the floor of any
libcst-based tool. Runs are interleaved (the order alternates by round) and repeated; the
machine is shared, so medians and ratios are what to read, not single times.

Three questions, three tables:
  cold  pgunify migrate --diff --jobs 2 with an empty cache vs the no-op (target: <= 1.3x)
  warm  the same run again over the unchanged tree, served by the per-file cache
        (target: <= 10% of the cold time)
  peak  the largest resident memory of the whole process tree (all processes added up,
        sampled), at two tree sizes: it must not grow with the number of files

    python benchmarks/codemod_throughput.py [--files 1200] [--rounds 5] [--json OUT]
    python benchmarks/codemod_throughput.py --quick   # a few files, one round: checks it runs
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from codemod_tree import generate  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def unify_command(tree: Path, jobs: int) -> list[str]:
    return [sys.executable, "-m", "pgunify", "migrate", str(tree), "--diff", "--jobs", str(jobs)]


def noop_command(tree: Path, jobs: int) -> list[str]:
    return [sys.executable, "-m", "libcst.tool", "codemod", "-x", "libcst.codemod.commands.noop.NOOPCommand",
            "--no-format", "--hide-progress", "-j", str(jobs), str(tree)]


def _tree_rss(root_pid: int) -> int:
    """Resident bytes of a process and all its descendants, added up."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            pid = int(entry.name)
            children.setdefault(int(fields[1]), []).append(pid)
            rss[pid] = int(fields[21]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    total, pending = 0, [root_pid]
    while pending:
        pid = pending.pop()
        total += rss.get(pid, 0)
        pending.extend(children.get(pid, ()))
    return total


def measure(command: list[str], env: dict[str, str], cwd: Path) -> dict:
    """Wall time and peak memory of one run (the process tree sampled every 20 ms)."""
    peak = [0]
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode not in (0, 1):  # pgunify exits 1 when changes are pending, as a dry run does here
        raise RuntimeError(f"{' '.join(command[:6])} ... exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
    return {"wall_s": round(wall, 3), "peak_rss_mb": round(peak[0] / 1048576, 1)}


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict:
    import libcst  # noqa: F401 - its version is part of what was measured
    from importlib.metadata import version

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libcst": version("libcst"),
        "pgunify": version("pgunify"),
        "load_average_at_start": _load(),
    }


def run(files: int, rounds: int, jobs: int, memory_sizes: tuple[int, ...], seed: int, workdir: Path) -> dict:
    tree = workdir / "tree"
    stats = generate(tree, files, seed)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFY_")}
    base_env["PYTHONDONTWRITEBYTECODE"] = "1"
    # pgunify runs from a frozen copy of its code: the cache's fingerprint covers every module of
    # pgunify, so an edit in a shared checkout between the cold and the warm run would empty it
    code = workdir / "code"
    if code.exists():
        shutil.rmtree(code)
    shutil.copytree(ROOT / "pgunify", code / "pgunify", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "codemods", code / "pgunify" / "codemods", ignore=shutil.ignore_patterns("__pycache__"))
    # compiled once, as an installed package is (libcst's no-op reads its installed bytecode); with
    # PYTHONDONTWRITEBYTECODE every timed run would otherwise compile pgunify's modules again
    compileall.compile_dir(str(code), quiet=1)
    unify_env = dict(base_env, PYTHONPATH=str(code))
    rows: list[dict] = []

    def med(key: str, part: str = "wall_s") -> float:
        return round(statistics.median(r[key][part] for r in rows), 3)

    for number in range(rounds):
        cache_dir = workdir / f"cache-{number}"
        env = dict(unify_env, UNIFY_CACHE_DIR=str(cache_dir))
        order = ("noop", "pgunify") if number % 2 == 0 else ("pgunify", "noop")
        row: dict = {"round": number + 1, "order": list(order), "load_average": _load()}
        for which in order:
            if which == "noop":
                row["noop"] = measure(noop_command(tree, jobs), base_env, workdir)
            else:
                row["cold"] = measure(unify_command(tree, jobs), env, workdir)
                row["warm"] = measure(unify_command(tree, jobs), env, workdir)
        row["cold_over_noop"] = round(row["cold"]["wall_s"] / row["noop"]["wall_s"], 3)
        row["warm_over_cold"] = round(row["warm"]["wall_s"] / row["cold"]["wall_s"], 3)
        rows.append(row)
        (workdir / "rounds.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")  # in case the run is cut short
        print(f"round {number + 1}: noop {row['noop']['wall_s']:.1f}s  pgunify cold {row['cold']['wall_s']:.1f}s "
              f"({row['cold_over_noop']:.2f}x)  warm {row['warm']['wall_s']:.2f}s ({row['warm_over_cold']:.1%} of cold)",
              flush=True)

    # the main tree's cold runs are one point of the memory table; --memory-sizes adds others
    memory = [{"files": stats.files, "lines": stats.lines, "wall_s": med("cold"), "peak_rss_mb": med("cold", "peak_rss_mb")}]
    for size in memory_sizes:
        sized = workdir / f"tree-{size}"
        sized_stats = generate(sized, size, seed)
        env = dict(unify_env, UNIFY_CACHE_DIR=str(workdir / f"cache-memory-{size}"))
        result = measure(unify_command(sized, jobs), env, workdir)
        memory.append({"files": sized_stats.files, "lines": sized_stats.lines, **result})
        print(f"memory: {sized_stats.files} files -> peak {result['peak_rss_mb']:.0f} MB (whole process tree)", flush=True)
    memory.sort(key=lambda m: m["files"])

    cold_ratio = round(statistics.median(r["cold_over_noop"] for r in rows), 3)
    warm_ratio = round(statistics.median(r["warm_over_cold"] for r in rows), 3)
    peaks = [m["peak_rss_mb"] for m in memory]
    return {
        "benchmark": "codemod_throughput",
        "machine": dict(machine(), load_average_at_end=_load()),
        "commands": {
            "pgunify": " ".join(["python"] + unify_command(Path("TREE"), jobs)[1:]),
            "noop": " ".join(["python"] + noop_command(Path("TREE"), jobs)[1:]),
        },
        "tree": {"files": stats.files, "lines": stats.lines, "asyncpg_files": stats.asyncpg_files, "seed": seed},
        "jobs": jobs,
        "rounds": rows,
        "median": {"noop_s": med("noop"), "cold_s": med("cold"), "warm_s": med("warm"),
                   "cold_over_noop": cold_ratio, "warm_over_cold": warm_ratio},
        "memory": memory,
        "targets": {
            "cold_within_1_3x_of_noop": cold_ratio <= 1.3,
            "warm_within_10pct_of_cold": warm_ratio <= 0.10,
            # flat: the larger tree's peak within 15% of the smaller one's (sampling jitter)
            "memory_flat": len(peaks) < 2 or max(peaks) <= 1.15 * min(peaks),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--memory-sizes", default="400", help="more tree sizes (files) for the memory table, "
                        "besides the main tree's")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--quick", action="store_true", help="a small tree and one round: checks that it runs")
    parser.add_argument("--workdir", type=Path, help="keep the trees here (default: a temporary directory)")
    args = parser.parse_args()
    if args.quick:
        args.files, args.rounds, args.memory_sizes = 40, 1, "20"
    sizes = tuple(int(s) for s in args.memory_sizes.split(",") if s.strip())
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        results = run(args.files, args.rounds, args.jobs, sizes, args.seed, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="pgunify-codemod-bench-") as tmp:
            results = run(args.files, args.rounds, args.jobs, sizes, args.seed, Path(tmp))
    results["mode"] = "quick" if args.quick else "full"
    m = results["median"]
    print(f"\nmedians over {len(results['rounds'])} rounds: noop {m['noop_s']:.1f}s, pgunify cold {m['cold_s']:.1f}s "
          f"({m['cold_over_noop']:.2f}x the no-op), warm {m['warm_s']:.2f}s ({m['warm_over_cold']:.1%} of cold)")
    print("targets: " + ", ".join(f"{k}={'met' if v else 'NOT met'}" for k, v in results["targets"].items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
