"""The import check: every migrated module imported in a fresh interpreter, before and after.

The closure check proves what the model can see. What it cannot see, a module that no
longer imports (a name the rewrite removed that another module still imports, a generated
module out of reach), shows the moment Python imports it. So, where the project's own
environment is at hand (`--python`, or a `.venv`/`venv` in the project), every module the
run changes, and the generated modules, are imported by that interpreter twice: from the
tree as it is, and from a mirror of the tree as the run would leave it. A module that
imported before and fails after stops the write. A module that did not import before
(a dependency missing from that environment, a setting it reads at import) is not checked,
and the note says so: the check claims only what it ran.

The mirror is a temporary directory of symbolic links to the project's files, with the
changed files written out; nothing is written into the project, and no bytecode is left
behind. Each side runs in one interpreter with the user's environment, standard input
closed; a module that hangs on import is given up on after a timeout and the others go on.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pgunify.dsn import redact_text

_SKIP_DIRS = frozenset({".git", ".hg", ".pgunify", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox"})

# Run by the project's interpreter: import each module named on the command line, one JSON
# line per module, flushed before the next starts (so a hang names its module).
_IMPORTER = """
import importlib, json, sys
sys.dont_write_bytecode = True
for name in sys.argv[1:]:
    print(json.dumps({"start": name}), flush=True)
    try:
        importlib.import_module(name)
    except BaseException as exc:
        text = str(exc).splitlines()[0][:300] if str(exc) else ""
        print(json.dumps({"module": name, "error": f"{type(exc).__name__}: {text}".rstrip(": ")}), flush=True)
    else:
        print(json.dumps({"module": name}), flush=True)
"""


@dataclass(frozen=True)
class Imported:
    module: str  # dotted, from the import root
    path: str  # relative to the project root
    before: str | None  # None: it imported; else the exception, `ModuleNotFoundError: No module named 'x'`
    after: str | None


@dataclass
class ImportCheck:
    python: str = ""  # the interpreter that ran it
    results: list[Imported] = field(default_factory=list)
    not_run: str = ""  # why the check did not run at all

    @property
    def broken(self) -> list[Imported]:
        """Modules that imported before the migration and do not after it."""
        return [r for r in self.results if r.before is None and r.after is not None]

    @property
    def unchecked(self) -> list[Imported]:
        """Modules that did not import before either: the check says nothing of them."""
        return [r for r in self.results if r.before is not None]

    @property
    def passed(self) -> list[Imported]:
        return [r for r in self.results if r.before is None and r.after is None]

    def summary(self) -> str:
        if self.not_run:
            return f"import check not run: {self.not_run}"
        text = (f"import check ({self.python}): {len(self.passed)} migrated module(s) imported before and after "
                f"the migration in a fresh interpreter")
        if self.broken:
            text += f"; {len(self.broken)} no longer import (listed)"
        if self.unchecked:
            first = self.unchecked[0]
            text += (f"; {len(self.unchecked)} did not import before it either, so they were not checked "
                     f"({first.path}: {first.before})")
        return text


# top-level calls that start the application rather than define it (`bot.run(TOKEN)`,
# `asyncio.run(main())`, `web.run_app(app)` without an `if __name__ == "__main__":` guard)
_STARTERS = frozenset({"run", "run_forever", "run_until_complete", "run_app", "start", "serve", "serve_forever",
                       "main", "start_polling", "infinity_polling"})


def starts_at_import(source: str) -> str | None:
    """The call that would start the application if the module were imported, if any."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    for statement in tree.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, (ast.Call, ast.Await)):
            call = statement.value.value if isinstance(statement.value, ast.Await) else statement.value
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in _STARTERS:
                return ast.unparse(call)[:80]
    return None


def importers(sources: dict[str, str], names: dict[str, str], import_root: Path, root: Path) -> dict[str, str]:
    """Modules (relative path -> dotted name) that import one of `names` (dotted) or a name
    from it: what breaks when a migrated module loses a name."""
    found = {}
    wanted = set(names.values())
    for rel, text in sources.items():
        path = (root / rel).resolve()
        if rel in names or not path.is_relative_to(import_root):
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        dotted = ".".join(path.relative_to(import_root).with_suffix("").parts).removesuffix(".__init__")
        package = dotted if rel.endswith("__init__.py") else dotted.rpartition(".")[0]
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".") if package else []
                    parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                    base = ".".join(p for p in [*parts, base] if p)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            if wanted & set(targets):
                found[rel] = dotted
                break
    return found


