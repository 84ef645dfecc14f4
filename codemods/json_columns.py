"""json-columns (opt-in): JSON columns the repository decodes itself arrive decoded instead.

After `repositories`, a statement reads json and jsonb columns as the server's text, as
asyncpg gave them, and the repository decodes them itself:

    row = first_record(await conn.execute(text(SELECT_CAMERA_SQL), {"p1": camera_id}))
    ...
    config=json.loads(row["config"]),

Where every fact says the value is a json or jsonb column of the statement and that the
repository's own `json.loads` is the only thing that ever sees its text, the statement
declares the column's type and the decode goes:

    row = first_record(
        await conn.execute(text(SELECT_CAMERA_SQL).columns(config=JSONB), {"p1": camera_id})
    )
    ...
    config=row["config"],

SQLAlchemy's JSONB type decodes the server's text with the json.loads the repository
called, so callers get equal values. The facts: the column's type and NOT NULL from the
application's DDL (pgunify.sql.columns), the statement's output columns read by pglast, and
the flow of the row inside the module, through helpers such as `_row_to_camera(row)`. A
decode site stays as it is, with its reason, when any of them is missing: SQL built at run
time, a row or value that reaches anything but reads of its columns (returned, passed on,
logged), a column also read as text, a column that may be NULL where the code tests the
text, a decode that could run twice on one row (two decoded objects where one was shared
would alias), a helper also called with other values or imported elsewhere, an application
that registers json codecs of its own.

Encoding stays: a `json.dumps(...)` in a statement's parameters is reported, not changed,
because a typed bind would encode inside SQLAlchemy's execution, where a value json.dumps
cannot encode raises sqlalchemy.exc.StatementError instead of the repository's TypeError.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import libcst as cst
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.metadata import (
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
    QualifiedNameSource,
    ScopeProvider,
)
from libcst.metadata.scope_provider import Assignment, GlobalScope

from pgunify.rewrite.outcome import Risk
from pgunify.sql.columns import JSON_TYPES, OutputColumn, output_columns

from ._base import CodemodInfo, UnifyCodemod

_TEXT = frozenset({"sqlalchemy.text", "sqlalchemy.sql.text", "sqlalchemy.sql.expression.text"})
_TYPE_NAMES = {"json": "JSON", "jsonb": "JSONB"}
_DIALECT = "sqlalchemy.dialects.postgresql"
_LOOPS = (cst.For, cst.While, cst.CompFor, cst.FunctionDef, cst.Lambda, cst.ClassDef)


class _Refused(Exception):
    """Why a decode site stays as it is."""


@dataclass(eq=False)
class _Source:
    """One statement whose rows the module reads: first_record()/all_records() of execute(text(SQL))."""

    call: cst.Call  # first_record(...) / all_records(...)
    text_call: cst.Call | None  # text(SQL), None when the SQL is built at run time
    many: bool  # all_records: a list of rows
    line: int
    outputs: tuple[OutputColumn, ...] | None = None
    problem: str = ""  # why its columns are not known
    types: dict[str, str] = field(default_factory=dict)  # column -> JSON / JSONB, once decided


@dataclass(eq=False)
class _Decode:
    """json.loads(X) (or `json.loads(X) if X else D`): what goes, and what stays in its place."""

    node: cst.BaseExpression  # the whole expression replaced
    keep: cst.BaseExpression  # the expression that takes its place (the read, or its local)
    holder: object  # the row variable's Assignment, or the helper's name
    key: str
    tests_text: bool  # `if X`: the text was tested, which only NOT NULL makes the same
    reads: tuple[cst.Subscript, ...]  # the column reads this site accounts for
    line: int
    local: Assignment | None = None  # the local that held the text, if any
    local_use: cst.BaseExpression | None = None  # the local as json.loads read it


class JsonColumnsCodemod(UnifyCodemod):
    info = CodemodInfo(
        name="json-columns",
        summary="Declare json/jsonb columns the repository decodes itself on their statement and drop its json.loads",
        risk=Risk.REVIEW,
        why="The repository decoded the JSON text itself; SQLAlchemy's JSON types decode it in the result, "
            "as code written for SQLAlchemy reads them.",
        opt_in=True,
    )
    METADATA_DEPENDENCIES = (PositionProvider, ParentNodeProvider, ScopeProvider, QualifiedNameProvider)

    @classmethod
    def wants(cls, source: bytes, plan) -> bool:
        # the file as it is before `repositories` (fetch, fetchrow) or after it
        return b"json" in source and (b"fetch" in source or b"_record" in source)

    def __init__(self, context, plan) -> None:
        super().__init__(context, plan)
        # decode -> the column read that takes its place (a dropped local's), None: its own argument
        self._replace: dict[cst.CSTNode, cst.BaseExpression | None] = {}
        self._columns: dict[cst.Call, dict[str, str]] = {}  # text(...) call -> column -> type name
        self._drop: set[cst.SimpleStatementLine] = set()  # `v = row["col"]` lines whose read moved

    # -- the facts of one module ------------------------------------------------------------

    def visit_Module(self, node: cst.Module) -> bool:
        if self.in_generated_file() or not self.plan.raw_sql_module:
            return False
        self._module = node
        self._sources: dict[cst.Call, _Source] = {}
        for call in _walk(node, cst.Call):
            if (source := self._source(call)) is not None:
                self._sources[call] = source
        decodes = []
        for call in _walk(node, cst.Call):
            if self._is(call.func, "json.loads"):
                try:
                    decode = self._decode(call)
                except _Refused as refused:
                    self.leave_alone(call, str(refused))
                    continue
                if decode is not None:
                    decodes.append(decode)
        self._report_encodes(node)
        if decodes:
            self._settle(decodes)
        return True  # the edits are made in the leave_ methods below, by node

    def _is(self, func: cst.BaseExpression, *names: str) -> bool:
        try:
            qualified = self.get_metadata(QualifiedNameProvider, func)
        except KeyError:
            return False
        return len(qualified) == 1 and next(iter(qualified)).name in names and \
            next(iter(qualified)).source is QualifiedNameSource.IMPORT

    def _source(self, call: cst.Call) -> _Source | None:
        helpers = {f"{self.plan.raw_sql_module}.first_record": False, f"{self.plan.raw_sql_module}.all_records": True}
        if not any(self._is(call.func, name) for name in helpers) or len(call.args) != 1 \
                or not isinstance(call.args[0].value, cst.Await):
            return None
        many = self._is(call.func, f"{self.plan.raw_sql_module}.all_records")
        inner = call.args[0].value.expression
        line = self.line_of(call)
        if not (isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) and inner.args):
            return _Source(call, None, many, line, problem="the statement is not one execute() call")
        method = inner.func.attr.value
        if method == "exec_driver_sql":
            return _Source(call, None, many, line, problem="its SQL is built at run time, so its columns are known "
                                                           "only when it runs")
        statement = inner.args[0].value
        if method != "execute" or not (isinstance(statement, cst.Call) and len(statement.args) == 1
                                       and self._is(statement.func, *_TEXT)):
            return _Source(call, None, many, line, problem="the statement is not text(SQL)")
        sql = self._string(statement.args[0].value)
        if sql is None:
            return _Source(call, None, many, line, problem="its SQL is not a string the module holds as it is")
        from pgunify.sql.proof import compile_text

        try:
            outputs = output_columns(compile_text(sql), self.plan.json_tables)
        except Exception as exc:  # noqa: BLE001 - SQL text() itself rejects: nothing is known
            outputs = f"its SQL does not compile ({type(exc).__name__})"
        if isinstance(outputs, str):
            return _Source(call, statement, many, line, problem=outputs)
        return _Source(call, statement, many, line, outputs=outputs)

    def _string(self, node: cst.BaseExpression) -> str | None:
        """A string literal, or a module-level constant assigned once to one."""
        if isinstance(node, cst.Name):
            scope = self.get_metadata(ScopeProvider, node)
            assignments = [a for a in scope[node.value] if isinstance(a, Assignment)] if scope else []
            if len(assignments) != 1 or not isinstance(assignments[0].scope, GlobalScope):
                return None
            target = assignments[0].node
            statement = self.get_metadata(ParentNodeProvider, target)
            if not isinstance(statement, cst.AssignTarget):
                return None
            node = self.get_metadata(ParentNodeProvider, statement).value
        if not isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
            return None
        try:
            value = ast.literal_eval(cst.Module(body=[]).code_for_node(node).join("()"))
        except (SyntaxError, ValueError):
            return None
        return value if isinstance(value, str) else None

    # -- decode sites ---------------------------------------------------------------------------

    def _decode(self, call: cst.Call) -> _Decode | None:
        """The decode site of `call` (json.loads), or None when what it decodes is no column
        of a row the module reads (then it is no site of this codemod)."""
        if len(call.args) != 1 or call.args[0].keyword is not None or call.args[0].star:
            return None
        argument = call.args[0].value
        whole: cst.BaseExpression = call
        parent = self.get_metadata(ParentNodeProvider, call)
        tests_text = isinstance(parent, cst.IfExp) and parent.body is call and self._same(parent.test, argument)
        if tests_text:
            whole = parent
        read, local = self._read(argument)
        if read is None:
            self._single_value(argument, call)
            return None
        holder = self._holder(read.value)
        if holder is None:
            return None
        reads = [read]
        if local is not None:
            # the local holds the text: its every use is this site
            uses = {id(r.node) for r in local.references}
            mine = {id(argument)} | ({id(parent.test)} if tests_text else set())
            if uses != mine:
                raise _Refused(f"{local.name} holds the text of column {_key(read)!r} and is used besides this "
                               "json.loads, so the text reaches more than the decode")
        elif tests_text:
            reads.append(parent.test)
        keep = argument
        if local is not None and self._removable(local):
            keep = read  # the local goes: the column is read where it was decoded
        return _Decode(whole, keep, holder, _key(read), tests_text, tuple(reads), self.line_of(call), local, argument)

    def _single_value(self, argument: cst.BaseExpression, decode: cst.Call) -> None:
        """A value read with first_value() and decoded: reported with why it stays."""
        value = self._only_assignment(argument) if isinstance(argument, cst.Name) else None
        target = self.get_metadata(ParentNodeProvider, value.node) if value is not None else None
        if not isinstance(target, cst.AssignTarget):
            return
        assign = self.get_metadata(ParentNodeProvider, target)
        if not (isinstance(assign.value, cst.Call)
                and self._is(assign.value.func, f"{self.plan.raw_sql_module}.first_value")):
            return
        others = [node for node in self._accesses(value) if node is not argument]
        if others:
            raise _Refused(f"the value of first_value() at line {self.line_of(assign)} is also used as text at line "
                           f"{self.line_of(others[0])} ({self._show(others[0])}), where a decoded value could differ")
        raise _Refused("a value read with first_value() is decoded: only columns of rows read by name are declared")

    def _same(self, a: cst.BaseExpression, b: cst.BaseExpression) -> bool:
        return a.deep_equals(b) if isinstance(a, (cst.Name, cst.Subscript)) else False

    def _read(self, node: cst.BaseExpression) -> tuple[cst.Subscript | None, Assignment | None]:
        """`row["col"]` itself, or a local assigned once from it (with that assignment)."""
        if _column_read(node):
            return node, None
        if isinstance(node, cst.Name):
            assignment = self._only_assignment(node)
            if assignment is None or isinstance(assignment.scope, GlobalScope):
                return None, None
            target = self.get_metadata(ParentNodeProvider, assignment.node)
            if isinstance(target, cst.AssignTarget):
                assign = self.get_metadata(ParentNodeProvider, target)
                if len(assign.targets) == 1 and _column_read(assign.value):
                    return assign.value, assignment
        return None, None

    def _removable(self, local: Assignment) -> bool:
        """`v = row["col"]` on a line of its own, with no comment: the read can take v's place."""
        line = self._assign_line(local)
        return line is not None and not any(empty.comment for empty in line.leading_lines) \
            and not isinstance(line.trailing_whitespace.comment, cst.Comment)

    def _assign_line(self, local: Assignment) -> cst.SimpleStatementLine | None:
        assign = self.get_metadata(ParentNodeProvider, self.get_metadata(ParentNodeProvider, local.node))
        line = self.get_metadata(ParentNodeProvider, assign)
        return line if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1 else None

    def _only_assignment(self, name: cst.Name) -> Assignment | None:
        scope = self.get_metadata(ScopeProvider, name, None)
        if scope is None:
            return None
        assignments = list(scope[name.value])
        if len(assignments) != 1 or not isinstance(assignments[0], Assignment):
            return None
        return assignments[0]

    def _holder(self, name: cst.BaseExpression):
        """What holds the row: the Assignment of a row variable bound from a statement, or the
        name of a module-level function whose one parameter it is. None: no row of a statement."""
        if not isinstance(name, cst.Name):
            return None
        assignment = self._only_assignment(name)
        if assignment is None:
            return None
        if isinstance(assignment.node, cst.Param):
            function = self.get_metadata(ParentNodeProvider, self.get_metadata(ParentNodeProvider, assignment.node))
            params = function.params if isinstance(function, cst.FunctionDef) else None
            if params is not None and isinstance(assignment.scope.parent, GlobalScope) \
                    and len(params.params) == 1 and not isinstance(params.star_arg, (cst.Param, cst.ParamStar)) \
                    and not params.kwonly_params and params.star_kwarg is None \
                    and not params.posonly_params and not function.decorators and params.params[0].default is None:
                return function.name.value
            return None
        return assignment if self._row_source(assignment) is not None else None

    def _row_source(self, assignment: Assignment) -> _Source | None:
        """The statement a row variable holds a row of: `row = first_record(...)`, or the loop
        variable of `for r in rows` / `[... for r in rows]` over `rows = all_records(...)`."""
        parent = self.get_metadata(ParentNodeProvider, assignment.node)
        if isinstance(parent, cst.AssignTarget):
            assign = self.get_metadata(ParentNodeProvider, parent)
            source = self._sources.get(assign.value) if len(assign.targets) == 1 else None
            return source if source is not None and not source.many else None
        if isinstance(parent, (cst.For, cst.CompFor)) and parent.target is assignment.node \
                and isinstance(parent.iter, cst.Name):
            rows = self._only_assignment(parent.iter)
            if rows is None:
                return None
            target = self.get_metadata(ParentNodeProvider, rows.node)
            if isinstance(target, cst.AssignTarget):
                assign = self.get_metadata(ParentNodeProvider, target)
                source = self._sources.get(assign.value) if len(assign.targets) == 1 else None
                return source if source is not None and source.many else None
        return None

    # -- one decision per group of rows ---------------------------------------------------------

    def _settle(self, decodes: list[_Decode]) -> None:
        """Group the decode sites by the rows they read (a helper joins the rows of every caller),
        then change a group whole or leave it whole."""
        groups: list[tuple[set, list[_Decode]]] = []
        for decode in decodes:
            try:
                group = self._group(decode.holder)
            except _Refused as refused:
                self.leave_alone(decode.node, str(refused))
                continue
            joined = [g for g in groups if g[0] & group]
            for other in joined:
                groups.remove(other)
                group |= other[0]
            groups.append((group, [d for g in joined for d in g[1]] + [decode]))
        for group, group_decodes in groups:
            try:
                self._check(group, group_decodes)
            except _Refused as refused:
                for decode in group_decodes:
                    self.leave_alone(decode.node, str(refused))
                continue
            self._schedule(group, group_decodes)

    def _group(self, holder) -> set:
        """The holder with every row variable a helper of it receives, and every helper a row
        variable of it is passed to."""
        group, pending = set(), [holder]
        while pending:
            current = pending.pop()
            if current in group:
                continue
            group.add(current)
            if isinstance(current, str):
                pending.extend(self._callers(current))
            else:
                pending.extend(self._helpers_of(current))
        return group

    def _function(self, name: str) -> cst.FunctionDef:
        return next(n for n in self._module.body if isinstance(n, cst.FunctionDef) and n.name.value == name)

    def _callers(self, name: str) -> list[Assignment]:
        """The row variables passed to helper `name`; refused unless every use of the helper is a
        call with one row of a statement."""
        if name in self.plan.imported_elsewhere.get(self.relative_path(), frozenset()) or self._exported(name):
            raise _Refused(f"{name}() is imported by other modules, whose rows this module cannot see")
        scope = self.get_metadata(ScopeProvider, self._function(name))
        rows = []
        for assignment in self.in_module_order(scope[name], lambda a: getattr(a, "node", None)):
            for use in self._accesses(assignment):
                call = self.get_metadata(ParentNodeProvider, use)
                if not (isinstance(call, cst.Call) and call.func is use and len(call.args) == 1
                        and call.args[0].keyword is None and not call.args[0].star):
                    raise _Refused(f"{name}() is used at line {self.line_of(use)} other than called with one row")
                holder = self._holder(call.args[0].value)
                if not isinstance(holder, Assignment):
                    raise _Refused(f"{name}() is also called with something that is not a row of a statement "
                                   f"(line {self.line_of(call)})")
                rows.append(holder)
        return rows

    def _exported(self, name: str) -> bool:
        for statement in self._module.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if isinstance(small, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value ==
                                                             "__all__" for t in small.targets):
                        return name in cst.Module(body=[]).code_for_node(small.value)
        return False

    def _helpers_of(self, assignment: Assignment) -> list[str]:
        helpers = []
        for use in self._accesses(assignment):
            call = self.get_metadata(ParentNodeProvider, use)
            if isinstance(call, cst.Arg):
                call = self.get_metadata(ParentNodeProvider, call)
                if isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and len(call.args) == 1:
                    holder = self._holder_of_function(call.func)
                    if holder is not None:
                        helpers.append(holder)
        return helpers

    def _holder_of_function(self, func: cst.Name) -> str | None:
        assignment = self._only_assignment(func)
        if assignment is None or not isinstance(assignment.scope, GlobalScope) \
                or not isinstance(assignment.node, cst.FunctionDef):
            return None
        params = assignment.node.params.params
        if len(params) != 1:
            return None
        return func.value if self._holder(params[0].name) == func.value else None

    def _check(self, group: set, decodes: list[_Decode]) -> None:
        """Refuse unless typing the decoded columns changes nothing but the decodes."""
        if self.plan.json_codecs:
            raise _Refused(f"the application registers its own codec for {', '.join(sorted(self.plan.json_codecs))} "
                           "(set_type_codec), so the engine decodes JSON as that codec does")
        if any(option.key in ("json_deserializer", "json_serializer") for option in self.plan.engine_kwargs):
            raise _Refused("the engine has a json_deserializer of its own")
        keys = {d.key for d in decodes}
        accounted = {id(read) for d in decodes for read in d.reads}
        for holder in self._holders(group):
            for use in self._uses(holder):
                if _column_read(use) and _key(use) in keys:
                    if id(use) not in accounted:
                        raise _Refused(f"column {_key(use)!r} is also read as text at line {self.line_of(use)}")
                    continue
                if not self._harmless(use, group):
                    raise _Refused(f"the row reaches more than reads of its columns at line {self.line_of(use)} "
                                   f"({self._show(use)}), so the text of {', '.join(sorted(map(repr, keys)))} "
                                   "would reach it decoded")
        for decode in decodes:
            self._once(decode, group)
        sources = self._group_sources(group)
        if untypable := [source for source in sources if source.problem]:
            raise _Refused(_cannot_be_typed(untypable))
        for source in sources:
            names = [o.name for o in source.outputs]
            if None in names:
                raise _Refused(f"a column of the statement at line {source.line} has a name only PostgreSQL would "
                               "tell")
            for decode in decodes:
                found = [o for o in source.outputs if o.name == decode.key]
                if len(found) != 1:
                    raise _Refused(f"the statement at line {source.line} returns {len(found)} columns named "
                                   f"{decode.key!r}")
                fact = found[0].fact
                if fact is None or fact.type not in JSON_TYPES:
                    what = "an expression" if fact is None else f"a {fact.type} column"
                    raise _Refused(f"{decode.key!r} of the statement at line {source.line} is {what}, not a json or "
                                   "jsonb column of the application's DDL")
                if decode.tests_text and not fact.not_null:
                    raise _Refused(f"{decode.key!r} may be NULL and the code tests its text: a decoded value cannot "
                                   "tell SQL NULL from JSON null")
                if not decode.key.isidentifier() or decode.key in ("self",):
                    raise _Refused(f"{decode.key!r} is no keyword argument name for .columns()")
                source.types[decode.key] = _TYPE_NAMES[fact.type]

    def _uses(self, holder) -> list[cst.CSTNode]:
        """Every expression that reads the row: the row variable's references (a row list's
        references are its iterations, checked as the loop variable's own), or the helper's
        parameter inside it."""
        if isinstance(holder, str):
            function = self._function(holder)
            param = function.params.params[0]
            assignment = self._only_assignment(param.name)
            return [self._outer(node) for node in self._accesses(assignment)]
        uses = [self._outer(node) for node in self._accesses(holder)]
        parent = self.get_metadata(ParentNodeProvider, holder.node)
        if isinstance(parent, (cst.For, cst.CompFor)):
            rows = self._only_assignment(parent.iter)
            for use in self._accesses(rows):
                loop = self.get_metadata(ParentNodeProvider, use)
                if not (isinstance(loop, (cst.For, cst.CompFor)) and loop.iter is use):
                    if not self._harmless(use, set()):
                        raise _Refused(f"the rows reach more than a loop over them at line "
                                       f"{self.line_of(use)} ({self._show(use)})")
                elif loop is not parent:
                    raise _Refused(f"the rows are iterated again at line {self.line_of(loop)}")
        return uses

    def _outer(self, name: cst.Name) -> cst.CSTNode:
        """The row's use: `row["col"]` for a column read, else the name itself."""
        parent = self.get_metadata(ParentNodeProvider, name)
        return parent if isinstance(parent, cst.Subscript) and parent.value is name and _column_read(parent) else name

    def _harmless(self, use: cst.CSTNode, group: set) -> bool:
        """A use of a row (or row list) that reads none of its values: a truth test, `is None`,
        len(), or the call of a helper in the group (whose own uses are checked)."""
        if _column_read(use):
            return True
        parent = self.get_metadata(ParentNodeProvider, use)
        if isinstance(parent, (cst.If, cst.While, cst.IfExp)) and parent.test is use:
            return True
        if isinstance(parent, cst.UnaryOperation) and isinstance(parent.operator, cst.Not):
            return True
        if isinstance(parent, cst.Comparison) and parent.left is use and len(parent.comparisons) == 1 \
                and isinstance(parent.comparisons[0].operator, (cst.Is, cst.IsNot)) \
                and isinstance(parent.comparisons[0].comparator, cst.Name) \
                and parent.comparisons[0].comparator.value == "None":
            return True
        if isinstance(parent, cst.Arg):
            call = self.get_metadata(ParentNodeProvider, parent)
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and len(call.args) == 1:
                if call.func.value == "len" and self._is_builtin(call.func):
                    return True
                return self._holder_of_function(call.func) in group
        return False

    def _is_builtin(self, name: cst.Name) -> bool:
        scope = self.get_metadata(ScopeProvider, name, None)
        return scope is not None and not any(isinstance(a, Assignment) for a in scope[name.value])

    def _once(self, decode: _Decode, group: set) -> None:
        """Each row is decoded at most once: the decode site runs once per call of its function,
        and a row reaches the helper (or the decode) once per row."""
        self._no_loop_between(decode.node, decode.holder, "the decode")
        if isinstance(decode.holder, str):
            for holder in self._holders(group):
                if isinstance(holder, Assignment):
                    calls = [node for node in self._accesses(holder) if self._harmless(node, group)
                             and isinstance(self.get_metadata(ParentNodeProvider, node), cst.Arg)]
                    if len(calls) > 1:
                        raise _Refused(f"the row of line {self.line_of(holder.node)} is handed to a helper "
                                       f"{len(calls)} times; each decode would give an object of its own")
                    for call in calls:
                        self._no_loop_between(call, holder, "the call of the helper")

    def _no_loop_between(self, node: cst.CSTNode, holder, what: str) -> None:
        """No loop, comprehension or nested function between `node` and where its row is bound."""
        if isinstance(holder, str):
            stop: cst.CSTNode = self._function(holder)
        else:
            binding = self.get_metadata(ParentNodeProvider, holder.node)
            stop = binding if isinstance(binding, (cst.For, cst.CompFor)) else None
            if stop is None:  # row = first_record(...): the function (or module) that assigns it
                stop = holder.node
                while not isinstance(stop, (cst.FunctionDef, cst.Module)):
                    stop = self.get_metadata(ParentNodeProvider, stop)
        comprehensions = (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)
        current = self.get_metadata(ParentNodeProvider, node)
        while current is not stop and not isinstance(current, cst.Module):
            if isinstance(current, comprehensions) and current.for_in is stop:
                return  # the comprehension that binds the row
            if isinstance(current, (*_LOOPS, *comprehensions)):
                raise _Refused(f"{what} at line {self.line_of(node)} sits in a loop over the same row, so one row "
                               "would give one shared decoded object where each decode gave its own")
            current = self.get_metadata(ParentNodeProvider, current)

    def _group_sources(self, group: set) -> list[_Source]:
        """The statements whose rows the group reads, in the order of the module."""
        sources = []
        for holder in self._holders(group):
            if isinstance(holder, Assignment):
                source = self._row_source(holder)
                if source not in sources:
                    sources.append(source)
        return self.in_module_order(sources, lambda source: source.call)

    # -- the order of the module ----------------------------------------------------------------
    # A group holds assignments (hashed by address) and helper names (hashed by the run's
    # seed), and scopes hold accesses in sets: whatever is checked, and so whatever a reason
    # names, goes in the order of the module (UnifyCodemod.in_module_order).

    def _accesses(self, assignment: Assignment) -> list[cst.CSTNode]:
        """The nodes that read `assignment`, in the order of the module."""
        return self.in_module_order(access.node for access in assignment.references)

    def _holders(self, group: set) -> list:
        """The group's row variables (by where they are bound) and helpers (by their def), in
        the order of the module."""
        return self.in_module_order(group, lambda holder: self._function(holder) if isinstance(holder, str)
                                    else holder.node)

    def _show(self, node: cst.CSTNode) -> str:
        parent = self.get_metadata(ParentNodeProvider, node)
        while isinstance(parent, (cst.Arg, cst.Element, cst.Subscript, cst.Attribute, cst.Comparison)):
            node, parent = parent, self.get_metadata(ParentNodeProvider, parent)
        if isinstance(parent, (cst.Call, cst.Return, cst.Assign, cst.Expr)):
            node = parent
        code = cst.Module(body=[]).code_for_node(node).strip().splitlines()[0]
        return code if len(code) <= 60 else code[:57] + "..."

    # -- the edits ----------------------------------------------------------------------------------

    def _schedule(self, group: set, decodes: list[_Decode]) -> None:
        sources = self._group_sources(group)
        for source in sources:
            self._columns[source.text_call] = dict(source.types)
            declared = ", ".join(f"{k}={v}" for k, v in sorted(source.types.items()))
            self.record(source.call, f"text(...).columns({declared}): the statement declares its JSON columns, "
                                     "whose values arrive decoded")
        lines = ", ".join(str(s.line) for s in sorted(sources, key=lambda s: s.line))
        for decode in decodes:
            inlined = decode.keep is not decode.local_use
            self._replace[decode.node] = decode.keep if inlined else None
            if inlined:
                self._drop.add(self._assign_line(decode.local))
            self.record(decode.node, f"json.loads of {decode.key!r} dropped: the value arrives decoded from the "
                                     f"statement{'s' if len(sources) > 1 else ''} at line{'s' if len(sources) > 1 else ''}"
                                     f" {lines}, equal to what json.loads gave")
        for name in sorted({t for s in sources for t in s.types.values()}):
            AddImportsVisitor.add_needed_import(self.context, _DIALECT, name)
        RemoveImportsVisitor.remove_unused_import(self.context, "json")

    def _report_encodes(self, module: cst.Module) -> None:
        """json.dumps(...) among a statement's parameters: reported, never changed."""
        for call in _walk(module, cst.Call):
            if not self._is(call.func, "json.dumps"):
                continue
            current = self.get_metadata(ParentNodeProvider, call)
            while not isinstance(current, (cst.Module, cst.FunctionDef, cst.SimpleStatementLine)):
                if isinstance(current, cst.Call) and self._takes_parameters(current):
                    self.leave_alone(
                        call, "json.dumps stays: a typed JSON parameter would encode inside SQLAlchemy's execution, "
                              "where a value json.dumps cannot encode raises sqlalchemy.exc.StatementError instead "
                              "of TypeError, and nothing here proves every value encodes",
                        "bindparam(..., type_=JSONB) with the SQL's own cast removed, where the value is known to "
                        "encode and no caller catches TypeError")
                    break
                current = self.get_metadata(ParentNodeProvider, current)

    def _takes_parameters(self, call: cst.Call) -> bool:
        """A call that sends a statement with parameters: execute(), exec_driver_sql(), execute_many()."""
        if isinstance(call.func, cst.Attribute) and call.func.attr.value in ("execute", "exec_driver_sql"):
            return len(call.args) > 1
        return self._is(call.func, f"{self.plan.raw_sql_module}.execute_many")

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if original_node in self._columns:
            types = self._columns[original_node]
            return cst.Call(
                func=cst.Attribute(value=updated_node, attr=cst.Name("columns")),
                args=[cst.Arg(value=cst.Name(types[k]), keyword=cst.Name(k),
                              equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                    whitespace_after=cst.SimpleWhitespace("")))
                      for k in sorted(types)])
        if original_node in self._replace:
            return self._kept(original_node, updated_node.args[0].value)
        return updated_node

    def leave_IfExp(self, original_node: cst.IfExp, updated_node: cst.IfExp) -> cst.BaseExpression:
        if original_node in self._replace:
            body = updated_node.body
            return self._kept(original_node, body.args[0].value if isinstance(body, cst.Call) else body)
        return updated_node

    def _kept(self, original: cst.CSTNode, argument: cst.BaseExpression) -> cst.BaseExpression:
        """What takes the decode's place: its argument, or the column read a dropped local held."""
        read = self._replace[original]
        return argument if read is None else read

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine,
                                  updated_node: cst.SimpleStatementLine):
        if original_node in self._drop:
            return cst.RemoveFromParent()
        return updated_node


def _cannot_be_typed(sources: list[_Source]) -> str:
    """Why the statements cannot be typed, every one of them named, in line order: those that
    share a reason together."""
    problems: dict[str, list[int]] = {}
    for source in sources:
        problems.setdefault(source.problem, []).append(source.line)
    parts = []
    for problem, lines in problems.items():
        if len(lines) == 1:
            parts.append(f"the statement at line {lines[0]} cannot be typed: {problem}")
        else:
            listed = ", ".join(map(str, lines[:-1])) + f" and {lines[-1]}"
            parts.append(f"the statements at lines {listed} cannot be typed: {problem}")
    return "; ".join(parts)


def _walk(node: cst.CSTNode, kind: type) -> list:
    found = []
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, kind):
            found.append(current)
        pending.extend(reversed(current.children))
    return found


def _column_read(node: cst.CSTNode) -> bool:
    """`name["column"]`: one string key, read."""
    if not (isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and len(node.slice) == 1):
        return False
    index = node.slice[0].slice
    return isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString) \
        and isinstance(index.value.evaluated_value, str)


def _key(node: cst.Subscript) -> str:
    return node.slice[0].slice.value.evaluated_value
