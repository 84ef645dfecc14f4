"""SQL mutants: small changes to a statement, made on PostgreSQL's own parse tree (pglast).

`pgunify verify --mutants` plants them one at a time in the migrated side, in place of the
statement as the driver receives it, and reruns the calls that reached that statement.
A mutant that no call tells apart from the original marks a place where the run's
evidence is weak. Each mutant names its operator and the exact change, so a reader sees
what went unnoticed.

Operators (a statement gets each one wherever it applies):

| operator | change |
|---|---|
| `sort-flip` | one `ORDER BY` key ASC <-> DESC |
| `sort-drop` | one key of a multi-key `ORDER BY` removed |
| `compare` | `<` <-> `<=`, `>` <-> `>=`, `=` <-> `<>` |
| `literal` | a string literal to another value of the column's domain, a number + 1, true <-> false |
| `drop-conjunct` | one operand of an `AND` removed |
| `and-or` | `AND` <-> `OR` |
| `drop-not` | `NOT x` -> `x` |
| `null-test` | `IS NULL` <-> `IS NOT NULL` |
| `drop-where` | a `WHERE` or `FILTER` of a single condition removed |
| `limit` | `LIMIT`/`OFFSET` + 1 (a number, or a parameter) |
| `join` | `INNER JOIN` <-> `LEFT JOIN` |
| `distinct` | `DISTINCT` removed (of a query or of an aggregate) |
| `aggregate` | `min` <-> `max`, `count(x)` -> `count(*)` |

A removed condition that holds the only use of a parameter (`$2`) would make the
statement refuse its arguments, which kills the mutant for a reason no test cares about;
such a condition is replaced by `(condition OR true)`, which keeps the parameter typed and
means what removing it means.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from pglast import ast, enums, parse_sql
from pglast.stream import RawStream

OPERATORS = ("sort-flip", "sort-drop", "compare", "literal", "drop-conjunct", "and-or", "drop-not", "null-test",
             "drop-where", "limit", "join", "distinct", "aggregate")
_FLIP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "=": "<>", "<>": "=", "!=": "="}
_AGGREGATES = {"min": "max", "max": "min"}
_DML = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)


@dataclass(frozen=True)
class Mutant:
    operator: str
    before: str  # the fragment of the original statement that changed
    after: str  # what it became
    sql: str  # the whole mutated statement, as sent to the server
    equivalent: str | None = None  # why it cannot change any result (then it is not run)

    @property
    def change(self) -> str:
        return f"{self.before} -> {self.after}"


def deparse(node: Any) -> str:
    return RawStream()(node)


def is_application_statement(sql: str) -> bool:
    """A SELECT, INSERT, UPDATE or DELETE that reads or writes a table outside the system
    catalogs: what an application sends (a driver's type introspection is not)."""
    try:
        tree = parse_sql(sql)
    except Exception:
        return False
    if len(tree) != 1 or not isinstance(tree[0].stmt, _DML):
        return False
    names = [node.relname for _, _, _, node in _walk(tree[0]) if isinstance(node, ast.RangeVar)]
    return any(not (n.startswith("pg_") or n.startswith("information_schema")) for n in names) and not any(
        n.startswith("pg_") for n in names)


def statement_table(sql: str) -> str | None:
    """The table a statement is about: the one it writes, or the first one its outermost
    SELECT reads (the left end of its joins); None when it reads no table."""
    try:
        tree = parse_sql(sql)
    except Exception:
        return None
    if len(tree) != 1:
        return None
    stmt = tree[0].stmt
    if isinstance(stmt, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)):
        return stmt.relation.relname
    while isinstance(stmt, ast.SelectStmt) and stmt.op != enums.SetOperation.SETOP_NONE:
        stmt = stmt.larg
    source = (getattr(stmt, "fromClause", None) or (None,))[0]
    while isinstance(source, ast.JoinExpr):
        source = source.larg
    if isinstance(source, ast.RangeSubselect):
        return statement_table(deparse(source.subquery))
    return source.relname if isinstance(source, ast.RangeVar) else None


def compared_literals(sql: str) -> dict[str, list[Any]]:
    """Column -> the string and integer literals a statement compares it with or assigns to
    it (`severity = 'critical'`, `status IN ('a', 'b')`, `SET status = 'error'`, `karma <> 0`)."""
    try:
        tree = parse_sql(sql)
    except Exception:
        return {}
    found: dict[str, list[Any]] = {}
    for stmt in tree:
        columns = _columns_of_literals(stmt)
        for _, _, _, node in _walk(stmt):
            column = columns.get(id(node))
            value = _const_value(node)
            if column is not None and isinstance(value, (str, int)) and value not in found.setdefault(column, []):
                found[column].append(value)
    return found


