"""`pgunify migrate --write` on a folder of local snapshots of real codebases, measured.

For every sub-folder of SNAPSHOTS (one repository each, usually a git work tree), the
harness copies the files (without `.git`) to a temporary directory, commits them to a
fresh git repository, and runs

    pgunify migrate --write -j 1 --format json --report report.json

then records:

  time, memory   wall time and peak resident memory of the migrate process
  exit           its exit code (or `timeout`), and whether it printed a Python traceback
  $n before      call sites whose SQL is a `$n` string literal (see below), before the write
  left on asyncpg  the same count on the written tree, split by receiver: a receiver built
                 with the tool's driver helpers (`driver_connection(`, `asyncpg_connection(`,
                 or a name bound from one in the same function) versus any other receiver; a call of a method
                 that the project's own classes define as a wrapper (`async def fetch(self,
                 sql, *args)`) is counted apart when every such wrapper hands its SQL to
                 `exec_driver_sql()`, `text()` or `numbered()` after the write: those reach
                 Core through the wrapper
  Core           `text(<literal>)`, `exec_driver_sql(` and `numbered(` calls, after minus
                 before (what moved onto SQLAlchemy Core)
  report         changes per risk tier, sites left alone, statements proven, failed and
                 skipped files (from the JSON report of the run)
  no longer parse  `.py` files that compiled before the write and do not compile after it
  second run     whether a second `pgunify migrate --write` on the committed result changes
                 any file (`git status --porcelain`)

The `$n` counter is plain `ast` and shares no code with pgunify, so it can disagree with it.
A call counts when its method is fetch, fetchrow, fetchval, execute, executemany,
prepare, cursor or copy_from_query and its first argument is SQL text containing a `$1`
style placeholder: a string literal (implicit concatenation included), the constant parts
of an f-string, a `+` of such pieces, `"...".format(...)`, or a local or module-level name
assigned (or `+=`-extended) with one of these. A call site counts once, whatever number of
literals reach it.

It needs git and nothing from the network; it is not part of the test suite.

    python benchmarks/corpus.py SNAPSHOTS --json results.json [--markdown table.md]
        [--only NAME]... [--timeout 300] [--keep DIR] [--pgunify PATH/TO/pgunify]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

SQL_METHODS = frozenset(
    {"fetch", "fetchrow", "fetchval", "execute", "executemany", "prepare", "cursor", "copy_from_query"}
)
DRIVER_HELPERS = ("driver_connection", "asyncpg_connection")
PLACEHOLDER = re.compile(r"\$\d")
SKIP_DIRS = frozenset({".git", ".pgunify", ".venv", "venv", "node_modules", "__pycache__"})
TRACEBACK = "Traceback (most recent call last)"


# --------------------------------------------------------------------------- the counter

def _has_placeholder(node: ast.AST | None) -> bool:
    """Whether `node` is SQL text written in the source with a `$n` placeholder."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(PLACEHOLDER.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_has_placeholder(part) for part in node.values if isinstance(part, ast.Constant))
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _has_placeholder(node.left) or _has_placeholder(node.right)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"):
        return _has_placeholder(node.func.value)
    return False


def _is_str_literal(node: ast.AST | None) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_str_literal(node.left) or _is_str_literal(node.right)
    return False


def _callee_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _mentions_driver_helper(node: ast.AST) -> bool:
    return any(isinstance(sub, ast.Call) and _callee_name(sub.func) in DRIVER_HELPERS
               for sub in ast.walk(node))


def _first_argument(call: ast.Call) -> ast.AST | None:
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    for keyword in call.keywords:
        if keyword.arg in ("query", "sql"):
            return keyword.value
    return None


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a scope, not descending into nested functions."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


@dataclass
class _Scope:
    sql_names: set[str] = field(default_factory=set)      # assigned `$n` SQL text
    helper_names: set[str] = field(default_factory=set)   # bound from a driver helper


