"""One side of the repository throughput benchmark, in a process of its own.

Started by `repository_throughput.py` with the working directory and PYTHONPATH set to
one copy of examples/pepgmp (the legacy one, the migrated one or, with --three-way, the
hand-written SQLAlchemy Core one: all have a package named `src`, so each side needs its
own interpreter). It opens the application's own DatabaseService, builds the three
repositories on it (on its asyncpg pool, or on its engine) and then answers commands,
one JSON object per line on stdin, one JSON reply per line on stdout:

    {"cmd": "start"}                              pool open, repositories built
    {"cmd": "schema"}                             DatabaseService.init_schema()
    {"cmd": "seed", "cameras": 20, ...}           read data and write cameras (legacy side)
    {"cmd": "context", "context": {...}}          keys the workloads draw from
    {"cmd": "check", "ops": N}                    what N calls of every workload return,
                                                  normalised (ids and this side's write
                                                  camera left out), to compare the sides
    {"cmd": "run", "workload": NAME, "ops": N, "seed": S [, "profile": true]}
                                                  N calls, timed; the reply has "seconds",
                                                  "cpu_seconds" (this process) and, when
                                                  asked, a cProfile summary
    {"cmd": "what_if", "changes": [NAME, ...]}    run-time changes to the migrated side
                                                  (WHAT_IFS below; nothing on disk changes)
    {"cmd": "stop"}                               pool closed, process exits

Both sides get the same commands with the same seeds, so they make the same calls with
the same arguments; only the write camera (one per side) differs, so that one side's
writes never change what the other side's writes find.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import gc
import itertools
import json
import os
import pstats
import random
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Awaitable, Callable

# --------------------------------------------------------------------------- #
# The workloads (also imported by repository_throughput.py, which has no `src`)
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # "read" | "write" | "transaction"
    calls: str  # what one operation sends, for the report
    ops: int  # operations per measurement (full run)
    quick_ops: int  # operations per measurement (--quick)
    tasks: int = 1  # concurrent tasks sharing the application's pool
    single: bool = False  # one operation is one SQL statement (no transaction block)


#: Concurrent workloads run this many tasks at once on the application's pool.
CONCURRENT_TASKS = 50

WORKLOADS: tuple[Workload, ...] = (
    Workload("alert.get_by_id", "read", "fetchrow by primary key (SQL built at run time)", 1500, 6, single=True),
    Workload("camera.get_by_id", "read", "pool-level fetchrow by primary key (module constant)", 1500, 6, single=True),
    Workload("detection.get_by_frame", "read", "fetchrow by unique key (camera_id, frame_id)", 1500, 6, single=True),
    Workload("alert.list_alerts", "read", "fetchval COUNT + fetch page of 50 (SQL built at run time)", 300, 4),
    Workload("camera.list_cameras", "read", "fetch page of 20 rows (jsonb config, text[] tags)", 800, 4, single=True),
    Workload("detection.search", "read", "fetch page of 50 rows with jsonb objects (SQL built at run time)", 200, 4, single=True),
    Workload("alert.create", "write", "single INSERT ... RETURNING", 1000, 6, single=True),
    Workload("alert.create_many", "write", "executemany of 20 rows in a transaction", 200, 4),
    Workload("detection.save", "write", "upsert: INSERT ... ON CONFLICT DO UPDATE RETURNING *", 1000, 6, single=True),
    Workload("detection.replace_frames", "transaction", "BEGIN; DELETE; executemany of 10 rows; COMMIT", 250, 4),
    Workload("detection.save_batch", "transaction", "BEGIN; 10 x (SAVEPOINT; INSERT ... RETURNING; RELEASE); COMMIT", 150, 3),
    Workload("concurrent alert.get_by_id", "read", f"alert.get_by_id from {CONCURRENT_TASKS} tasks at once", 2000, 50, CONCURRENT_TASKS, single=True),
    Workload("concurrent alert.list_alerts", "read", f"alert.list_alerts from {CONCURRENT_TASKS} tasks at once", 500, 50, CONCURRENT_TASKS),
    Workload("concurrent alert.create", "write", f"alert.create from {CONCURRENT_TASKS} tasks at once", 1500, 50, CONCURRENT_TASKS, single=True),
)

WORKLOAD_NAMES = tuple(w.name for w in WORKLOADS)
BY_NAME = {w.name: w for w in WORKLOADS}

# frame numbers on a side's write camera, so that the workloads never meet
UPSERT_FRAMES = 200  # detection.save cycles over frames 0..199: inserts first, then updates
REPLACE_BASE, REPLACE_RANGES, REPLACE_SIZE = 1_000_000, 50, 10
BATCH_BASE, BATCH_SIZE = 10_000_000, 10
MANY_SIZE = 20
PAGE_SIZE = 50
CAMERA_PAGE = 20

OBJECT_CLASSES = ("person", "helmet", "vest", "forklift", "no_helmet", "no_vest")
ALERT_TYPES = ("ppe_violation", "intrusion", "camera_offline", "crowding")
SEVERITIES = ("low", "medium", "high", "critical")

#: Timestamps of seeded data end here, so both sides and every run see the same rows.
EPOCH = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #


def _objects(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "class": rng.choice(OBJECT_CLASSES),
            "score": round(rng.uniform(0.5, 0.99), 3),
            "bbox": [rng.randint(0, 1800), rng.randint(0, 1000), rng.randint(20, 200), rng.randint(40, 400)],
        }
        for _ in range(rng.randint(1, 5))
    ]


def _detection(rng: random.Random, camera_id: int, frame_id: int, when: datetime):
    from src.domain.detection import DetectionRecord

    objects = _objects(rng)
    return DetectionRecord(
        camera_id=camera_id,
        frame_id=frame_id,
        detected_at=when,
        objects=objects,
        object_count=len(objects),
        confidence=Decimal(str(round(rng.uniform(0.5, 0.99), 4))),
        processing_ms=round(rng.uniform(8.0, 40.0), 2),
    )


def _alert(rng: random.Random, camera_id: int, when: datetime | None):
    from src.domain.alert import Alert

    return Alert(
        camera_id=camera_id,
        alert_type=rng.choice(ALERT_TYPES),
        severity=rng.choice(SEVERITIES),
        message=f"{rng.choice(OBJECT_CLASSES)} detected in zone {rng.randint(1, 8)}",
        metadata={"zone": rng.randint(1, 8), "score": round(rng.uniform(0.5, 0.99), 3), "frame": rng.randint(1, 10**6)},
        created_at=when,
    )


# --------------------------------------------------------------------------- #
# The driver
# --------------------------------------------------------------------------- #


class Driver:
    def __init__(self, side: str) -> None:
        self.side = side
        self.service = None
        self.pool = None
        self.alerts = self.cameras = self.detections = None
        self.context: dict[str, Any] = {}
        self.write_camera: int | None = None  # this side's camera for writes (set_context)
        self.batch_frames = itertools.count(BATCH_BASE, BATCH_SIZE)

    # -- commands ---------------------------------------------------------------

    async def start(self, _: dict) -> dict:
        from src.repositories.alert_repository import PostgreSQLAlertRepository
        from src.repositories.camera_repository import PostgreSQLCameraRepository
        from src.repositories.detection_repository import PostgreSQLDetectionRecordRepository
        from src.services.database_service import DatabaseService

        self.service = DatabaseService()
        await self.service.initialize()
        # the asyncpg pool (legacy), the engine the migration gave it (migrated), or the
        # engine of the hand-written Core migration, which names it so
        pool = self.service.engine if hasattr(self.service, "engine") else self.service.pool
        self.pool = pool
        self.alerts = PostgreSQLAlertRepository(pool)
        self.cameras = PostgreSQLCameraRepository(pool)
        self.detections = PostgreSQLDetectionRecordRepository(pool)
        return {"pool": describe_pool(pool)}

    async def schema(self, _: dict) -> dict:
        await self.service.init_schema()
        return {}

    async def seed(self, request: dict) -> dict:
        """Realistic read data through the repositories, and one write camera per side."""
        from src.domain.camera import Camera

        rng = random.Random(request.get("seed", 1))
        n_cameras, n_alerts, n_detections = request["cameras"], request["alerts"], request["detections"]
        camera_ids = []
        for n in range(1, n_cameras + 1):
            camera = await self.cameras.create(
                Camera(
                    name=f"cam-{n:03d}",
                    location=f"plant {1 + n % 3}, line {n}",
                    rtsp_url=f"rtsp://10.0.{n // 250}.{n % 250}/stream1",
                    status=rng.choice(("active", "active", "active", "maintenance")),
                    config={"fps": 25, "resolution": "1920x1080", "zones": [{"id": z, "kind": "ppe"} for z in range(3)]},
                    tags=sorted(rng.sample(["outdoor", "indoor", "ppe", "gate", "dock", "line"], 2)),
                )
            )
            camera_ids.append(camera.id)
        write_cameras = {}
        for side in request["sides"]:
            camera = await self.cameras.create(Camera(name=f"bench-write-{side}", status="active"))
            write_cameras[side] = camera.id

        span = timedelta(days=7).total_seconds()
        alerts = [
            _alert(rng, camera_ids[i % n_cameras], EPOCH - timedelta(seconds=rng.uniform(0, span)))
            for i in range(n_alerts)
        ]
        for start in range(0, len(alerts), 500):
            await self.alerts.create_many(alerts[start : start + 500])

        per_camera = max(1, n_detections // n_cameras)
        frame_keys = []
        records = []
        for camera_id in camera_ids:
            for frame in range(per_camera):
                when = EPOCH - timedelta(seconds=(per_camera - frame) * 2.0)
                records.append(_detection(rng, camera_id, frame, when))
                frame_keys.append((camera_id, frame))
        for start in range(0, len(records), 500):
            await self.detections.save_many(records[start : start + 500])

        async with _connection(self.pool) as conn:
            alert_ids = [r[0] for r in await _fetch(conn, "SELECT id FROM alerts ORDER BY id")]
        return {
            "context": {
                "camera_ids": camera_ids,
                "alert_ids": alert_ids,
                "frame_keys": frame_keys,
                "write_cameras": write_cameras,
            }
        }

    async def set_context(self, request: dict) -> dict:
        self.context = request["context"]
        self.write_camera = self.context["write_cameras"][self.side]
        return {}

    async def check(self, request: dict) -> dict:
        """What `ops` calls of every workload return, normalised so that the sides compare:
        the same reads must return the same objects; writes go to this side's own write
        camera, so row ids, that camera's id and server timestamps are left out."""
        results = {}
        for workload in WORKLOADS:
            if workload.tasks > 1:
                continue  # the same calls as the sequential workload
            rng = random.Random(f"{workload.name}/check")
            calls = self._calls(workload.name, rng, int(request["ops"]))
            returned = [await call() for call in calls]
            if workload.name == "detection.save_batch":  # (new ids, rejected frames)
                returned = [(len(saved), rejected) for saved, rejected in returned]
            volatile = {"id", "camera_id", "created_at", "updated_at"} if workload.kind != "read" else set()
            results[workload.name] = _normalise(returned, volatile)
        return {"results": results}

    async def run(self, request: dict) -> dict:
        workload = BY_NAME[request["workload"]]
        ops = int(request["ops"])
        rng = random.Random(f"{workload.name}/{request['seed']}")
        call = self._calls(workload.name, rng, ops)
        # CPU time, not wall time: waiting for the server is not what a profile should show
        profiler = cProfile.Profile(time.process_time) if request.get("profile") else None
        gc.collect()
        if workload.tasks <= 1:

            async def body() -> None:
                for op in call:
                    await op()

        else:
            shares = [call[i :: workload.tasks] for i in range(workload.tasks)]

            async def worker(ops_of_task: list[Callable[[], Awaitable[Any]]]) -> None:
                for op in ops_of_task:
                    await op()

            async def body() -> None:
                await asyncio.gather(*(worker(share) for share in shares))

        cpu_started = time.process_time()
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        await body()
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        reply = {"seconds": seconds, "cpu_seconds": cpu_seconds, "ops": ops}
        if profiler is not None:
            reply["profile"] = summarise_profile(profiler, ops)
        return reply

    async def what_if(self, request: dict) -> dict:
        """Apply run-time changes to the migrated application (nothing on disk changes)."""
        applied = []
        for name in request["changes"]:
            WHAT_IFS[name](self)
            applied.append(name)
        return {"applied": applied, "pool": describe_pool(self.service.pool)}

    async def stop(self, _: dict) -> dict:
        if self.service is not None:
            await self.service.close()
        return {}

    # -- the calls ----------------------------------------------------------------

    def _calls(self, name: str, rng: random.Random, ops: int) -> list[Callable[[], Awaitable[Any]]]:
        """`ops` zero-argument coroutine functions; arguments are built before timing starts."""
        ctx = self.context
        cameras, alerts, detections = self.cameras, self.alerts, self.detections
        read_cameras = ctx["camera_ids"]
        write = self.write_camera
        base = name.removeprefix("concurrent ")

        def bind(fn, *args, **kwargs):
            return lambda: fn(*args, **kwargs)

        if base == "alert.get_by_id":
            return [bind(alerts.get_by_id, rng.choice(ctx["alert_ids"])) for _ in range(ops)]
        if base == "camera.get_by_id":
            return [bind(cameras.get_by_id, rng.choice(read_cameras)) for _ in range(ops)]
        if base == "detection.get_by_frame":
            return [bind(detections.get_by_frame, *rng.choice(ctx["frame_keys"])) for _ in range(ops)]
        if base == "alert.list_alerts":
            return [
                bind(alerts.list_alerts, camera_id=rng.choice(read_cameras), limit=PAGE_SIZE, offset=rng.choice((0, 50, 100)))
                for _ in range(ops)
            ]
        if base == "camera.list_cameras":
            return [bind(cameras.list_cameras, limit=CAMERA_PAGE) for _ in range(ops)]
        if base == "detection.search":
            return [
                bind(detections.search, camera_ids=[rng.choice(read_cameras)], limit=PAGE_SIZE, offset=rng.choice((0, 50, 100)))
                for _ in range(ops)
            ]
        if base == "alert.create":
            return [bind(alerts.create, _alert(rng, write, None)) for _ in range(ops)]
        if base == "alert.create_many":
            return [bind(alerts.create_many, [_alert(rng, write, None) for _ in range(MANY_SIZE)]) for _ in range(ops)]
        if base == "detection.save":
            return [
                bind(detections.save, _detection(rng, write, i % UPSERT_FRAMES, EPOCH + timedelta(seconds=i)))
                for i in range(ops)
            ]
        if base == "detection.replace_frames":
            calls = []
            for i in range(ops):
                first = REPLACE_BASE + (i % REPLACE_RANGES) * REPLACE_SIZE
                records = [
                    _detection(rng, write, frame, EPOCH + timedelta(seconds=frame))
                    for frame in range(first, first + REPLACE_SIZE)
                ]
                calls.append(bind(detections.replace_frames, write, records))
            return calls
        if base == "detection.save_batch":
            calls = []
            for _ in range(ops):
                first = next(self.batch_frames)
                records = [
                    _detection(rng, write, frame, EPOCH + timedelta(seconds=frame % 86400))
                    for frame in range(first, first + BATCH_SIZE)
                ]
                calls.append(bind(detections.save_batch, records))
            return calls
        raise KeyError(name)


