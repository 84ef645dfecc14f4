"""--emit-tests: the cases of a run as plain pytest files the user keeps in their own suite.

Three files, none of which imports pgunify:
- unify_verify_support.py: the value encoding, the comparison and the calling code of the
  run itself, bundled, so the kept tests judge "the same" exactly as the run did;
- unify_verify_cases.json: the plan (how to build each class), the seed rows, and every
  case that matched, with the legacy code's outcome and the tables it changed;
- test_unify_verify_cases.py: one test per case against the code as it is now.

The tests need a scratch database, named by VERIFY_CASES_DATABASE_URL; they create the
schema in it and put the seed rows back before every case.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pgunify.rewrite.writing import atomic_write
from pgunify.verify.runner import VerifyResult

_BUNDLED = ("codec.py", "compare.py", "worker.py")

_TEST_MODULE = '''"""Cases recorded by `pgunify verify` from the legacy code; each must still hold.

Written by `pgunify verify --emit-tests`; runs without pgunify. Set VERIFY_CASES_DATABASE_URL
to a scratch PostgreSQL database: the tests create the schema there and reset its tables
before every case.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import unify_verify_support as support  # noqa: E402

DATA = json.loads((HERE / "unify_verify_cases.json").read_text(encoding="utf-8"))
ROOT = (HERE / DATA["root"]).resolve()


@pytest.fixture(scope="module")
def side():
    url = os.environ.get("VERIFY_CASES_DATABASE_URL")
    if not url:
        pytest.fail("set VERIFY_CASES_DATABASE_URL to a scratch PostgreSQL database (its tables are reset)",
                    pytrace=False)
    plan = DATA["plan"]
    for name, driver in plan["env"].items():
        os.environ[name] = support._url(url, driver)
    os.environ.update(plan.get("extra_env", {}))
    sys.path.insert(0, str((ROOT / plan.get("import_root", ".")).resolve()))
    loop = asyncio.new_event_loop()
    instance = support.Side(plan, ROOT, url)
    loop.run_until_complete(instance.connect())
    loop.run_until_complete(instance.apply_schema())
    loop.run_until_complete(instance.prepare_state(DATA["seed"]))
    instance.loop = loop
    try:
        yield instance
    finally:
        loop.run_until_complete(instance.close())
        loop.close()


CLOCK = support.Clock(dt.datetime.now(dt.timezone.utc), DATA["clock_tolerance"],
                      recorded=tuple(dt.datetime.fromisoformat(t) for t in DATA["window"]))


@pytest.mark.parametrize("case", DATA["cases"], ids=[f"{c['target']}-{i}" for i, c in enumerate(DATA["cases"])])
def test_case(side, case):
    cls, _, method = case["target"].rpartition(".")
    request = {"op": "call", "target": cls, "method": method, "args": case["args"], "kwargs": case["kwargs"],
               "state": True, "reset": False}
    answer = side.loop.run_until_complete(side.call(request))
    try:
        found = support.differences(case["expected"], answer["result"], CLOCK, "result")
        state = json.loads(answer["state"])
        seed = json.loads(side.seed_state)
        expected = {"tables": dict(seed["tables"]), "sequences": seed["sequences"]}
        expected["tables"].update(case["changed"].get("tables", {}))
        if "sequences" in case["changed"]:
            expected["sequences"] = case["changed"]["sequences"]
        found += support.differences(["state", expected], ["state", state], CLOCK, "state")
        assert not found, "\\n".join([support.render(case["expected"]), support.render(answer["result"]), *found])
    finally:
        side.loop.run_until_complete(side.handle({"op": "reset"}))
'''


def _support_source() -> str:
    here = Path(__file__).resolve().parent
    parts = ['"""Bundled from pgunify.verify (codec, compare, worker) by `pgunify verify --emit-tests`."""\n',
             "from __future__ import annotations\n"]
    for name in _BUNDLED:
        lines = []
        for line in (here / name).read_text(encoding="utf-8").splitlines():
            if line.startswith("from __future__") or line.startswith("from pgunify."):
                continue
            lines.append(line)
        parts.append(f"\n# ---- {name}\n" + "\n".join(lines) + "\n")
    return "\n".join(parts)


def emit_tests(result: VerifyResult, folder: Path, root: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cases = [{"target": target, "args": call["args"], "kwargs": call["kwargs"], "expected": expected,
              "changed": changed}
             for target, call, expected, changed in result.passing]
    data = {
        "root": os.path.relpath(root, folder.resolve()),
        "plan": result.plan,
        "seed": result.seed_state,
        "window": list(result.window or ()),
        "clock_tolerance": 5.0,
        "cases": cases,
    }
    files = {
        folder / "unify_verify_support.py": _support_source(),
        folder / "unify_verify_cases.json": json.dumps(data, ensure_ascii=False) + "\n",
        folder / "test_unify_verify_cases.py": _TEST_MODULE,
    }
    for path, text in files.items():
        atomic_write(path, text.encode("utf-8"))
    return list(files)