def _scope_facts(scope: ast.AST) -> _Scope:
    facts = _Scope()
    for node in _own_nodes(scope):
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            value = node.value
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            names = [node.target.id] if isinstance(node.target, ast.Name) else []
            value = node.value
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if isinstance(item.optional_vars, ast.Name) and _mentions_driver_helper(item.context_expr):
                    facts.helper_names.add(item.optional_vars.id)
            continue
        else:
            continue
        if value is None:
            continue
        if _has_placeholder(value):
            facts.sql_names.update(names)
        if _mentions_driver_helper(value):
            facts.helper_names.update(names)
    return facts


@dataclass
class Site:
    path: str
    line: int
    method: str
    receiver: str
    wrapped: bool


@dataclass
class FileCount:
    sites: list[Site] = field(default_factory=list)
    # methods of the project's own classes named like asyncpg's that pass their SQL parameter
    # on: (method name, "core" when it reaches exec_driver_sql()/text(), "asyncpg" otherwise)
    wrappers: list[tuple[str, str]] = field(default_factory=list)
    text_literals: int = 0
    exec_driver_sql: int = 0
    numbered: int = 0


def count_source(source: str | bytes, path: str = "<string>") -> FileCount:
    """Count the `$n` SQL call sites and the Core statement calls of one module.

    Raises SyntaxError (or ValueError) when the module does not parse."""
    tree = ast.parse(source, filename=path)
    result = FileCount()
    module_facts = _scope_facts(tree)
    scopes: list[tuple[ast.AST, _Scope]] = [(tree, module_facts)]
    scopes += [(node, _scope_facts(node)) for node in ast.walk(tree) if isinstance(node, _SCOPES)]
    for scope, facts in scopes:
        for node in _own_nodes(scope):
            if not isinstance(node, ast.Call):
                continue
            name = _callee_name(node.func)
            if name == "text" and node.args and _is_str_literal(node.args[0]):
                result.text_literals += 1
            elif name == "exec_driver_sql" and isinstance(node.func, ast.Attribute):
                result.exec_driver_sql += 1
            elif name == "numbered":
                result.numbered += 1
            if not (isinstance(node.func, ast.Attribute) and name in SQL_METHODS):
                continue
            argument = _first_argument(node)
            if argument is None:
                continue
            is_sql = _has_placeholder(argument) or (
                isinstance(argument, ast.Name)
                and (argument.id in facts.sql_names or argument.id in module_facts.sql_names)
            )
            if not is_sql:
                continue
            receiver = node.func.value
            wrapped = _mentions_driver_helper(receiver) or (
                isinstance(receiver, ast.Name) and receiver.id in facts.helper_names
            )
            result.sites.append(Site(path, node.lineno, name, ast.unparse(receiver), wrapped))
    result.sites.sort(key=lambda site: site.line)
    result.wrappers = _wrappers(tree)
    return result


def _wrappers(tree: ast.Module) -> list[tuple[str, str]]:
    """Methods like `async def fetch(self, sql, *args)` of the project's own classes that hand
    their SQL parameter to a statement call: where that call is `exec_driver_sql(sql, ...)`,
    `text(sql)` or `numbered(sql)` the wrapper runs its callers' SQL on Core."""
    found = []
    for klass in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for method in klass.body:
            if not (isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and method.name in SQL_METHODS):
                continue
            params = [a.arg for a in method.args.posonlyargs + method.args.args][1:]
            if not params:
                continue
            sql = params[0]
            kinds = set()
            for node in ast.walk(method):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                first = node.args[0]
                if not (isinstance(first, ast.Name) and first.id == sql):
                    continue
                name = _callee_name(node.func)
                if name in ("exec_driver_sql", "text", "numbered"):
                    kinds.add("core")
                elif name in SQL_METHODS and isinstance(node.func, ast.Attribute):
                    kinds.add("asyncpg")
            if kinds:
                found.append((method.name, "core" if kinds == {"core"} else "asyncpg"))
    return found