def _normalise(value: Any, volatile: set[str]) -> Any:
    """A JSON-able, comparable form of what a repository returned."""
    if hasattr(value, "to_dict"):
        value = {k: v for k, v in value.to_dict().items() if k not in volatile}
    if isinstance(value, dict):
        return {str(k): _normalise(v, volatile) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_normalise(v, volatile) for v in value]
    if isinstance(value, (datetime, Decimal)):
        return f"{type(value).__name__}:{value.isoformat() if isinstance(value, datetime) else value}"
    return value


def describe_pool(pool: Any) -> dict[str, Any]:
    """How the application configured its pool, as seen on the object it built."""
    if hasattr(pool, "get_max_size"):  # asyncpg.Pool
        return {"kind": "asyncpg.Pool", "min_size": pool.get_min_size(), "max_size": pool.get_max_size()}
    sync_pool = pool.sync_engine.pool
    return {
        "kind": f"SQLAlchemy AsyncEngine ({type(sync_pool).__name__})",
        "pool_size": sync_pool.size(),
        "max_overflow": getattr(sync_pool, "_max_overflow", None),
        "pre_ping": bool(getattr(sync_pool, "_pre_ping", False)),
        "isolation_level": pool.get_execution_options().get("isolation_level"),
    }


# --------------------------------------------------------------------------- #
# What-ifs: run-time changes to the migrated application, to price a suggested
# change without editing the generated code (nothing on disk changes)
# --------------------------------------------------------------------------- #


