"""What happened to each file, as values. Only the CLI turns them into colours and exit codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Risk(str, Enum):
    """How much review a change needs (in the spirit of ruff's safe/unsafe fixes)."""

    SAFE = "safe"  # behaviour-preserving by construction; a glance is enough
    REVIEW = "review"  # behaviour-preserving as far as the tool can prove; read the diff
    MANUAL = "manual"  # the tool did not change it; a person has to


@dataclass(frozen=True)
class Change:
    codemod: str
    line: int
    description: str
    risk: Risk


@dataclass(frozen=True)
class LeftAlone:
    """A site the tool chose not to change, and why (codemodder's unfixedFindings)."""

    codemod: str
    line: int
    reason: str
    suggestion: str | None = None
    # a person has to change this site before the migration can be written: the run is
    # refused (exit 1) and --write writes nothing, because what was migrated around it
    # would not work without it
    manual: bool = False


@dataclass(frozen=True)
class FileOutcome:
    path: str  # relative to the target root, forward slashes

    @property
    def status(self) -> str:
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Changed(FileOutcome):
    old: bytes | None  # None for a file the tool creates
    new: bytes
    changes: tuple[Change, ...] = ()
    left_alone: tuple[LeftAlone, ...] = ()
    proven: int = 0  # SQL statements rewritten and proven to compile back to the original


@dataclass(frozen=True)
class Unchanged(FileOutcome):
    left_alone: tuple[LeftAlone, ...] = ()


@dataclass(frozen=True)
class Skipped(FileOutcome):
    reason: str


@dataclass(frozen=True)
class Failed(FileOutcome):
    error: str


@dataclass(frozen=True)
class Manual:
    """Something a person has to settle before the migration can be applied. One of these
    stops the run: nothing is written and the exit code is 1."""

    path: str  # relative to the target root ("" for the project as a whole)
    line: int
    codemod: str
    reason: str
    suggestion: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.path and self.line else self.path or "."


@dataclass
class RunResult:
    root: str
    outcomes: list[FileOutcome] = field(default_factory=list)
    codemods: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # run-level messages (dirty tree, not a git repository, ...)
    closure: list = field(default_factory=list)  # pgunify.rewrite.closure.ClosureFinding, over the rewritten tree
    manual: list[Manual] = field(default_factory=list)  # any of these: nothing is written, exit 1
    import_check: object = None  # pgunify.rewrite.import_check.ImportCheck, where it ran

    def of(self, kind: type) -> list:
        return [o for o in self.outcomes if isinstance(o, kind)]

    @property
    def blocking(self) -> list[str]:
        """Why the run must not be written: closure violations and files that failed. A
        migration that would leave part of the application on asyncpg's API over objects
        that became SQLAlchemy is written not at all."""
        reasons = [str(f) for f in self.closure if f.blocking]
        reasons += [f"{o.path}: the codemods failed on this file: {o.error.splitlines()[0]}" for o in self.of(Failed)]
        reasons += [f"{m.where}: {m.reason}" for m in self.manual]
        reasons += [f"{path}:{item.line}: {item.reason}" for path, item in self.manual_sites]
        return reasons

    @property
    def pending(self) -> bool:
        return bool(self.of(Changed))

    @property
    def manual_sites(self) -> list[tuple[str, LeftAlone]]:
        """(path, site) of every site that needs a person; any of them refuses the run."""
        return [(o.path, item) for o in self.outcomes if isinstance(o, (Changed, Unchanged))
                for item in o.left_alone if item.manual]