def python_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for filename in sorted(filenames):
            if filename.endswith(".py"):
                yield Path(dirpath) / filename


def count_tree(root: Path) -> dict:
    """The counter over every `.py` file under `root`; files that do not parse are listed."""
    sites: list[Site] = []
    totals = Counter()
    unparsable: list[str] = []
    wrappers: dict[str, set[str]] = {}
    for path in python_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            counted = count_source(path.read_bytes(), rel)
        except (SyntaxError, ValueError, RecursionError):
            unparsable.append(rel)
            continue
        sites += counted.sites
        for method, kind in counted.wrappers:
            wrappers.setdefault(method, set()).add(kind)
        totals.update(text_literals=counted.text_literals, exec_driver_sql=counted.exec_driver_sql,
                      numbered=counted.numbered)
    wrapped = sum(site.wrapped for site in sites)
    # a call of a method the project's own wrappers define, all of them on Core, reaches Core
    # through the wrapper (a heuristic by name: a call of that name on asyncpg's own object
    # would be counted here too)
    on_core = {method for method, kinds in wrappers.items() if kinds == {"core"}}
    via_wrapper = sum(1 for site in sites if not site.wrapped and site.method in on_core)
    return {
        "dollar_sites": len(sites),
        "wrapped": wrapped,
        "via_wrapper": via_wrapper,
        "receiver": len(sites) - wrapped - via_wrapper,
        "core_wrappers": sorted(on_core),
        "text_literals": totals["text_literals"],
        "exec_driver_sql": totals["exec_driver_sql"],
        "numbered": totals["numbered"],
        "unparsable": unparsable,
        "sites": [site.__dict__ for site in sites],
    }


def compiles(root: Path) -> set[str]:
    """The `.py` files under `root` that byte-compile."""
    good = set()
    for path in python_files(root):
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError):
            continue
        good.add(path.relative_to(root).as_posix())
    return good


# --------------------------------------------------------------------------- running pgunify

def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=corpus", "-c", "user.email=corpus@localhost", "-c", "commit.gpgsign=false",
         *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout


def _commit_all(cwd: Path, message: str) -> None:
    _git(cwd, "add", "-A")
    _git(cwd, "commit", "-q", "--allow-empty", "--no-verify", "-m", message)


@dataclass
class Run:
    exit: int | str
    seconds: float
    max_rss_mb: float
    stdout: str
    stderr: str