def json_keys(sql: str) -> dict[str, dict[str, list[str]]]:
    """JSON column -> the keys a statement reads from it: `{"object": [...]}` for
    `metadata ->> 'zone'`, `{"element": [...]}` for the elements of an array
    (`jsonb_array_elements(d.objects) AS obj ... obj ->> 'class'`)."""
    try:
        tree = parse_sql(sql)
    except Exception:
        return {}
    found: dict[str, dict[str, list[str]]] = {}
    for stmt in tree:
        elements: dict[str, str] = {}  # alias of jsonb_array_elements(col) -> col
        for _, _, _, node in _walk(stmt):
            if isinstance(node, ast.RangeFunction) and node.alias is not None:
                for item in node.functions or ():
                    call = item[0] if isinstance(item, tuple) else item
                    if isinstance(call, ast.FuncCall) and call.funcname[-1].sval.lower() in (
                            "jsonb_array_elements", "json_array_elements") and call.args:
                        column = _column(call.args[0])
                        if column:
                            elements[node.alias.aliasname] = column
        for _, _, _, node in _walk(stmt):
            if isinstance(node, ast.A_Expr) and node.name and node.name[-1].sval in ("->", "->>") \
                    and isinstance(_const_value(node.rexpr), str):
                column = _column(node.lexpr)
                if column is None:
                    continue
                form, column = ("element", elements[column]) if column in elements else ("object", column)
                keys = found.setdefault(column, {}).setdefault(form, [])
                if _const_value(node.rexpr) not in keys:
                    keys.append(_const_value(node.rexpr))
    return found


def _source_statements(root: Path, limit: int = 3000) -> Iterator[str]:
    """Every string in the Python files under `root` that looks like a SELECT, INSERT,
    UPDATE or DELETE (tests and virtual environments left out)."""
    import ast as python_ast

    files = [p for p in sorted(root.rglob("*.py")) if not ({"tests", "test", ".venv", "venv", "node_modules", ".pgunify"}
                                                           & set(p.relative_to(root).parts))][:limit]
    for path in files:
        try:
            tree = python_ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        for node in python_ast.walk(tree):
            if isinstance(node, python_ast.Constant) and isinstance(node.value, str) and len(node.value) > 12 \
                    and any(w in node.value.upper() for w in ("SELECT", "UPDATE", "DELETE", "INSERT")):
                yield node.value


def source_literals(root: Path) -> dict[str, list[Any]]:
    """compared_literals() of every statement in the Python files under `root`."""
    found: dict[str, list[Any]] = {}
    for sql in _source_statements(root):
        for column, values in compared_literals(sql).items():
            bucket = found.setdefault(column, [])
            bucket.extend(v for v in values if v not in bucket)
    return found


def source_json_keys(root: Path) -> dict[str, dict[str, list[str]]]:
    """json_keys() of every statement in the Python files under `root`, merged."""
    found: dict[str, dict[str, list[str]]] = {}
    for sql in _source_statements(root):
        for column, forms in json_keys(sql).items():
            for form, keys in forms.items():
                bucket = found.setdefault(column, {}).setdefault(form, [])
                bucket.extend(k for k in keys if k not in bucket)
    return found


def _children(node: Any) -> Iterator[tuple[str, int | None, Any]]:
    for attr in getattr(node, "__slots__", ()):
        value = getattr(node, attr, None)
        if isinstance(value, ast.Node):
            yield attr, None, value
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                if isinstance(item, ast.Node):
                    yield attr, index, item


def _walk(node: Any, parent: Any = None, attr: str | None = None, index: int | None = None):
    yield parent, attr, index, node
    for child_attr, child_index, child in _children(node):
        yield from _walk(child, node, child_attr, child_index)


def _replace(parent: Any, attr: str, index: int | None, new: Any) -> None:
    if index is None:
        setattr(parent, attr, new)
        return
    items = list(getattr(parent, attr))
    if new is None:
        del items[index]
    else:
        items[index] = new
    setattr(parent, attr, tuple(items) if items else None)


def _has_param(node: Any) -> bool:
    return any(isinstance(n, ast.ParamRef) for _, _, _, n in _walk(node))


