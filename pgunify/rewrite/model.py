"""The whole-program model of a migrate run: what the plan takes from it, and the closure check.

The model holds the syntax tree of every module of the application and everything it found
about them: millions of objects, most of them in reference cycles. A run with workers keeps
it in a process of its own (`ModelProcess`), forked from this one as the scan begins, so
it starts with the sources this process read, nothing sent. That process builds the
model while the workers scan, answers what the plan needs, runs the closure check over the
rewritten tree, and then ends without taking the model apart: this process never holds it,
so its collector never walks it, and nothing waits for millions of objects to be freed.
In one process (`--jobs 1`, or where processes cannot be forked) `LegacyModel` does the
same work here.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from collections.abc import Iterable

from pgunify import cache
from pgunify.dsn import redact_text
from pgunify.facts.flow import Verdict, _module_name, generated_earlier
from pgunify.rewrite.closure import ClosureFinding, check, legacy_program
from pgunify.rewrite.outcome import Changed, FileOutcome
from pgunify.rewrite.plan import MigrationPlan

log = logging.getLogger(__name__)


class LegacyModel:
    """The whole-program model of the tree before the run, and what the plan takes from it.

    It is built while the workers scan, before the plan names the modules the run generates
    (the engine module, the raw-SQL helpers). The model reads those names only for modules of
    the tree that bear one of them, so once the plan is known it is built again only where
    such a module exists and was not written by an earlier run (those are known by their
    marker either way). What the plan takes depends on the text of every file and those
    names: a run over a tree it has seen whole takes it from the cache.
    """

    def __init__(self, root: Path, sources: dict[str, str]) -> None:
        self.root = root
        self.sources = sources
        self.program = None  # None where the cache answered, or the build failed
        self.learned: dict | None = None
        self.error = ""
        self.generated: frozenset[str] = frozenset()  # the names it was built with

    def build(self, generated: frozenset[str]) -> None:
        log.info("following pools and connections through the program")
        self.program, self.learned, self.error, self.generated = None, None, "", generated
        key = tree_key("model", self.sources.items(), generated)
        learned = cache.get("model", key)
        if cache.is_miss(learned):
            try:
                program = legacy_program(self.root, self.sources.items(), generated)
            except Exception as exc:  # noqa: BLE001 - the run goes on; it cannot be written (see closure_check)
                self.error = _not_built(exc)
                return
            learned = {"receivers": program.receivers, "asyncpg_annotations": program.asyncpg_annotations,
                       "tracks_closing": any(s.method == "is_closing" and s.verdict is Verdict.POOL
                                             for s in program.sites),
                       "imported_elsewhere": program.imported_elsewhere()}
            cache.put("model", key, learned)
            self.program = program
        self.learned = learned

    def settle(self, generated: frozenset[str]) -> None:
        """The model as the plan's generated module names make it."""
        if needs_rebuild(self.sources, self.generated, generated):
            self.build(generated)

    def closure(self, outcomes: list[FileOutcome], plan: MigrationPlan) -> list[ClosureFinding]:
        """The closure check over the tree as the run would leave it."""
        after, changed = _after(self.sources, outcomes)
        return _cached_closure(after, changed, plan, lambda: _closure(self.root, after, changed, plan, self.program))

    def close(self) -> None:
        pass


def _not_built(exc: Exception) -> str:
    return f"the model of the application's database access could not be built: {type(exc).__name__}: {exc}"


def needs_rebuild(sources: dict[str, str], built_with: frozenset[str], generated: frozenset[str]) -> bool:
    """Whether a model built with the generated module names `built_with` differs from one
    built with `generated`: only where a module of the application bears one of the new names."""
    extra = generated - built_with
    return bool(extra) and any(name in extra or name.rsplit(".", 1)[-1] in extra
                               for name in _modules_of_the_application(sources))


def _modules_of_the_application(sources: dict[str, str]) -> Iterable[str]:
    """The dotted names the model gives the modules of `sources`, less those an earlier run
    generated (they carry its marker)."""
    for rel, text in sources.items():
        if not generated_earlier(text):
            yield _module_name(rel)