def run_migrate(pgunify: str, target: Path, report: Path, timeout: float, env: dict) -> Run:
    out_path, err_path = report.with_suffix(".stdout"), report.with_suffix(".stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [pgunify, "migrate", str(target), "--write", "-j", "1", "--format", "json", "--report", str(report)],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )
        deadline = started + timeout
        status: int | str | None = None
        usage = None
        while status is None:
            pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(wait_status)
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                _, _, usage = os.wait4(proc.pid, 0)
                status = "timeout"
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        proc.returncode = status if isinstance(status, int) else -9  # reaped above
    return Run(
        exit=status, seconds=round(seconds, 2),
        max_rss_mb=round(usage.ru_maxrss / 1024, 1) if usage else 0.0,  # KiB on Linux
        stdout=out_path.read_text(encoding="utf-8", errors="replace"),
        stderr=err_path.read_text(encoding="utf-8", errors="replace"),
    )


def tracebacks(text: str) -> list[dict]:
    """Each traceback in `text`: its exception line and its innermost frame."""
    found = []
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if TRACEBACK not in line:
            continue
        frames, exception = [], None
        for follow in lines[start + 1:]:
            stripped = follow.strip()
            if stripped.startswith('File "'):
                frames.append(stripped)
            elif follow and not follow.startswith((" ", "\t")) and TRACEBACK not in follow:
                exception = follow.strip()[:300]
                break
        own = [f for f in frames if re.search(r"/(pgunify|codemods)/", f)]
        found.append({"exception": exception, "frame": frames[-1] if frames else None,
                      "tool_frame": own[-1] if own else None})
    return found


def _reason_key(reason: str) -> str:
    """A left-alone reason without its specifics, to group similar ones."""
    reason = re.sub(r"`[^`]*`", "`…`", reason)
    reason = re.sub(r"'[^']*'", "'…'", reason)
    reason = re.sub(r"\d+", "N", reason)
    return reason[:160]


def summarise_report(report: dict) -> dict:
    summary = report.get("summary", {})
    left, review, failed, skipped = Counter(), Counter(), [], Counter()
    for entry in report.get("files", []):
        for site in entry.get("left_alone", []):
            left[_reason_key(site.get("reason", ""))] += 1
        for change in entry.get("changes", []):
            if change.get("risk") in ("review", "manual"):
                review[f'{change["risk"]}: {_reason_key(change.get("description", ""))}'] += 1
        if entry.get("status") == "failed":
            failed.append({"path": entry["path"], "error": (entry.get("error") or "")[-400:]})
        if entry.get("status") == "skipped":
            skipped[_reason_key(entry.get("reason", ""))] += 1
    return {
        "changes_by_risk": summary.get("changes_by_risk", {}),
        "left_alone": summary.get("left_alone", 0),
        "statements_proven": summary.get("statements_proven", 0),
        "files_changed": summary.get("files_changed", 0),
        "files_created": summary.get("files_created", 0),
        "files_failed": summary.get("files_failed", 0),
        "files_skipped": summary.get("files_skipped", 0),
        "notes": report.get("notes", [])[:20],
        "top_left_alone": left.most_common(10),
        "top_review_or_manual": review.most_common(10),
        "failed_files": failed[:20],
        "skipped_reasons": skipped.most_common(5),
    }


def measure(snapshot: Path, pgunify: str, timeout: float, keep: Path | None) -> dict:
    name = snapshot.name
    with tempfile.TemporaryDirectory(prefix=f"corpus-{name}-") as tmp:
        base = Path(keep) / name if keep else Path(tmp)
        if keep and base.exists():
            shutil.rmtree(base)
        target = base / "tree"
        shutil.copytree(snapshot, target, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        _git(target, "init", "-q")
        _commit_all(target, "snapshot")
        before = count_tree(target)
        compiled_before = compiles(target)

        # cold (a cache of its own), and tracebacks in Python's plain format
        env = dict(os.environ, UNIFY_CACHE_DIR=str(base / "cache"), TYPER_STANDARD_TRACEBACK="1")
        first = run_migrate(pgunify, target, base / "report.json", timeout, env)
        try:
            report = json.loads((base / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            report = {}
        after = count_tree(target)
        broken = sorted(compiled_before - compiles(target))

        second_changed: list[str] | None = None
        second = None
        if first.exit != "timeout":
            _commit_all(target, "pgunify migrate --write")
            second = run_migrate(pgunify, target, base / "report2.json", timeout, env)
            second_changed = [line for line in _git(target, "status", "--porcelain").splitlines() if line]

        result = {
            "repository": name,
            "commit": _snapshot_commit(snapshot),
            "python_files": sum(1 for _ in python_files(target)),
            "exit": first.exit,
            "seconds": first.seconds,
            "max_rss_mb": first.max_rss_mb,
            "tracebacks": tracebacks(first.stdout + "\n" + first.stderr),
            "stderr_tail": first.stderr[-1500:],
            "before": {k: v for k, v in before.items() if k != "sites"},
            "after": {k: v for k, v in after.items() if k != "sites"},
            "core_moved": {k: after[k] - before[k] for k in ("text_literals", "exec_driver_sql", "numbered")},
            "report": summarise_report(report),
            "no_longer_compile": broken,
            "second_run": None if second is None else {
                "exit": second.exit, "seconds": second.seconds,
                "tracebacks": tracebacks(second.stdout + "\n" + second.stderr),
                "changed": second_changed[:50],
            },
            "left_on_asyncpg": after["sites"],
            "top_receivers_left": Counter(
                s["receiver"] for s in after["sites"] if not s["wrapped"]).most_common(10),
        }
    return result


def _snapshot_commit(snapshot: Path) -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=snapshot, capture_output=True, text=True,
                              check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


# --------------------------------------------------------------------------- output

COLUMNS = ("repository", "`$n` calls before", "left: receiver", "left: wrapped", "via own wrapper on Core",
           "Core +text/+driver_sql/+numbered",
           "safe/review/manual", "left alone", "exit", "traceback", "no longer parse", "2nd run changes",
           "time s", "peak MB")


def markdown(results: list[dict]) -> str:
    rows = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    total = Counter()
    for r in results:
        risk = r["report"]["changes_by_risk"]
        moved = r["core_moved"]
        second = r["second_run"]
        second_text = "n/a" if second is None else (str(len(second["changed"])) + " files" if second["changed"] else "none")
        rows.append("| " + " | ".join(str(cell) for cell in (
            r["repository"], r["before"]["dollar_sites"], r["after"]["receiver"], r["after"]["wrapped"],
            r["after"].get("via_wrapper", 0), f'{moved["text_literals"]}/{moved["exec_driver_sql"]}/{moved["numbered"]}',
            f'{risk.get("safe", 0)}/{risk.get("review", 0)}/{risk.get("manual", 0)}',
            r["report"]["left_alone"], r["exit"], "yes" if r["tracebacks"] else "no",
            len(r["no_longer_compile"]), second_text, r["seconds"], r["max_rss_mb"],
        )) + " |")
        total.update(before=r["before"]["dollar_sites"], receiver=r["after"]["receiver"],
                     wrapped=r["after"]["wrapped"], via=r["after"].get("via_wrapper", 0))
    if results:
        direct = 1 - (total["receiver"] + total["wrapped"] + total["via"]) / total["before"] if total["before"] else 0
        on_core = 1 - (total["receiver"] + total["wrapped"]) / total["before"] if total["before"] else 0
        rows.append(f'| total | {total["before"]} | {total["receiver"]} | {total["wrapped"]} | {total["via"]} | '
                    f'{direct:.0%} of `$n` calls off asyncpg\'s API at the call site; {on_core:.0%} with the calls '
                    f'through the project\'s own wrappers on Core |' + " |" * (len(COLUMNS) - 6))
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("snapshots", type=Path, help="folder with one sub-folder per repository")
    parser.add_argument("--json", type=Path, required=True, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown table here")
    parser.add_argument("--only", action="append", default=[], help="measure only this sub-folder (repeatable)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per migrate run (default 300)")
    parser.add_argument("--keep", type=Path, help="keep the migrated trees and reports under this folder")
    default_unify = Path(sys.executable).with_name("pgunify")
    parser.add_argument("--pgunify", default=str(default_unify) if default_unify.exists() else "pgunify",
                        help="the pgunify executable (default: the one beside this Python)")
    args = parser.parse_args(argv)

    snapshots = sorted(p for p in args.snapshots.iterdir() if p.is_dir() and not p.name.startswith("."))
    if args.only:
        snapshots = [p for p in snapshots if p.name in args.only]
    results = []
    for snapshot in snapshots:
        print(f"{snapshot.name} …", file=sys.stderr, flush=True)
        results.append(measure(snapshot, args.pgunify, args.timeout, args.keep))
        args.json.write_text(json.dumps({"pgunify": args.pgunify, "results": results}, indent=2) + "\n",
                             encoding="utf-8")
    table = markdown(results)
    print(table)
    if args.markdown:
        args.markdown.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
