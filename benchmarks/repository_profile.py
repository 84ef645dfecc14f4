"""Where the time of a repository call goes, before and after `pgunify migrate`.

    python benchmarks/repository_profile.py [--workload NAME]... [--ops N] [--what-if CHANGE]...
                                            [--json FILE] [--quick] [--three-way]

For each workload, on each side (the same copies and driver processes as
repository_throughput.py; with --three-way, the hand-written SQLAlchemy Core side too),
it reports:

- round trips per operation, and what each one carries: the driver processes connect
  through a small counting proxy that reads the PostgreSQL frontend protocol, so every
  simple query (`Q`) and every extended-protocol exchange (Parse/Bind/Execute up to a
  `Sync`) is counted and labelled with its SQL;
- client CPU time per operation (process time of the driver, microseconds);
- a cProfile of the same calls (CPU time): own time per operation grouped by area (SQLAlchemy
  engine/pool/sql, asyncpg, raw_sql.py helpers, json, greenlet switches, ...) and the
  costliest functions. Profiling inflates code made of many small Python calls, so read
  these as shares, and the unprofiled CPU time as the real total.

The proxy adds latency, so this script says nothing about throughput; that is what
repository_throughput.py is for.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from repository_driver import WHAT_IFS, WORKLOAD_NAMES, WORKLOADS  # noqa: E402
from pg_proxy import Proxy, through  # noqa: E402
from repository_throughput import FULL, LABEL, QUICK, SIDES, THREE_SIDES, Side, _database, make_copies  # noqa: E402

# --------------------------------------------------------------------------- #
# Main
# --------------------------------------------------------------------------- #


def per_op(counter: collections.Counter, ops: int) -> dict[str, float]:
    return {k: round(v / ops, 2) for k, v in counter.most_common() if v / ops >= 0.005}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Round trips, client CPU and a profile per repository call, old and new.")
    parser.add_argument("--workload", action="append", choices=WORKLOAD_NAMES, metavar="NAME")
    parser.add_argument("--ops", type=int, help="operations per measurement (default: half of the benchmark's)")
    parser.add_argument("--what-if", action="append", choices=sorted(WHAT_IFS), default=[], metavar="CHANGE")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--dsn")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--top", type=int, default=12, help="functions listed per profile")
    parser.add_argument("--three-way", action="store_true", help="the hand-written SQLAlchemy Core side as well")
    args = parser.parse_args(argv)
    names = THREE_SIDES if args.three_way else SIDES
    sizes = QUICK if args.quick else FULL
    workloads = [w for w in WORKLOADS if not args.workload or w.name in args.workload]

    def log(message: str) -> None:
        print(f"[profile] {message}", file=sys.stderr, flush=True)

    from sqlalchemy.engine import make_url

    report: dict[str, Any] = {"what_if": args.what_if, "workloads": []}
    out: list[str] = []
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pgunify-profile-")))
        copies = make_copies(workdir, log, handwritten=args.three_way)
        server, url = stack.enter_context(_database(args.dsn, log))

        seeder = Side("legacy", Path(copies["legacy"]), url, workdir)
        seeder.call("start")
        seeder.call("schema")
        context = seeder.call(
            "seed", cameras=sizes.cameras, alerts=sizes.alerts, detections=sizes.detections, sides=list(names), seed=1
        )["context"]
        seeder.close()

        target = make_url(url)
        proxy = Proxy(target.host or "127.0.0.1", target.port or 5432, count=True)
        port = proxy.start()
        stack.callback(proxy.stop)
        proxied = through(url, port)

        sides: dict[str, Side] = {}
        for side in names:
            sides[side] = Side(side, Path(copies[side]), proxied, workdir)
            stack.callback(sides[side].close)
            sides[side].call("start")
            sides[side].call("context", context=context)
        if args.what_if:
            sides["migrated"].call("what_if", changes=args.what_if)
            out.append(f"WHAT-IF, migrated side changed at run time: {', '.join(args.what_if)}\n")

        for w in workloads:
            ops = args.ops or max(w.tasks, (w.quick_ops if args.quick else w.ops) // 2)
            entry: dict[str, Any] = {"name": w.name, "ops": ops, "calls": w.calls}
            out.append(f"== {w.name}: {w.calls}; {ops} operations" + (f", {w.tasks} tasks" if w.tasks > 1 else ""))
            for side in names:
                driver = sides[side]
                driver.call("run", workload=w.name, ops=ops, seed="warmup")
                proxy.reset()
                plain = driver.call("run", workload=w.name, ops=ops, seed="count")
                messages, trips = proxy.snapshot()
                profiled = driver.call("run", workload=w.name, ops=ops, seed="profile", profile=True)
                round_trips = (messages["Q"] + messages["S"]) / ops
                data = {
                    "round_trips_per_op": round(round_trips, 2),
                    "round_trips": per_op(trips, ops),
                    "messages_per_op": per_op(messages, ops),
                    "client_cpu_us_per_op": round(1e6 * plain["cpu_seconds"] / ops, 1),
                    "profile": profiled["profile"],
                }
                entry[LABEL[side]] = data
                out.append(
                    f"  {LABEL[side]} ({side}): {data['round_trips_per_op']:.2f} round trips/op, "
                    f"client CPU {data['client_cpu_us_per_op']:.0f} us/op "
                    f"(profiled own time {data['profile']['total_us_per_op']:.0f} us/op)"
                )
                for label, n in data["round_trips"].items():
                    out.append(f"      {n:6.2f} x {label}")
                out.append("    own time by area (profiled, us/op):")
                for area, us in data["profile"]["by_area_us_per_op"].items():
                    if us >= 1:
                        out.append(f"      {us:8.1f}  {area}")
                out.append("    selected calls (cumulative us/op, calls/op):")
                for f in data["profile"]["key_calls"]:
                    out.append(f"      {f['cum_us_per_op']:8.1f} {f['calls_per_op']:7.2f}  {f['function']}")
                out.append("    costliest functions (own us/op, cumulative us/op, calls/op):")
                for f in data["profile"]["top_functions"][: args.top]:
                    out.append(
                        f"      {f['own_us_per_op']:8.1f} {f['cum_us_per_op']:8.1f} {f['calls_per_op']:7.2f}  {f['function']}"
                    )
            report["workloads"].append(entry)
            out.append("")
            print("\n".join(out), flush=True)
            out.clear()

    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
