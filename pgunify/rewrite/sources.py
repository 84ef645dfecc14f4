"""Where a pool's or an engine's URL and callbacks come from, read with Python's own `ast`
and `symtable`, so that the plan decides per creation site:

- whether a `create_async_engine(...)` is the application's configured database (it becomes
  the shared engine) or something else (a URL handed in by a caller, another database
  system): those stay as they are;
- for an asyncpg pool whose URL is a parameter, which URL every caller passes, across the
  project's modules: callers passing different URLs would need several engines;
- whether a `create_pool(init=..., setup=...)` callback can live in the engine module: a
  module-level function is imported by its exact module and name; a function defined beside
  the pool is copied when it refers only to its parameters, builtins and names its module
  defines once at module level.
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable
import textwrap
from dataclasses import dataclass
from pathlib import Path

from pgunify.dsn import redact

_SCHEME = re.compile(r"^\s*([A-Za-z][\w+.-]*)://")
_POSTGRES = ("postgresql", "postgres")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


# -- where a URL comes from ------------------------------------------------------------------

@dataclass(frozen=True)
class UrlOrigin:
    """config: the application's configuration (environment, settings, a literal PostgreSQL
    URL, a module-level name); parameter: handed in by a caller; attribute: an instance
    attribute with no traceable value; other-database: another database system; unknown."""

    kind: str
    detail: str
    parameters: tuple[tuple[ast.AST, ast.ClassDef | None, str], ...] = ()  # (function, its class, parameter)


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    return parents


def _enclosing(node: ast.AST, parents: dict) -> tuple[ast.AST | None, ast.ClassDef | None]:
    """The innermost function around `node`, and the class that function is a method of."""
    current = parents.get(node)
    while current is not None and not isinstance(current, (*_FUNCTIONS, ast.Lambda)):
        current = parents.get(current)
    owner = parents.get(current) if current is not None else None
    return current, owner if isinstance(owner, ast.ClassDef) else None


def find_call(tree: ast.AST, line: int, name: str) -> ast.Call | None:
    """The call of `...name(...)` that starts on `line`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.lineno == line:
            func = node.func
            if (isinstance(func, ast.Name) and func.id == name) or (isinstance(func, ast.Attribute) and func.attr == name):
                return node
    return None


def _scheme_of(value: str) -> str | None:
    match = _SCHEME.match(value)
    return match.group(1).split("+")[0].lower() if match else None


def _own_nodes(function: ast.AST):
    """The nodes of a function's own scope (not of functions or classes defined inside it)."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _assigned_values(function: ast.AST, name: str) -> list[ast.AST] | None:
    """What `name` is assigned in the function's own scope; None when it is bound some other way."""
    values = []
    for node in _own_nodes(function):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            values.append(node.value)
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and isinstance(node.target, ast.Name) \
                and node.target.id == name and node.value is not None:
            values.append(node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.withitem, ast.AugAssign)):
            target = node.optional_vars if isinstance(node, ast.withitem) else node.target
            if isinstance(target, ast.Name) and target.id == name:
                return None
    return values


def _parameters(function: ast.AST) -> list[str]:
    args = function.args
    return [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)] + \
        [a.arg for a in (args.vararg, args.kwarg) if a is not None]


def _is_method(function: ast.AST, cls: ast.ClassDef | None) -> bool:
    if cls is None or not isinstance(function, _FUNCTIONS):
        return False
    return not any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)


def url_origin(tree: ast.Module, expression: ast.AST, parents: dict | None = None) -> UrlOrigin:
    """Where the URL `expression` (an argument inside `tree`) comes from."""
    parents = parents if parents is not None else _parents(tree)
    function, cls = _enclosing(expression, parents)
    return _origin(tree, expression, function, cls, depth=0)


