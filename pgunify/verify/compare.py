"""What counts as "the same" for two tagged trees, and the readable list of what is not.

Exact equality, with three documented allowances (docs/verify.md):
- mappings compare without regard to key order (jsonb reorders keys; callers index by key);
- floats compare by value (NaN equals NaN);
- two datetimes (or ISO timestamps in database state) that both lie within the run's own
  time window and differ by at most `clock_tolerance` seconds, with the same UTC offset,
  are the same: they were stamped by the server clock (``now()``) a moment apart, because
  the two sides run side by side, not at the same instant.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from pgunify.verify.codec import JsonTree, render


@dataclass(frozen=True)
class Clock:
    """The window of wall-clock time in which the run stamped values."""

    start: dt.datetime
    tolerance: float = 5.0
    # for tests written by --emit-tests: the window of the run that recorded the expected
    # values; a stamp from then and a stamp from now are both "the server's now()"
    recorded: tuple[dt.datetime, dt.datetime] | None = None

    def close(self, a: dt.datetime, b: dt.datetime) -> bool:
        if (a.tzinfo is None) != (b.tzinfo is None) or a.utcoffset() != b.utcoffset():
            return False
        if self.recorded is not None and a.tzinfo is not None:
            margin = dt.timedelta(minutes=2)
            then_lo, then_hi = self.recorded[0] - margin, self.recorded[1] + margin
            now_lo, now_hi = self.start - margin, dt.datetime.now(dt.timezone.utc) + margin
            return then_lo <= a <= then_hi and now_lo <= b <= now_hi
        if a.tzinfo is None:
            now, start = dt.datetime.now(), self.start.astimezone().replace(tzinfo=None)
        else:
            now, start = dt.datetime.now(dt.timezone.utc), self.start
        lo, hi = start - dt.timedelta(minutes=2), now + dt.timedelta(minutes=2)
        return lo <= a <= hi and lo <= b <= hi and abs((a - b).total_seconds()) <= self.tolerance


def differences(old: JsonTree, new: JsonTree, clock: Clock, path: str = "") -> list[str]:
    """Each place where the trees differ, as "path: old != new" lines (empty: the same)."""
    out: list[str] = []
    _walk(old, new, clock, path or "value", out)
    return out


def _walk(a: JsonTree, b: JsonTree, clock: Clock, path: str, out: list[str]) -> None:
    if len(out) >= 20:
        return
    if a == b:
        return
    if isinstance(a, list) and isinstance(b, list) and a and b and a[0] == b[0]:
        tag = a[0]
        if tag == "float" and _same_float(a[1], b[1]):
            return
        if tag == "raise" and a[1:3] == b[1:3]:
            return  # same class and SQLSTATE; the message is shown, not compared
        if tag == "datetime" and _close(a[1], b[1], clock):
            return
        if tag in ("list", "tuple", "set") and len(a[1]) == len(b[1]):
            for i, (x, y) in enumerate(zip(a[1], b[1])):
                _walk(x, y, clock, f"{path}[{i}]", out)
            return
        if tag == "dict":
            am = {_key(k): (k, v) for k, v in a[1]}
            bm = {_key(k): (k, v) for k, v in b[1]}
            if am.keys() == bm.keys():
                for key, (k, v) in am.items():
                    _walk(v, bm[key][1], clock, f"{path}[{render(k, 60)}]", out)
                return
        if tag == "obj" and a[1] == b[1] and [k for k, _ in a[2]] == [k for k, _ in b[2]]:
            for (k, x), (_, y) in zip(a[2], b[2]):
                _walk(x, y, clock, f"{path}.{k}", out)
            return
        if tag == "record" and a[1] == b[1] and len(a) == len(b) == 3:
            for k, x, y in zip(a[1], a[2], b[2]):
                _walk(x, y, clock, f"{path}[{k!r}]", out)
            return
        if tag == "state":
            _state(a[1], b[1], clock, path, out)
            return
    out.append(f"{path}: {render(a, 300)} != {render(b, 300)}")


def _key(k: JsonTree) -> str:
    return repr(k)


def _same_float(x: str, y: str) -> bool:
    fx, fy = float(x), float(y)
    return fx == fy or (math.isnan(fx) and math.isnan(fy))


def _close(x: str, y: str, clock: Clock) -> bool:
    try:
        return clock.close(dt.datetime.fromisoformat(x), dt.datetime.fromisoformat(y))
    except ValueError:
        return False


def _state(a: dict, b: dict, clock: Clock, path: str, out: list[str]) -> None:
    """Database state: {"tables": {name: [row, ...]}, "sequences": {name: value}}, rows as
    the server renders them in JSON, ordered by primary key."""
    for table in sorted(set(a.get("tables", {})) | set(b.get("tables", {}))):
        rows_a, rows_b = a["tables"].get(table), b["tables"].get(table)
        where = f"table {table}"
        if rows_a is None or rows_b is None:
            out.append(f"{where}: present on one side only")
            continue
        if len(rows_a) != len(rows_b):
            out.append(f"{where}: {len(rows_a)} rows != {len(rows_b)} rows")
            shown = 0
            for row in rows_a:
                if row not in rows_b and shown < 3:
                    out.append(f"  only in old: {_row(row)}")
                    shown += 1
            shown = 0
            for row in rows_b:
                if row not in rows_a and shown < 3:
                    out.append(f"  only in new: {_row(row)}")
                    shown += 1
            continue
        for i, (ra, rb) in enumerate(zip(rows_a, rows_b)):
            for column in ra:
                va, vb = ra.get(column), rb.get(column)
                if va != vb and not _json_close(va, vb, clock):
                    out.append(f"{where} row {i + 1} column {column}: {va!r} != {vb!r}")
    seq_a, seq_b = a.get("sequences", {}), b.get("sequences", {})
    for name in sorted(set(seq_a) | set(seq_b)):
        if seq_a.get(name) != seq_b.get(name):
            out.append(f"sequence {name}: {seq_a.get(name)} != {seq_b.get(name)}")


def _json_close(x: object, y: object, clock: Clock) -> bool:
    if isinstance(x, str) and isinstance(y, str):
        return _close(x, y, clock)
    if isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys():
        return all(x[k] == y[k] or _json_close(x[k], y[k], clock) for k in x)
    return False


def _row(row: dict) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in row.items())
    return text if len(text) < 300 else text[:297] + "..."
