"""A declared JSON column (json-columns) against json.loads in the repository, in one process.

    python benchmarks/json_columns_micro.py

On a scratch database (pgunify.postgres provisioning), the generated engine and raw-SQL
modules run one statement both ways on one connection: `text(SQL)` with the repository's
`json.loads(row["config"]) if row["config"] else {}`, and `text(SQL).columns(config=JSONB)`
with `row["config"]`; one row by key and a page of 20 rows, 7 interleaved rounds. Prints the
client CPU per call and the speed of the declared form against the plain one (median and
range of the per-round ratios). Both forms are checked to give equal values.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from codemod_helpers import load_module, make_plan
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB

from pgunify.postgres import provision, scratch_database
from pgunify.templates import render_engine_module, render_raw_sql_module


def main():
    with provision() as server, scratch_database(server, prefix="jc_micro") as url:
        os.environ["DATABASE_URL"] = url
        tmp = Path(tempfile.mkdtemp())
        eng = load_module(tmp, "engine", render_engine_module(make_plan()))
        raw = load_module(tmp, "raw_sql", render_raw_sql_module(make_plan()))
        S = "SELECT * FROM cams WHERE id = :p1"
        L = "SELECT * FROM cams ORDER BY id LIMIT 20"
        async def run():
            async with eng.repository_engine.connect() as c:
                await c.execute(text("CREATE TABLE cams (id int primary key, name text, config jsonb not null)"))
                cfg = json.dumps({"fps": 25, "resolution": "1920x1080", "zones": [{"id": z, "kind": "ppe"} for z in range(3)]})
                for i in range(40):
                    await c.execute(text("INSERT INTO cams VALUES (:i, :n, CAST(:c AS jsonb))"), {"i": i, "n": f"c{i}", "c": cfg})
            async def plain_one(c, i):
                row = raw.first_record(await c.execute(text(S), {"p1": i}))
                return json.loads(row["config"]) if row["config"] else {}
            async def typed_one(c, i):
                row = raw.first_record(await c.execute(text(S).columns(config=JSONB), {"p1": i}))
                return row["config"]
            async def plain_list(c, i):
                return [json.loads(r["config"]) if r["config"] else {} for r in raw.all_records(await c.execute(text(L)))]
            async def typed_list(c, i):
                return [r["config"] for r in raw.all_records(await c.execute(text(L).columns(config=JSONB)))]
            res: dict[str, list[float]] = {k: [] for k in ("plain_one", "typed_one", "plain_list", "typed_list")}
            fns = {"plain_one": plain_one, "typed_one": typed_one, "plain_list": plain_list, "typed_list": typed_list}
            N = 1500
            async with eng.repository_engine.connect() as c:
                for name, fn in fns.items():
                    for i in range(200):
                        await fn(c, i % 40)
                for rnd in range(7):
                    order = list(fns) if rnd % 2 == 0 else list(reversed(fns))
                    for name in order:
                        n = N if "one" in name else N // 4
                        t = time.process_time()
                        for i in range(n):
                            await fns[name](c, i % 40)
                        res[name].append((time.process_time() - t) / n * 1e6)
                assert await plain_one(c, 3) == await typed_one(c, 3)
                assert await plain_list(c, 0) == await typed_list(c, 0)
            await eng.engine.dispose()
            for kind in ("one", "list"):
                ratios = [p / t for p, t in zip(res[f"plain_{kind}"], res[f"typed_{kind}"])]
                print(f"{kind}: CPU us/call plain {statistics.median(res['plain_'+kind]):.0f}, typed {statistics.median(res['typed_'+kind]):.0f}; "
                      f"speed typed/plain median {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f})")
        asyncio.run(run())


if __name__ == "__main__":
    main()