def _true() -> ast.A_Const:
    return ast.A_Const(val=ast.Boolean(True))


def _dropped(condition: Any) -> Any:
    """What stands for a removed condition: nothing, or `(condition OR true)` when the
    condition holds a parameter (see the module docstring)."""
    if not _has_param(condition):
        return None
    return ast.BoolExpr(boolop=enums.BoolExprType.OR_EXPR, args=(condition, _true()))


def _column(node: Any) -> str | None:
    if isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.ColumnRef) and node.fields and isinstance(node.fields[-1], ast.String):
        return node.fields[-1].sval
    return None


def _const_value(node: Any) -> Any:
    if isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const) and not node.isnull and node.val is not None:
        val = node.val
        for attr in ("sval", "ival", "fval", "boolval"):
            if hasattr(val, attr):
                return getattr(val, attr)
    return None


def _columns_of_literals(root: Any) -> dict[int, str]:
    """id() of each literal node -> the column it is compared with or assigned to."""
    found: dict[int, str] = {}

    def mark(node: Any, column: str | None) -> None:
        if column is None:
            return
        items = node if isinstance(node, tuple) else (node,)
        for item in items:
            if isinstance(item, ast.TypeCast):
                item = item.arg
            if isinstance(item, ast.A_Const):
                found[id(item)] = column

    for _, _, _, node in _walk(root):
        if isinstance(node, ast.A_Expr):
            mark(node.rexpr, _column(node.lexpr))
            if node.lexpr is not None:
                mark(node.lexpr, _column(node.rexpr) if not isinstance(node.rexpr, tuple) else None)
        elif isinstance(node, ast.CaseExpr) and node.arg is not None:
            for when in node.args or ():
                mark(when.expr, _column(node.arg))
                mark(when.result, _column(node.arg))
        elif isinstance(node, ast.ResTarget) and node.name:
            mark(node.val, node.name)
    return found


# applied to a deep copy of the node; returns what replaces it (None: removed), or that
# with its own before and after text
Change = Callable[[Any], Any]