def project_python(root: Path, given: Path | None) -> Path | None:
    """The interpreter of the project's own environment: the one given, or a virtual
    environment inside the project."""
    if given is not None:
        return given
    for folder in (".venv", "venv", "env"):
        for candidate in (root / folder / "bin" / "python", root / folder / "Scripts" / "python.exe"):
            if candidate.is_file():
                return candidate
    return None


def run_import_check(root: Path, import_root: Path, python: Path, new_texts: dict[str, bytes],
                     modules: list[tuple[str, str]], created: frozenset[str] = frozenset(),
                     timeout: float = 60.0) -> ImportCheck:
    """Import `modules` ((relative path, dotted name)) from `root` as it is and from a mirror
    with `new_texts` (relative path -> bytes) written over it. Modules the run creates
    (`created`, relative paths) are imported after only: any failure of theirs is new."""
    check = ImportCheck(python=str(python))
    if not modules:
        return check
    existing = [name for path, name in modules if path not in created]
    with tempfile.TemporaryDirectory(prefix="pgunify-import-check-") as scratch:
        mirror = Path(scratch) / "tree"
        _mirror(root, mirror, new_texts)
        try:
            before = _import_all(python, import_root, existing, timeout) if existing else {}
            after = _import_all(python, mirror / import_root.relative_to(root), [n for _, n in modules], timeout)
        except OSError as exc:
            return ImportCheck(python=str(python), not_run=f"{python} could not be started ({exc.strerror or exc})")
    missing = [name for name, error in after.items() if error and _lacks_sqlalchemy(error)]
    if missing:
        return ImportCheck(python=str(python), not_run=(
            f"{python} has no SQLAlchemy to import the migrated modules with; install sqlalchemy[asyncio]>=2 in the "
            "project's environment (its dependency declaration asks for it now) and run again to check them"))
    for path, name in modules:
        error = after.get(name)
        if error:  # name the project's files, not the mirror's
            error = error.replace(str(mirror), str(root))
        check.results.append(Imported(name, path, before.get(name), error))
    return check


def _lacks_sqlalchemy(error: str) -> bool:
    return error.startswith("ModuleNotFoundError") and "'sqlalchemy" in error


def _mirror(root: Path, mirror: Path, new_texts: dict[str, bytes]) -> None:
    """A tree of symbolic links to `root`'s files, with the new texts as real files."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        here = Path(dirpath)
        target = mirror / here.relative_to(root)
        target.mkdir(parents=True, exist_ok=True)
        for filename in filenames:
            rel = (here / filename).relative_to(root).as_posix()
            if rel not in new_texts:
                os.symlink(here / filename, target / filename)
    for rel, data in new_texts.items():
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        (mirror / rel).write_bytes(data)


def _import_all(python: Path, import_root: Path, names: list[str], timeout: float) -> dict[str, str | None]:
    """Each module's outcome: None when it imported, else the exception."""
    outcomes: dict[str, str | None] = {}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(PYTHONPATH=str(import_root), PYTHONDONTWRITEBYTECODE="1")
    pending = list(names)
    while pending:
        try:
            done = subprocess.run([str(python), "-c", _IMPORTER, *pending], cwd=import_root, env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
            lines = done.stdout.splitlines()
            timed_out = False
        except subprocess.TimeoutExpired as expired:
            out = expired.stdout or b""
            lines = (out.decode(errors="replace") if isinstance(out, bytes) else out).splitlines()
            timed_out = True
        started = None
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # the module printed something of its own
            if not isinstance(entry, dict):
                continue
            if "start" in entry:
                started = entry["start"]
            elif entry.get("module") in pending:
                outcomes[entry["module"]] = redact_text(entry["error"]) if "error" in entry else None
                started = None
        if started is not None and started not in outcomes:
            # it hung (timeout) or ended the interpreter (sys.exit at import, a crash)
            outcomes[started] = (f"TimeoutError: still importing after {timeout:.0f} s" if timed_out
                                 else f"the interpreter ended while importing it (exit {done.returncode})")
        remaining = [n for n in pending if n not in outcomes]
        if len(remaining) == len(pending):  # nothing ran at all: the interpreter itself failed
            reason = "the interpreter did not run" + ("" if timed_out else f" (exit {done.returncode})")
            outcomes.update((n, reason) for n in remaining)
            break
        pending = remaining
    return outcomes


def current_python() -> Path:
    return Path(sys.executable)
