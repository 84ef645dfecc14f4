"""Walking and rebuilding libcst trees by their fields, without a visitor.

Shared by the facts passes (parents, class attributes) and the rewrites (wrapping,
statement-constants).

A libcst visitor calls its hooks on every node of a module, which costs far more than
the few nodes a pass looks at. Passes that know where their work is (the statements of a
block, a call inside one statement) read the nodes' fields directly and rebuild only the
ancestors of what they replace; every other node is shared with the tree they started from.
"""

from __future__ import annotations

import dataclasses
import functools

import libcst as cst


@functools.cache
def field_names(kind: type) -> tuple[str, ...]:
    """The names of a libcst node type's fields, in the order libcst visits them."""
    return tuple(f.name for f in dataclasses.fields(kind))


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The node's children, in field order (the order libcst visits them in)."""
    found: list[cst.CSTNode] = []
    for name in field_names(type(node)):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            found.append(value)
        elif isinstance(value, (tuple, list)):
            found.extend(v for v in value if isinstance(v, cst.CSTNode))
    return found


def walk(node: cst.CSTNode) -> list[cst.CSTNode]:
    """`node` and every node inside it (in no particular order)."""
    found, todo = [], [node]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children(current))
    return found


def rebuilt(node: cst.CSTNode, replace: dict[int, cst.CSTNode], on_path: set[int]) -> cst.CSTNode:
    """`node` with the nodes in `replace` (by id) replaced, rebuilding only their ancestors
    (the ids in `on_path`); everything else is the same object as before."""
    if id(node) in replace:
        return replace[id(node)]
    if id(node) not in on_path:
        return node
    changes = {}
    for name in field_names(type(node)):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            new = rebuilt(value, replace, on_path)
        elif isinstance(value, (tuple, list)) and any(isinstance(v, cst.CSTNode) for v in value):
            new = type(value)(rebuilt(v, replace, on_path) if isinstance(v, cst.CSTNode) else v for v in value)
        else:
            continue
        if new is not value and (not isinstance(value, (tuple, list)) or any(a is not b for a, b in zip(new, value))):
            changes[name] = new
    return node.with_changes(**changes) if changes else node


def path_to(node: cst.CSTNode, target: cst.CSTNode) -> set[int] | None:
    """The ids of `target`'s ancestors from `node` down (what `rebuilt` takes as `on_path`),
    or None where `target` is not inside `node`."""
    todo: list[tuple[cst.CSTNode, tuple[int, ...]]] = [(node, ())]
    while todo:
        current, path = todo.pop()
        if current is target:
            return set(path)
        inner = (*path, id(current))
        todo.extend((child, inner) for child in reversed(children(current)))
    return None
