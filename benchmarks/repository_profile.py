"""Where the time of a repository call goes, before and after `unify migrate`.

    python benchmarks/repository_profile.py [--workload NAME]... [--ops N] [--what-if CHANGE]...
                                            [--json FILE] [--quick]

For each workload, on each side (the same two copies and driver processes as
repository_throughput.py), it reports:

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
import asyncio
import collections
import contextlib
import json
import re
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from repository_driver import WHAT_IFS, WORKLOAD_NAMES, WORKLOADS  # noqa: E402
from repository_throughput import FULL, QUICK, SIDES, LABEL, Side, _database, make_copies  # noqa: E402

_SSL_REQUEST, _GSSENC_REQUEST, _CANCEL_REQUEST = 80877103, 80877104, 80877102


# --------------------------------------------------------------------------- #
# Counting proxy
# --------------------------------------------------------------------------- #


def _label(sql: str, width: int = 90) -> str:
    sql = re.sub(r"\s+", " ", sql).strip()
    sql = re.sub(r"SAVEPOINT \S+", "SAVEPOINT <name>", sql)  # one label for every savepoint name
    return sql if len(sql) <= width else sql[: width - 3] + "..."


class _ClientStream:
    """Parses what one client sends and records one entry per round trip."""

    def __init__(self, proxy: "CountingProxy") -> None:
        self.proxy = proxy
        self.buffer = bytearray()
        self.started = False
        self.statements: dict[bytes, str] = {}
        self.binds: list[str] = []
        self.parse: str | None = None

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if not self.started:
                if len(self.buffer) < 8:
                    return
                length, code = struct.unpack("!ii", self.buffer[:8])
                if len(self.buffer) < length:
                    return
                del self.buffer[:length]
                if code not in (_SSL_REQUEST, _GSSENC_REQUEST, _CANCEL_REQUEST):
                    self.started = True
                    self.proxy.record("connect (startup)")
                continue
            if len(self.buffer) < 5:
                return
            kind = chr(self.buffer[0])
            (length,) = struct.unpack("!i", self.buffer[1:5])
            if len(self.buffer) < 1 + length:
                return
            body = bytes(self.buffer[5 : 1 + length])
            del self.buffer[: 1 + length]
            self.message(kind, body)

    def message(self, kind: str, body: bytes) -> None:
        proxy = self.proxy
        proxy.count(kind)
        if kind == "Q":
            proxy.record("simple query: " + _label(body.split(b"\0", 1)[0].decode(errors="replace")))
        elif kind == "P":
            name, rest = body.split(b"\0", 1)
            sql = _label(rest.split(b"\0", 1)[0].decode(errors="replace"))
            self.statements[name] = sql
            self.parse = sql
        elif kind == "B":
            portal, rest = body.split(b"\0", 1)
            name = rest.split(b"\0", 1)[0]
            self.binds.append(self.statements.get(name, "?"))
        elif kind == "S":
            if self.binds:
                many = f" (x{len(self.binds)} rows)" if len(self.binds) > 1 else ""
                prefix = "prepare + execute: " if self.parse else "execute: "
                proxy.record(prefix + self.binds[0] + many)
            elif self.parse is not None:
                proxy.record("prepare: " + self.parse)
            else:
                proxy.record("sync")
            self.binds = []
            self.parse = None


class CountingProxy:
    """A TCP proxy in a thread of its own, counting round trips by kind."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.lock = threading.Lock()
        self.messages: collections.Counter[str] = collections.Counter()
        self.trips: collections.Counter[str] = collections.Counter()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def count(self, kind: str) -> None:
        with self.lock:
            self.messages[kind] += 1

    def record(self, label: str) -> None:
        with self.lock:
            self.trips[label] += 1

    def snapshot(self) -> tuple[collections.Counter, collections.Counter]:
        with self.lock:
            return collections.Counter(self.messages), collections.Counter(self.trips)

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.trips.clear()

    def start(self) -> int:
        self.thread.start()
        self.ready.wait(10)
        assert self.port is not None
        return self.port

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _handle(self, client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        stream = _ClientStream(self)

        async def upstream() -> None:
            while data := await client_reader.read(65536):
                stream.feed(data)
                server_writer.write(data)
                await server_writer.drain()
            server_writer.close()

        async def downstream() -> None:
            while data := await server_reader.read(65536):
                client_writer.write(data)
                await client_writer.drain()
            client_writer.close()

        with contextlib.suppress(Exception):
            await asyncio.gather(upstream(), downstream())


# --------------------------------------------------------------------------- #
# Main
# --------------------------------------------------------------------------- #


def _through(url: str, port: int) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def per_op(counter: collections.Counter, ops: int) -> dict[str, float]:
    return {k: round(v / ops, 2) for k, v in counter.most_common() if v / ops >= 0.005}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Round trips, client CPU and a profile per repository call, old and new.")
    parser.add_argument("--workload", action="append", choices=WORKLOAD_NAMES, metavar="NAME")
    parser.add_argument("--ops", type=int, help="operations per measurement (default: a third of the benchmark's)")
    parser.add_argument("--what-if", action="append", choices=sorted(WHAT_IFS), default=[], metavar="CHANGE")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--dsn")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--top", type=int, default=12, help="functions listed per profile")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    workloads = [w for w in WORKLOADS if not args.workload or w.name in args.workload]

    def log(message: str) -> None:
        print(f"[profile] {message}", file=sys.stderr, flush=True)

    from sqlalchemy.engine import make_url

    report: dict[str, Any] = {"what_if": args.what_if, "workloads": []}
    out: list[str] = []
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="unify-profile-")))
        copies = make_copies(workdir, log)
        server, url = stack.enter_context(_database(args.dsn, log))

        seeder = Side("legacy", Path(copies["legacy"]), url, workdir)
        seeder.call("start")
        seeder.call("schema")
        context = seeder.call(
            "seed", cameras=sizes.cameras, alerts=sizes.alerts, detections=sizes.detections, sides=list(SIDES), seed=1
        )["context"]
        seeder.close()

        target = make_url(url)
        proxy = CountingProxy(target.host or "127.0.0.1", target.port or 5432)
        port = proxy.start()
        stack.callback(proxy.stop)
        proxied = _through(url, port)

        sides: dict[str, Side] = {}
        for side in SIDES:
            sides[side] = Side(side, Path(copies[side]), proxied, workdir)
            stack.callback(sides[side].close)
            sides[side].call("start")
            sides[side].call("context", context=context)
        if args.what_if:
            sides["migrated"].call("what_if", changes=args.what_if)
            out.append(f"WHAT-IF, migrated side changed at run time: {', '.join(args.what_if)}\n")

        for w in workloads:
            ops = args.ops or max(w.tasks, (w.quick_ops if args.quick else w.ops) // 3)
            entry: dict[str, Any] = {"name": w.name, "ops": ops, "calls": w.calls}
            out.append(f"== {w.name}: {w.calls}; {ops} operations" + (f", {w.tasks} tasks" if w.tasks > 1 else ""))
            for side in SIDES:
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
                out.append(f"    costliest functions (own us/op, cumulative us/op, calls/op):")
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
