"""Fault scenarios run against one copy of examples/pepgmp, legacy or migrated.

Run as `python fault_scenarios.py SCENARIO CONTROL_DIR` with the application's root as the
working directory and DATABASE_URL set; the two trees share module names, so each run is a
process of its own. The scenario uses only the application's public objects
(DatabaseService, the repositories), prints one JSON line with what it measured, and talks
to the test through files in CONTROL_DIR when the test has to act (restart the server).
Probes that look at the server (locks, pg_stat_activity) use connections of their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, os.getcwd())

from src.domain.alert import Alert  # noqa: E402
from src.domain.camera import Camera  # noqa: E402
from src.repositories.alert_repository import PostgreSQLAlertRepository  # noqa: E402
from src.repositories.camera_repository import PostgreSQLCameraRepository  # noqa: E402
from src.services.database_service import DatabaseService  # noqa: E402

URL = os.environ["DATABASE_URL"]
POOL_SIZE = 20  # the legacy pool's max_size, kept by the migration
APP_NAME_FILTER = "datname = current_database() AND pid <> pg_backend_pid()"


def _error(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


async def _setup() -> tuple[DatabaseService, PostgreSQLAlertRepository, PostgreSQLCameraRepository]:
    service = DatabaseService(URL)
    await service.initialize()
    await service.init_schema()
    return service, PostgreSQLAlertRepository(service.pool), PostgreSQLCameraRepository(service.pool)


async def _backends(probe: asyncpg.Connection) -> list[dict]:
    rows = await probe.fetch(f"SELECT state, wait_event_type FROM pg_stat_activity WHERE {APP_NAME_FILTER} "
                             "AND backend_type = 'client backend'")
    return [dict(r) for r in rows]


async def _wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout} s")
        await asyncio.sleep(0.02)


def _alert(camera_id: int, n: int) -> Alert:
    return Alert(camera_id=camera_id, alert_type="fault-test", message=f"op {n}", severity="low")


# --------------------------------------------------------------------------------------------


async def restart(control: Path) -> dict:
    """Writes go on while the server restarts: acknowledged writes must all be there after,
    and the application must recover without being restarted."""
    service, alerts, cameras = await _setup()
    camera = await cameras.create(Camera(name="restart-cam"))
    acknowledged: list[int] = []
    failures: list[str] = []
    counter = iter(range(10**9))

    async def worker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                created = await alerts.create(_alert(camera.id, next(counter)))
            except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
                failures.append(_error(exc))
                await asyncio.sleep(0.05)
            else:
                acknowledged.append(created.id)

    async def run_until(stop: asyncio.Event) -> None:
        await asyncio.gather(*(worker(stop) for _ in range(8)))

    # phase 1: load, then the restart happens under it
    stop = asyncio.Event()
    load = asyncio.create_task(run_until(stop))
    await _wait_for(lambda: _true(len(acknowledged) >= 200), 120, "200 writes before the restart")
    before_restart = len(acknowledged)
    (control / "restart-now").write_text("")
    await _wait_for(lambda: _true((control / "restarted").exists()), 120, "the restart")
    failed_during = len(failures)
    # phase 2: after the server is back, the same pool must serve again
    back = len(acknowledged)
    await _wait_for(lambda: _true(len(acknowledged) >= back + 200 or len(failures) > failed_during + 2000), 120,
                    "200 writes after the restart")
    stop.set()
    await load
    failed_after_back = len(failures) - failed_during
    # phase 3: a quiet pool of connections from before the restart... (idle connections die too)
    (control / "restart-now").unlink()
    (control / "restarted").unlink()
    (control / "restart-idle").write_text("")
    await _wait_for(lambda: _true((control / "restarted").exists()), 120, "the idle restart")
    idle_failures = 0
    for n in range(POOL_SIZE * 2):
        try:
            acknowledged.append((await alerts.create(_alert(camera.id, -n))).id)
        except Exception as exc:  # noqa: BLE001
            idle_failures += 1
            failures.append(_error(exc))
    final_ok = 0
    for n in range(50):  # recovered: the last calls all succeed
        try:
            acknowledged.append((await alerts.create(_alert(camera.id, 10**6 + n))).id)
            final_ok += 1
        except Exception as exc:  # noqa: BLE001
            failures.append(_error(exc))
    await service.close()

    probe = await asyncpg.connect(URL)
    try:
        present = {r["id"] for r in await probe.fetch("SELECT id FROM alerts WHERE id = ANY($1::bigint[])", acknowledged)}
    finally:
        await probe.close()
    return {
        "writes_acknowledged": len(acknowledged),
        "writes_before_restart": before_restart,
        "failed_calls_during_restart": failed_during,
        "failed_calls_after_server_back": failed_after_back,
        "failed_calls_after_idle_restart": idle_failures,
        "final_calls_ok": final_ok,
        "acknowledged_rows_lost": len(set(acknowledged) - present),
        "rows_checked": len(acknowledged),
        "errors": sorted(set(failures))[:5],
    }


async def _true(value: bool) -> bool:
    return value


# --------------------------------------------------------------------------------------------


async def exhausted(control: Path) -> dict:
    """Every pool connection is busy (blocked on a lock): one more caller must get a clear
    error within a bounded time rather than wait for ever."""
    service, alerts, cameras = await _setup()
    camera = await cameras.create(Camera(name="exhausted-cam"))
    first = await alerts.create(_alert(camera.id, 0))
    locker = await asyncpg.connect(URL)
    probe = await asyncpg.connect(URL)
    tx = locker.transaction()
    await tx.start()
    await locker.execute("LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE")
    blocked = [asyncio.create_task(alerts.get_by_id(first.id)) for _ in range(POOL_SIZE)]

    async def all_waiting() -> bool:
        return sum(1 for b in await _backends(probe) if b["wait_event_type"] == "Lock") >= POOL_SIZE

    await _wait_for(all_waiting, 60, "every pool connection waiting on the lock")
    limit = float(os.environ.get("FAULT_WAIT_LIMIT", "45"))
    started = time.monotonic()
    outcome: dict = {}
    try:
        await asyncio.wait_for(alerts.get_by_id(first.id), limit)
        outcome = {"extra_caller": "served", "bounded": True}
    except asyncio.TimeoutError as exc:
        waited = time.monotonic() - started
        if waited >= limit - 0.5:
            outcome = {"extra_caller": f"still waiting after {limit:.0f} s", "bounded": False}
        else:
            outcome = {"extra_caller": _error(exc), "bounded": True}
    except Exception as exc:  # noqa: BLE001
        outcome = {"extra_caller": _error(exc), "bounded": True}
    outcome["waited_seconds"] = round(time.monotonic() - started, 1)
    await tx.rollback()
    results = await asyncio.gather(*blocked, return_exceptions=True)
    outcome["blocked_callers_served_after"] = sum(1 for r in results if not isinstance(r, BaseException))
    outcome["served_after"] = (await alerts.get_by_id(first.id)) is not None
    await service.close()
    await locker.close()
    outcome["connections_left_open"] = len(await _backends(probe))
    await probe.close()
    return outcome


# --------------------------------------------------------------------------------------------


async def cancelled(control: Path) -> dict:
    """A task cancelled inside a transaction: nothing of it is committed, and the connection
    goes back to the pool clean (no open transaction, usable)."""
    service, alerts, cameras = await _setup()
    free = await cameras.create(Camera(name="cancel-free"))
    held = await cameras.create(Camera(name="cancel-held"))
    locker = await asyncpg.connect(URL)
    probe = await asyncpg.connect(URL)
    tx = locker.transaction()
    await tx.start()
    await locker.execute("SELECT id FROM cameras WHERE id = $1 FOR UPDATE", held.id)
    # rows for `free` go in first, then the insert for `held` waits on the row lock: mid-transaction
    batch = [_alert(free.id, n) for n in range(5)] + [_alert(held.id, 99)]
    task = asyncio.create_task(alerts.create_many(batch))

    async def waiting() -> bool:
        return any(b["wait_event_type"] == "Lock" for b in await _backends(probe))

    await _wait_for(waiting, 60, "the transaction waiting on the row lock")
    task.cancel()
    try:
        await task
        outcome = "completed"
    except asyncio.CancelledError:
        outcome = "cancelled"
    except Exception as exc:  # noqa: BLE001
        outcome = _error(exc)
    await tx.rollback()
    await locker.close()

    async def settled() -> bool:
        return not any(b["state"] in ("active", "idle in transaction", "idle in transaction (aborted)")
                       for b in await _backends(probe))

    settled_ok = True
    try:
        await _wait_for(settled, 15, "no backend busy or in a transaction")
    except TimeoutError:
        settled_ok = False
    states = sorted({b["state"] or "" for b in await _backends(probe)})
    committed_after_cancel = await probe.fetchval("SELECT count(*) FROM alerts WHERE camera_id = $1", free.id)
    # every pool connection serves again, and writes commit on their own
    ok = 0
    results = await asyncio.gather(*(alerts.create(_alert(free.id, 1000 + n)) for n in range(POOL_SIZE * 2)),
                                   return_exceptions=True)
    ok = sum(1 for r in results if not isinstance(r, BaseException))
    errors = sorted({_error(r) for r in results if isinstance(r, BaseException)})
    visible = await probe.fetchval("SELECT count(*) FROM alerts WHERE camera_id = $1", free.id)
    await service.close()
    left = len(await _backends(probe))
    await probe.close()
    return {
        "task": outcome,
        "rows_committed_by_cancelled_transaction": committed_after_cancel,
        "backends_settled": settled_ok,
        "backend_states_after_cancel": states,
        "calls_after_cancel_ok": ok,
        "calls_after_cancel": POOL_SIZE * 2,
        "rows_visible_after": visible,
        "errors": errors[:3],
        "connections_left_open": left,
    }


# --------------------------------------------------------------------------------------------


async def statement_timeout(control: Path) -> dict:
    """The server cancels a statement (statement_timeout): a clear error, and the pool's
    connections, that one included, serve the next calls."""
    service, alerts, cameras = await _setup()
    camera = await cameras.create(Camera(name="timeout-cam"))
    first = await alerts.create(_alert(camera.id, 0))
    await service.close()
    admin = await asyncpg.connect(URL)
    await admin.execute(f"ALTER DATABASE \"{await admin.fetchval('SELECT current_database()')}\" "
                        "SET statement_timeout = '300ms'")
    service = DatabaseService(URL)
    await service.initialize()
    alerts = PostgreSQLAlertRepository(service.pool)
    tx = admin.transaction()
    await tx.start()
    await admin.execute("LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE")
    errors = []
    for _ in range(3):
        try:
            await alerts.get_by_id(first.id)
            errors.append("no error")
        except Exception as exc:  # noqa: BLE001
            errors.append(_error(exc))
    await tx.rollback()
    results = await asyncio.gather(*(alerts.get_by_id(first.id) for _ in range(POOL_SIZE * 2)), return_exceptions=True)
    ok = sum(1 for r in results if not isinstance(r, BaseException) and r is not None)
    await service.close()
    await admin.execute(f"ALTER DATABASE \"{await admin.fetchval('SELECT current_database()')}\" RESET statement_timeout")
    await admin.close()
    probe = await asyncpg.connect(URL)
    left = len(await _backends(probe))
    await probe.close()
    return {
        "errors": sorted(set(errors)),
        "timeouts_raised": sum(1 for e in errors if "QueryCanceled" in e or "statement timeout" in e),
        "calls_after_ok": ok,
        "calls_after": POOL_SIZE * 2,
        "connections_left_open": left,
    }


# --------------------------------------------------------------------------------------------


async def concurrent(control: Path) -> dict:
    """200 callers share the pool for a fixed number of operations: no error, never more
    server connections than the pool allows, none left open after close()."""
    service, alerts, cameras = await _setup()
    camera = await cameras.create(Camera(name="load-cam"))
    callers, per_caller = 200, 10
    probe = await asyncpg.connect(URL)
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, len(await _backends(probe)))
            await asyncio.sleep(0.05)

    created: list[int] = []

    async def caller(k: int) -> None:
        for n in range(per_caller):
            if n % 3 == 0:
                created.append((await alerts.create(_alert(camera.id, k * 100 + n))).id)
            elif n % 3 == 1:
                await alerts.list_unacknowledged(limit=5)
            else:
                await cameras.get_by_id(camera.id)

    watcher = asyncio.create_task(watch())
    results = await asyncio.gather(*(caller(k) for k in range(callers)), return_exceptions=True)
    done.set()
    await watcher
    errors = sorted({_error(r) for r in results if isinstance(r, BaseException)})
    rows = await probe.fetchval("SELECT count(*) FROM alerts WHERE camera_id = $1", camera.id)
    in_pool_after = len(await _backends(probe))
    await service.close()
    await asyncio.sleep(0.2)
    left = len(await _backends(probe))
    await probe.close()
    return {
        "operations": callers * per_caller,
        "callers": callers,
        "failed_callers": sum(1 for r in results if isinstance(r, BaseException)),
        "errors": errors[:3],
        "rows_written": len(created),
        "rows_checked": rows,
        "peak_server_connections": peak,
        "connections_before_close": in_pool_after,
        "connections_left_open": left,
    }


async def refused(control: Path) -> dict:
    """The server refuses new connections for a while (here: the database does not accept
    connections) and has closed the pooled ones: the errors are the driver's, so the code's
    `except asyncpg.PostgresError` clauses (health_check) still catch them; then it recovers."""
    service, alerts, cameras = await _setup()
    camera = await cameras.create(Camera(name="refused-cam"))
    own = await asyncpg.connect(URL)
    name = await own.fetchval("SELECT current_database()")
    await own.close()
    admin = await asyncpg.connect(URL, database="postgres")  # a database cannot refuse connections from inside
    await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
    await asyncio.sleep(0.2)
    try:
        health = repr(await service.health_check())
    except Exception as exc:  # noqa: BLE001
        health = "raised " + _error(exc)
    try:
        await alerts.create(_alert(camera.id, 1))
        call, driver_error = "no error", False
    except Exception as exc:  # noqa: BLE001
        call, driver_error = _error(exc), isinstance(exc, asyncpg.PostgresError)
    await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    await admin.close()
    ok = sum(1 for r in await asyncio.gather(*(alerts.create(_alert(camera.id, n)) for n in range(POOL_SIZE)),
                                             return_exceptions=True) if not isinstance(r, BaseException))
    await service.close()
    return {"health_check_while_refused": health, "call_while_refused": call,
            "call_error_is_asyncpg_error": driver_error, "calls_after_ok": ok, "calls_after": POOL_SIZE}


SCENARIOS = {"refused": refused, "restart": restart, "exhausted": exhausted, "cancelled": cancelled,
             "statement_timeout": statement_timeout, "concurrent": concurrent}

if __name__ == "__main__":
    name, control = sys.argv[1], Path(sys.argv[2])
    result = asyncio.run(SCENARIOS[name](control))
    print(json.dumps(result))
