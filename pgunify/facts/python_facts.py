"""Facts from one Python file: one libcst parse, one metadata resolution, read-only."""

from __future__ import annotations

import re

import libcst as cst
from libcst.metadata import Assignment, MetadataWrapper, ParentNodeProvider, PositionProvider, ScopeProvider

from pgunify.dsn import looks_like_database_url, redact
from pgunify.facts.constants import bound_literal, static_string
from pgunify.facts import parsed
from pgunify.facts.parents import resolve_parents, resolve_scopes_and_positions
from pgunify.facts.model import (
    AcquireSite,
    ConnectionFactory,
    EnvRead,
    ExceptClause,
    FileFacts,
    Location,
    SchemaSource,
    SqlCall,
)
from pgunify.facts.receivers import (
    ASYNCPG_FACTORIES,
    SQLALCHEMY_FACTORIES,
    Kind,
    ReceiverResolver,
    collect_class_attributes,
)
from pgunify.facts.api import BY_NAME, sending_methods
from pgunify.sql.lexing import SqlLexError, shape

# Methods that send SQL or data to the server, by receiver kind: from the one table of
# asyncpg's API (pgunify.facts.api), as the model and the codemods read it.
QUERY_METHODS = {
    Kind.POOL: sending_methods("pool"),
    Kind.CONNECTION: sending_methods("connection"),
    Kind.PREPARED: sending_methods("prepared"),
}
# Methods that exist only on asyncpg objects: reported even when the receiver is unresolved.
ASYNCPG_ONLY_METHODS = BY_NAME
_TABLE_CONSTRUCTORS = frozenset({"sqlalchemy.Table", "sqlalchemy.schema.Table", "sqlalchemy.sql.schema.Table"})
_DB_VAR = re.compile(r"(DATABASE|_DB|^DB|PG|POSTGRES|DSN|SQLALCHEMY)", re.IGNORECASE)
# a textual prefilter: files that mention none of these are not parsed at all
PREFILTER = re.compile(rb"asyncpg|sqlalchemy|getenv|environ|fetch|execute|create_all|__tablename__|\.sql\b")


def _under_the_engine(receiver: cst.BaseExpression) -> bool:
    """`(await driver_connection(conn))`: migrated code reaching the driver on purpose (COPY, scripts)."""
    inner = receiver.expression if isinstance(receiver, cst.Await) else receiver
    return isinstance(inner, cst.Call) and isinstance(inner.func, cst.Name) and \
        inner.func.value in ("driver_connection", "asyncpg_connection")


