"""Lines the migration made too long, laid out the way a formatter would.

A rewritten call (`first_record(await conn.execute(text("..."), {"p1": key}))`) is often
longer than the line it replaced. After the codemods, every simple statement that has a
line the old file did not have, longer than the target's line length, is read on one line
(unless a comment sits inside it) and gets its brackets opened from the outside in, as
black and ruff's formatter do: first the outermost call's
arguments on one indented line of their own, and where that line is still too long, one
argument per line with a trailing comma, then the same inside each argument that still
does not fit. Lines the migration did not touch are never reformatted, so a review diff
stays the size of the change; a string longer than the line stays as it is.
"""

from __future__ import annotations

import libcst as cst

_INDENT = "    "


def wrap_changed(tree: cst.Module, old_source: str, limit: int) -> cst.Module:
    """`tree` with every too-long statement that is new or changed laid out within `limit`
    where its brackets allow."""
    old_lines = set(old_source.splitlines())
    if not any(len(line) > limit and line not in old_lines for line in tree.code.splitlines()):
        return tree
    return tree.visit(_Wrapper(tree, old_lines, limit))


class _Wrapper(cst.CSTTransformer):
    def __init__(self, module: cst.Module, old_lines: set[str], limit: int) -> None:
        super().__init__()
        self.module = module
        self.old_lines = old_lines
        self.limit = limit
        self.indents: list[str] = []

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.indents.append(node.indent if node.indent is not None else self.module.default_indent)

    def leave_IndentedBlock(self, original_node, updated_node):
        self.indents.pop()
        return updated_node

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine,
                                  updated_node: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        if len(updated_node.body) != 1:
            return updated_node
        indent = "".join(self.indents)
        lines = self._lines(updated_node, indent)
        if not any(len(line) > self.limit and line not in self.old_lines for line in lines):
            return updated_node
        statement = _flattened(updated_node.body[0])
        if statement is None:
            return updated_node  # comments inside the statement: its author's layout stays
        if _fits(statement, self.module, indent, self.limit):
            return updated_node.with_changes(body=[statement])
        laid = _lay_out(statement, self.module, indent, self.limit, depth=0)
        if laid is statement:
            return updated_node
        return updated_node.with_changes(body=[laid])

    def _lines(self, node: cst.SimpleStatementLine, indent: str) -> list[str]:
        # only the first line lacks the block's indentation: continuation lines (after a
        # backslash, inside brackets) carry theirs in the code already
        code = self.module.code_for_node(node.with_changes(leading_lines=())).splitlines()
        return [indent + line for line in code[:1]] + code[1:]


def _lay_out(node: cst.CSTNode, module: cst.Module, indent: str, limit: int, depth: int) -> cst.CSTNode:
    """The outermost bracket of `node` (a call's arguments, a list, a dict), opened."""
    if depth > 6:
        return node
    bracket = _outermost_bracket(node)
    if bracket is None:
        return node
    extra, closing = _INDENT * (depth + 1), _INDENT * depth
    rhs = _open(bracket, extra, closing, one_line_body=True)
    candidate = _replace(node, bracket, rhs)
    if _fits(candidate, module, indent, limit):
        return candidate
    items = _items(rhs)
    if len(items) == 1 and isinstance(bracket, cst.Call):
        # one argument: it keeps its line of its own and is opened in turn
        inner = _lay_out(items[0].value, module, indent, limit, depth + 1)
        return _replace(node, bracket, _with_items(rhs, [items[0].with_changes(value=inner)]))
    exploded = _open(bracket, extra, closing, one_line_body=False)
    # one item a line, with a trailing comma; those still too long are opened in turn
    opened = []
    for item in _items(exploded):
        line = indent + extra + module.code_for_node(item.with_changes(comma=cst.MaybeSentinel.DEFAULT)) + ","
        if len(line) > limit:
            item = item.with_changes(value=_lay_out(item.value, module, indent, limit, depth + 1))
        opened.append(item)
    return _replace(node, bracket, _with_items(exploded, opened))


_BRACKETS = (cst.Call, cst.List, cst.Dict, cst.Set)


def _items(node: cst.CSTNode) -> list:
    return list(node.args if isinstance(node, cst.Call) else node.elements)


def _with_items(node: cst.CSTNode, items: list) -> cst.CSTNode:
    return node.with_changes(args=items) if isinstance(node, cst.Call) else node.with_changes(elements=items)


def _outermost_bracket(node: cst.CSTNode) -> cst.CSTNode | None:
    """The first bracket, outermost first (the statement is on one line: see _flattened)."""
    found: list[cst.CSTNode] = []

    class Finder(cst.CSTVisitor):
        def on_visit(self, child: cst.CSTNode) -> bool:
            if found or isinstance(child, (cst.Lambda, cst.FormattedString)):
                return False  # never a line break inside an f-string's replacement field
            if isinstance(child, _BRACKETS) and _items(child):
                found.append(child)
                return False
            return True

    node.visit(Finder())
    return found[0] if found else None