def _what_if_pre_ping(driver: "Driver") -> None:
    """As if pool_pre_ping=True were added back to the engine module: what the ping costs."""
    driver.service.pool.sync_engine.pool._pre_ping = True


def _what_if_cached_text(driver: "Driver") -> None:
    """As if every text() of a static statement were built once (a module constant)
    instead of on every call."""
    import sqlalchemy

    cached_text = functools.lru_cache(maxsize=1024)(sqlalchemy.text)
    for name, module in list(sys.modules.items()):
        if name.startswith("src.repositories.") and hasattr(module, "text"):
            module.text = cached_text


def _what_if_json_text(driver: "Driver") -> None:
    """As if the engine decoded json/jsonb to text (json_deserializer=str) and Record had
    nothing to re-serialise (JSON_TEXT_TYPES empty): one decode, in the repository, as before."""
    from src.database import raw_sql

    raw_sql.JSON_TEXT_TYPES = frozenset()
    driver.service.pool.dialect._json_deserializer = str
    # connections made from now on get the new codec
    driver.service.pool.sync_engine.pool.dispose()


WHAT_IFS: dict[str, Callable[["Driver"], None]] = {
    "pre-ping": _what_if_pre_ping,
    "cached-text": _what_if_cached_text,
    "json-text": _what_if_json_text,
}


