"""Module constants holding strings: what a name like `GET_ALERT_SQL` is bound to."""

from __future__ import annotations

from typing import Callable

import libcst as cst
from libcst.metadata import ParentNodeProvider, ScopeProvider

StringLiteral = (cst.SimpleString, cst.ConcatenatedString)


def static_string(node: cst.BaseExpression | None) -> str | None:
    """The value of a string literal (implicit concatenation included); None for anything else."""
    if isinstance(node, StringLiteral):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def bound_literal(get_metadata: Callable, name: cst.Name):
    """(literal, assignment) when `name` is bound exactly once, to a string literal; else None."""
    scope = get_metadata(ScopeProvider, name, None)
    if scope is None:
        return None
    assignments = list(scope[name.value])
    if len(assignments) != 1:
        return None
    assignment = assignments[0]
    parent = get_metadata(ParentNodeProvider, assignment.node, None)
    if isinstance(parent, cst.AssignTarget):
        statement = get_metadata(ParentNodeProvider, parent, None)
        if isinstance(statement, cst.Assign) and len(statement.targets) == 1 and isinstance(statement.value, StringLiteral):
            return statement.value, assignment
    if isinstance(parent, cst.AnnAssign) and isinstance(parent.value, StringLiteral):
        return parent.value, assignment
    return None