class FactsVisitor(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (ScopeProvider, PositionProvider, ParentNodeProvider)

    def __init__(self, path: str, module: cst.Module, attributes, imports_asyncpg: bool) -> None:
        super().__init__()
        self.path = path
        self.module = module
        self.resolver = ReceiverResolver(self.get_metadata, attributes, imports_asyncpg)
        self.factories: list[ConnectionFactory] = []
        self.acquires: list[AcquireSite] = []
        self.calls: list[SqlCall] = []
        self.env_reads: list[EnvRead] = []
        self.schema_sources: list[SchemaSource] = []
        self.except_clauses: list[ExceptClause] = []
        self.orm_tables: list[tuple[str, str]] = []
        self.returns: list[tuple[str, str]] = []
        self._scope_names: list[str] = []

    # -- helpers -----------------------------------------------------------------
    def loc(self, node: cst.CSTNode) -> Location:
        pos = self.get_metadata(PositionProvider, node).start
        return Location(self.path, pos.line, pos.column)

    def src(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.get_metadata(ParentNodeProvider, node, None)

    def _assignment_target(self, call: cst.Call) -> str | None:
        node: cst.CSTNode = call
        parent = self.parent(node)
        if isinstance(parent, cst.Await):
            node, parent = parent, self.parent(parent)
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
            return self.src(parent.targets[0].target)
        if isinstance(parent, cst.AnnAssign):
            return self.src(parent.target)
        if isinstance(parent, cst.WithItem) and parent.asname is not None:
            return self.src(parent.asname.name)
        return None

    def _under_the_engine(self, receiver: cst.BaseExpression) -> bool:
        """`(await driver_connection(conn))`, or a name only ever bound to it
        (`raw = await driver_connection(conn)`)."""
        if _under_the_engine(receiver):
            return True
        if not isinstance(receiver, cst.Name):
            return False
        scope = self.get_metadata(ScopeProvider, receiver, None)
        values = []
        for assignment in scope[receiver.value] if scope is not None else ():
            target = self.parent(assignment.node) if isinstance(assignment, Assignment) else None
            assign = self.parent(target) if isinstance(target, cst.AssignTarget) else None
            values.append(assign.value if isinstance(assign, cst.Assign) else None)
        return bool(values) and all(value is not None and _under_the_engine(value) for value in values)

    # -- scopes for readable function names ----------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._scope_names.append(node.name.value)
        for statement in node.body.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if isinstance(small, cst.Assign) and any(
                        isinstance(t.target, cst.Name) and t.target.value == "__tablename__" for t in small.targets
                    ):
                        table = static_string(small.value)
                        if table:
                            self.orm_tables.append((node.name.value, table))
                            self.schema_sources.append(
                                SchemaSource(self.loc(node), "orm-model", f"{node.name.value} -> {table}"))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._scope_names.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._scope_names.append(node.name.value)
        if node.returns is not None:
            named = self.resolver.annotation_kind(node.returns.annotation)
            if named is not None and named.kind in (Kind.POOL, Kind.CONNECTION):
                self.returns.append((".".join(self._scope_names), named.kind.value))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._scope_names.pop()

    # -- calls ---------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.resolver.qualified(node.func)
        if qualified & _TABLE_CONSTRUCTORS and node.args and node.args[0].keyword is None:
            table = static_string(node.args[0].value)
            if table:  # an imperative Table("name", metadata, ...): the schema as much as a model class
                self.orm_tables.append(("Table", table))
                self.schema_sources.append(SchemaSource(self.loc(node), "orm-model", f"Table -> {table}"))
            return
        for q in qualified:
            if q in ASYNCPG_FACTORIES or q in SQLALCHEMY_FACTORIES:
                self._record_factory(node, q)
                return
            if q in ("os.getenv", "os.environ.get", "os.environ.setdefault"):
                self._record_env(node, node.args, q)
                return
        if isinstance(node.func, cst.Attribute):
            method = node.func.attr.value
            if method == "create_all":
                return  # recorded by visit_Attribute
            owner = self.resolver.resolve(node.func.value)
            if owner.kind is Kind.POOL and method in ("acquire", "release"):
                form = "release" if method == "release" else ("async-with" if isinstance(self.parent(node), cst.WithItem) else "await")
                self.acquires.append(AcquireSite(self.loc(node), self.src(node.func.value), form, self._assignment_target(node)))
                return
            allowed = QUERY_METHODS.get(owner.kind)
            if allowed and method in allowed:
                self._record_sql_call(node, owner.kind.value, owner.evidence, method)
            elif self._under_the_engine(node.func.value) and method in QUERY_METHODS[Kind.CONNECTION]:
                self._record_sql_call(node, "driver", "asyncpg connection under the shared engine", method)
            elif owner.kind is Kind.UNKNOWN and method in ASYNCPG_ONLY_METHODS and self.resolver._asyncpg:
                self._record_sql_call(node, "unresolved", "method name only", method)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        # `metadata.create_all(engine)` and `conn.run_sync(Base.metadata.create_all)` alike
        if node.attr.value == "create_all" and self.src(node.value).split(".")[-1].lower().endswith("metadata"):
            self.schema_sources.append(SchemaSource(self.loc(node), "metadata-create-all", self.src(node)))

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if "os.environ" in self.resolver.qualified(node.value):
            parent = self.parent(node)
            if isinstance(parent, cst.AssignTarget):
                return  # os.environ["X"] = ... writes, not reads
            if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
                self._record_env(node, [cst.Arg(node.slice[0].slice.value)], "os.environ[]")

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.type is None:
            return
        types = [e.value for e in node.type.elements] if isinstance(node.type, cst.Tuple) else [node.type]
        for t in types:
            for q in self.resolver.qualified(t):
                if q.startswith("asyncpg."):
                    self.except_clauses.append(ExceptClause(self.loc(t), q))

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        value = node.evaluated_value
        if isinstance(value, str) and value.lower().endswith(".sql") and "\n" not in value and len(value) < 300:
            self.schema_sources.append(SchemaSource(self.loc(node), "sql-file-reference", value))

    # -- recorders -------------------------------------------------------------------
    def _record_factory(self, node: cst.Call, api: str) -> None:
        kind = (ASYNCPG_FACTORIES.get(api) or SQLALCHEMY_FACTORIES[api]).value
        kind = {"pool": "pool", "connection": "connection", "sqlalchemy-engine": "engine",
                "sqlalchemy-session": "session-factory"}[kind]
        url = None
        options: dict[str, str] = {}
        for index, arg in enumerate(node.args):
            if arg.keyword is None and arg.star == "" and index == 0:
                url = redact(self.src(arg.value))
            elif arg.keyword is not None:
                key = arg.keyword.value
                if key in ("dsn", "url") and url is None:
                    url = redact(self.src(arg.value))
                elif key in ("password", "passwd", "sslpassword"):
                    options[key] = "***"
                else:
                    options[key] = redact(self.src(arg.value))
        self.factories.append(ConnectionFactory(
            self.loc(node), api, kind, "asyncpg" if api.startswith("asyncpg") else "sqlalchemy",
            self._assignment_target(node), url, options))

    def _record_env(self, node: cst.CSTNode, args, api: str) -> None:
        positional = [a for a in args if a.keyword is None]
        if not positional:
            return
        name = static_string(positional[0].value)
        if name is None:
            return
        default_node = positional[1].value if len(positional) > 1 else next(
            (a.value for a in args if a.keyword is not None and a.keyword.value in ("default", "value")), None)
        default = static = None
        if default_node is not None:
            static = static_string(default_node)
            default = static if static is not None else self.src(default_node)
        is_db = bool(_DB_VAR.search(name)) and name.upper().endswith(("URL", "URI", "DSN", "DATABASE_URL")) or (
            default is not None and looks_like_database_url(default))
        target = None
        parent = self.parent(node)
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
            target = self.src(parent.targets[0].target)
        self.env_reads.append(EnvRead(self.loc(node), name, None if default is None else redact(default), api, is_db, target,
                                      raw_default=static))

    def _record_sql_call(self, node: cst.Call, receiver_kind: str, evidence: str, method: str) -> None:
        sql, origin = self._sql_argument(node, method)
        placeholders: tuple[int, ...] = ()
        casts: tuple[tuple[int, str], ...] = ()
        statements = 1
        if sql is not None:
            try:
                parsed = shape(sql)
            except SqlLexError:
                parsed = None
            if parsed is not None:
                placeholders, casts, statements = parsed.numbers, parsed.casts, parsed.statements
                if parsed.is_ddl:
                    self.schema_sources.append(SchemaSource(self.loc(node), "ddl-in-code", _first_line(sql)))
        self.calls.append(SqlCall(
            location=self.loc(node),
            function=".".join(self._scope_names) or "<module>",
            receiver=self.src(node.func.value),  # type: ignore[attr-defined]
            receiver_kind=receiver_kind,
            evidence=evidence,
            method=method,
            sql=sql,
            sql_origin=origin,
            placeholders=placeholders,
            casts=casts,
            statements=statements,
            result_use=tuple(self._result_use(node)),
            in_transaction=self._inside_transaction(node),
        ))

    def _sql_argument(self, node: cst.Call, method: str) -> tuple[str | None, str]:
        if method.startswith("copy_") or (method in ("fetch", "fetchrow", "fetchval", "executemany", "cursor", "explain")
                                          and isinstance(node.func, cst.Attribute)
                                          and self.resolver.resolve(node.func.value).kind is Kind.PREPARED):
            return None, "none"
        arg = next((a for a in node.args if a.keyword is None), None) or next(
            (a for a in node.args if a.keyword is not None and a.keyword.value in ("query", "command")), None)
        if arg is None:
            return None, "none"
        static = static_string(arg.value)
        if static is not None:
            return static, "literal"
        if isinstance(arg.value, (cst.Name, cst.Attribute)):
            constant = self._constant_value(arg.value)
            if constant is not None:
                return constant, f"constant:{self.src(arg.value)}"
        return None, "dynamic"

    def _constant_value(self, node: cst.BaseExpression) -> str | None:
        """A name or attribute bound exactly once to a string literal in this module."""
        name = node if isinstance(node, cst.Name) else None
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
            entries = self.resolver._attrs.get((self._scope_names[0], node.attr.value), []) if self._scope_names else []
            values = [v for v, _ in entries if not isinstance(v, cst.Annotation)]
            if len(values) == 1:
                return static_string(values[0])  # type: ignore[arg-type]
            return None
        if name is None:
            return None
        bound = bound_literal(self.get_metadata, name)
        return static_string(bound[0]) if bound is not None else None

    def _inside_transaction(self, node: cst.CSTNode) -> bool:
        current = self.parent(node)
        while current is not None and not isinstance(current, (cst.FunctionDef, cst.Module)):
            if isinstance(current, cst.With):
                for item in current.items:
                    if isinstance(item.item, cst.Call) and isinstance(item.item.func, cst.Attribute) and \
                            item.item.func.attr.value == "transaction":
                        return True
            current = self.parent(current)
        return False

    # -- how a result is consumed -------------------------------------------------------
    def _result_use(self, call: cst.Call) -> list[str]:
        node: cst.CSTNode = call
        parent = self.parent(node)
        if isinstance(parent, cst.Await):
            node, parent = parent, self.parent(parent)
        uses = self._use_of(node, parent)
        if uses and uses[0].startswith("assigned:"):
            name_node = uses.pop(0)
            target = self._bound_name(parent)
            if target is not None:
                uses.extend(self._uses_of_name(target, depth=0))
            else:
                uses.append(name_node)
        return sorted(set(uses)) or ["unused"]

    def _bound_name(self, assign: cst.CSTNode | None) -> cst.Name | None:
        if isinstance(assign, cst.Assign) and len(assign.targets) == 1 and isinstance(assign.targets[0].target, cst.Name):
            return assign.targets[0].target
        if isinstance(assign, cst.AnnAssign) and isinstance(assign.target, cst.Name):
            return assign.target
        return None

    def _use_of(self, node: cst.CSTNode, parent: cst.CSTNode | None) -> list[str]:
        if isinstance(parent, cst.Expr):
            return ["discarded"]
        if isinstance(parent, cst.Return):
            return ["returned"]
        if isinstance(parent, (cst.Assign, cst.AnnAssign)):
            if isinstance(parent, cst.Assign) and isinstance(parent.targets[0].target, (cst.Tuple, cst.List)):
                return ["unpacked"]
            return ["assigned:"]
        if isinstance(parent, cst.Subscript) and parent.value is node:
            index = parent.slice[0].slice if parent.slice else None
            if isinstance(index, cst.Index):
                if isinstance(index.value, (cst.SimpleString, cst.ConcatenatedString)):
                    return ["row['col']"]
                if isinstance(index.value, (cst.Integer, cst.UnaryOperation)):
                    return ["row[i]"]
            return ["subscripted"]
        if isinstance(parent, cst.Attribute) and parent.value is node:
            grand = self.parent(parent)
            if isinstance(grand, cst.Call):
                return [f".{parent.attr.value}()"]
            return [f".{parent.attr.value}"]
        if isinstance(parent, cst.Arg):
            call = self.parent(parent)
            if isinstance(call, cst.Call):
                callee = self.src(call.func)
                return [f"{callee}(...)"]
        if isinstance(parent, (cst.For, cst.CompFor)) and parent.iter is node:
            return ["iterated"]
        if isinstance(parent, cst.Comparison):
            return ["compared"]
        if isinstance(parent, (cst.If, cst.BooleanOperation, cst.UnaryOperation, cst.IfExp)):
            return ["truth-tested"]
        if isinstance(parent, cst.Element):
            return ["stored in a container"]
        if isinstance(parent, cst.DictElement):
            return ["stored in a container"]
        return [type(parent).__name__.lower()] if parent is not None else []

    def _uses_of_name(self, name: cst.Name, depth: int) -> list[str]:
        try:
            scope = self.get_metadata(ScopeProvider, name)
        except KeyError:
            return []
        if scope is None:
            return []
        uses: list[str] = []
        for assignment in scope[name.value]:
            if getattr(assignment, "node", None) is not name:
                continue
            for access in assignment.references:
                node = access.node
                parent = self.parent(node)
                found = self._use_of(node, parent)
                for use in found:
                    if use == "iterated" and depth == 0 and isinstance(parent, (cst.For, cst.CompFor)) and \
                            isinstance(parent.target, cst.Name):
                        uses.append("iterated")
                        uses.extend(f"each: {u}" for u in self._uses_of_name(parent.target, depth + 1))
                    elif use == "iterated" and isinstance(parent, (cst.For, cst.CompFor)) and \
                            isinstance(parent.target, (cst.Tuple, cst.List)):
                        uses.append("iterated and unpacked")
                    elif use != "assigned:":
                        uses.append(use)
        return uses


def _first_line(sql: str) -> str:
    for line in sql.strip().splitlines():
        if line.strip() and not line.strip().startswith("--"):
            return line.strip()[:120]
    return sql.strip()[:120]


def facts_from_source(path: str, source: bytes) -> FileFacts:
    """Parse and analyse one file. Raises libcst.ParserSyntaxError on bad syntax."""
    module = cst.parse_module(source)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    resolve_parents(wrapper)
    resolve_scopes_and_positions(wrapper)
    collector = collect_class_attributes(wrapper.module)
    visitor = FactsVisitor(path, wrapper.module, collector.attributes, collector.imports_asyncpg)
    wrapper.visit(visitor)
    parsed.keep(path, source, wrapper)  # for the rewrite of this file, in a worker of a migrate run
    return FileFacts(
        path=path,
        factories=tuple(visitor.factories),
        acquires=tuple(visitor.acquires),
        calls=tuple(visitor.calls),
        env_reads=tuple(visitor.env_reads),
        schema_sources=tuple(visitor.schema_sources),
        except_clauses=tuple(visitor.except_clauses),
        orm_tables=tuple(visitor.orm_tables),
        returns=tuple(visitor.returns),
    )