# --------------------------------------------------------------------------- #
# Profiles
# --------------------------------------------------------------------------- #


def _category(filename: str, funcname: str) -> str:
    f = filename.replace("\\", "/")
    if "/sqlalchemy/" in f:
        part = f.split("/sqlalchemy/", 1)[1].split("/", 1)[0].removesuffix(".py")
        return f"sqlalchemy.{part}"
    if "/asyncpg/" in f:
        return "asyncpg"
    if f.endswith("/src/database/raw_sql.py"):
        return "raw_sql.py helpers (Record, numbered, ...)"
    if f.endswith("/src/database/engine.py"):
        return "engine.py (events)"
    if "/src/" in f:
        return "application (repositories, domain)"
    if f.endswith("repository_driver.py"):
        return "benchmark driver"
    if "/asyncio/" in f or f.endswith("/selectors.py"):
        return "asyncio"
    if "/json/" in f:
        return "json"
    if f.endswith(("/re/__init__.py", "/re/_parser.py", "/re/_compiler.py")):
        return "re"
    if f == "~":
        if "greenlet" in funcname:
            return "greenlet switches"
        if "asyncpg" in funcname:
            return "asyncpg"
        if "re.Pattern" in funcname or "_sre" in funcname:
            return "re"
        if "json" in funcname:
            return "json"
        if "epoll" in funcname or "select" in funcname or "socket" in funcname:
            return "asyncio"
        return "builtins"
    return "other Python"