def _origin(tree, expression, function, cls, depth) -> UrlOrigin:
    for node in ast.walk(expression):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            scheme = _scheme_of(node.value)
            if scheme is not None and scheme not in _POSTGRES:
                return UrlOrigin("other-database", f"a {scheme} URL")
    found: list[UrlOrigin] = []
    for node in ast.walk(expression):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and function is not None \
                and _is_method(function, cls) and _parameters(function)[:1] == [node.value.id]:
            found.append(_attribute_origin(tree, node.attr, cls, depth))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if function is not None and node.id in _parameters(function):
                if _is_method(function, cls) and _parameters(function)[:1] == [node.id]:
                    if not any(isinstance(p, ast.Attribute) and p.value is node for p in ast.walk(expression)):
                        found.append(UrlOrigin("unknown", f"the instance itself ({node.id})"))
                    continue
                found.append(UrlOrigin("parameter", f"parameter {node.id} of {_name(function, cls)}()",
                                       ((function, cls, node.id),)))
            elif function is not None and node.id in _local_names(function):
                values = _assigned_values(function, node.id)
                if not values or depth > 4:
                    found.append(UrlOrigin("unknown", f"local variable {node.id} of {_name(function, cls)}()"))
                else:
                    found += [_origin(tree, value, function, cls, depth + 1) for value in values]
            # anything else is a module-level name or a builtin: the application's configuration
    for kind in ("other-database", "parameter", "attribute", "unknown"):
        hits = [o for o in found if o.kind == kind]
        if hits:
            return UrlOrigin(kind, hits[0].detail, tuple(p for o in hits for p in o.parameters))
    return UrlOrigin("config", "the application's configuration")


def _local_names(function: ast.AST) -> set[str]:
    names = set()
    for node in _own_nodes(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _attribute_origin(tree, attribute: str, cls: ast.ClassDef, depth: int) -> UrlOrigin:
    """`self.<attribute>`: what the class's methods assign to it."""
    found = []
    for method in cls.body:
        if not isinstance(method, _FUNCTIONS) or not _parameters(method):
            continue
        me = _parameters(method)[0]
        for node in _own_nodes(method):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Attribute) and target.attr == attribute and \
                            isinstance(target.value, ast.Name) and target.value.id == me and node.value is not None:
                        if isinstance(node.value, ast.Constant) and node.value.value is None:
                            continue  # `self.pool = None` until it is opened
                        found.append(_origin(tree, node.value, method, cls, depth + 1) if depth < 4 else
                                     UrlOrigin("attribute", f"self.{attribute}"))
    if not found:
        return UrlOrigin("attribute", f"attribute self.{attribute} of {cls.name}")
    for kind in ("other-database", "parameter", "attribute", "unknown"):
        hits = [o for o in found if o.kind == kind]
        if hits:
            return UrlOrigin(kind, hits[0].detail, tuple(p for o in hits for p in o.parameters))
    return UrlOrigin("config", "the application's configuration")


def _name(function: ast.AST, cls: ast.ClassDef | None) -> str:
    own = getattr(function, "name", "<lambda>")
    return f"{cls.name}.{own}" if cls is not None else own


# -- which URL each caller passes ----------------------------------------------------------------

@dataclass(frozen=True)
class CallSite:
    where: str  # path:line
    source: tuple  # what it passes: ("literal", value) / ("env", NAME, default) / ("expr", text)
    shown: str  # the same, for a message (passwords redacted)


def is_test_file(rel: str) -> bool:
    parts = rel.split("/")
    name = parts[-1]
    return (name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py")
            or any(p in ("tests", "test", "testing") for p in parts[:-1]))


def _env_read(node: ast.AST) -> tuple | None:
    """("env", NAME, default source) for os.environ["X"], os.environ.get("X", d), os.getenv("X", d)."""
    def text(n):
        return ast.unparse(n) if n is not None else None

    if isinstance(node, ast.Subscript) and ast.unparse(node.value) in ("os.environ", "environ") and \
            isinstance(node.slice, ast.Constant):
        return ("env", node.slice.value, None)
    if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.getenv", "getenv", "os.environ.get", "environ.get") \
            and node.args and isinstance(node.args[0], ast.Constant):
        default = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "default"), None)
        return ("env", node.args[0].value, text(default))
    return None


