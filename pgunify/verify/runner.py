"""A verify run: legacy tree and migrated tree, each in its own process and database,
called with the same inputs, compared call by call and state by state.

Data flows one way: trees and scan -> plan -> seeded template database -> two clones ->
cases -> outcomes -> report. Every database created here is dropped on the way out,
also on an error, Ctrl-C, or a crash of the code under test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import random
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy.engine import make_url

from pgunify.postgres import Server, provision, scratch_database
from pgunify.verify.codec import render
from pgunify.verify.compare import Clock, differences
from pgunify.verify.inputs import Hints, call_strategy, is_creator
from pgunify.verify.mutants import is_application_statement, source_json_keys, source_literals, statement_table
from pgunify.verify.mutation import Replay
from pgunify.verify.process import SideDied, SideFailed, SideProcess, both
from pgunify.verify.scenarios import Scenario
from pgunify.verify.settings import Accepted, VerifySettings
from pgunify.verify.trees import LegacyTree
from pgunify.verify.wiring import Plan


MORE_CALLS = 20  # with --mutants: further generated calls of a method in which a mutant survived
AIM_CALLS = 8  # with --mutants: calls aimed at each statement text (per method and pattern of arguments)
PATTERNS = 2  # with --mutants: patterns of present and absent arguments aimed at, per statement text and method


class UsageError(ValueError):
    """The run cannot start: bad input from the user (exit code 2)."""


@dataclass
class Case:
    """One call (or scenario) with what each side did."""

    target: str  # Class.method, or scenario:NAME
    call: str  # the call as Python-like text (for a scenario: its steps)
    old: str
    new: str
    diff: list[str]
    kinds: tuple[str, ...]  # result | error | state
    args: Any = None  # the wire form of the call, for --emit-tests
    old_tree: Any = None
    old_state: str | None = None


@dataclass
class Difference:
    case: Case
    source: str  # "generated" | "scenario"
    runs: int = 0  # calls made for this target before (and while) shrinking
    accepted: Accepted | None = None


@dataclass
class Timings:
    scan: float = 0.0
    provision: float = 0.0
    template: float = 0.0
    processes: float = 0.0
    cases: float = 0.0
    mutants: float = 0.0
    cleanup: float = 0.0
    total: float = 0.0


@dataclass
class VerifyResult:
    root: str
    legacy: str
    targets: int = 0
    methods: int = 0
    scenarios: int = 0
    cases: int = 0
    differences: list[Difference] = field(default_factory=list)
    accepted: list[Difference] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (target, reason)
    notes: list[str] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    # for --emit-tests: (Class.method, call, legacy outcome, tables it changed), and what the tests need to start
    passing: list[tuple[str, Any, Any, dict]] = field(default_factory=list)
    seed_state: dict | None = None
    plan: dict | None = None
    window: tuple[str, str] | None = None
    raised: dict[str, list[int]] = field(default_factory=dict)  # target -> [calls, calls that raised on both sides]
    # why the migrated code cannot run at all (it does not import, its pool cannot be built, ...): exit 1
    cannot_run: list[str] = field(default_factory=list)
    # errors each side raised, rendered without the message's data: side -> {error: calls}
    errors: dict[str, dict[str, int]] = field(default_factory=lambda: {"old": {}, "new": {}})
    # generated calls per method and how many distinct legacy outcomes (result and state) they produced
    evidence: dict[str, list[int]] = field(default_factory=dict)
    mutation: Any = None  # a MutationResult with --mutants

    @property
    def failed(self) -> bool:
        return bool(self.differences or self.cannot_run)

    @property
    def no_evidence(self) -> str:
        """Why this run shows nothing of how the migrated code behaves ("" when it shows
        something): no call was made, or every call raised on both sides. Such a run proves
        nothing, so it is not a pass (exit 1)."""
        if self.cannot_run:
            return ""
        if not self.cases:
            return ("no case ran: no repository method or function of the application was called (see `Not called` "
                    "and docs/verify.md for scenario files)")
        calls = sum(calls for calls, _ in self.raised.values())
        raised = sum(raised for _, raised in self.raised.values())
        if calls and calls == raised:
            return (f"every one of the {calls} calls raised on both sides: the run compared errors only, never what "
                    "the code returns or writes (a scenario file, or seed rows the calls can reach, gives evidence)")
        return ""

    def always_raised(self) -> list[str]:
        """Targets none of whose calls got past an error: worth a scenario file."""
        return sorted(t for t, (calls, raised) in self.raised.items() if calls and calls == raised)

    @property
    def cases_per_second(self) -> float:
        return self.cases / self.timings.cases if self.timings.cases else 0.0


class _Different(Exception):
    pass


def _interrupts_as_keyboard() -> Callable[[], None]:
    """SIGTERM ends the run like Ctrl-C does, through every `finally` (databases get dropped)."""
    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _server(dsn: str | None) -> Iterator[Server]:
    with provision(dsn) as server:
        yield server


def _refuse_non_empty(dsn: str, scratch: bool) -> None:
    import asyncio

    import asyncpg

    from pgunify.dsn import redact

    async def probe() -> int:
        conn = await asyncpg.connect(make_url(dsn).set(drivername="postgresql").render_as_string(hide_password=False),
                                     timeout=10)
        try:
            return await conn.fetchval(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
                " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_%'")
        finally:
            await conn.close()

    try:
        objects = asyncio.run(probe())
    except Exception as exc:
        raise UsageError(f"cannot connect to --dsn {redact(dsn)}: {type(exc).__name__}: {exc}") from exc
    if objects and not scratch:
        raise UsageError(
            f"--dsn {redact(dsn)} names a database that is not empty ({objects} tables, views or sequences). "
            "pgunify verify only creates and drops databases of its own on that server and never writes to this one, "
            "but it refuses a database that may hold real data unless you say it is scratch: pass --dsn-is-scratch.")


class Run:
    def __init__(self, root: Path, legacy: LegacyTree, plan: Plan, settings: VerifySettings, *,
                 examples: int, seed: int, scenarios: list[Scenario], work: Path,
                 progress: Callable[[str], None] = lambda s: None, select: tuple[str, ...] = (),
                 mutants: bool = False) -> None:
        self.root = root
        self.legacy = legacy
        self.plan = plan
        self.settings = settings
        self.examples = examples
        self.seed = seed
        self.scenarios = scenarios
        self.work = work
        self.progress = progress
        self.select = select
        self.result = VerifyResult(root=str(root), legacy=legacy.source, notes=list(plan.notes))
        self.clock = Clock(dt.datetime.now(dt.timezone.utc), settings.clock_tolerance)
        # "now" of the generated values: one moment before any seed row, so every row the seed
        # creates lies after it in every run (a later, rounded moment would fall among them)
        self.now = self.clock.start.replace(microsecond=0)
        self.plan_file = work / "plan.json"
        self.plan_file.write_text(json.dumps(plan.to_data()), encoding="utf-8")
        self.sides: dict[str, SideProcess] = {}
        self.created: list[str] = []
        self.trees = {"old": legacy.path, "new": root}
        self.mutants = mutants
        self.replays: list = []  # with --mutants: the calls that showed no difference, with the statements they sent
        self.outcomes: dict[str, set[str]] = {}  # target -> distinct legacy outcomes
        self.row_counts: dict[str, int] = {}  # target -> most rows one legacy result held
        self.facts: dict = {}
        self.domains: dict[str, list] = {}
        self.method_specs: dict[str, dict] = {}
        self.hints: Hints | None = None
        self._sent: dict[str, list[Replay]] = {}  # with --mutants: statement -> the calls that sent it
        self._aimed: set = set()  # (target, presence pattern) already aimed at
        self._aimed_again: dict[str, list[Replay]] = {}
        self._pools: dict[str, list] = {}
        self._differing: set[str] = set()

    # ---------------------------------------------------------------- lifecycle

    def execute(self, server: Server, stack: contextlib.ExitStack) -> VerifyResult:
        started = time.perf_counter()
        self.server, self.stack = server, stack
        t0 = time.perf_counter()
        template_url = stack.enter_context(scratch_database(server, prefix="unify_verify_template"))
        self.template = make_url(template_url).database
        description, hints = self._build_template(template_url)
        self.result.timings.template = time.perf_counter() - t0
        t0 = time.perf_counter()
        self._start("old")
        self._start("new")
        self.seed_state = self.sides["old"].request({"op": "prepare"})["state"]
        new_description = self._migrated_side_starts(description)
        self.result.timings.processes = time.perf_counter() - t0
        t0 = time.perf_counter()
        if new_description is not None:
            if self.examples > 0:
                self._generated(description, new_description, hints)
            for scenario in self.scenarios:
                self._scenario(scenario)
            self._migrated_side_ran()
        self.result.timings.cases = time.perf_counter() - t0
        self.result.evidence = {t: [self.result.raised.get(t, [0])[0], len(o)] for t, o in sorted(self.outcomes.items())}
        if self.mutants and new_description is not None and not self.result.cannot_run:
            t0 = time.perf_counter()
            self._mutation_round()
            self.result.timings.mutants = time.perf_counter() - t0
        self.result.seed_state, self.result.plan = self.seed_state, self.plan.to_data()
        self.result.window = (self.clock.start.isoformat(), dt.datetime.now(dt.timezone.utc).isoformat())
        self.close()
        t0 = time.perf_counter()
        if self.server.major_version is None or self.server.major_version >= 13:
            self.drop_databases()
        self.result.timings.cleanup = time.perf_counter() - t0
        self.result.timings.total = time.perf_counter() - started
        return self.result

    def _migrated_side_starts(self, description: dict) -> dict | None:
        """The migrated side's description, or None when it cannot start where the legacy
        side did: a process that dies, a class that does not import, a pool that cannot be
        built. Comparing calls then would compare one error with whatever the legacy did."""
        new = self.sides["new"]
        try:
            new.request({"op": "prepare"})
            new_description = new.request({"op": "describe"})
            legacy_errors = self.sides["old"].request({"op": "start"})["errors"]
            errors = new.request({"op": "start"})["errors"]
        except (SideDied, SideFailed) as exc:
            self.result.cannot_run.append(f"the migrated code could not start: {exc}")
            return None
        legacy_imports = {t["class"] for t in description["targets"] if "error" not in t}
        not_imported = {t["class"] for t in new_description["targets"] if "error" in t} & legacy_imports
        for target in new_description["targets"]:
            if target["class"] in not_imported:
                self.result.cannot_run.append(f"{target['class']} does not import in the migrated code: {target['error']}")
        for cls, error in sorted(errors.items()):
            if cls in legacy_imports and cls not in legacy_errors and cls not in not_imported:
                self.result.cannot_run.append(f"{cls} cannot be built in the migrated code (the legacy one can): {error}")
        return None if self.result.cannot_run else new_description

    def _migrated_side_ran(self) -> None:
        """Every call raised on the migrated side, with one error the legacy side never
        raised: the migrated code did not run, whatever the comparison of errors says."""
        calls = sum(calls for calls, _ in self.result.raised.values())
        new_errors = self.result.errors["new"]
        if calls and len(new_errors) == 1:
            [(error, count)] = new_errors.items()
            if count == calls and error not in self.result.errors["old"]:
                legacy_raised = sum(self.result.errors["old"].values())
                also = (" (the legacy side raised on every call too, with other errors: if neither side gets a pool, "
                        "configure [tool.pgunify.verify] build)") if legacy_raised >= calls else ""
                self.result.cannot_run.append(
                    f"every one of the {calls} calls on the migrated side {error}, an error the legacy side "
                    f"never raised: the migrated code does not run{also}")

    def _clone(self, side: str) -> str:
        url = self.stack.enter_context(scratch_database(self.server, prefix=f"unify_verify_{side}", template=self.template))
        self.created.append(make_url(url).database)
        return url

    def drop_databases(self) -> None:
        """Drop the clones and the template together: each DROP DATABASE waits for a
        checkpoint, and concurrent ones share it. (The context managers that created them
        drop them again, which is then a no-op; they remain the guarantee.)"""
        import asyncio

        import asyncpg

        names = [*self.created, self.template]

        async def drop(name: str) -> None:
            conn = await asyncpg.connect(make_url(self.server.dsn).set(drivername="postgresql")
                                         .render_as_string(hide_password=False), timeout=30)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        async def drop_all() -> None:
            await asyncio.gather(*(drop(n) for n in names), return_exceptions=True)

        try:
            asyncio.run(drop_all())
        except Exception:
            pass  # the context managers try again and report

    def _start(self, side: str) -> None:
        url = self._clone(side)
        process = SideProcess(side, self.plan_file, self.trees[side], url, self.work / f"{side}.log")
        self.stack.callback(process.kill)
        self.sides[side] = process

    def _restart(self, side: str) -> None:
        """After the code under test killed its process: a fresh process on a fresh clone."""
        self.sides[side].kill()
        self._start(side)
        self.sides[side].request({"op": "prepare"})

    def close(self) -> None:
        for process in self.sides.values():
            process.close()

    # ---------------------------------------------------------------- template

    def _build_template(self, url: str) -> tuple[dict, Hints]:
        """Schema and seed rows, made by the legacy code in a process that then exits
        (a template database must have no connections when it is cloned)."""
        builder = SideProcess("old", self.plan_file, self.legacy.path, url, self.work / "template.log")
        try:
            try:
                builder.request({"op": "schema"})
            except SideFailed as exc:
                raise UsageError(f"cannot create the schema in the template database: {exc}; configure "
                                 "[tool.pgunify.verify] schema") from exc
            description = builder.request({"op": "describe"})
            facts = builder.request({"op": "prepare"})
            hints = Hints.from_state(facts["state"], facts["checks"], facts.get("columns"), stamps=self.mutants,
                                     now=self.now)
            creators = [(t["class"], name, m) for t in description["targets"] for name, m in t.get("methods", {}).items()
                        if is_creator(name) and not self.settings.excluded(f"{t['class']}.{name}")]
            for round_number in range(2):  # a second round can refer to rows the first one made
                for cls, name, method in creators:
                    strategy = call_strategy(method, dataclasses.replace(hints, owner=cls))
                    for call in self._draw(strategy, self.settings.seed_rows, round_number):
                        builder.request({"op": "call", "target": cls, "method": name, **call})
                facts = builder.request({"op": "prepare"})
                hints = Hints.from_state(facts["state"], facts["checks"], facts.get("columns"), stamps=self.mutants,
                                     now=self.now)
            if self.mutants:  # rows that reach the branches the SQL names; a plain run keeps its seed as it was
                self.domains = _domains(facts, source_literals(self.legacy.path))
                builder.request({"op": "enrich", "domains": self.domains, "keys": source_json_keys(self.legacy.path)})
                facts = builder.request({"op": "prepare"})
                hints = Hints.from_state(facts["state"], facts["checks"], facts.get("columns"), stamps=True,
                                         now=self.now)
            builder.request({"op": "close"})
            self.facts = facts
        except SideDied as exc:
            raise UsageError(f"the legacy code could not seed the template database: {exc}") from exc
        finally:
            builder.close()
        return description, hints

    def _draw(self, strategy, count: int, salt: int) -> list:
        from hypothesis import HealthCheck, Phase, given, seed, settings

        drawn: list = []
        if count <= 0:
            return drawn

        @seed(self.seed * 1000 + salt)
        @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def collect(value):
            drawn.append(value)

        collect()
        return drawn[:count]

    # ---------------------------------------------------------------- generated calls

    def _generated(self, old_description: dict, new_description: dict, hints: Hints) -> None:
        self.hints = hints
        new_methods = {t["class"]: set(t.get("methods", {})) for t in new_description["targets"]}
        for target in old_description["targets"]:
            cls = target["class"]
            if "error" in target:
                self.result.skipped.append((cls, f"cannot import: {target['error']}"))
                continue
            self.result.targets += 1
            for name, method in sorted(target["methods"].items()):
                full = f"{cls}.{name}"
                if self.select and not any(s in full for s in self.select):
                    continue
                if self.settings.excluded(full):
                    self.result.skipped.append((full, "excluded in [tool.pgunify.verify]"))
                    continue
                if name not in new_methods.get(cls, set()):
                    case = Case(full, f"{full}(...)", "defined", "missing", [f"{full} is not an async method of the "
                                "migrated class"], ("result",))
                    self._record(Difference(case, "generated"))
                    continue
                self.result.methods += 1
                self.progress(full)
                self.method_specs[full] = method
                self._method(cls, name, method, hints)

    def _method(self, cls: str, name: str, method: dict, hints: Hints) -> None:
        from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

        full = f"{cls}.{name}"
        failures: list[Case] = []
        accepted: list[Difference] = []
        runs = 0

        @seed(self.seed)
        @settings(max_examples=self.examples, database=None, deadline=None, derandomize=False,
                  phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
                  report_multiple_bugs=False, verbosity=Verbosity.quiet, print_blob=False)
        @given(call_strategy(method, dataclasses.replace(hints, owner=cls)))
        def case(call):
            nonlocal runs
            runs += 1
            outcome = self._case(cls, name, call)
            if outcome.diff:
                rule = self._acceptance(full, outcome.kinds)
                if rule is not None:
                    if not accepted:
                        accepted.append(Difference(outcome, "generated", accepted=rule))
                    return
                failures.append(outcome)
                raise _Different()
            self._evidence(full, outcome)
            if self.mutants:
                self.replays.append(self._replay_of(full, outcome))
            if len(self.result.passing) < 5000:
                self.result.passing.append((full, call, outcome.old_tree, self._changed_tables(outcome.old_state)))

        try:
            case()
        except _Different:
            pass
        except Exception as exc:  # Flaky and friends: a difference that did not replay
            if not failures:
                self.result.skipped.append((full, f"generation failed: {type(exc).__name__}: {str(exc)[:200]}"))
        if failures:
            self._record(Difference(failures[-1], "generated", runs=runs))
        for item in accepted:
            item.runs = runs
            self.result.accepted.append(item)

    def _changed_tables(self, state_text: str | None) -> dict:
        """The tables (and sequences) a call changed, as the legacy side left them."""
        if not state_text or state_text is self.sides["old"].seed_text:
            return {}
        state = json.loads(state_text)
        tables = {t: rows for t, rows in state["tables"].items() if rows != self.seed_state["tables"].get(t)}
        changed: dict = {"tables": tables} if tables else {}
        if state.get("sequences") != self.seed_state.get("sequences"):
            changed["sequences"] = state.get("sequences")
        return changed

    def _acceptance(self, target: str, kinds: tuple[str, ...]) -> Accepted | None:
        rules = [self.settings.accepted(target, kind) for kind in kinds]
        return rules[0] if rules and all(rules) else None

    def _case(self, cls: str, name: str, call: dict) -> Case:
        request = {"op": "call", "target": cls, "method": name, "args": call["args"], "kwargs": call["kwargs"],
                   "state": True, "reset": True}
        self.result.cases += 1
        old, new = both(self.sides["old"], self.sides["new"], {**request, "trace": True} if self.mutants else request)
        self._last_request, self._last_sql = request, new.get("sql", [])
        text = _call_text(f"{cls}.{name}", call)
        return self._compare(f"{cls}.{name}", text, old, new, call)

    def _compare(self, target: str, text: str, old: dict, new: dict, call: Any) -> Case:
        died = [s for s, answer in (("old", old), ("new", new)) if "died" in answer]
        for side in died:
            self._restart(side)
        for side, answer in (("old", old), ("new", new)):
            if side not in died and died:
                self.sides[side].request({"op": "reset"})
        old_result = ["crash", str(old["died"])] if "died" in old else old.get("result", old.get("failed"))
        new_result = ["crash", str(new["died"])] if "died" in new else new.get("result", new.get("failed"))
        diff = differences(old_result, new_result, self.clock, "result")
        for side, result in (("old", old_result), ("new", new_result)):
            if isinstance(result, list) and result[:1] in (["raise"], ["crash"]):
                error = render(result, 300)
                self.result.errors[side][error] = self.result.errors[side].get(error, 0) + 1
        counts = self.result.raised.setdefault(target, [0, 0])
        counts[0] += 1
        counts[1] += isinstance(old_result, list) and old_result[:1] == ["raise"]
        kinds: list[str] = []
        if diff:
            is_error = any(isinstance(r, list) and r[:1] in (["raise"], ["crash"]) for r in (old_result, new_result))
            kinds.append("error" if is_error else "result")
        if not died and old.get("state") != new.get("state"):
            state_diff = differences(["state", json.loads(old["state"])], ["state", json.loads(new["state"])],
                                     self.clock, "state")
            if state_diff:
                diff += state_diff
                kinds.append("state")
        return Case(target, text, render(old_result), render(new_result), diff, tuple(kinds), call, old_result,
                    old.get("state"))

    # ---------------------------------------------------------------- scenarios

    def _scenario(self, scenario: Scenario) -> None:
        target = f"scenario:{scenario.name}"
        self.result.scenarios += 1
        for side in self.sides.values():
            side.request({"op": "reset"})
        done: list[str] = []
        requests: list[dict] = []
        statements: set[str] = set()
        differed = False
        for number, step in enumerate(scenario.steps, start=1):
            request = {"op": "call", "target": step.target, "method": step.method, "args": step.args,
                       "kwargs": step.kwargs, "save": step.save, "state": True, "reset": False}
            self.result.cases += 1
            old, new = both(self.sides["old"], self.sides["new"], {**request, "trace": True} if self.mutants else request)
            requests.append(request)
            statements.update(new.get("sql", []))
            text = _call_text(step.call, {"args": step.args, "kwargs": step.kwargs})
            done.append(f"{number}. {f'{step.save} = ' if step.save else ''}{text}")
            case = self._compare(target, "\n".join(done), old, new, None)
            if case.diff:
                rule = self._acceptance(target, case.kinds)
                if rule is not None:
                    self.result.accepted.append(Difference(case, "scenario", runs=number, accepted=rule))
                    continue
                case.diff.insert(0, f"at step {number} of {len(scenario.steps)} ({scenario.path})")
                self._record(Difference(case, "scenario", runs=number))
                differed = True
                break
        if self.mutants and not differed and requests:
            self.replays.append(Replay(target, "\n".join(done), requests, statements))
        for side in self.sides.values():
            side.request({"op": "reset"})

    def _record(self, difference: Difference) -> None:
        self.result.differences.append(difference)

    def _evidence(self, target: str, outcome: Case) -> None:
        """Distinct legacy outcomes per method, and the most rows one result held."""
        self.outcomes.setdefault(target, set()).add(json.dumps([outcome.old_tree, self._changed_tables(outcome.old_state)],
                                                                sort_keys=True, default=str))
        rows = _rows(outcome.old_tree)
        if rows is not None:
            self.row_counts[target] = max(rows, self.row_counts.get(target, 0))

    # ---------------------------------------------------------------- mutants

    def _replay_of(self, target: str, outcome: Case) -> Replay:
        return Replay(target, outcome.call, [self._last_request], set(self._last_sql), raised=_raised(outcome.old_tree),
                      size=len(json.dumps(outcome.old_tree, default=str)))

    def _aim(self, differing: set[str]) -> None:
        """AIM_CALLS further calls for each statement text the generated calls sent, of the
        method that sent it, with the same arguments present and absent (pgunify.verify.aim);
        compared on both sides like every call of the run, and kept as replays."""
        self._sent: dict[str, list[Replay]] = {}
        for replay in self.replays:
            if replay.target in self.method_specs and replay.target not in differing:
                for sql in replay.statements:
                    self._sent.setdefault(sql, []).append(replay)
        self._differing = differing
        for sql in sorted(self._sent):
            if is_application_statement(sql):
                self.replays += self._aim_at(sql, AIM_CALLS, "aim")

    def _aim_again(self, sql: str) -> list[Replay]:
        """With --mutants, for a statement a mutant of which survived: 2 x AIM_CALLS more
        calls aimed at it, drawn with another salt (once per statement)."""
        if sql not in self._aimed_again:
            self._aimed_again[sql] = self._aim_at(sql, 2 * AIM_CALLS, "again")
        return [r for r in self._aimed_again[sql] if sql in r.statements]

    def _aim_at(self, sql: str, count: int, salt: str) -> list[Replay]:
        """`count` calls aimed at one statement text for each method and presence pattern
        that sent it; those without a difference, as replays."""
        from pgunify.verify.aim import OFFSETS, PAGES, aimed_calls, pattern, table_of

        tables = self.seed_state.get("tables", {})
        stamp_columns = {t: [c["name"] for c in columns if c.get("type") in ("timestamptz", "timestamp")]
                         for t, columns in (self.hints.tables if self.hints else {}).items()}
        known = {c["name"] for columns in (self.hints.tables if self.hints else {}).values() for c in columns}
        replays: list[Replay] = []
        sent = self._sent.get(sql, [])
        patterns = []  # (target, presence pattern): at most PATTERNS of each method, in the order the run met them
        for replay in sent:
            call = {"args": replay.requests[0]["args"], "kwargs": replay.requests[0]["kwargs"]}
            key = (replay.target, pattern(call))
            if key not in patterns and sum(t == replay.target for t, _ in patterns) < PATTERNS:
                patterns.append(key)
        for target, shape in sorted(patterns, key=repr):
            if target in self._differing or (salt == "aim" and (target, shape) in self._aimed):
                continue
            self._aimed.add((target, shape))
            sources = [c for c in ({"args": r.requests[0]["args"], "kwargs": r.requests[0]["kwargs"]}
                                   for r in sent if r.target == target) if pattern(c) == shape]
            method = self.method_specs[target]
            cls, name = target.split(".", 1)
            if target not in self._pools:
                strategy = call_strategy(method, dataclasses.replace(self.hints, owner=cls))
                self._pools[target] = self._draw(strategy, 30, 4241)
            read = statement_table(sql)
            table = next((t for t in tables if read and t.split(".")[-1] == read), None) or table_of(cls, list(tables))
            positional = [p["name"] for p in method["params"] if p["required"] and not p["keyword"]]
            pages = [p["name"] for p in method["params"] if not p["required"] and p["name"] in PAGES + OFFSETS]
            rng = random.Random(f"{self.seed}:{salt}:{target}:{shape}")  # the same calls whatever else the run met
            bare = (table or "").split(".")[-1]
            rows = _with_parents(tables.get(table, []) if table else [], bare, tables, self.facts.get("references", []))
            for call in aimed_calls(sources, self._pools[target], rows, table, stamp_columns.get(bare, []), count, rng,
                                    positional, pages, known):
                outcome = self._case(cls, name, call)
                if outcome.diff:
                    if self._acceptance(target, outcome.kinds) is None:
                        self._record(Difference(outcome, "generated", runs=1))
                        self._differing.add(target)
                        break
                    continue
                self._evidence(target, outcome)
                replays.append(self._replay_of(target, outcome))
                self.result.evidence[target] = [self.result.evidence.get(target, [0])[0] + 1,
                                                len(self.outcomes.get(target, ()))]
        return replays

    def _more_calls(self, target: str) -> list:
        """MORE_CALLS further generated calls of a method a mutant survived in, drawn with
        another seed and compared on both sides like every call of the run (a difference
        among them is a difference of the run); those without one, as replays."""
        method = self.method_specs.get(target)
        if method is None or self.hints is None:
            return []
        cls, name = target.split(".", 1)
        strategy = call_strategy(method, dataclasses.replace(self.hints, owner=cls))
        replays = []
        for call in self._draw(strategy, MORE_CALLS, 7919):
            outcome = self._case(cls, name, call)
            if outcome.diff:
                rule = self._acceptance(target, outcome.kinds)
                if rule is None:
                    self._record(Difference(outcome, "generated", runs=1))
                    break
                continue
            self._evidence(target, outcome)
            replays.append(self._replay_of(target, outcome))
        self.result.evidence[target] = [self.result.evidence.get(target, [0])[0] + len(replays),
                                        len(self.outcomes.get(target, ()))]
        replays.sort(key=lambda r: r.raised)
        return replays

    def _mutation_round(self) -> None:
        from pgunify.verify.mutation import MutationRound

        differing = {d.case.target for d in self.result.differences}
        self._aim(differing)
        replays = [r for r in self.replays if r.target not in differing]
        domains = {k: list(v) for k, v in self.domains.items()}
        for table, rows in self.seed_state.get("tables", {}).items():
            for row in rows:
                for column, value in row.items():
                    bucket = domains.setdefault(column, [])
                    if isinstance(value, str) and value not in bucket and len(bucket) < 30:
                        bucket.append(value)
        rounds = MutationRound(self.sides, self.clock, self._restart, self.progress,
                               more_calls=lambda target: [] if target in differing else self._more_calls(target),
                               aimed=self._aim_again)
        self.result.mutation = rounds.run(replays, domains, self.facts.get("unique", {}), self.row_counts,
                                          self.facts.get("notnull", {}), self.facts.get("references", []))
        self.result.mutation.skipped = [(t, "the run found a difference in it: mutants would prove nothing more")
                                        for t in sorted(differing)]


def _domains(facts: dict, literals: dict[str, list]) -> dict[str, list]:
    """Column name -> the values of its domain: its CHECK literals (in the constraint's
    order), its enum labels, and the literals the legacy SQL compares it with."""
    domains: dict[str, list] = {}

    def add(column: str, values: list) -> None:
        bucket = domains.setdefault(column, [])
        bucket.extend(v for v in values if v not in bucket)

    for column, values in facts.get("checks", {}).items():
        add(column, values)
    for columns in facts.get("columns", {}).values():
        for column in columns:
            if column["labels"]:
                add(column["name"], column["labels"])
    for column, values in literals.items():
        add(column, values)
    return domains


def _with_parents(rows: list[dict], table: str, tables: dict[str, list[dict]], references: list) -> list[dict]:
    """The rows of `table`, each with the columns of the rows its foreign keys reference
    (a telemetry point with its trip's `vehicle_id`) and, under the referenced column's name,
    the foreign key's own value (`receiver_id` as `user_id`), where the row has no column of
    that name: what an argument named after them should take."""
    out = []
    for row in rows:
        more: dict = {}
        for child, columns, parent, parent_columns in references:
            if child != table:
                continue
            values = [row.get(c) for c in columns]
            more.update({p: v for p, v in zip(parent_columns, values)})
            match = next((r for r in tables.get(parent, []) if [r.get(p) for p in parent_columns] == values), None)
            if match is not None:
                more.update({k: v for k, v in match.items() if k not in more})
        out.append({**{k: v for k, v in more.items() if k not in row}, **row})
    return out


def _raised(tree: Any) -> bool:
    return isinstance(tree, list) and tree[:1] in (["raise"], ["crash"])


def _rows(tree: Any) -> int | None:
    if isinstance(tree, list) and tree[:1] == ["list"] and len(tree) > 1 and isinstance(tree[1], list):
        return len(tree[1])
    return None


def _call_text(target: str, call: dict) -> str:
    parts = [render(a, 200) for a in call.get("args", [])]
    parts += [f"{k}={render(v, 200)}" for k, v in call.get("kwargs", {}).items()]
    return f"{target}({', '.join(parts)})"


def verify(root: Path, legacy_tree: Callable[[Path], LegacyTree], settings: VerifySettings, *,
           examples: int, seed: int, scenarios: list[Scenario], dsn: str | None = None, dsn_is_scratch: bool = False,
           progress: Callable[[str], None] = lambda s: None, select: tuple[str, ...] = (),
           import_root: str | None = None, mutants: bool = False) -> VerifyResult:
    """Run verify on `root` (the migrated tree) against the legacy tree made by `legacy_tree`."""
    from pgunify.config import Settings
    from pgunify.facts.inventory import scan
    from pgunify.verify.wiring import discover

    if dsn is not None:
        _refuse_non_empty(dsn, dsn_is_scratch)  # before any work: a refused run costs nothing
    restore = _interrupts_as_keyboard()
    try:
        with tempfile.TemporaryDirectory(prefix="pgunify-verify-") as tmp, contextlib.ExitStack() as stack:
            work = Path(tmp)
            t0 = time.perf_counter()
            legacy = legacy_tree(work)
            # with a baseline, only the files the migration changed hold what the plan needs
            # (pools, calls, URL variables); the rest is the same on both sides
            touched = [p for p in legacy.restored if p.endswith(".py")]
            exclude = ["*.py", *(f"!/{p}" for p in touched)] if touched else []
            inventory = scan(legacy.path, exclude=exclude, respect_gitignore=False, jobs=Settings().workers, closure=False)
            plan = discover(legacy.path, inventory, settings, import_root)
            scan_time = time.perf_counter() - t0
            run = Run(root, legacy, plan, settings, examples=examples, seed=seed, scenarios=scenarios, work=work,
                      progress=progress, select=select, mutants=mutants)
            if legacy.drifted:
                run.result.notes.append("edited since the migration (the edited version is compared): "
                                        + ", ".join(legacy.drifted))
            t0 = time.perf_counter()
            server = stack.enter_context(_server(dsn))
            provision_time = time.perf_counter() - t0
            stack.callback(run.close)
            result = run.execute(server, stack)
            result.timings.scan = scan_time
            result.timings.provision = provision_time
            ended = time.perf_counter()
        after = time.perf_counter() - ended  # what the context managers still had to do
        result.timings.cleanup += after
        result.timings.total += scan_time + provision_time + after
        return result
    finally:
        restore()
