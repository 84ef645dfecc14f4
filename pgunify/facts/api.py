"""The one table of asyncpg's API: every method a pool or connection offers that touches the
server or the pool, and what `pgunify migrate` does with it.

The scan, the repositories codemod, the closure check and `pgunify verify` all read this
table; none keeps a list of its own.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from enum import Enum


class Move(str, Enum):
    """Where a call of this method ends after the migration, on a receiver the model is sure of."""

    CORE = "core"  # onto SQLAlchemy Core, statement proven (or run as driver SQL on Core)
    DRIVER = "driver"  # onto the asyncpg connection under the engine's connection
    POOL = "pool"  # the pool's own life cycle: acquire/release/close become the engine's
    MANUAL = "manual"  # nothing equivalent: a person decides


@dataclass(frozen=True)
class ApiMethod:
    name: str
    on: frozenset[str]  # "pool", "connection", "prepared", "cursor"
    move: Move
    note: str
    # SQLAlchemy's AsyncConnection/AsyncEngine has a method of this name: on a SQLAlchemy
    # object the call is asyncpg's only when its arguments say so (execute("...$1", x))
    shared: bool = False


def _m(name: str, on: str, move: Move, note: str, shared: bool = False) -> ApiMethod:
    return ApiMethod(name, frozenset(on.split(",")), move, note, shared)


TABLE: dict[str, ApiMethod] = {m.name: m for m in (
    _m("fetch", "pool,connection,prepared", Move.CORE, "all_records(await conn.execute(text(...)))"),
    _m("fetchrow", "pool,connection,prepared", Move.CORE, "first_record(await conn.execute(text(...)))"),
    _m("fetchval", "pool,connection,prepared", Move.CORE, "first_value(await conn.execute(text(...)))"),
    _m("fetchmany", "connection,prepared", Move.DRIVER, "on the driver connection: no Core equivalent of its batching"),
    _m("execute", "pool,connection", Move.CORE, "conn.execute(text(...)); command_status() where the status is read",
       shared=True),
    _m("executemany", "pool,connection,prepared", Move.CORE, "execute_many(conn, text(...), rows)"),
    _m("prepare", "connection", Move.CORE, "text(): the dialect prepares and caches statements itself"),
    _m("cursor", "connection,prepared", Move.CORE, "conn.stream(text(...)) iterated with stream_records()"),
    _m("transaction", "connection", Move.CORE, "async with transaction(conn): asyncpg's own transaction underneath"),
    _m("acquire", "pool", Move.POOL, "engine.connect()"),
    _m("release", "pool", Move.POOL, "conn.close(): back to the engine's pool"),
    _m("close", "pool,connection", Move.POOL, "engine.dispose() for a pool", shared=True),
    _m("terminate", "pool,connection", Move.MANUAL, "no engine equivalent; dispose() the engine"),
    _m("expire_connections", "pool", Move.MANUAL, "engine.dispose() renews the pool's connections"),
    _m("copy_records_to_table", "pool,connection", Move.DRIVER, "SQLAlchemy has no COPY API"),
    _m("copy_to_table", "pool,connection", Move.DRIVER, "SQLAlchemy has no COPY API"),
    _m("copy_from_table", "pool,connection", Move.DRIVER, "SQLAlchemy has no COPY API"),
    _m("copy_from_query", "pool,connection", Move.DRIVER, "SQLAlchemy has no COPY API"),
    _m("add_listener", "connection", Move.DRIVER, "LISTEN needs a connection of its own: "
                                                  "`await pool.acquire()` kept for it becomes dedicated_connection(engine)"),
    _m("remove_listener", "connection", Move.DRIVER, "LISTEN needs a connection of its own"),
    _m("add_termination_listener", "connection", Move.DRIVER, "asyncpg connection event"),
    _m("add_log_listener", "connection", Move.DRIVER, "asyncpg connection event"),
    _m("set_type_codec", "connection", Move.DRIVER, "codecs belong to the engine's connect event"),
    _m("set_builtin_type_codec", "connection", Move.DRIVER, "codecs belong to the engine's connect event"),
    _m("reload_schema_state", "connection", Move.DRIVER, "asyncpg's statement cache"),
    _m("is_closed", "connection", Move.DRIVER, "asyncpg connection state"),
    _m("is_in_transaction", "connection", Move.DRIVER, "asyncpg connection state"),
    _m("get_server_pid", "connection", Move.DRIVER, "asyncpg connection state"),
    _m("get_server_version", "connection", Move.DRIVER, "asyncpg connection state"),
    _m("get_settings", "connection", Move.DRIVER, "asyncpg connection state"),
    _m("get_reset_query", "connection", Move.DRIVER, "asyncpg connection state"),
    _m("is_closing", "pool", Move.POOL, "pool_is_closing(engine): whether close_pool(engine) closed it"),
    _m("set_connect_args", "pool", Move.MANUAL, "connect arguments belong to the engine module"),
    _m("reset_type_codec", "connection", Move.DRIVER, "codecs belong to the engine's connect event"),
    _m("add_query_logger", "connection", Move.DRIVER, "SQLAlchemy's before_cursor_execute event logs statements"),
    _m("remove_query_logger", "connection", Move.DRIVER, "SQLAlchemy's before_cursor_execute event logs statements"),
    _m("get_size", "pool", Move.POOL, "pool_size(engine): connections open in the engine's pool"),
    _m("get_idle_size", "pool", Move.POOL, "pool_idle_size(engine): idle connections of the engine's pool"),
    _m("get_min_size", "pool", Move.MANUAL, "the engine's pool_size"),
    _m("get_max_size", "pool", Move.POOL, "pool_max_size(engine): the engine's pool_size"),
    # asyncpg's PreparedStatement: a statement whose name is used for any of these (or returned,
    # stored, handed on) stays asyncpg's, prepared on the asyncpg connection under the engine's
    _m("explain", "prepared", Move.DRIVER, "the statement stays asyncpg's, prepared on the driver connection"),
    _m("get_attributes", "prepared", Move.DRIVER, "the statement stays asyncpg's, prepared on the driver connection"),
    _m("get_parameters", "prepared", Move.DRIVER, "the statement stays asyncpg's, prepared on the driver connection"),
    _m("get_query", "prepared", Move.DRIVER, "the statement stays asyncpg's, prepared on the driver connection"),
    _m("get_statusmsg", "prepared", Move.DRIVER, "the statement stays asyncpg's, prepared on the driver connection"),
    _m("get_name", "prepared", Move.DRIVER, "the statement stays asyncpg's, prepared on the driver connection"),
)}
# the methods of asyncpg's PreparedStatement: on a statement that became text() they fail
PREPARED_METHODS = frozenset(name for name, method in TABLE.items() if "prepared" in method.on)
# asyncpg's record type by the names it is reached under; the moved fetch calls return the
# raw-SQL helpers' Record instead, which it does not accept (a C type: no ABC registration,
# no subclass outside asyncpg's protocol)
RECORD_TYPES = frozenset({"asyncpg.Record", "asyncpg.protocol.Record", "asyncpg.protocol.protocol.Record",
                          "asyncpg.protocol.record.Record"})

# Methods that send SQL or data to the server: `pgunify scan` lists every call of one of them on
# a pool, connection or prepared statement as a statement site.
SENDS = frozenset({"fetch", "fetchrow", "fetchval", "fetchmany", "execute", "executemany", "prepare", "cursor",
                   "explain", "copy_from_table", "copy_from_query", "copy_to_table", "copy_records_to_table"})
# Of those, the names no other common library uses for a database call: the scan lists such a
# call even where it cannot tell what the receiver is (`fetch`, `execute` and `cursor` are
# everyone's).
BY_NAME = frozenset({"fetchrow", "fetchval", "executemany", "copy_records_to_table", "copy_from_query",
                     "copy_to_table", "copy_from_table"})


def sending_methods(on: str) -> frozenset[str]:
    """The methods of SENDS that a pool, connection or prepared statement (`on`) has."""
    return frozenset(name for name in SENDS if on in TABLE[name].on)

ASYNCPG_ONLY = frozenset(name for name, method in TABLE.items() if not method.shared)
QUERY_METHODS = frozenset({"fetch", "fetchrow", "fetchval", "execute", "executemany"})
# asyncpg-only methods of a connection the migration runs on the asyncpg connection under the
# engine's: awaited ones, and plain ones that read the connection's state
DRIVER_AWAITED = frozenset({"fetchmany", "set_type_codec", "set_builtin_type_codec", "reload_schema_state"})
DRIVER_PLAIN = frozenset({"is_in_transaction", "get_server_pid", "get_server_version", "get_settings",
                          "get_reset_query"})


def asyncpg_call_shape(call: ast.Call) -> ApiMethod | None:
    """The table's entry for a call `x.method(...)`, or None when the method is not asyncpg's."""
    if not isinstance(call.func, ast.Attribute):
        return None
    return TABLE.get(call.func.attr)


def is_string_expression(node: ast.expr) -> bool:
    """SQL text as asyncpg takes it: a string literal, an f-string, or strings joined with +."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return is_string_expression(node.left) or is_string_expression(node.right)
    return False


