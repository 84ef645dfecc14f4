"""Lines the migration made too long, laid out the way a formatter would.

A rewritten call (`first_record(await conn.execute(text("..."), {"p1": key}))`) is often
longer than the line it replaced. After the codemods, every simple statement that has a
line the old file did not have, longer than the target's line length, is read on one line
(unless a comment sits inside it) and gets its brackets opened from the outside in, as
black and ruff's formatter do: first the outermost call's
arguments on one indented line of their own, and where that line is still too long, one
argument per line with a trailing comma, then the same inside each argument that still
does not fit. Lines the migration did not touch are never reformatted, so a review diff
stays the size of the change.

A string literal still longer than the line is split, as a person lays out long SQL, into
adjacent literals on lines of their own, each broken after a space: few pieces, starting
with a clause of the statement (`WHERE`, `ORDER BY`, ...) where they can, of even lengths.
The pieces of a call's sole argument stand inside the call's brackets (`text(...)`); any
other string (assigned, returned, one argument of several, passed by keyword) gets
parentheses of its own. The pieces keep the literal's prefix and quotes and concatenate to
the same value, byte for byte. Triple-quoted strings, f-strings, a string without a space
to break at and a string whose line is as its author wrote it stay as they are.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass
from itertools import pairwise

import libcst as cst

from pgunify.cst_fields import children, path_to, rebuilt

_INDENT = "    "
# a piece of a split SQL string preferably starts with one of these
_CLAUSE = re.compile(r"(FROM|WHERE|AND|OR|GROUP BY|ORDER BY|HAVING|LIMIT|OFFSET|VALUES|SET|RETURNING|ON CONFLICT|"
                     r"(LEFT |RIGHT |FULL |INNER |CROSS )?JOIN|UNION|EXCEPT|INTERSECT|WINDOW)\b", re.IGNORECASE)


def wrap_changed(tree: cst.Module, old_source: str, limit: int, code: str | None = None) -> cst.Module:
    """`tree` with every too-long statement that is new or changed laid out within `limit`
    where its brackets allow (`code`: the tree's code, where the caller has it already)."""
    old_lines = set(old_source.splitlines())
    if not any(len(line) > limit and line not in old_lines for line in (code or tree.code).splitlines()):
        return tree
    wrapper = _Wrapper(tree, old_lines, limit)
    replace: dict[int, cst.CSTNode] = {}
    on_path: set[int] = set()
    # only blocks hold statements: the walk goes down through them and never into expressions
    todo: list[tuple[cst.CSTNode, tuple[str, ...], tuple[int, ...]]] = [(tree, (), ())]
    while todo:
        node, indents, path = todo.pop()
        for child in children(node):
            if isinstance(child, cst.SimpleStatementLine):
                laid = wrapper.statement(child, "".join(indents))
                if laid is not child:
                    replace[id(child)] = laid
                    on_path.update(path)
            elif isinstance(child, cst.IndentedBlock):
                indent = child.indent if child.indent is not None else tree.default_indent
                todo.append((child, (*indents, indent), (*path, id(child))))
            elif isinstance(child, _HOLDS_BLOCKS):
                todo.append((child, indents, (*path, id(child))))
    return rebuilt(tree, replace, {id(tree), *on_path}) if replace else tree


# the nodes between a block and the blocks inside it (an if's else, a try's handlers, ...)
_HOLDS_BLOCKS = (cst.BaseCompoundStatement, cst.Else, cst.ExceptHandler, cst.ExceptStarHandler, cst.Finally,
                 cst.MatchCase)


class _Wrapper:
    def __init__(self, module: cst.Module, old_lines: set[str], limit: int) -> None:
        self.module = module
        self.old_lines = old_lines
        self.limit = limit

    def statement(self, node: cst.SimpleStatementLine, indent: str) -> cst.SimpleStatementLine:
        """The statement laid out within the limit, or `node` itself where nothing changes."""
        if len(node.body) != 1:
            return node
        lines = self._lines(node, indent)
        if not any(len(line) > self.limit and line not in self.old_lines for line in lines):
            return node
        statement = _flattened(node.body[0])
        if statement is None:
            return node  # comments inside the statement: its author's layout stays
        if _fits(statement, self.module, indent, self.limit):
            return node.with_changes(body=[statement])
        laid = _lay_out(statement, _Layout(self.module, indent, self.limit, self.old_lines), depth=0)
        if laid is statement:
            return node
        return node.with_changes(body=[laid])

    def _lines(self, node: cst.SimpleStatementLine, indent: str) -> list[str]:
        # only the first line lacks the block's indentation: continuation lines (after a
        # backslash, inside brackets) carry theirs in the code already
        code = self.module.code_for_node(node.with_changes(leading_lines=())).splitlines()
        return [indent + line for line in code[:1]] + code[1:]


@dataclass(frozen=True)
class _Layout:
    module: cst.Module
    indent: str  # the statement's block indentation
    limit: int
    old_lines: set[str]


def _lay_out(node: cst.CSTNode, layout: _Layout, depth: int) -> cst.CSTNode:
    """The outermost bracket of `node` (a call's arguments, a list, a dict), opened; a
    statement assigning or returning a string, the string in parentheses of its own."""
    if depth > 6:
        return node
    value = getattr(node, "value", None) if isinstance(node, _STRING_HOLDERS) else None
    if depth == 0 and _pieces(value) is not None:
        parenthesized = _parenthesized(value, layout, depth + 1)  # type: ignore[arg-type]
        return node if parenthesized is None else node.with_changes(value=parenthesized)
    bracket = _outermost_bracket(node)
    if bracket is None:
        return node
    module, indent, limit = layout.module, layout.indent, layout.limit
    extra, closing = _INDENT * (depth + 1), _INDENT * depth
    rhs = _open(bracket, extra, closing, one_line_body=True)
    candidate = _replace(node, bracket, rhs)
    if _fits(candidate, module, indent, limit):
        return candidate
    items = _items(rhs)
    if len(items) == 1 and isinstance(bracket, cst.Call):
        # one argument: it keeps its line of its own and is opened in turn
        return _replace(node, bracket, _with_items(rhs, [_lay_out_item(items[0], layout, depth + 1, sole=True)]))
    exploded = _open(bracket, extra, closing, one_line_body=False)
    # one item a line, with a trailing comma; those still too long are opened in turn
    opened = []
    for item in _items(exploded):
        line = indent + extra + module.code_for_node(item.with_changes(comma=cst.MaybeSentinel.DEFAULT)) + ","
        if len(line) > limit:
            item = _lay_out_item(item, layout, depth + 1, sole=False)
        opened.append(item)
    return _replace(node, bracket, _with_items(exploded, opened))


def _lay_out_item(item, layout: _Layout, depth: int, sole: bool):
    """An item of an opened bracket, on a line of its own at `depth`: opened in turn, or a
    string in it split. The pieces of a call's sole positional argument stand where the
    string stood, inside the call's brackets; any other string gets parentheses of its own,
    so that no piece can be read as an item of its own. An item whose line is as its author
    wrote it stays as it is."""
    line = layout.indent + _INDENT * depth + layout.module.code_for_node(item.with_changes(comma=cst.MaybeSentinel.DEFAULT))
    if line + ("" if sole else ",") in layout.old_lines:
        return item
    value = item.value
    if _pieces(value) is None:
        return item.with_changes(value=_lay_out(value, layout, depth))
    if sole and isinstance(item, cst.Arg) and item.keyword is None and not item.star:
        return item.with_changes(value=_split(value, layout, depth))
    parenthesized = _parenthesized(value, layout, depth + 1)  # `(...),`, `key=(...)`, `"key": (...)`
    return item if parenthesized is None else item.with_changes(value=parenthesized)


# the statements whose value a string may be, given parentheses of its own when it is too long
_STRING_HOLDERS = (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Return)


def _pieces(node: cst.CSTNode | None) -> list[cst.SimpleString] | None:
    """The literals of a plain string (implicit concatenation included), left to right; None
    for anything else, and for triple-quoted strings (their line breaks are the author's)."""
    if isinstance(node, cst.ConcatenatedString):
        left, right = _pieces(node.left), _pieces(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, cst.SimpleString) and node.quote in ('"', "'"):
        return [node]
    return None


def _parenthesized(value: cst.BaseExpression, layout: _Layout, depth: int) -> cst.BaseExpression | None:
    """`(\n    "..."\n)`: the string on lines of its own at `depth`, split where it is too
    long; None where parentheses would not make it fit (one literal that cannot be broken)."""
    inner = _split(value, layout, depth)
    if isinstance(inner, cst.SimpleString) and len(layout.indent + _INDENT * depth + inner.value) > layout.limit:
        return None
    return inner.with_changes(lpar=[cst.LeftParen(whitespace_after=_newline(_INDENT * depth))],
                              rpar=[cst.RightParen(whitespace_before=_newline(_INDENT * (depth - 1)))])


def _split(value: cst.BaseExpression, layout: _Layout, depth: int) -> cst.BaseExpression:
    """The string, starting a line at `depth`: each literal of an implicit concatenation on a
    line of its own, and each still too long broken after a space, into literals of the
    same prefix and quotes that concatenate to the same value; as it was where it fits."""
    parts = _pieces(value) or []
    indent = layout.indent + _INDENT * depth
    if len(indent + layout.module.code_for_node(value.with_changes(lpar=[], rpar=[]))) <= layout.limit:
        return value.with_changes(lpar=[], rpar=[])
    pieces: list[cst.SimpleString] = []
    for part in parts:
        pieces.extend(_broken(part, layout.limit - len(indent)))
    joined: cst.BaseExpression = pieces[-1]
    for piece in reversed(pieces[:-1]):
        joined = cst.ConcatenatedString(left=piece, right=joined,  # type: ignore[arg-type]
                                        whitespace_between=_newline(_INDENT * depth))
    return joined


def _broken(part: cst.SimpleString, room: int) -> list[cst.SimpleString]:
    """`part` as literals of at most `room` characters where its spaces allow, each broken
    after a space: few pieces, starting with a clause keyword (`WHERE`, `ORDER BY`, ...)
    where they can, then of even lengths."""
    prefix, quote = part.prefix, part.quote
    body = part.value[len(prefix) + 1:-1]
    width = room - len(prefix) - 2  # the characters of the body a piece may hold
    if len(body) <= width:
        return [part]
    escapes = "\\" in body
    outside = _outside_brackets(body)
    ends = [i + 1 for i, char in enumerate(body[:-1]) if char == " "
            and (not escapes or _same_value(prefix, quote, body, i + 1))] + [len(body)]
    # best[end] = (cost, where the piece ending there starts); cost = (characters past the
    # line, breaks where a break before a clause keyword counts once and any other twice,
    # breaks not before a clause keyword, unevenness)
    best: dict[int, tuple[tuple[int, int, int, int], int]] = {0: ((0, 0, 0, 0), 0)}
    for first, start in enumerate([0] + ends[:-1]):
        (over, breaks, plain, uneven), _ = best[start]
        for end in ends[first:]:
            length = end - start
            last = end == len(body)
            unlike_sql = not last and not (end in outside and _CLAUSE.match(body, end))
            cost = (over + max(0, length - width), breaks + (0 if last else 1 + unlike_sql), plain + unlike_sql,
                    uneven + (width - min(length, width)) ** 2)
            if end not in best or cost < best[end][0]:
                best[end] = (cost, start)
            if length > width:
                break  # a longer piece only goes further past the line
    if best[len(body)][1] == 0:
        return [part]  # no space to break at
    cuts = [len(body)]
    while cuts[-1]:
        cuts.append(best[cuts[-1]][1])
    cuts.reverse()
    return [cst.SimpleString(f"{prefix}{quote}{body[a:b]}{quote}") for a, b in pairwise(cuts)]


def _outside_brackets(sql: str) -> set[int]:
    """The offsets of `sql` outside parentheses and quotes: where a clause of the statement
    itself may start, not one of a subquery or an expression."""
    outside, depth, quoted = set(), 0, ""
    for index, char in enumerate(sql):
        if not quoted and not depth:
            outside.add(index)
        if quoted:
            quoted = "" if char == quoted else quoted
        elif char in "'\"":
            quoted = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
    return outside


def _same_value(prefix: str, quote: str, body: str, at: int) -> bool:
    """Whether the body cut at `at` gives two literals whose values add up to the whole (a
    space inside an escape such as `\\N{EM SPACE}` is no place to break)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an invalid escape warns, as it did in the author's literal
            whole, head, rest = (ast.literal_eval(f"{prefix}{quote}{text}{quote}")
                                 for text in (body, body[:at], body[at:]))
    except (SyntaxError, ValueError):
        return False
    return head + rest == whole


def _newline(after: str) -> cst.ParenthesizedWhitespace:
    return cst.ParenthesizedWhitespace(first_line=cst.TrailingWhitespace(), empty_lines=[], indent=True,
                                       last_line=cst.SimpleWhitespace(after))


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
    items = _items(node)
    opened = []
    for index, item in enumerate(items):
        last = index == len(items) - 1
        if one_line_body:
            comma = cst.MaybeSentinel.DEFAULT if last else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        else:
            comma = cst.Comma(whitespace_after=_newline(closing if last else extra))
        item = item.with_changes(comma=comma)
        if isinstance(item, cst.Arg):
            trailing = _newline(closing) if one_line_body and last else cst.SimpleWhitespace("")
            item = item.with_changes(whitespace_after_arg=trailing)
        opened.append(item)
    closing_space = _newline(closing) if one_line_body else cst.SimpleWhitespace("")
    if isinstance(node, cst.Call):
        return node.with_changes(args=opened, whitespace_before_args=_newline(extra))
    if isinstance(node, cst.List):
        return node.with_changes(elements=opened, lbracket=cst.LeftSquareBracket(whitespace_after=_newline(extra)),
                                 rbracket=cst.RightSquareBracket(whitespace_before=closing_space))
    return node.with_changes(elements=opened, lbrace=cst.LeftCurlyBrace(whitespace_after=_newline(extra)),
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
    path = path_to(node, old)
    return node if path is None else rebuilt(node, {id(old): new}, path)


def _fits(node: cst.CSTNode, module: cst.Module, indent: str, limit: int) -> bool:
    # continuation lines carry the block's indentation too (ParenthesizedWhitespace.indent)
    return all(len(indent + line) <= limit or not line.strip() for line in module.code_for_node(node).splitlines())