def _operators(node: Any, parent: Any, attr: str | None, column: str | None,
               domains: Mapping[str, Sequence[Any]]) -> Iterator[tuple[str, Change]]:
    if isinstance(node, ast.SortBy):
        def flip(n):
            n.sortby_dir = (enums.SortByDir.SORTBY_ASC if n.sortby_dir == enums.SortByDir.SORTBY_DESC
                            else enums.SortByDir.SORTBY_DESC)
            return n
        yield "sort-flip", flip
    elif isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_OP and node.name \
            and len(node.name) == 1 and node.name[0].sval in _FLIP and node.lexpr is not None:
        def compare(n):
            n.name = (ast.String(_FLIP[n.name[0].sval]),)
            return n
        yield "compare", compare
    elif isinstance(node, ast.BoolExpr) and node.boolop in (enums.BoolExprType.AND_EXPR, enums.BoolExprType.OR_EXPR):
        if node.boolop == enums.BoolExprType.AND_EXPR:
            for i in range(len(node.args)):
                def drop(n, i=i):
                    gone = deparse(n.args[i])
                    replacement = _dropped(n.args[i])
                    rest = [a for j, a in enumerate(n.args) if j != i]
                    if replacement is not None:
                        rest.insert(i, replacement)
                    n.args = tuple(rest)
                    return (n if len(rest) > 1 else rest[0]), f"AND {gone}", "(removed)"
                yield "drop-conjunct", drop

        def swap(n):
            n.boolop = (enums.BoolExprType.OR_EXPR if n.boolop == enums.BoolExprType.AND_EXPR
                        else enums.BoolExprType.AND_EXPR)
            return n
        yield "and-or", swap
    elif isinstance(node, ast.BoolExpr) and node.boolop == enums.BoolExprType.NOT_EXPR:
        yield "drop-not", lambda n: n.args[0]
    elif isinstance(node, ast.NullTest):
        def null_test(n):
            n.nulltesttype = (enums.NullTestType.IS_NOT_NULL if n.nulltesttype == enums.NullTestType.IS_NULL
                              else enums.NullTestType.IS_NULL)
            return n
        yield "null-test", null_test
    elif isinstance(node, ast.A_Const) and attr not in ("limitCount", "limitOffset", "typmods"):
        value = _const_value(node)
        if isinstance(value, bool):
            yield "literal", lambda n: ast.A_Const(val=ast.Boolean(not n.val.boolval))
        elif isinstance(value, int):
            yield "literal", lambda n: ast.A_Const(val=ast.Integer(n.val.ival + 1))
        elif isinstance(value, str) and column is not None:
            other = _neighbour(value, [v for v in domains.get(column, ()) if isinstance(v, str)])
            if other is not None:
                yield "literal", lambda n, v=other: ast.A_Const(val=ast.String(v))
    elif isinstance(node, ast.JoinExpr) and node.jointype in (enums.JoinType.JOIN_INNER, enums.JoinType.JOIN_LEFT) \
            and node.quals is not None:
        def join(n):
            n.jointype = enums.JoinType.JOIN_LEFT if n.jointype == enums.JoinType.JOIN_INNER else enums.JoinType.JOIN_INNER
            return n
        yield "join", join
    elif isinstance(node, ast.FuncCall) and node.funcname:
        name = node.funcname[-1].sval.lower()
        if name in _AGGREGATES:
            yield "aggregate", lambda n: _renamed(n, _AGGREGATES[n.funcname[-1].sval.lower()])
        if name == "count" and not node.agg_star and node.args and len(node.args) == 1:
            def star(n):
                n.args, n.agg_star, n.agg_distinct = None, True, False
                return n
            yield "aggregate", star
        if node.agg_distinct:
            def plain(n):
                n.agg_distinct = False
                return n
            yield "distinct", plain
        if node.agg_filter is not None and not isinstance(node.agg_filter, ast.BoolExpr):
            def unfiltered(n):
                gone = deparse(n.agg_filter)
                n.agg_filter = _dropped(n.agg_filter)
                return n, f"FILTER (WHERE {gone})", "(removed)"
            yield "drop-where", unfiltered
    if isinstance(node, (ast.SelectStmt, ast.UpdateStmt, ast.DeleteStmt)):
        where = getattr(node, "whereClause", None)
        if where is not None and not (isinstance(where, ast.BoolExpr) and where.boolop == enums.BoolExprType.AND_EXPR):
            def unwhere(n):
                gone = deparse(n.whereClause)
                n.whereClause = _dropped(n.whereClause)
                return n, f"WHERE {gone}", "(removed)"
            yield "drop-where", unwhere
    if isinstance(node, ast.SelectStmt):
        keys = node.sortClause or ()
        if len(keys) > 1:
            for i in range(len(keys)):
                def drop_key(n, i=i):
                    n.sortClause = tuple(k for j, k in enumerate(n.sortClause) if j != i)
                    return n
                yield "sort-drop", drop_key
        for limit in ("limitCount", "limitOffset"):
            if getattr(node, limit) is not None and not (isinstance(getattr(node, limit), ast.A_Const)
                                                         and getattr(node, limit).isnull):
                def more(n, limit=limit):
                    setattr(n, limit, ast.A_Expr(kind=enums.A_Expr_Kind.AEXPR_OP, name=(ast.String("+"),),
                                                 lexpr=getattr(n, limit), rexpr=ast.A_Const(val=ast.Integer(1))))
                    return n
                yield "limit", more
        if node.distinctClause:
            def undistinct(n):
                n.distinctClause = None
                return n
            yield "distinct", undistinct


def _neighbour(value: str, domain: list[str]) -> str | None:
    """The value next to `value` in its domain (the one before it, else the one after):
    the change a slip of the hand makes, `'critical'` for `'high'`."""
    if value in domain:
        i = domain.index(value)
        for j in (i - 1, i + 1):
            if 0 <= j < len(domain) and domain[j] != value:
                return domain[j]
        return None
    return next((v for v in domain if v != value), None)


def _renamed(node: Any, name: str) -> Any:
    node.funcname = (*node.funcname[:-1], ast.String(name))
    return node


def _fragment(node: Any) -> str:
    if node is None:
        return "(removed)"
    try:
        return deparse(node)
    except Exception:
        return type(node).__name__


def _single_row(select: Any) -> bool:
    """An aggregate query without GROUP BY, set-returning clause or LIMIT: exactly one row."""
    if not isinstance(select, ast.SelectStmt) or select.groupClause or select.op != enums.SetOperation.SETOP_NONE:
        return False
    if select.targetList is None or select.fromClause is None:
        return False
    calls = [n for _, _, _, n in _walk(ast.SelectStmt(targetList=select.targetList))
             if isinstance(n, ast.FuncCall) and n.over is None]
    aggregate = {"count", "sum", "avg", "min", "max", "bool_and", "bool_or", "array_agg", "json_agg", "jsonb_agg",
                 "string_agg", "every", "json_object_agg", "jsonb_object_agg"}
    return any(c.funcname[-1].sval.lower() in aggregate for c in calls) and not select.havingClause


