"""The imports a codemod scheduled, added and removed after its rewrite of a file.

libcst's AddImportsVisitor and RemoveImportsVisitor make every edit, as libcst's own
CodemodCommand would. What differs is the cost: libcst finds the unused imports by a
scope analysis of the whole rewritten module (a copy of the tree, scopes, qualified
names, three visits), which was two thirds of the time of rewriting a file. Here the
question "is this name still read anywhere?" is answered from the rewritten source with
Python's own parser, and RemoveImportsVisitor then runs on a module made of the affected
import lines alone, where its analysis costs nothing. The answer is conservative: a name
that is read anywhere, shadowed or not, or that appears in a string that could be an
annotation, counts as used; an import libcst would keep is never removed.

One rule libcst has no way to express: an import the codemod scheduled for removal whose
name an added import now binds (`from asyncpg import Record` when the rewrite imports
the raw-SQL helpers' `Record`) goes even though the name is still read, because every
read now means the new binding.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from contextlib import contextmanager
from typing import Iterator, Optional, Union

import libcst as cst
from libcst.codemod import Codemod, CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.helpers import get_absolute_module_from_package, get_absolute_module_from_package_for_import
from libcst.metadata import MetadataWrapper

from pgunify.rewrite import matcher_scan
from pgunify.rewrite.import_order import ImportStyle, place_added

matcher_scan.install()

Scheduled = tuple[str, Optional[str], Optional[str]]  # (module, object, alias), as libcst schedules them
_ANNOTATION_LIKE = re.compile(r"[\w.\[\], |'\"]+")
_REMOVED: dict[tuple, tuple[cst.BaseStatement, ...]] = {}  # import lines and removals -> what is left of them


def apply_scheduled_imports(tree: cst.Module, context: CodemodContext,
                            style: ImportStyle | None = None, keep: frozenset[str] = frozenset()) -> cst.Module:
    """Run the import additions and removals in `context.scratch`, in libcst's order; with a
    `style`, added imports go to their sorted place and group (pgunify.rewrite.import_order).
    Names in `keep` stay imported even when this module no longer reads them: other modules
    import them from it (`from app.db import Pool`)."""
    added = context.scratch.get(AddImportsVisitor.CONTEXT_KEY) or []
    removed = context.scratch.get(RemoveImportsVisitor.CONTEXT_KEY) or []
    if added:
        before = tree
        tree = _add_needed(tree, context)
        if style is not None:
            tree = place_added(before, tree, style)
    if removed:
        tree = _remove_unused(tree, context, list(removed), _bound_names(added), keep)
    return tree


def run_on_tree(codemod: Codemod, tree: cst.Module, wrapper: MetadataWrapper | None = None) -> cst.Module:
    """codemod.transform_module(tree) on a wrapper that does not copy the tree first.

    libcst copies a tree so that no node appears twice when metadata is resolved; a tree
    straight from the parser has no shared nodes, and a codemod that resolves no metadata
    (AddImportsVisitor) cannot be misled by them, so both go without the copy. A caller
    that already resolved metadata on `wrapper` shares it with the codemod.
    """
    wrapper = wrapper or MetadataWrapper(tree, unsafe_skip_copy=True)

    @contextmanager
    def on_wrapper(module: cst.Module) -> Iterator[cst.Module]:
        assert module is wrapper.module
        previous = codemod.context.wrapper
        with codemod.resolve(wrapper):
            codemod.context = dataclasses.replace(codemod.context, wrapper=wrapper)
            try:
                yield wrapper.module
            finally:
                codemod.context = dataclasses.replace(codemod.context, wrapper=previous)

    codemod._handle_metadata_reference = on_wrapper  # type: ignore[method-assign]
    return codemod.transform_module(wrapper.module)


def _add_needed(tree: cst.Module, context: CodemodContext) -> cst.Module:
    """AddImportsVisitor on the head of the module only.

    It reads and edits nothing but the first block of import lines (after a docstring)
    and the blank line before the statement that follows, so it runs on a module made of
    that block and a stand-in for the next statement; the rest is never visited.
    """
    body = tree.body
    end = 1
    while end < len(body) and _imports_only(body[end]):
        end += 1
    if end >= len(body):
        return run_on_tree(AddImportsVisitor(context), tree)
    following = body[end]
    stand_in = cst.SimpleStatementLine(body=[cst.Pass()], leading_lines=following.leading_lines)
    head = run_on_tree(AddImportsVisitor(context), tree.with_changes(body=[*body[:end], stand_in]))
    *imports, last = head.body
    if not (isinstance(last, cst.SimpleStatementLine) and len(last.body) == 1 and isinstance(last.body[0], cst.Pass)):
        return run_on_tree(AddImportsVisitor(context), tree)  # not the shape expected: the whole module
    return tree.with_changes(body=[*imports, following.with_changes(leading_lines=last.leading_lines), *body[end + 1:]])


def _imports_only(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body)


def _remove_unused(tree: cst.Module, context: CodemodContext, scheduled: list[Scheduled],
                   rebound: set[str], keep: frozenset[str] = frozenset()) -> cst.Module:
    source = tree.code
    try:
        parsed = ast.parse(source)
    except SyntaxError:
        parsed = None  # the caller reports output that does not parse; libcst decides here
    if parsed is None or _nested_import_scheduled(parsed, context, scheduled):
        # an import inside a function or a block: leave it all to libcst's own analysis
        return RemoveImportsVisitor(context).transform_module(tree)
    used = _names_read(parsed)
    wanted = set(scheduled)
    affected: dict[int, list[Scheduled]] = {}
    for index, statement in enumerate(tree.body):
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        unused = [
            entry
            for small in statement.body if isinstance(small, (cst.Import, cst.ImportFrom))
            for entry, bound in _entries(small, context.full_package_name)
            if entry in wanted and (bound not in used or bound in rebound) and bound not in keep
        ]
        if unused:
            affected[index] = unused
    if not affected:
        return tree
    edited = _remove_from(tree, context, affected)
    body = [edited.get(index, statement) for index, statement in enumerate(tree.body)]
    # a removed import line takes no blank line with it: the group separation it opened
    # (`import asyncpg` after the standard library) stays before the line that follows
    for index, statement in enumerate(body):
        blank = [line for line in tree.body[index].leading_lines if line.comment is None]
        if statement is None and blank and index + 1 < len(body):
            following = body[index + 1]
            if following is not None and not following.leading_lines:
                body[index + 1] = following.with_changes(leading_lines=blank)
    return tree.with_changes(body=[statement for statement in body if statement is not None])


def _remove_from(tree: cst.Module, context: CodemodContext,
                 affected: dict[int, list[Scheduled]]) -> dict[int, cst.BaseStatement | None]:
    """RemoveImportsVisitor on a module of the affected import lines alone (nothing in it
    reads them, so exactly the scheduled aliases go); a line it removes maps to None."""
    local = dataclasses.replace(context, scratch={}, wrapper=None)
    lines = [tree.body[index] for index in affected]
    everything = [entry for entries in affected.values() for entry in entries]
    # the same import lines recur across a codebase's repositories (`import asyncpg`), and
    # each run of the visitor costs far more than the lines themselves: the result is kept
    key = (tuple(tree.code_for_node(line) for line in lines), tuple(everything), context.full_package_name)
    kept = _REMOVED.get(key)
    if kept is None:
        kept = tuple(RemoveImportsVisitor(local, everything).transform_module(tree.with_changes(body=lines)).body)
        if len(_REMOVED) >= 256:
            _REMOVED.clear()
        _REMOVED[key] = kept
    gone = {index for index, entries in affected.items() if _all_aliases_in(tree.body[index], entries, context)}
    survivors = [index for index in affected if index not in gone]
    if len(kept) == len(survivors):
        edited: dict[int, cst.BaseStatement | None] = dict.fromkeys(gone)
        edited.update(zip(survivors, kept))
        return edited
    edited = {}  # not the expected shape: one line at a time, where nothing is ambiguous
    for index, entries in affected.items():
        alone = RemoveImportsVisitor(dataclasses.replace(local, scratch={}), entries).transform_module(
            tree.with_changes(body=[tree.body[index]]))
        edited[index] = alone.body[0] if alone.body else None
    return edited


def _all_aliases_in(statement: cst.BaseStatement, entries: list[Scheduled], context: CodemodContext) -> bool:
    """Whether removing `entries` leaves nothing of this import line."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    for small in statement.body:
        if not isinstance(small, (cst.Import, cst.ImportFrom)) or isinstance(getattr(small, "names", None), cst.ImportStar):
            return False
        if isinstance(small, cst.ImportFrom) and small.module is not None and small.module.value == "__future__":
            return False
        if any(entry not in entries for entry, _ in _entries(small, context.full_package_name)):
            return False
    return True