def _open(node: cst.CSTNode, extra: str, closing: str, one_line_body: bool) -> cst.CSTNode:
    """`f(a, b)` as `f(\n    a, b\n)` (one_line_body) or `f(\n    a,\n    b,\n)`; the
    same for `[...]`, `{...}`."""
    def newline(after: str) -> cst.ParenthesizedWhitespace:
        return cst.ParenthesizedWhitespace(first_line=cst.TrailingWhitespace(), empty_lines=[], indent=True,
                                           last_line=cst.SimpleWhitespace(after))

    items = _items(node)
    opened = []
    for index, item in enumerate(items):
        last = index == len(items) - 1
        if one_line_body:
            comma = cst.MaybeSentinel.DEFAULT if last else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        else:
            comma = cst.Comma(whitespace_after=newline(closing if last else extra))
        item = item.with_changes(comma=comma)
        if isinstance(item, cst.Arg):
            trailing = newline(closing) if one_line_body and last else cst.SimpleWhitespace("")
            item = item.with_changes(whitespace_after_arg=trailing)
        opened.append(item)
    closing_space = newline(closing) if one_line_body else cst.SimpleWhitespace("")
    if isinstance(node, cst.Call):
        return node.with_changes(args=opened, whitespace_before_args=newline(extra))
    if isinstance(node, cst.List):
        return node.with_changes(elements=opened, lbracket=cst.LeftSquareBracket(whitespace_after=newline(extra)),
                                 rbracket=cst.RightSquareBracket(whitespace_before=closing_space))
    return node.with_changes(elements=opened, lbrace=cst.LeftCurlyBrace(whitespace_after=newline(extra)),
                             rbrace=cst.RightCurlyBrace(whitespace_before=closing_space))


def _flattened(statement: cst.BaseSmallStatement) -> cst.BaseSmallStatement | None:
    """The statement on one line, as a formatter first sees it; None when a comment sits
    inside its brackets."""
    class Flatten(cst.CSTTransformer):
        commented = False

        def on_visit(self, node: cst.CSTNode) -> bool:
            return not isinstance(node, cst.FormattedString)  # an f-string stays exactly as written

        def leave_ParenthesizedWhitespace(self, original_node, updated_node):
            if updated_node.first_line.comment is not None or any(
                    line.comment is not None for line in updated_node.empty_lines):
                Flatten.commented = True
            return cst.SimpleWhitespace("")

        def leave_Comma(self, original_node, updated_node):
            return updated_node.with_changes(whitespace_before=cst.SimpleWhitespace(""),
                                             whitespace_after=cst.SimpleWhitespace(" "))

        def leave_ConcatenatedString(self, original_node, updated_node):
            return updated_node.with_changes(whitespace_between=cst.SimpleWhitespace(" "))

        def leave_Call(self, original_node, updated_node):
            return updated_node.with_changes(args=_no_trailing_comma(list(updated_node.args)))

        def leave_Tuple(self, original_node, updated_node):
            if len(updated_node.elements) == 1 and isinstance(updated_node.elements[0].comma, cst.Comma):
                # (value,): the comma that makes the tuple, with nothing after it
                only = updated_node.elements[0]
                return updated_node.with_changes(elements=[only.with_changes(
                    comma=only.comma.with_changes(whitespace_after=cst.SimpleWhitespace("")))])
            return updated_node

        def leave_List(self, original_node, updated_node):
            return updated_node.with_changes(elements=_no_trailing_comma(list(updated_node.elements)))

        def leave_Dict(self, original_node, updated_node):
            return updated_node.with_changes(elements=_no_trailing_comma(list(updated_node.elements)))

    flat = statement.visit(Flatten())
    return None if Flatten.commented else flat


def _no_trailing_comma(items: list) -> list:
    if items and isinstance(items[-1].comma, cst.Comma):
        items[-1] = items[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return items


def _replace(node: cst.CSTNode, old: cst.CSTNode, new: cst.CSTNode) -> cst.CSTNode:
    if node is old:
        return new

    class Swap(cst.CSTTransformer):
        def on_leave(self, original_node, updated_node):
            return new if original_node is old else updated_node

    return node.visit(Swap())


def _fits(node: cst.CSTNode, module: cst.Module, indent: str, limit: int) -> bool:
    # continuation lines carry the block's indentation too (ParenthesizedWhitespace.indent)
    return all(len(indent + line) <= limit or not line.strip() for line in module.code_for_node(node).splitlines())