def _source_of(tree: ast.Module, value: ast.AST, function: ast.AST | None, depth: int = 0) -> tuple:
    if isinstance(value, ast.Constant):
        return ("literal", value.value)
    env = _env_read(value)
    if env is not None:
        return env
    if isinstance(value, ast.Name) and depth < 4:
        scope_values = None
        if function is not None and value.id in _local_names(function):
            scope_values = _assigned_values(function, value.id)
        elif function is None or value.id not in _parameters(function):
            scope_values = _assigned_values(tree, value.id)
        if scope_values and len(scope_values) == 1:
            return _source_of(tree, scope_values[0], function, depth + 1)
    return ("expr", ast.unparse(value))


def _show(source: tuple) -> str:
    if source[0] == "literal":
        return redact(repr(source[1]))
    if source[0] == "env":
        return f"${source[1]}" + (f" (default {redact(source[2])})" if source[2] else "")
    return redact(source[1])


def _module_of(import_root: Path, path: Path) -> str:
    rel = path.resolve().relative_to(import_root)
    parts = list(rel.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(level: int, name: str | None, own_module: str, is_package: bool) -> str:
    """The absolute module of `from <level dots><name> import ...` written in `own_module`."""
    if level == 0:
        return name or ""
    base = own_module.split(".") if is_package else own_module.split(".")[:-1]
    base = base[:len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([name] if name else [])])


def call_sites(root: Path, import_root: Path, python_files, pool_path: str, pool_tree: ast.Module, function: ast.AST,
               cls: ast.ClassDef | None, parameter: str) -> list[CallSite]:
    """Every call outside the tests that supplies `parameter` of `function`, with what it passes."""
    params = _parameters(function)
    index = params.index(parameter)
    callee_module = _module_of(import_root, root / pool_path)
    staticmethod = cls is not None and any(isinstance(d, ast.Name) and d.id == "staticmethod"
                                           for d in function.decorator_list)
    classmethod = cls is not None and any(isinstance(d, ast.Name) and d.id == "classmethod"
                                          for d in function.decorator_list)
    if cls is not None and not staticmethod:
        index -= 1  # self or cls
    if index < 0 or parameter in (function.args.vararg and function.args.vararg.arg,
                                  function.args.kwarg and function.args.kwarg.arg):
        return []
    keyword_only = parameter in [a.arg for a in function.args.kwonlyargs]
    positional = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
    defaults = dict(zip(positional[len(positional) - len(function.args.defaults):], function.args.defaults))
    defaults.update((a.arg, d) for a, d in zip(function.args.kwonlyargs, function.args.kw_defaults) if d is not None)
    if cls is not None and function.name == "__init__":
        owner, member = cls.name, None
    elif cls is not None and (staticmethod or classmethod):
        owner, member = cls.name, function.name
    elif cls is not None:
        owner, member = None, function.name  # an instance method: any `x.method(...)`
    else:
        owner, member = function.name, None
    word = (owner or member).encode()
    sites: list[CallSite] = []
    for path in python_files:
        path = Path(path)
        try:
            rel = path.resolve().relative_to(root).as_posix()
        except ValueError:
            continue
        if is_test_file(rel):
            continue
        try:
            data = path.read_bytes()
            if word not in data:
                continue
            tree = ast.parse(data)
        except (OSError, SyntaxError, ValueError):
            continue
        try:
            module = _module_of(import_root, path)
        except ValueError:
            module = path.stem
        names, modules = _bindings(tree, module, path.name == "__init__.py", callee_module, owner)
        if module == callee_module and owner is not None:
            names.add(owner)
        parents = _parents(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not _calls(node.func, owner, member, names, modules):
                continue
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                value = None
                shown_source = ("expr", ast.unparse(node))
            else:
                value = next((k.value for k in node.keywords if k.arg == parameter), None)
                if value is None and not keyword_only and index < len(node.args):
                    value = node.args[index]
                if value is None:
                    default = defaults.get(parameter)
                    shown_source = ("literal", None) if default is None else _source_of(pool_tree, default, None)
                else:
                    caller, _ = _enclosing(node, parents)
                    shown_source = _source_of(tree, value, caller)
            sites.append(CallSite(f"{rel}:{node.lineno}", shown_source, _show(shown_source)))
    return sites


def _bindings(tree, module, is_package, callee_module, owner) -> tuple[set[str], set[str]]:
    """Names that stand for `owner` of `callee_module` in a module, and names of that module."""
    names, modules = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node.level, node.module, module, is_package)
            for alias in node.names:
                if source == callee_module and alias.name == owner:
                    names.add(alias.asname or alias.name)
                elif f"{source}.{alias.name}" == callee_module:
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == callee_module:
                    modules.add(alias.asname or alias.name)
    return names, modules