def _entries(node: Union[cst.Import, cst.ImportFrom], package: str | None) -> Iterator[tuple[Scheduled, str]]:
    """Each alias of an import statement as libcst schedules it, with the name it binds."""
    if isinstance(node, cst.Import):
        for alias in node.names:
            bound = alias.evaluated_alias or alias.evaluated_name.split(".", 1)[0]
            yield (alias.evaluated_name, None, alias.evaluated_alias), bound
        return
    if isinstance(node.names, cst.ImportStar):
        return
    module = get_absolute_module_from_package_for_import(package, node)
    if module is None:
        return
    for alias in node.names:
        yield (module, alias.evaluated_name, alias.evaluated_alias), alias.evaluated_alias or alias.evaluated_name


def _bound_names(added: list) -> set[str]:
    names = set()
    for item in added:  # libcst's ImportItem (module_name, obj_name, alias)
        names.add(item.alias or item.obj_name or item.module_name.split(".", 1)[0])
    return names


def _nested_import_scheduled(parsed: ast.Module, context: CodemodContext, scheduled: list[Scheduled]) -> bool:
    top = {id(node) for node in parsed.body}
    modules = {module for module, _, _ in scheduled}
    for node in ast.walk(parsed):
        if id(node) in top:
            continue
        if isinstance(node, ast.Import) and any(alias.name in modules for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom):
            # resolved as _entries() resolves the top-level ones, by libcst's own rule
            module = get_absolute_module_from_package(context.full_package_name, node.module, node.level)
            if module in modules or node.module in modules:
                return True
    return False


def _names_read(parsed: ast.Module) -> set[str]:
    """Every name the module reads, writes or deletes outside import statements, plus the
    names in strings that parse as expressions (string annotations, `__all__` entries)."""
    names: set[str] = set()
    pending: list[ast.AST] = [parsed]
    while pending:
        for node in ast.walk(pending.pop()):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                names.update(node.names)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 500 \
                    and _ANNOTATION_LIKE.fullmatch(node.value.strip() or "-"):
                try:
                    pending.append(ast.parse(node.value.strip(), mode="eval"))
                except SyntaxError:
                    pass
    return names
