"""Which columns a statement returns, and which of them are json or jsonb, read with pglast.

Two facts, both from SQL the application itself holds:

- the tables of its DDL (SQL files, DDL run from code) with their columns' types and NOT
  NULL, kept only for a table created once and never altered or renamed afterwards;
- the output of one statement: a SELECT from that one table, or an INSERT, UPDATE or DELETE
  of it with RETURNING; each output column named, and where it is a column of the table
  as it is (`*`, `config`, `c.config AS cfg`), its type.

Whatever these cannot tell (a join, a subquery, an expression, a table altered after it was
created) is unknown, and an unknown column is never typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

JSON_TYPES = ("json", "jsonb")


@dataclass(frozen=True)
class ColumnFact:
    name: str
    type: str  # the type's name as PostgreSQL reads it (lower case, pg_catalog. dropped)
    not_null: bool


@dataclass(frozen=True)
class TableFact:
    name: str
    columns: tuple[ColumnFact, ...]

    def column(self, name: str) -> ColumnFact | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class OutputColumn:
    name: str | None  # None: a name only PostgreSQL's rules for unnamed expressions would tell
    fact: ColumnFact | None  # None: not a column of the table as it is


def _type_name(type_name) -> str:
    names = [n.sval for n in type_name.names]
    if len(names) == 2 and names[0] == "pg_catalog":
        names = names[1:]
    name = ".".join(names)
    return name + "[]" if type_name.arrayBounds else name


def _not_null(column_def) -> bool:
    from pglast.enums import ConstrType

    kinds = {c.contype for c in column_def.constraints or ()}
    return bool(column_def.is_not_null) or ConstrType.CONSTR_NOTNULL in kinds or ConstrType.CONSTR_PRIMARY in kinds


def _key(range_var) -> str | None:
    """A table's name as the statements of the search path reach it (public or unqualified)."""
    if range_var.schemaname not in (None, "public") or range_var.catalogname:
        return None
    return range_var.relname


def json_tables(scripts: Iterable[str]) -> tuple[TableFact, ...]:
    """The tables with a json or jsonb column that the DDL creates once and never changes."""
    from pglast import ast, parse_sql
    from pglast.parser import ParseError

    created: dict[str, list[TableFact]] = {}
    changed: set[str] = set()
    for script in scripts:
        try:
            statements = parse_sql(script)
        except ParseError:
            continue  # what cannot be read tells nothing
        for raw in statements:
            stmt = raw.stmt
            if isinstance(stmt, ast.CreateStmt):
                key = _key(stmt.relation)
                if key is None:
                    continue
                if stmt.inhRelations or stmt.ofTypename or stmt.partbound:
                    changed.add(key)  # columns come from elsewhere
                    continue
                columns = tuple(ColumnFact(e.colname, _type_name(e.typeName), _not_null(e))
                                for e in stmt.tableElts or () if isinstance(e, ast.ColumnDef))
                created.setdefault(key, []).append(TableFact(key, columns))
            elif isinstance(stmt, (ast.AlterTableStmt, ast.RenameStmt)) and stmt.relation is not None:
                key = _key(stmt.relation)
                if key is not None and not _only_constraints(stmt):
                    changed.add(key)
            elif isinstance(stmt, ast.CreateTableAsStmt) and stmt.into is not None:
                key = _key(stmt.into.rel)
                if key is not None:
                    changed.add(key)
    return tuple(facts[0] for key, facts in sorted(created.items())
                 if len(facts) == 1 and key not in changed
                 and any(c.type in JSON_TYPES for c in facts[0].columns))


def _only_constraints(stmt) -> bool:
    """An ALTER TABLE that adds constraints or indexes only: no column changes its type or
    whether it may be NULL (a NOT NULL constraint added only narrows what may be read)."""
    from pglast import ast
    from pglast.enums import AlterTableType

    if not isinstance(stmt, ast.AlterTableStmt):
        return False
    harmless = {AlterTableType.AT_AddConstraint, AlterTableType.AT_AddIndex, AlterTableType.AT_ValidateConstraint,
                AlterTableType.AT_SetNotNull}
    return all(isinstance(c, ast.AlterTableCmd) and c.subtype in harmless for c in stmt.cmds or ())


def output_columns(sql: str, tables: Iterable[TableFact]) -> tuple[OutputColumn, ...] | str:
    """The columns `sql` returns, in order, or why they cannot be told."""
    from pglast import ast, parse_sql
    from pglast.parser import ParseError

    try:
        statements = parse_sql(sql)
    except ParseError as exc:
        return f"the SQL does not parse ({exc})"
    if len(statements) != 1:
        return "it is not a single statement"
    stmt = statements[0].stmt
    by_name = {t.name: t for t in tables}
    if isinstance(stmt, ast.SelectStmt):
        if stmt.op.value != 0 or stmt.larg or stmt.valuesLists:
            return "it is a set operation or VALUES list"
        if stmt.withClause is not None:
            return "it has a WITH clause"
        sources = stmt.fromClause or ()
        if len(sources) != 1 or not isinstance(sources[0], ast.RangeVar):
            return "it does not read exactly one table"
        relation, targets = sources[0], stmt.targetList or ()
    elif isinstance(stmt, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)):
        if stmt.withClause is not None:
            return "it has a WITH clause"
        if getattr(stmt, "fromClause", None) or getattr(stmt, "usingClause", None):
            return "it reads other tables (FROM/USING)"
        relation = stmt.relation
        targets = _returning(stmt)
        if not targets:
            return "it returns no rows (no RETURNING)"
    else:
        return "it is not a SELECT, INSERT, UPDATE or DELETE"
    key = _key(relation)
    table = by_name.get(key) if key is not None else None
    if table is None:
        return f"the columns of {relation.relname} are not known from the DDL"
    names = {relation.relname, relation.alias.aliasname if relation.alias else relation.relname}
    out: list[OutputColumn] = []
    for target in targets:
        value = target.val
        if isinstance(value, ast.ColumnRef):
            fields = value.fields
            qualifier = [f.sval for f in fields[:-1] if isinstance(f, ast.String)]
            if len(qualifier) != len(fields) - 1 or (qualifier and qualifier != [q for q in qualifier if q in names]) \
                    or len(qualifier) > 1:
                return "a column is qualified by a name the statement does not define"
            last = fields[-1]
            if isinstance(last, ast.A_Star):
                out.extend(OutputColumn(c.name, c) for c in table.columns)
                continue
            fact = table.column(last.sval)
            if fact is None:
                return f"{last.sval} is not a column of {table.name}"
            out.append(OutputColumn(target.name or last.sval, fact))
        else:
            out.append(OutputColumn(target.name or _default_name(value), None))
    return tuple(out)


def _returning(stmt):
    clause = getattr(stmt, "returningClause", None)
    if clause is not None:
        return clause.exprs or ()
    return getattr(stmt, "returningList", None) or ()


def _default_name(value) -> str | None:
    """The name PostgreSQL gives an output column written without AS, for the plain cases:
    a column's name, a function's name, a cast's inner name (else the type's), an operator's
    or a constant's ?column?; None for the rest."""
    from pglast import ast

    if isinstance(value, ast.ColumnRef):
        last = value.fields[-1]
        return last.sval if isinstance(last, ast.String) else None
    if isinstance(value, ast.FuncCall):
        return value.funcname[-1].sval
    if isinstance(value, ast.TypeCast):
        inner = _default_name(value.arg)
        return inner if inner not in (None, "?column?") else value.typeName.names[-1].sval
    if isinstance(value, (ast.A_Expr, ast.A_Const, ast.ParamRef)):
        return "?column?"
    return None