def _calls(func: ast.AST, owner: str | None, member: str | None, names: set[str], modules: set[str]) -> bool:
    if owner is None:  # an instance method, called on anything
        return isinstance(func, ast.Attribute) and func.attr == member
    if member is not None:  # Class.method(...)
        return isinstance(func, ast.Attribute) and func.attr == member and _calls(func.value, owner, None, names, modules)
    if isinstance(func, ast.Name):
        return func.id in names
    return isinstance(func, ast.Attribute) and func.attr == owner and ast.unparse(func.value) in modules


# -- create_pool(init=..., setup=...) callbacks ---------------------------------------------------

@dataclass(frozen=True)
class CallbackImport:
    statement: str  # `import json`, `from app.codecs import encode`
    name: str  # the name it binds
    local: bool  # imported inside the function: a module of the application (it imports the engine module)


@dataclass(frozen=True)
class Callback:
    keyword: str  # init | setup
    module: str  # the module the pool was created in
    origin: str  # path:line of create_pool()
    function: str = ""  # a module-level function of `module`, imported by this exact name
    code: str = ""  # or the callback itself, moved into the engine module (a def named `name`)
    name: str = ""
    imports: tuple[CallbackImport, ...] = ()
    defined_at: int = 0  # line of the nested def the code came from (0 for a lambda)
    defined_in: str = ""  # the function that def stands in (Class.method or function), in `module`
    where: str = ""  # the function the pool was created in, for the docstring
    handed_over: bool = False  # cannot move: the application passes it to use_database_url() itself

    @property
    def event(self) -> str:
        return {"init": "connect", "setup": "checkout"}[self.keyword]


class Refused(Exception):
    """The callback cannot be carried to the engine module; the message says why."""


def _tables(table: symtable.SymbolTable):
    yield table
    for child in table.get_children():
        yield from _tables(child)


def _table_of(module_table: symtable.SymbolTable, node: ast.AST) -> symtable.SymbolTable | None:
    name = "lambda" if isinstance(node, ast.Lambda) else node.name
    for table in _tables(module_table):
        if table.get_type() == "function" and table.get_name() == name and table.get_lineno() == node.lineno:
            return table
    return None


def _module_level_bindings(tree: ast.Module, name: str) -> list[ast.AST]:
    found = []
    for node in _own_nodes(tree):
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef)) and node.name == name:
            found.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found += [node for alias in node.names
                      if (alias.asname or alias.name.split(".")[0]) == name and alias.name != "*"]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) and node.id == name:
            found.append(node)
    return found


def _rebound_elsewhere(module_table: symtable.SymbolTable, name: str) -> bool:
    for table in _tables(module_table):
        if table.get_type() == "module":
            continue
        try:
            symbol = table.lookup(name)
        except KeyError:
            continue
        if symbol.is_declared_global() and symbol.is_assigned():
            return True
    return False