def _unique_prefix(select: Any, unique: Mapping[str, Sequence[str]]) -> int | None:
    """Position of the first ORDER BY key that is a unique column of the only table read;
    keys after it never decide an order."""
    if not isinstance(select, ast.SelectStmt) or not select.sortClause or not select.fromClause \
            or len(select.fromClause) != 1 or not isinstance(select.fromClause[0], ast.RangeVar):
        return None
    table = select.fromClause[0].relname
    for position, key in enumerate(select.sortClause):
        if _column(key.node) in unique.get(table, ()):
            return position
    return None


def _exists_targets(root: Any) -> set[int]:
    """id() of the output columns of every `EXISTS (SELECT ...)` subquery: what they hold
    never reaches a result, only whether a row exists."""
    found: set[int] = set()
    for _, _, _, node in _walk(root):
        if isinstance(node, ast.SubLink) and node.subLinkType == enums.SubLinkType.EXISTS_SUBLINK \
                and isinstance(node.subselect, ast.SelectStmt):
            found.update(id(t) for t in node.subselect.targetList or ())
    return found


def _only_table(root: Any) -> str | None:
    """The one table a statement reads, when it reads one table once and joins nothing."""
    nodes = [n for _, _, _, n in _walk(root)]
    tables = [n for n in nodes if isinstance(n, ast.RangeVar)]
    if len(tables) != 1 or any(isinstance(n, (ast.JoinExpr, ast.RangeSubselect, ast.RangeFunction)) for n in nodes):
        return None
    return tables[0].relname


def _name(source: Any) -> str | None:
    """The name a FROM item's columns are qualified with: its alias, or the table's name."""
    if isinstance(source, ast.RangeVar):
        return source.alias.aliasname if source.alias is not None else source.relname
    return None


def _join_follows_key(join: Any, notnull: Mapping[str, Sequence[str]],
                      references: Sequence[Sequence[Any]]) -> str | None:
    """Why INNER and LEFT JOIN are the same join here, or None: its left side is a table
    whose NOT NULL foreign key the ON condition equates with the key it references in the
    table on its right, so every left row has exactly one match."""
    left, right = join.larg, join.rarg
    if not (isinstance(left, ast.RangeVar) and isinstance(right, ast.RangeVar)):
        return None
    quals = join.quals
    pairs = quals.args if isinstance(quals, ast.BoolExpr) and quals.boolop == enums.BoolExprType.AND_EXPR else (quals,)
    names = {_name(left): "left", _name(right): "right"}
    equal: dict[str, str] = {}  # left column -> right column
    for pair in pairs:
        if not (isinstance(pair, ast.A_Expr) and pair.kind == enums.A_Expr_Kind.AEXPR_OP and pair.name
                and pair.name[-1].sval == "="):
            return None
        sides = {}
        for operand in (pair.lexpr, pair.rexpr):
            if not (isinstance(operand, ast.ColumnRef) and len(operand.fields) == 2
                    and all(isinstance(f, ast.String) for f in operand.fields)):
                return None
            sides[names.get(operand.fields[0].sval)] = operand.fields[1].sval
        if set(sides) != {"left", "right"}:
            return None
        equal[sides["left"]] = sides["right"]
    for table, columns, parent, parent_columns in references:
        if table == left.relname and parent == right.relname and set(columns) == set(equal) \
                and all(equal[c] == p for c, p in zip(columns, parent_columns)) \
                and all(c in notnull.get(table, ()) for c in columns):
            return (f"{', '.join(columns)} of {table} is a NOT NULL foreign key to {parent}: every {table} row "
                    "has exactly one match, joined INNER or LEFT")
    return None