def asyncpg_on_sqlalchemy(call: ast.Call) -> bool:
    """Whether a call on a SQLAlchemy engine or connection is asyncpg's API, not SQLAlchemy's:
    every asyncpg-only method, and `execute`/`close` in asyncpg's form."""
    method = call.func.attr  # type: ignore[attr-defined]
    entry = TABLE.get(method)
    if entry is None:
        return False
    if not entry.shared:
        return True
    if method == "execute":
        positional = [a for a in call.args if not isinstance(a, ast.Starred)]
        if any(k.arg in ("timeout", "query") for k in call.keywords):
            return True
        if positional and is_string_expression(positional[0]):
            return True  # SQLAlchemy 2 refuses a plain string
        if len(positional) > 2 or any(isinstance(a, ast.Starred) for a in call.args[1:]):
            return True  # asyncpg's *args; SQLAlchemy takes a statement and one set of parameters
        return False
    return False


# SQLAlchemy's AsyncConnection API that asyncpg's connection lacks (or takes differently)
SQLALCHEMY_ONLY = frozenset({"exec_driver_sql", "stream", "stream_scalars", "scalar", "scalars", "begin_nested",
                             "get_raw_connection", "execution_options", "run_sync", "in_transaction", "commit",
                             "rollback"})
_CORE_CONSTRUCTS = frozenset({"text", "select", "insert", "update", "delete", "numbered", "binds"})


def sqlalchemy_call(call: ast.Call) -> bool:
    """Whether `x.method(...)` is SQLAlchemy's connection API: on asyncpg's connection it fails."""
    if not isinstance(call.func, ast.Attribute):
        return False
    method = call.func.attr
    if method in SQLALCHEMY_ONLY:
        return True
    if method == "execute" and call.args:
        first = call.args[0]
        if isinstance(first, ast.Starred):
            first = first.value
        if isinstance(first, ast.Call):
            head = first.func.attr if isinstance(first.func, ast.Attribute) else getattr(first.func, "id", "")
            return head in _CORE_CONSTRUCTS
    return False