#: Functions whose cumulative time per operation is worth seeing on its own:
#: (end of the file name, function names)
KEY_CALLS = (
    ("sqlalchemy/ext/asyncio/engine.py", {"start", "close", "execute", "commit", "begin", "begin_nested", "execution_options"}),
    ("sqlalchemy/sql/_elements_constructors.py", {"text"}),
    ("src/database/raw_sql.py", {"numbered", "first_record", "all_records", "first_value", "_converter", "convert", "execute_many", "command_status", "transaction"}),
    ("asyncpg/pool.py", {"_acquire", "release"}),
    ("json/__init__.py", {"loads", "dumps"}),
)


def _is_key_call(filename: str, funcname: str) -> bool:
    f = filename.replace("\\", "/")
    return any(f.endswith(suffix) and funcname in names for suffix, names in KEY_CALLS)


def summarise_profile(profiler: cProfile.Profile, ops: int, top: int = 25) -> dict[str, Any]:
    """Own time per operation (microseconds), by area and for the costliest functions."""
    stats = pstats.Stats(profiler)
    categories: dict[str, float] = {}
    functions = []
    key_calls = []
    total = 0.0
    for (filename, line, funcname), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        category = _category(filename, funcname)
        categories[category] = categories.get(category, 0.0) + tottime
        total += tottime
        short = filename.replace("\\", "/")
        for marker in ("/site-packages/", "/src/", "/lib/python3"):
            if marker in short:
                short = marker.strip("/") + "/" + short.split(marker, 1)[1]
                break
        functions.append((tottime, cumtime, ncalls, f"{short}:{line}({funcname})"))
        if _is_key_call(filename, funcname):
            key_calls.append((cumtime, ncalls, f"{short}:{line}({funcname})"))
    functions.sort(reverse=True)
    per_op = 1e6 / ops
    return {
        "total_us_per_op": round(total * per_op, 1),
        "by_area_us_per_op": {k: round(v * per_op, 1) for k, v in sorted(categories.items(), key=lambda kv: -kv[1])},
        "top_functions": [
            {"function": name, "own_us_per_op": round(tt * per_op, 1), "cum_us_per_op": round(ct * per_op, 1), "calls_per_op": round(n / ops, 2)}
            for tt, ct, n, name in functions[:top]
        ],
        "key_calls": [
            {"function": name, "cum_us_per_op": round(ct * per_op, 1), "calls_per_op": round(n / ops, 2)}
            for ct, n, name in sorted(key_calls, reverse=True)
        ],
    }