def resolve_callback(source: str, rel: str, module: str, is_package: bool, line: int, keyword: str,
                     is_project_module) -> Callback:
    """The create_pool(init=/setup=) callback of the pool created on `line`, as it can be run
    from the engine module; raises Refused with the reason otherwise."""
    tree = ast.parse(source)
    call = find_call(tree, line, "create_pool")
    value = next((k.value for k in call.keywords if k.arg == keyword), None) if call is not None else None
    if value is None:
        raise Refused(f"create_pool({keyword}=...) not found")
    parents = _parents(tree)
    function, cls = _enclosing(call, parents)
    module_table = symtable.symtable(source, rel, "exec")
    origin = f"{rel}:{line}"
    where = f"{module}.{_name(function, cls)}()" if function is not None else module
    shown = ast.unparse(value)
    if isinstance(value, ast.Lambda):
        return _moved(tree, module_table, value, function, keyword, module, is_package, origin, where,
                      is_project_module, source, "")
    if not isinstance(value, ast.Name):
        raise Refused(f"{keyword}={shown} is neither a function of {module} nor one defined beside the pool")
    name = value.id
    outer = _table_of(module_table, function) if function is not None else None
    symbol = outer.lookup(name) if outer is not None else None
    if symbol is not None and symbol.is_parameter():
        raise Refused(f"{keyword}={name} is a parameter of {_name(function, cls)}(): which function it is "
                      "is known only when the program runs")
    if symbol is not None and symbol.is_free():
        raise Refused(f"{keyword}={name} is defined in a function around {_name(function, cls)}()")
    if symbol is not None and symbol.is_local():
        bindings = [n for n in _own_nodes(function) if
                    (isinstance(n, _FUNCTIONS) and n.name == name) or
                    (isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)) and n.id == name)]
        if len(bindings) != 1 or not isinstance(bindings[0], _FUNCTIONS):
            raise Refused(f"{keyword}={name} is bound {len(bindings)} times in {_name(function, cls)}(), "
                          "not once by a def")
        return _moved(tree, module_table, bindings[0], function, keyword, module, is_package, origin, where,
                      is_project_module, source, _name(function, cls))
    # a module-level name
    bindings = _module_level_bindings(tree, name)
    if len(bindings) != 1 or _rebound_elsewhere(module_table, name):
        raise Refused(f"{keyword}={name}: {module} binds {name} {len(bindings)} times at module level, so which "
                      "function runs is known only when the program runs")
    return Callback(keyword, module, origin, function=name, where=where)


def _moved(tree, module_table, node, outer_function, keyword, module, is_package, origin, where,
           is_project_module, source, defined_in) -> Callback:
    label = "the lambda" if isinstance(node, ast.Lambda) else f"{node.name}()"
    if getattr(node, "decorator_list", None):
        raise Refused(f"{keyword}: {label} is decorated; the decorator cannot be carried over")
    table = _table_of(module_table, node)
    if table is None:
        raise Refused(f"{keyword}: the scope of {label} was not found")
    frees = sorted(table.get_frees())
    if frees:
        raise Refused(f"{keyword}: {label} uses {', '.join(frees)} of the function that creates the pool "
                      f"(a closure); the engine module cannot reach those values")
    outer = _table_of(module_table, outer_function) if outer_function is not None else None
    evaluated_outside = []  # defaults and annotations are evaluated where the def stands
    args = node.args
    for part in (*args.defaults, *[d for d in args.kw_defaults if d is not None],
                 *[a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
                   if a is not None and a.annotation is not None],
                 *([node.returns] if getattr(node, "returns", None) is not None else [])):
        evaluated_outside += [n.id for n in ast.walk(part) if isinstance(n, ast.Name)]
    needed = set()
    for name in evaluated_outside:
        symbol = outer.lookup(name) if outer is not None and name in outer.get_identifiers() else None
        if symbol is not None and (symbol.is_local() or symbol.is_free() or symbol.is_parameter()):
            raise Refused(f"{keyword}: a default or annotation of {label} uses {name} of the function that "
                          "creates the pool")
        needed.add(name)
    for inner in _tables(table):
        for symbol in inner.get_symbols():
            if symbol.is_declared_global() and symbol.is_assigned():
                raise Refused(f"{keyword}: {label} assigns the module global {symbol.get_name()}")
            if symbol.is_global() and (symbol.is_referenced() or symbol.is_assigned()):
                needed.add(symbol.get_name())
    imports = []
    for name in sorted(needed):
        bindings = _module_level_bindings(tree, name)
        if not bindings and hasattr(builtins, name):
            continue
        if len(bindings) != 1 or _rebound_elsewhere(module_table, name):
            what = "never" if not bindings else f"{len(bindings)} times"
            raise Refused(f"{keyword}: {label} uses {name}, which {module} binds {what} at module level")
        binding = bindings[0]
        if isinstance(binding, ast.Import):
            alias = next(a for a in binding.names if (a.asname or a.name.split(".")[0]) == name)
            statement = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
            imports.append(CallbackImport(statement, name, is_project_module(alias.name)))
        elif isinstance(binding, ast.ImportFrom):
            alias = next(a for a in binding.names if (a.asname or a.name) == name)
            source_module = _absolute(binding.level, binding.module, module, is_package)
            statement = f"from {source_module} import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
            imports.append(CallbackImport(statement, name, is_project_module(source_module)))
        else:  # a function, class or constant of the module itself
            imports.append(CallbackImport(f"from {module} import {name}", name, True))
    if isinstance(node, ast.Lambda):
        parameters = ast.unparse(node.args)
        code = f"def {keyword}_connection({parameters}):\n    return {ast.get_source_segment(source, node.body)}\n"
        name, line = f"{keyword}_connection", 0
    else:
        if node.body[0].lineno == node.lineno:
            raise Refused(f"{keyword}: {label} is written on one line with its def")
        lines = source.splitlines(keepends=True)
        code = textwrap.dedent("".join(lines[node.lineno - 1:node.end_lineno]))
        name, line = node.name, node.lineno
    return Callback(keyword, module, origin, code=code, name=name, imports=tuple(imports), defined_at=line,
                    defined_in=defined_in, where=where)