class ModelProcess:
    """`LegacyModel` in a process of its own (see the module's docstring). Each request
    returns at once; what it answers is waited for where it is read."""

    def __init__(self, root: Path, sources: dict[str, str]) -> None:
        self.sources = sources
        self.generated: frozenset[str] = frozenset()
        self._answer: Future | None = None
        # forked: the process starts with this one's modules and the sources, nothing is sent
        self._process = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"),
                                            initializer=_hold, initargs=(root, sources))

    def build(self, generated: frozenset[str]) -> None:
        self.generated = generated
        try:
            self._answer = self._process.submit(_build, generated)
        except Exception as exc:  # noqa: BLE001 - the process has ended (BrokenProcessPool): read as the answer
            self._answer = Future()
            self._answer.set_exception(exc)

    def settle(self, generated: frozenset[str]) -> None:
        if needs_rebuild(self.sources, self.generated, generated):
            self.build(generated)

    @property
    def learned(self) -> dict | None:
        return self._answered()[0]

    @property
    def error(self) -> str:
        return self._answered()[1]

    def _answered(self) -> tuple[dict | None, str]:
        assert self._answer is not None, "build() first"
        try:
            return self._answer.result()
        except Exception as exc:  # noqa: BLE001 - the process ended (killed, out of memory): nothing is proven
            return None, _not_built(exc)

    def closure(self, outcomes: list[FileOutcome], plan: MigrationPlan) -> list[ClosureFinding]:
        after, changed = _after(self.sources, outcomes)
        # only the new texts cross over: the process has the old ones
        new_texts = {rel: after[rel] for rel in changed}
        return _cached_closure(after, changed, plan,
                               lambda: self._process.submit(_closure_held, new_texts, changed, plan).result())

    def close(self) -> None:
        self._process.shutdown(wait=True, cancel_futures=True)


def open_model(root: Path, sources: dict[str, str], separate: bool) -> LegacyModel | ModelProcess:
    """The model of a run: in a process of its own where `separate` and this platform forks
    processes as Linux does, in this one otherwise."""
    if separate and sys.platform.startswith("linux"):
        return ModelProcess(root, sources)
    return LegacyModel(root, sources)


# in the model's own process: the model it holds until it ends
_held: LegacyModel | None = None


def _hold(root: Path, sources: dict[str, str]) -> None:
    global _held
    # nothing this process makes is garbage before it ends: the collector would only walk the model
    gc.disable()
    _held = LegacyModel(root, sources)


def _build(generated: frozenset[str]) -> tuple[dict | None, str]:
    assert _held is not None
    _held.build(generated)
    return _held.learned, _held.error


def _closure_held(new_texts: dict[str, str], changed: set[str], plan: MigrationPlan) -> list[ClosureFinding]:
    assert _held is not None
    return _closure(_held.root, {**_held.sources, **new_texts}, changed, plan, _held.program)


def _after(sources: dict[str, str], outcomes: list[FileOutcome]) -> tuple[dict[str, str], set[str]]:
    """The text of every Python file as the run would leave it, and the files it changes."""
    after = dict(sources)
    changed = set()
    for outcome in outcomes:
        if isinstance(outcome, Changed) and outcome.path.endswith(".py"):
            after[outcome.path] = outcome.new.decode("utf-8", errors="replace")
            changed.add(outcome.path)
    return after, changed


def _cached_closure(after: dict[str, str], changed: set[str], plan: MigrationPlan, compute) -> list[ClosureFinding]:
    """The closure check's findings depend on the texts after the run and which files changed:
    a tree seen whole before takes them from the cache."""
    try:
        key = tree_key("closure", after.items(), generated_modules(plan), changed)
        findings = cache.get("closure", key)
        if cache.is_miss(findings):
            findings = compute()
            cache.put("closure", key, findings)
        return findings
    except Exception as exc:  # noqa: BLE001 - never a traceback: a finding that stops the write
        return [ClosureFinding("", 0, "pgunify", redact_text(f"the closure check could not run: {type(exc).__name__}: "
                                                           f"{exc}; nothing is written (please report this)"))]


def _closure(root: Path, after: dict[str, str], changed: set[str], plan: MigrationPlan,
             legacy) -> list[ClosureFinding]:
    """`legacy`: the model of the tree before the run, whose syntax trees the unchanged modules reuse."""
    return check(root, after.items(), generated_modules(plan), changed, legacy)


def tree_key(kind: str, texts, *names: set[str]) -> str:
    """A cache key for a result of the whole tree: every file's path and text, and sets of names."""
    parts = [part for rel, text in sorted(texts) for part in (rel, str(len(text)), text)]
    parts += [",".join(sorted(group)) for group in names]
    return cache.key(kind, str(len(parts)), *parts)


def generated_modules(plan: MigrationPlan) -> set[str]:
    return {name for name in (plan.engine_module, plan.raw_sql_module) if name}
