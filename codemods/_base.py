"""What every pgunify codemod is: metadata (name, summary, risk, docs) plus a libcst transformer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

import libcst as cst
from libcst.codemod import Codemod, CodemodContext
from libcst.metadata import PositionProvider

from pgunify.rewrite.import_order import import_style
from pgunify.rewrite.imports import apply_scheduled_imports
from pgunify.rewrite.outcome import Change, LeftAlone, Risk

if TYPE_CHECKING:
    from pgunify.rewrite.plan import MigrationPlan

DOCS_BASE = "docs/codemods"
T = TypeVar("T")


@dataclass(frozen=True)
class CodemodInfo:
    name: str
    summary: str
    risk: Risk  # the tier of its typical change; each change carries its own
    why: str  # one sentence for the report: why this change is made at all
    # the asyncpg calls it rewrites run on the engine the application's asyncpg pools become:
    # the plan moves those pools only when it runs, and it is not run when there are none
    moves_asyncpg_pools: bool = False
    # not run while a pool cannot move (plan.pool_blockers): the pools and their queries move
    # together or not at all, and several databases cannot share one URL variable
    needs_pools_moved: bool = False
    # run only when asked for by name (--select or --extend-select): its changes are a choice
    # the migrating team makes, not a step every migration needs
    opt_in: bool = False

    @property
    def docs(self) -> str:
        return f"{DOCS_BASE}/{self.name}.md"


class UnifyCodemod(Codemod, cst.CSTTransformer):
    """Base of every codemod: per-file state, change and left-alone records with line numbers.

    Line numbers are those of the file as it is on disk: a codemod that runs on a tree an
    earlier one rewrote is given `line_origin` (pgunify.rewrite.line_origin), and line_of()
    carries its positions back. tree_line() is the position in the tree being rewritten, for
    matching against facts read from that tree's own code.

    A libcst Codemod that visits the tree as a plain CSTTransformer. libcst's
    VisitorBasedCodemodCommand adds matcher decorators, which no pgunify codemod uses and
    which cost 13 to 16 ms per instance (it inspects every attribute of the class) and a
    check at every node visited; scheduled imports run as CodemodCommand would run them.
    """

    info: ClassVar[CodemodInfo]
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, context: CodemodContext, plan: "MigrationPlan") -> None:
        Codemod.__init__(self, context)
        cst.CSTTransformer.__init__(self)
        self.plan = plan
        self.changes: list[Change] = []
        self.left_alone: list[LeftAlone] = []
        # line of the tree being rewritten -> line of the file on disk; None: they are the same
        self.line_origin: Callable[[int], int] | None = None

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        return tree.visit(self)

    def transform_module(self, tree: cst.Module) -> cst.Module:
        # libcst's CodemodCommand would run AddImportsVisitor and RemoveImportsVisitor here;
        # the same visitors run, at a fraction of the cost (see pgunify.rewrite.imports)
        tree = super().transform_module(tree)
        own = (self.plan.engine_module, self.plan.raw_sql_module)
        return apply_scheduled_imports(tree, self.context, import_style(self.plan.root, self.plan.import_root, own),
                                       self.plan.imported_elsewhere.get(self.relative_path(), frozenset()))

    @property
    def DESCRIPTION(self) -> str:  # type: ignore[override]  # libcst's name for the summary
        return self.info.summary

    def relative_path(self) -> str:
        """This file's path relative to the migrated root, with forward slashes: the key the
        plan's per-file facts (receivers, notes, callbacks) use."""
        filename = Path(self.context.filename or "")
        try:
            return filename.resolve().relative_to(self.plan.root).as_posix()
        except ValueError:
            return filename.as_posix()

    def in_generated_file(self) -> bool:
        """Whether this file is one pgunify generated (the engine module, the raw-SQL helpers)."""
        filename = (self.context.filename or "").replace("\\", "/")
        return any(path and filename.endswith(path) for path in (self.plan.engine_path, self.plan.raw_sql_path))

    def line_of(self, node: cst.CSTNode) -> int:
        """The line where `node` starts, in the file as it is on disk (0: not known). Every line
        a codemod reports, in a record or in the words of a reason, is this one."""
        line = self.tree_line(node)
        return self.line_origin(line) if self.line_origin is not None and line else line

    def tree_line(self, node: cst.CSTNode) -> int:
        """The line where `node` starts in the tree this codemod rewrites (0: not known)."""
        try:
            return self.get_metadata(PositionProvider, node).start.line
        except KeyError:
            return 0

    def in_module_order(self, items: Iterable[T], node_of: Callable[[T], cst.CSTNode | None] | None = None) -> list[T]:
        """`items` sorted by where their node (`node_of(item)`, else the item) starts.

        libcst's scopes hold assignments and accesses in sets hashed by address, so their
        order changes from run to run; whatever a codemod checks one by one and names in a
        reason (the first offending use, every statement that stops a change) goes in the
        order of the module instead, and every run reports the same."""
        def where(item: T) -> tuple[int, int]:
            position = self.get_metadata(PositionProvider, node_of(item) if node_of else item, None)
            return (position.start.line, position.start.column) if position is not None else (0, 0)

        return sorted(items, key=where)

    def record(self, node: cst.CSTNode, description: str, risk: Risk | None = None) -> None:
        self.changes.append(Change(self.info.name, self.line_of(node), description, risk or self.info.risk))

    def leave_alone(self, node: cst.CSTNode | None, reason: str, suggestion: str | None = None,
                    manual: bool = False) -> None:
        """Record a site this codemod did not change; `manual` when the migration cannot be
        written until a person changes it (the run is then refused)."""
        line = self.line_of(node) if node is not None else 0
        self.left_alone.append(LeftAlone(self.info.name, line, reason, suggestion, manual))

    @classmethod
    def wants(cls, source: bytes, plan: "MigrationPlan") -> bool:
        """A cheap textual test: could this file hold anything for this codemod? Parsing and
        metadata cost far more than rewriting, so files that cannot are never parsed for it."""
        return True

    @classmethod
    def wants_file(cls, rel: str, source: bytes, plan: "MigrationPlan") -> bool:
        """wants() for a file known by its path relative to the root: a codemod whose work in a
        file depends on the plan's notes for that path can rule out more files."""
        return cls.wants(source, plan)

    @classmethod
    def generated_files(cls, plan: "MigrationPlan") -> dict[str, tuple[str, str]]:
        """Files this codemod creates in the target: relative path -> (text, what it is for)."""
        return {}