def _equivalence(original: Any, node: Any, parent_select: Any, operator: str, position: int | None,
                 unique: Mapping[str, Sequence[str]], notnull: Mapping[str, Sequence[str]] = {},
                 parent: Any = None, exists_targets: set[int] = frozenset(),
                 references: Sequence[Sequence[Any]] = ()) -> str | None:
    if operator == "join" and isinstance(node, ast.JoinExpr):
        return _join_follows_key(node, notnull, references)
    if operator == "literal" and parent is not None and id(parent) in exists_targets:
        return "an output column of EXISTS (SELECT ...): only whether a row exists reaches the result"
    if operator == "aggregate" and isinstance(node, ast.FuncCall) and node.funcname[-1].sval.lower() == "count" \
            and not node.agg_distinct and node.args and len(node.args) == 1:
        table, column = _only_table(original), _column(node.args[0])
        if table is not None and column in notnull.get(table, ()):
            return f"{column} is NOT NULL in {table}, the only table read: count({column}) counts every row, as count(*)"
    if operator in ("sort-flip", "sort-drop") and parent_select is not None:
        if _single_row(parent_select):
            return "the query is an aggregate without GROUP BY: it returns one row, whatever its order"
        first = _unique_prefix(parent_select, unique)
        if first is not None and position is not None and position > first:
            key = deparse(parent_select.sortClause[first].node)
            return f"the key follows {key}, a unique column of the only table read: rows never tie before it"
    return None


def statement_mutants(sql: str, domains: Mapping[str, Sequence[Any]] | None = None,
                      unique: Mapping[str, Sequence[str]] | None = None,
                      notnull: Mapping[str, Sequence[str]] | None = None,
                      references: Sequence[Sequence[Any]] = ()) -> list[Mutant]:
    """Every mutant of one statement, in the order the parse tree holds the places they change.

    `domains`: column name -> values of its domain (CHECK literals, enum labels, seeded
    values); `unique`: table -> columns that are unique on their own; `notnull`: table ->
    its NOT NULL columns; `references`: the foreign keys, as (table, columns, parent table,
    parent columns)."""
    domains, unique, notnull = domains or {}, unique or {}, notnull or {}
    try:
        tree = parse_sql(sql)
    except Exception:
        return []
    if len(tree) != 1 or not isinstance(tree[0].stmt, _DML):
        return []
    original = tree[0]
    base = deparse(original)
    sites = list(_walk(original))
    columns = _columns_of_literals(original)
    out: list[Mutant] = []
    seen = {base}
    exists_targets = _exists_targets(original)
    for k, (parent, attr, index, node) in enumerate(sites):
        for operator, change in _operators(node, parent, attr, columns.get(id(node)), domains):
            copied = copy.deepcopy(original)
            c_parent, c_attr, c_index, c_node = list(_walk(copied))[k]
            before = _fragment(c_node)
            replacement, described = change(c_node), None
            if isinstance(replacement, tuple):
                replacement, *described = replacement
            if c_parent is None:
                continue
            _replace(c_parent, c_attr, c_index, replacement)
            try:
                text = deparse(copied)
            except Exception:
                continue
            if text in seen:
                continue
            seen.add(text)
            after = _fragment(replacement) if replacement is not None else "(removed)"
            if isinstance(node, ast.SortBy):
                select, position = parent, index
            elif operator == "sort-drop":
                kept = {deparse(s) for s in replacement.sortClause}
                gone = [i for i, s in enumerate(node.sortClause) if deparse(s) not in kept]
                select, position = node, gone[0] if gone else None
                before = "ORDER BY " + ", ".join(deparse(s) for s in node.sortClause)
                after = "ORDER BY " + ", ".join(deparse(s) for s in replacement.sortClause)
            else:
                select, position = None, None
            if described:
                before, after = described
            elif isinstance(node, (ast.SelectStmt, ast.UpdateStmt, ast.DeleteStmt)) and operator != "sort-drop":
                before, after = _statement_change(node, replacement, operator)
            equivalent = _equivalence(original, node, select, operator, position, unique, notnull, parent,
                                      exists_targets, references)
            out.append(Mutant(operator, before, after, text, equivalent))
    return out


def _statement_change(node: Any, replacement: Any, operator: str) -> tuple[str, str]:
    """A readable before/after for a change to a whole statement's clause."""
    if operator == "drop-where":
        return f"WHERE {deparse(node.whereClause)}", "no WHERE" if replacement.whereClause is None else \
            f"WHERE {deparse(replacement.whereClause)}"
    if operator == "limit":
        for clause, word in (("limitCount", "LIMIT"), ("limitOffset", "OFFSET")):
            if getattr(node, clause) is not None and deparse(getattr(node, clause)) != deparse(getattr(replacement, clause)):
                return f"{word} {deparse(getattr(node, clause))}", f"{word} {deparse(getattr(replacement, clause))}"
    if operator == "distinct":
        return "SELECT DISTINCT", "SELECT"
    return _fragment(node)[:120], _fragment(replacement)[:120]
