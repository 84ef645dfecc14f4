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


@dataclass
class RunResult:
    root: str
    outcomes: list[FileOutcome] = field(default_factory=list)
    codemods: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # run-level messages (dirty tree, not a git repository, ...)

    def of(self, kind: type) -> list:
        return [o for o in self.outcomes if isinstance(o, kind)]

    @property
    def pending(self) -> bool:
        return bool(self.of(Changed))

    @property
    def manual(self) -> list[tuple[str, LeftAlone]]:
        """(path, site) of every site that needs a person; any of them refuses the run."""
        return [(o.path, item) for o in self.outcomes if isinstance(o, (Changed, Unchanged))
                for item in o.left_alone if item.manual]