class _connection:
    """A connection from either kind of pool, for the few set-up queries made outside
    the repositories."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._cm = None

    async def __aenter__(self):
        self._cm = self.pool.acquire() if hasattr(self.pool, "acquire") else self.pool.connect()
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc):
        return await self._cm.__aexit__(*exc)


async def _fetch(conn: Any, sql: str) -> list:
    if hasattr(conn, "fetch"):
        return list(await conn.fetch(sql))
    from sqlalchemy import text

    return list((await conn.execute(text(sql))).all())


# --------------------------------------------------------------------------- #
# Main loop
# --------------------------------------------------------------------------- #


async def serve(side: str, replies) -> None:
    driver = Driver(side)
    handlers = {
        "start": driver.start,
        "schema": driver.schema,
        "seed": driver.seed,
        "context": driver.set_context,
        "check": driver.check,
        "run": driver.run,
        "what_if": driver.what_if,
        "stop": driver.stop,
    }
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            await driver.stop({})
            return
        request = json.loads(line)
        try:
            reply = await handlers[request["cmd"]](request)
            reply["ok"] = True
        except Exception as exc:  # reported to the parent, which stops the run
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
        if request["cmd"] == "stop":
            return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", required=True)
    args = parser.parse_args(argv)
    # replies go to the real stdout; anything the application prints goes to stderr
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr
    asyncio.run(serve(args.side, replies))


if __name__ == "__main__":
    main()