def engine_origins(source: str) -> dict[int, UrlOrigin]:
    """line -> where the URL of each `create_async_engine(...)` starting on that line comes from."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    parents = _parents(tree)
    origins = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Name) and node.func.id == "create_async_engine") or
                (isinstance(node.func, ast.Attribute) and node.func.attr == "create_async_engine")):
            url = node.args[0] if node.args and not isinstance(node.args[0], ast.Starred) else next(
                (k.value for k in node.keywords if k.arg == "url"), None)
            origins.setdefault(node.lineno, url_origin(tree, url, parents) if url is not None
                               else UrlOrigin("unknown", "no URL argument"))
    return origins


def kept_engine_reason(origin: UrlOrigin) -> str:
    """Why an engine is not replaced by the shared one (for origins other than config)."""
    return {
        "parameter": f"its URL is {origin.detail}: a caller chooses the database, and the shared engine "
                     "would ignore that choice",
        "attribute": f"its URL is {origin.detail}, not the application's configuration",
        "other-database": f"it connects to another database system ({origin.detail}); the shared engine is "
                          "PostgreSQL's",
    }.get(origin.kind, f"where its URL comes from is not known ({origin.detail}); only engines on the "
                       "configured URL become the shared one")


# -- the same URL written in different ways -----------------------------------------------------

def canonical_url(root: Path, import_root: Path, python_files, path: str, tree: ast.Module, line: int,
                  call_name: str = "create_pool") -> str | None:
    """The URL a pool created at `path:line` connects with, as one comparable text: a name
    imported from another module is that module's name (`config.DATABASE_URL` and
    `DATABASE_URL` imported from `app.config` are both `app.config.DATABASE_URL`), an
    environment read is `$NAME`, and a parameter no caller passes (`dsn=None` with
    `dsn or config.DATABASE_URL`, or `dsn=DATABASE_URL`) is its fallback. None: no URL found."""
    call = find_call(tree, line, call_name)
    if call is None:
        return None
    url = call.args[0] if call.args and not isinstance(call.args[0], ast.Starred) else next(
        (k.value for k in call.keywords if k.arg == "dsn"), None)
    if url is None:
        return None
    try:
        module = _module_of(import_root, root / path)
    except ValueError:
        module = Path(path).stem
    parents = _parents(tree)
    function, cls = _enclosing(url, parents)
    context = _UrlContext(root, import_root, python_files, path, tree, module, Path(path).name == "__init__.py")
    return context.key(url, function, cls, 0)


@dataclass
class _UrlContext:
    root: Path
    import_root: Path
    python_files: object
    path: str
    tree: ast.Module
    module: str
    is_package: bool

    def key(self, node: ast.AST, function, cls, depth: int) -> str:
        if depth > 5:
            return ast.unparse(node)
        env = _env_read(node)
        if env is not None:
            return f"${env[1]}"
        if isinstance(node, ast.Constant):
            return repr(node.value)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) == 2:
            first, fallback = node.values
            if isinstance(first, ast.Name) and function is not None and first.id in _parameters(function) \
                    and not self._passed(function, cls, first.id):
                return self.key(fallback, function, cls, depth + 1)
            if isinstance(first, ast.Attribute) and cls is not None:
                value = self._attribute_value(cls, first.attr)
                if value is not None and isinstance(value[0], ast.Constant) and value[0].value is None:
                    return self.key(fallback, function, cls, depth + 1)
        if isinstance(node, ast.Name):
            if function is not None and node.id in _parameters(function):
                if _is_method(function, cls) and _parameters(function)[:1] == [node.id]:
                    return ast.unparse(node)
                default = self._default(function, node.id)
                if default is not None and not self._passed(function, cls, node.id):
                    return self.key(default, None, None, depth + 1)
                return f"parameter {node.id}"
            if function is not None and node.id in _local_names(function):
                values = _assigned_values(function, node.id)
                return self.key(values[0], function, cls, depth + 1) if len(values) == 1 else ast.unparse(node)
            imported = self._imported(node.id)
            if imported is not None:
                return imported
            values = _assigned_values(self.tree, node.id)
            if len(values) == 1:
                return self.key(values[0], None, None, depth + 1)
            return f"{self.module}.{node.id}"
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and function is not None and cls is not None \
                    and _parameters(function)[:1] == [node.value.id]:
                value = self._attribute_value(cls, node.attr)
                if value is not None:
                    return self.key(value[0], value[1], cls, depth + 1)
                return ast.unparse(node)
            return f"{self.key(node.value, function, cls, depth + 1)}.{node.attr}"
        return ast.unparse(node)

    def _imported(self, name: str) -> str | None:
        for node in self.tree.body:
            if isinstance(node, ast.ImportFrom):
                source = _absolute(node.level, node.module, self.module, self.is_package)
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        return f"{source}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname == name:
                        return alias.name
                    if alias.asname is None and alias.name.split(".")[0] == name:
                        return name
        return None

    def _default(self, function, parameter: str) -> ast.AST | None:
        args = function.args
        positional = [a.arg for a in (*args.posonlyargs, *args.args)]
        defaults = dict(zip(positional[len(positional) - len(args.defaults):], args.defaults))
        defaults.update((a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None)
        return defaults.get(parameter)

    def _passed(self, function, cls, parameter: str) -> bool:
        """Whether any caller gives `parameter` a value other than its default None."""
        sites = call_sites(self.root, self.import_root, self.python_files, self.path, self.tree, function, cls, parameter)
        default = self._default(function, parameter)
        for site in sites:
            if site.source == ("literal", None):
                continue
            if default is not None and site.source == _source_of(self.tree, default, None):
                continue
            return True
        return False

    def _attribute_value(self, cls: ast.ClassDef, attribute: str):
        """The one value the class's methods assign to self.<attribute>, with its method."""
        found = []
        for method in cls.body:
            if not isinstance(method, _FUNCTIONS) or not _parameters(method):
                continue
            me = _parameters(method)[0]
            for node in _own_nodes(method):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        if isinstance(target, ast.Attribute) and target.attr == attribute and \
                                isinstance(target.value, ast.Name) and target.value.id == me:
                            found.append((node.value, method))
        return found[0] if len(found) == 1 else None
