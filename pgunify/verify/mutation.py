"""`pgunify verify --mutants`: how much the run's calls prove, measured by SQL mutants.

After the ordinary run, every statement the migrated side sent during a call that showed
no difference gets its mutants (pgunify.verify.mutants). Each mutant is planted in the
migrated side alone, in place of its statement, and the calls and scenarios that sent
that statement are replayed on both sides, reusing the run's processes and databases. The
first difference kills the mutant; a mutant no call tells apart survives, and the report
says what kind of call or row would have told it apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from pgunify.verify.compare import Clock, differences
from pgunify.verify.mutants import Mutant, is_application_statement, statement_mutants
from pgunify.verify.process import SideDied, SideProcess


@dataclass
class Replay:
    """One call (or a scenario's steps) of the ordinary run that sent some statements."""

    target: str  # Class.method or scenario:NAME
    text: str  # the call as shown in the report
    requests: list[dict]  # one request per call or scenario step
    statements: set[str]
    raised: bool = False  # the legacy side raised: such a call tells little apart
    size: int = 0  # length of the legacy result as encoded: larger results show more (rows, order)


@dataclass
class PlantedMutant:
    mutant: Mutant
    statement: str
    methods: list[str]  # targets whose calls sent the statement
    killed_by: str | None = None  # the call that told it apart
    kill_diff: str | None = None  # the first place the outcomes differed
    calls: int = 0  # calls replayed for it
    reached: int = 0  # calls and scenarios of the run that sent its statement
    possibly_equivalent: str | None = None  # survived, and why it may never be told apart
    suggestion: str | None = None  # survived: what would tell it apart

    @property
    def equivalent(self) -> str | None:
        return self.mutant.equivalent

    @property
    def killed(self) -> bool:
        return self.killed_by is not None


@dataclass
class MutationResult:
    planted: list[PlantedMutant] = field(default_factory=list)
    statements: int = 0
    calls: int = 0
    seconds: float = 0.0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (target, why its statements got no mutants)

    @property
    def equivalent(self) -> list[PlantedMutant]:
        return [m for m in self.planted if m.equivalent]

    @property
    def killed(self) -> list[PlantedMutant]:
        return [m for m in self.planted if m.killed]

    @property
    def survivors(self) -> list[PlantedMutant]:
        return [m for m in self.planted if not m.equivalent and not m.killed]

    @staticmethod
    def _score(items: list[PlantedMutant]) -> float | None:
        counted = [m for m in items if not m.equivalent]
        return sum(m.killed for m in counted) / len(counted) if counted else None

    @property
    def score(self) -> float | None:
        """Killed among the mutants not recognised as equivalent."""
        return self._score(self.planted)

    def per_method(self) -> dict[str, dict]:
        rows: dict[str, list[PlantedMutant]] = {}
        for m in self.planted:
            for method in m.methods:
                rows.setdefault(method, []).append(m)
        return {method: {"planted": len(items), "equivalent": sum(bool(m.equivalent) for m in items),
                         "killed": sum(m.killed for m in items),
                         "survived": sum(not m.equivalent and not m.killed for m in items),
                         "score": self._score(items)}
                for method, items in sorted(rows.items())}


def _suggestion(m: Mutant, rows: int | None) -> tuple[str, str | None]:
    """What would tell the mutant apart, and whether it may be equivalent after all."""
    possibly = None
    if m.operator in ("sort-flip", "sort-drop") and rows is not None and rows <= 1:
        possibly = "every call that sent the statement returned at most one row, so no order could show"
    hints = {
        "sort-flip": f"two or more rows in one result that differ in {m.before.split()[0]} (a seed row, or a "
                     "scenario that creates them)",
        "sort-drop": "rows that tie on the keys before the dropped one and differ in it",
        "compare": f"a row on the boundary of `{m.before}`: a value equal to the one compared with (a seed row "
                   "with that value, or a call passing a value a row holds)",
        "literal": f"rows for `{m.before}` and for `{m.after}` in different numbers where the calls look (seed rows "
                   "with both values inside the window the calls read)",
        "drop-conjunct": f"a row that fails `{m.before.removeprefix('AND ')}` and meets the other conditions",
        "drop-where": f"a row that fails `{m.before}`",
        "and-or": "a row that meets one of the conditions but not the other",
        "drop-not": f"rows on both sides of `{m.before}`",
        "null-test": "rows with NULL and rows with a value in that column",
        "limit": "more rows than the LIMIT where the query looks (or rows past the OFFSET)",
        "join": "a row without a match in the joined table",
        "distinct": "duplicate values among the rows the query reads",
        "aggregate": "several rows with different values (and a NULL) in the aggregated column",
    }
    return hints.get(m.operator, "more examples (--examples) or a scenario that reaches the statement"), possibly


class MutationRound:
    def __init__(self, sides: dict[str, SideProcess], clock: Clock, restart: Callable[[str], None],
                 progress: Callable[[str], None], more_calls: Callable[[str], list[Replay]] | None = None,
                 aimed: Callable[[str], list[Replay]] | None = None) -> None:
        self.more_calls = more_calls  # target -> further generated calls, compared like any other, as replays
        self.aimed = aimed  # statement -> further calls aimed at it, compared like any other, as replays
        self.extra: dict[str, list[Replay]] = {}
        self.sides = sides
        self.clock = clock
        self.restart = restart
        self.progress = progress
        self.result = MutationResult()

    def run(self, replays: list[Replay], domains: dict[str, list], unique: dict[str, list[str]],
            row_counts: dict[str, int], notnull: dict[str, list[str]] | None = None,
            references: list | None = None) -> MutationResult:
        by_statement: dict[str, list[Replay]] = {}
        seen: set[str] = set()
        for replay in replays:
            same = json.dumps([replay.target, replay.requests], sort_keys=True, default=str)
            if same in seen:
                continue  # the very same call again: it would tell apart what the first one did
            seen.add(same)
            for sql in replay.statements:
                by_statement.setdefault(sql, []).append(replay)
        statements = sorted(s for s in by_statement if is_application_statement(s))
        self.result.statements = len(statements)
        for sql in statements:
            # calls that got past an error on the legacy side first: they tell more apart
            # and, among them, larger results first (more rows: an order, a limit, a filter can show)
            reaching = sorted(by_statement[sql], key=lambda r: (r.raised, r.target.startswith("scenario:"), -r.size))
            methods = sorted({r.target for r in reaching})
            most_rows = max((row_counts.get(r.target, 0) for r in reaching), default=0)
            for mutant in statement_mutants(sql, domains, unique, notnull, references or ()):
                planted = PlantedMutant(mutant, sql, methods, reached=len(reaching))
                self.result.planted.append(planted)
                if mutant.equivalent:
                    continue
                self.progress(f"mutant {len(self.result.planted)}: {methods[0]}: {mutant.change}")
                for replay in reaching:
                    diff = self._replay(replay, sql, mutant.sql)
                    planted.calls += len(replay.requests)
                    if diff:
                        planted.killed_by, planted.kill_diff = replay.text, diff
                        break
                if not planted.killed and self.more_calls is not None:
                    self._second_chance(planted, sql)
                if not planted.killed:
                    planted.suggestion, planted.possibly_equivalent = _suggestion(mutant, most_rows)
                    if planted.reached <= 2:
                        planted.suggestion = (f"only {planted.reached} call(s) sent this statement: more examples "
                                              f"(--examples) or a scenario that reaches it; then {planted.suggestion}")
        return self.result

    def _second_chance(self, planted: PlantedMutant, sql: str) -> None:
        """A survivor meets further calls aimed at its statement (drawn once per statement),
        then further generated calls of its methods (drawn once per method) that send its
        statement; all are compared on both sides like the run's own calls."""
        for replay in self.aimed(sql) if self.aimed is not None else []:
            planted.reached += 1
            diff = self._replay(replay, sql, planted.mutant.sql)
            planted.calls += 1
            if diff:
                planted.killed_by, planted.kill_diff = replay.text, diff
                return
        for method in planted.methods:
            if method.startswith("scenario:"):
                continue
            if method not in self.extra:
                self.extra[method] = self.more_calls(method)
            for replay in self.extra[method]:
                if sql not in replay.statements:
                    continue
                planted.reached += 1
                diff = self._replay(replay, sql, planted.mutant.sql)
                planted.calls += 1
                if diff:
                    planted.killed_by, planted.kill_diff = replay.text, diff
                    return

    def _replay(self, replay: Replay, sql: str, mutated: str) -> str | None:
        """The first difference the replayed call shows with the mutant planted, or None."""
        scenario = len(replay.requests) > 1 or not replay.requests[0].get("reset", True)
        if scenario:
            for side in self.sides.values():
                side.request({"op": "reset"})
        found = None
        for request in replay.requests:
            self.result.calls += 1
            old_request = dict(request)
            new_request = {**request, "mutate": [sql, mutated]}
            self.sides["old"].send(old_request)
            self.sides["new"].send(new_request)
            answers = []
            for side in (self.sides["old"], self.sides["new"]):
                try:
                    answers.append(side.receive())
                except SideDied as exc:
                    answers.append({"died": exc})
            old, new = answers
            died = [s for s, a in (("old", old), ("new", new)) if "died" in a]
            for side in died:
                self.restart(side)
            if "died" in new and "died" not in old:
                found = "the process died with the mutant planted"
                break
            if died:
                break
            diff = differences(old.get("result", old.get("failed")), new.get("result", new.get("failed")),
                               self.clock, "result")
            if not diff and old.get("state") != new.get("state"):
                diff = differences(["state", json.loads(old["state"])], ["state", json.loads(new["state"])],
                                   self.clock, "state")
            if diff:
                found = diff[0]
                break
        if scenario:  # a single call resets its side by itself ("reset" in the request)
            for side in self.sides.values():
                side.request({"op": "reset"})
        return found
