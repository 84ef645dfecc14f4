"""Project-wide decisions, made once from the scan's facts before any file is rewritten.

Codemods see one file at a time; whatever needs the whole application (which variable is
the one URL, where the engine module goes, which pool options it takes) is decided here.
"""

from __future__ import annotations

import ast
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pgunify.config import Settings
from pgunify.dsn import redact
from pgunify.facts.flow import GENERATED_MARKER  # the words that tell a module pgunify wrote
from pgunify.facts.model import ConnectionFactory, Inventory
from pgunify.files import auxiliary as _auxiliary
from pgunify.rewrite.outcome import LeftAlone
from pgunify.rewrite import sources
from pgunify.sql.columns import TableFact, json_tables


# asyncpg.create_pool() keywords that asyncpg.connect() also takes: they move to connect_args.
_CONNECT_KEYWORDS = ("command_timeout", "statement_cache_size", "max_cached_statement_lifetime",
                     "max_cacheable_statement_size", "timeout", "ssl", "server_settings", "direct_tls")
# what a pool does to each of its connections: pools that differ in these cannot share one engine
_CONNECTION_SETTINGS = frozenset({"init", "setup", "connection_class", "record_class", *_CONNECT_KEYWORDS})
_NOT_MAPPED = {
    "max_queries": "QueuePool has no per-connection query limit; use pool_recycle to renew connections by age.",
    "max_inactive_connection_lifetime": "QueuePool keeps idle connections; pool_recycle renews them by age instead.",
    "connection_class": "a custom connection class cannot be given to SQLAlchemy's dialect; port its behaviour to events.",
    "record_class": "rows come back as SQLAlchemy Row objects; the repository codemod decides how rows are consumed.",
    "loop": "the engine uses the running event loop.",
}


@dataclass(frozen=True)
class EngineOption:
    key: str
    source: str  # Python source of the value, as written in the legacy code
    origin: str  # "path:line" of the call it came from
    comment: str = ""


@dataclass(frozen=True)
class MigrationPlan:
    root: Path
    import_root: Path
    url_var: str
    url_default: str | None  # the legacy default of url_var, as written
    secondary_url_vars: frozenset[str]
    engine_module: str  # dotted
    engine_path: str  # relative to root
    engine_kwargs: tuple[EngineOption, ...] = ()
    connect_args: tuple[EngineOption, ...] = ()
    sqlalchemy_engines: tuple[ConnectionFactory, ...] = ()
    asyncpg_pools: tuple[ConnectionFactory, ...] = ()
    move_asyncpg_pools: bool = False  # only together with the codemod that moves their call sites
    json_codecs: frozenset[str] = frozenset()  # json types the application decoded itself (set_type_codec)
    # tables of the application's DDL with a json or jsonb column, created once and never altered
    json_tables: tuple[TableFact, ...] = ()
    raw_sql_module: str = ""  # dotted module of the generated raw-SQL helpers
    raw_sql_path: str = ""
    alembic_baseline: bool = False  # `pgunify schema` wrote the Alembic environment and its first revision
    notes: tuple[LeftAlone, ...] = field(default_factory=tuple)
    notes_by_path: dict = field(default_factory=dict, hash=False, compare=False)
    # (module, name) of module-level variables that other files refer to
    exported_names: frozenset[tuple[str, str]] = frozenset()
    # functions of the project annotated to return an asyncpg pool or connection: qualified name -> kind
    returns: tuple[tuple[str, str], ...] = ()
    # create_pool(init=..., setup=...) callbacks, as the engine module runs them
    pool_callbacks: tuple[sources.Callback, ...] = ()
    # why the asyncpg pools cannot become the one engine (several databases, URLs given in
    # pieces, callbacks that cannot move): (path, manual site); any of them refuses the run
    pool_blockers: tuple[tuple[str, LeftAlone], ...] = ()
    # the whole-program model's verdict on each receiver of asyncpg's API: path -> span -> Receiver
    receivers: dict = field(default_factory=dict, hash=False, compare=False)
    # annotations of parameters that only receive asyncpg's own connections: path -> spans
    asyncpg_annotations: dict = field(default_factory=dict, hash=False, compare=False)
    # why no location serves every module that would import the generated ones ("" when one does)
    location_problem: str = ""
    # modules whose asyncpg.create_pool() calls become use_database_url() with the very same
    # arguments, so a test's patch of `<module>.asyncpg.create_pool` can follow it there
    same_argument_pools: frozenset[str] = frozenset()
    # the application asks a pool is_closing(): its pool.close() calls become close_pool()
    tracks_closing: bool = False
    # names other modules of the application import from a module: path -> names, which stay
    # imported there even when the module itself no longer reads them
    imported_elsewhere: dict = field(default_factory=dict, hash=False, compare=False)

    def module_of(self, filename: str) -> str:
        path = Path(filename)
        if not path.is_absolute():
            path = self.root / path
        return _module_name(self.import_root, path.resolve())


def _is_literal(source: str) -> bool:
    try:
        ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return False
    return True


def _choose_url_var(inv: Inventory, settings: Settings) -> str:
    if settings.url_var:
        return settings.url_var
    db_vars = sorted({e.name for e in inv.all("env_reads") if e.database_url})
    deployed = {s.name for s in inv.deployment}
    ranked = sorted(db_vars, key=lambda n: (n not in deployed, n != "DATABASE_URL", n))
    return ranked[0] if ranked else "DATABASE_URL"


def _import_root(root: Path, directory: Path, namespaces: frozenset[Path] = frozenset()) -> Path:
    """The first directory above `directory` that is not a package (regular, or a namespace
    package some module imports through): where imports start."""
    current = directory
    while current != root and current != current.parent and \
            ((current / "__init__.py").is_file() or current in namespaces):
        current = current.parent
    return current


# `from .x import y`, `from . import y`, `from\
#  ..x import y`: the text every relative import has, whatever its spacing
_RELATIVE_IMPORT = re.compile(rb"from[\s\\]*\.")
# an encoding declaration: under one (utf-7, say) the bytes need not spell what the code says
_CODING_COOKIE = re.compile(rb"\A(?:[^\n]*\n)?[ \t\f]*#[^\n]*coding[:=]")


def _lacks_init_below(folder: Path) -> bool:
    """Whether `folder`, or a folder beneath it that a dotted import could name, has no __init__.py."""
    seen: set[str] = set()
    todo = [folder]
    while todo:
        current = todo.pop()
        real = os.path.realpath(current)
        if real in seen:
            continue  # a symbolic link back into a folder already looked at
        seen.add(real)
        if not (current / "__init__.py").exists():
            return True
        try:
            with os.scandir(current) as entries:
                todo.extend(current / e.name for e in entries if e.name.isidentifier() and e.is_dir())
        except OSError:
            return True  # cannot be listed: it may hold one
    return False


def _dotted_import_pattern(root: Path) -> re.Pattern | None:
    """Text that every dotted absolute import able to name a folder without __init__.py under
    `root` contains: the first part of its name, then a dot. None when no such import exists."""
    try:
        with os.scandir(root) as entries:
            names = sorted(e.name for e in entries if e.name.isidentifier() and e.is_dir())
    except OSError:
        return re.compile(rb"")  # the folders are unknown: every file may name one
    names = [name for name in names if _lacks_init_below(root / name)]
    if not names:
        return None
    # ignoring case: on a case-insensitive file system `import App.x` finds app/
    return re.compile(rb"(?:" + b"|".join(re.escape(n.encode()) for n in names) + rb")[\s\\]*\.", re.IGNORECASE)


def _may_import_through(source: bytes, dotted: re.Pattern | None) -> bool:
    """Whether `source` can hold an import that makes a folder a namespace package: a
    relative import, or a dotted one matching `dotted` (see _dotted_import_pattern). A file
    that cannot is left unparsed; its imports are read only when it lies under such a folder."""
    if _CODING_COOKIE.match(source):
        return True
    if not source.isascii():
        # Python reads identifiers in NFKC form (`ａpp.x` imports app.x): search that form
        source = unicodedata.normalize("NFKC", source.decode("utf-8", "replace")).encode()
    return bool(_RELATIVE_IMPORT.search(source) or (dotted is not None and dotted.search(source)))


def _import_facts(root: Path, path: Path, source: bytes) -> tuple[Path, set[str], set[Path]] | None:
    """(resolved folder of `path`, top-level names it imports absolutely, folders its imports
    make packages) for _namespace_packages; None when the file does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    folder = path.resolve().parent
    names: set[str] = set()
    found: set[Path] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        if isinstance(node, ast.ImportFrom) and node.level:
            # a relative import: its folder, and the ones it climbs, are packages
            base = folder
            for _ in range(node.level - 1):
                found.add(base)
                base = base.parent
            found.add(base)
            for part in (node.module or "").split(".")[:-1] if node.module else []:
                base = base / part
                found.add(base)
            if node.module:
                target = base / node.module.split(".")[-1]
                if target.is_dir():
                    found.add(target)
            continue
        dotted = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        for name in dotted:
            parts = name.split(".")
            for depth in range(1, len(parts)):
                candidate = root.joinpath(*parts[:depth])
                if candidate.is_dir() and not (candidate / "__init__.py").exists():
                    found.add(candidate.resolve())
    return folder, names, found


def _namespace_packages(root: Path, python_files) -> frozenset[Path]:
    """Folders without __init__.py that the application imports through by a dotted name
    (`from app.cogs import admin` makes app/ and app/cogs/ namespace packages under the root),
    unless code beneath such a folder imports the folder's own modules by bare name
    (`from utils import pages` in src/cogs/x.py, with src/utils/): then the application runs
    from that folder, and its imports start there.

    Only the files whose text can hold such an import are parsed at first; the others
    matter only when they lie beneath a folder found that way."""
    dotted = _dotted_import_pattern(root)
    found: set[Path] = set()
    bare: dict[Path, set[str]] = {}  # file's folder -> top-level names it imports absolutely
    unread: list[Path] = []

    def read(path: Path, source: bytes) -> None:
        facts = _import_facts(root, path, source)
        if facts is not None:
            folder, names, packages = facts
            bare.setdefault(folder, set()).update(names)
            found.update(packages)

    for path in map(Path, python_files):
        try:
            source = path.read_bytes()
        except OSError:
            continue
        if _may_import_through(source, dotted):
            read(path, source)
        else:
            unread.append(path)
    candidates = [f for f in found if f.is_relative_to(root) and f != root and not (f / "__init__.py").exists()]
    if not candidates:
        return frozenset()
    for path in unread:
        if any(path.resolve().parent.is_relative_to(f) for f in candidates):
            try:
                read(path, path.read_bytes())
            except OSError:
                continue

    def runs_from(folder: Path) -> bool:
        return any(directory.is_relative_to(folder) and _provides(folder, name)
                   for directory, names in bare.items() for name in names)

    return frozenset(f for f in candidates if not runs_from(f))


def _module_name(import_root: Path, path: Path) -> str:
    """The dotted name `path` is imported by from `import_root`; a file outside that root is
    named from the directory its own imports start at."""
    try:
        rel = PurePosixPath(path.relative_to(import_root).as_posix())
    except ValueError:
        own = _import_root(Path(path.anchor), path.parent)
        rel = PurePosixPath(path.relative_to(own).as_posix())
    return ".".join(rel.with_suffix("").parts)


def _top_level_imports(path: Path) -> set[str]:
    """The first component of every absolute import in `path` (nested ones included)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def _provides(import_root: Path, name: str) -> bool:
    return (import_root / f"{name}.py").is_file() or (import_root / name).is_dir()


@dataclass(frozen=True)
class _Importer:
    rel: str
    path: Path
    import_root: Path
    auxiliary: bool


def _importers(root: Path, inv: Inventory, namespaces: frozenset[Path] = frozenset()) -> list[_Importer]:
    """The files the codemods give an import of a generated module: where pools, engines,
    asyncpg calls, acquire sites and database URL variables are."""
    rels = {f.location.path for f in inv.all("factories")}
    rels |= {c.location.path for c in inv.all("calls")}
    rels |= {a.location.path for a in inv.all("acquires")}
    rels |= {e.location.path for e in inv.all("env_reads") if e.database_url}
    found = []
    for rel in sorted(rels):
        path = (root / rel).resolve()
        try:
            if GENERATED_MARKER in path.read_text(encoding="utf-8", errors="replace"):
                continue  # a module an earlier run generated
        except OSError:
            continue
        found.append(_Importer(rel, path, _import_root(root, path.parent, namespaces), _auxiliary(rel)))
    return found


def _reaches(importer: _Importer, import_root: Path, own_names: dict[Path, set[str]]) -> bool:
    """Whether `import_root` is on sys.path wherever `importer` runs: it is the importer's
    own root, or the importer imports a module that lives there (so that root has to be on
    the path already, or the importer would not run today)."""
    if importer.import_root == import_root:
        return True
    if importer.auxiliary and importer.import_root.is_relative_to(import_root):
        return True  # tests and scripts run from the project (pytest's rootdir, `python -m`)
    names = own_names.setdefault(importer.path, _top_level_imports(importer.path))
    return any(_provides(import_root, n) and not _provides(importer.import_root, n) for n in names)


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _existing_engine_module(root: Path, python_files) -> Path | None:
    """The engine module an earlier run generated: a migrated tree keeps it where it is."""
    for path in python_files:
        path = Path(path)
        if path.name in ("engine.py", "shared_engine.py", "unified_engine.py", "unify_engine.py"):
            try:
                head = path.read_text(encoding="utf-8", errors="replace")[:1000]
            except OSError:
                continue
            if GENERATED_MARKER in head and "one database engine" in head:
                return path.resolve()
    return None


def _engine_location(root: Path, inv: Inventory, settings: Settings,
                     kept: frozenset = frozenset(), python_files=()) -> tuple[Path, Path, str]:
    """(import root, engine module file, why no location works or "").

    The generated modules are imported by one dotted name from every file that the
    codemods change, so they go under an import root that each of those files has on its
    path: its own, or one it already imports the application from. The application's own
    code decides before tests, scripts and benchmarks do."""
    if settings.engine_module:
        import_root = root / (settings.import_root or ".")
        return import_root.resolve(), (import_root / (settings.engine_module.replace(".", "/") + ".py")).resolve(), ""
    existing = _existing_engine_module(root, python_files)
    if existing is not None:
        return _import_root(root, existing.parent), existing, ""
    importers = _importers(root, inv, _namespace_packages(root, python_files))
    factories = [f for f in inv.all("factories") if (f.location.path, f.location.line) not in kept]
    ranked_factories = [f for f in factories if f.kind == "engine"] + [f for f in factories if f.kind == "pool"]
    problem = ""
    if settings.import_root:
        import_root = (root / settings.import_root).resolve()
    elif importers:
        application = [i for i in importers if not i.auxiliary] or importers
        # the roots of the application's files, the one of its first engine or pool first, then by use
        anchor_rels = [f.location.path for f in ranked_factories]
        counts: dict[Path, int] = {}
        for i in application:
            counts[i.import_root] = counts.get(i.import_root, 0) + 1
        first = next((i.import_root for rel in anchor_rels for i in application if i.rel == rel), None)
        candidates = sorted(counts, key=lambda r: (r != first, -counts[r], len(r.parts), str(r)))
        own_names: dict[Path, set[str]] = {}
        import_root = next((r for r in candidates if all(_reaches(i, r, own_names) for i in importers)), None)
        if import_root is None:
            import_root = candidates[0]
            stranded = [i for i in importers if not _reaches(i, import_root, own_names)]
            problem = (
                "no single place for the generated engine and raw-SQL modules: the files that would import them "
                "start their imports in different folders ("
                + "; ".join(f"{_rel(root, r) or '.'}: " + ", ".join(i.rel for i in importers if i.import_root == r)
                            for r in sorted({i.import_root for i in importers}, key=str))
                + f"), and {', '.join(i.rel for i in stranded)} cannot import a module placed under "
                f"{_rel(root, import_root) + '/' if _rel(root, import_root) else 'the top folder'}. Set engine-module "
                "and import-root in [tool.pgunify], or --exclude the files that are not part of the application")
    else:
        import_root = root
    # the folder: the application's first engine or pool under that root, else its first file there
    placed = [i for i in importers if i.import_root == import_root]
    preferred = [i for i in placed if not i.auxiliary] or placed
    by_rel = {i.rel: i for i in preferred}
    anchor = next((by_rel[f.location.path] for f in ranked_factories if f.location.path in by_rel), None)
    if anchor is None and preferred:
        anchor = preferred[0]
    directory = anchor.path.parent if anchor else import_root
    if not directory.is_relative_to(import_root):
        directory = import_root
    for name in ("engine.py", "shared_engine.py", "unified_engine.py"):
        candidate = directory / name
        if not candidate.exists() or GENERATED_MARKER in candidate.read_text(encoding="utf-8", errors="replace"):
            return import_root, candidate, problem
    return import_root, directory / "unify_engine.py", problem


def _read(root: Path, rel: str) -> str | None:
    try:
        return (root / rel).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _kept_engines(root: Path, inv: Inventory) -> frozenset[tuple[str, int]]:
    """(path, line) of the create_async_engine() calls that stay: their URL does not come
    from the application's configuration (see sources.engine_origins)."""
    kept = set()
    for path in sorted({f.location.path for f in inv.all("factories") if f.api.endswith("create_async_engine")}):
        text = _read(root, path)
        if text is None:
            continue
        kept.update((path, line) for line, origin in sources.engine_origins(text).items() if origin.kind != "config")
    return frozenset(kept)


def _is_project_module(import_root: Path):
    def check(module: str) -> bool:
        base = import_root.joinpath(*module.split("."))
        return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()
    return check


def _callback(root: Path, import_root: Path, f: ConnectionFactory, keyword: str) -> sources.Callback:
    text = _read(root, f.location.path)
    if text is None:
        raise sources.Refused(f"{f.location.path} cannot be read")
    path = (root / f.location.path).resolve()
    try:
        return sources.resolve_callback(text, f.location.path, _module_name(import_root, path),
                                        path.name == "__init__.py", f.location.line, keyword,
                                        _is_project_module(import_root))
    except SyntaxError as exc:
        raise sources.Refused(f"{f.location.path} does not parse: {exc}") from None


def _url_key(root: Path, import_root: Path, f: ConnectionFactory, python_files) -> str:
    """The pool's URL as one comparable text (see sources.canonical_url); its text as written
    when the file cannot be read."""
    text = _read(root, f.location.path)
    try:
        tree = ast.parse(text) if text is not None else None
    except SyntaxError:
        tree = None
    key = None if tree is None else sources.canonical_url(root, import_root, python_files, f.location.path, tree,
                                                          f.location.line)
    return key or f.url


def _callers_disagree(root: Path, import_root: Path, f: ConnectionFactory, python_files) -> str | None:
    """Why the pool created at `f` would need more than one engine: its URL is a parameter and
    the callers that supply it pass different URLs. None when they agree (or none is found)."""
    text = _read(root, f.location.path)
    if text is None:
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    call = sources.find_call(tree, f.location.line, "create_pool")
    if call is None:
        return None
    url = call.args[0] if call.args and not isinstance(call.args[0], ast.Starred) else next(
        (k.value for k in call.keywords if k.arg == "dsn"), None)
    if url is None:
        return None
    origin = sources.url_origin(tree, url)
    if origin.kind != "parameter":
        return None
    for function, cls, parameter in origin.parameters:
        sites = sources.call_sites(root, import_root, python_files, f.location.path, tree, function, cls, parameter)
        if len({site.source for site in sites}) > 1:
            owner = function.name if cls is None else (cls.name if function.name == "__init__" else f"{cls.name}.{function.name}")
            passed = "; ".join(f"{site.where} passes {site.shown}" for site in sites)
            return (f"the pool at {f.location} connects to the URL given as {parameter} to {owner}(), and its callers "
                    f"give different ones ({passed}): one shared engine would send them all to one database")
    return None


def _exported_names(root: Path, import_root: Path, inv: Inventory, secondary: frozenset[str],
                    python_files: list[Path]) -> frozenset[tuple[str, str]]:
    """Module-level names (second URL variables, SQL constants) that some other file mentions."""
    exported = set()
    candidates = [(read.location.path, read.target) for read in inv.all("env_reads")
                  if read.name in secondary and read.target and read.target.isidentifier()]
    # SQL constants: editing one in place is only safe when no other module reads it
    candidates += sorted({(call.location.path, call.sql_origin.split(":", 1)[1]) for call in inv.all("calls")
                          if call.sql_origin.startswith("constant:") and call.sql_origin[9:].isidentifier()})
    if not candidates:
        return frozenset()
    # one pass over the files, whatever the number of candidates: every file is read once and
    # split into its words; a name is mentioned where it is one of them (a whole word)
    names = {target.encode() for _, target in candidates}
    word = re.compile(rb"\w+")
    mentioned_in: dict[str, set[Path]] = {}
    for other in python_files:
        try:
            found = {m.decode() for m in names.intersection(word.findall(Path(other).read_bytes()))}
        except (OSError, ValueError):
            continue
        if found:
            resolved = Path(other).resolve()
            for name in found:
                mentioned_in.setdefault(name, set()).add(resolved)
    own_paths = {path: (root / path).resolve() for path in {path for path, _ in candidates}}  # once per module
    for path, target in candidates:
        own = own_paths[path]
        if mentioned_in.get(target, set()) - {own}:
            exported.add((_module_name(import_root, own), target))
    return frozenset(exported)


def build_plan(root: Path, inv: Inventory, settings: Settings, move_asyncpg_pools: bool = False,
               python_files: list[Path] = ()) -> MigrationPlan:
    root = root.resolve()
    url_var = _choose_url_var(inv, settings)
    reads = [e for e in inv.all("env_reads") if e.name == url_var]
    url_default = next((e.raw_default for e in reads if e.raw_default is not None), None)
    kept = _kept_engines(root, inv)
    import_root, engine_file, location_problem = _engine_location(root, inv, settings, frozenset(kept), python_files)
    raw_sql_file = engine_file.with_name("raw_sql.py")
    if raw_sql_file.exists() and GENERATED_MARKER not in raw_sql_file.read_text(encoding="utf-8", errors="replace"):
        raw_sql_file = engine_file.with_name("raw_sql_helpers.py")
    engine_rel = engine_file.relative_to(root).as_posix() if engine_file.is_relative_to(root) else ""
    factories = [f for f in inv.all("factories") if f.location.path != engine_rel]  # not the shared engine itself
    # engines on a URL a caller chose, or on another database system, stay as they are (the
    # engine codemod reports them); only engines on the configured database are replaced
    engines = tuple(f for f in factories if f.kind == "engine" and f.api.endswith("create_async_engine")
                    and (f.location.path, f.location.line) not in kept)
    # a pool a test, script or tool creates for itself stays on asyncpg: it shapes nothing here
    pools = tuple(f for f in factories if f.stack == "asyncpg" and f.kind == "pool" and not _auxiliary(f.location.path))

    kwargs: dict[str, EngineOption] = {}
    connect: dict[str, EngineOption] = {}
    notes: list[tuple[str, LeftAlone]] = []

    def note(f: ConnectionFactory, reason: str, suggestion: str | None = None) -> None:
        notes.append((f.location.path, LeftAlone("engine", f.location.line, reason, suggestion)))

    for f in engines:
        for key, source in f.options.items():
            if "***" in source or not _is_literal(source):
                note(f, f"option {key}={source} is not a literal; set it in the engine module by hand")
            elif key == "pool_pre_ping":
                note(f, "pool_pre_ping is not carried over: the engine module replaces connections the server closed "
                        "when they are checked out, without a ping's round trips on every checkout",
                     "add pool_pre_ping=True to the engine module if connections die without their socket closing")
            elif key == "connect_args":
                for k, v in ast.literal_eval(source).items():
                    connect[k] = EngineOption(k, repr(v), str(f.location))
            else:
                kwargs[key] = EngineOption(key, source, str(f.location))
    pool_sizes: list[tuple[int, str]] = []
    for f in engines:
        size = int(ast.literal_eval(f.options.get("pool_size", "5"))) if _is_literal(f.options.get("pool_size", "5")) else 5
        overflow = int(ast.literal_eval(f.options.get("max_overflow", "10"))) if _is_literal(f.options.get("max_overflow", "10")) else 10
        pool_sizes.append((size + overflow, str(f.location)))
    callbacks: list[sources.Callback] = []
    blockers: list[tuple[str, LeftAlone]] = []

    def block(f: ConnectionFactory, reason: str, suggestion: str) -> None:
        blockers.append((f.location.path, LeftAlone("engine", f.location.line, reason, suggestion, manual=True)))

    for f in pools:
        for key, source in f.options.items():
            if key in ("min_size", "max_size"):
                continue
            if key in ("init", "setup"):
                try:
                    callback = _callback(root, import_root, f, key)
                except sources.Refused as refused:
                    # it stays where it is, and the application hands it to use_database_url()
                    callbacks.append(sources.Callback(key, _module_name(import_root, (root / f.location.path).resolve()),
                                                      str(f.location), handed_over=True))
                    note(f, f"create_pool({key}=...) stays where it is and is handed to use_database_url(), which "
                            f"runs it on every {'new' if key == 'init' else 'checked-out'} connection of the engine "
                            f"(it cannot move into the engine module: {refused})")
                else:
                    if callback not in callbacks:
                        callbacks.append(callback)
                continue
            if key in _NOT_MAPPED:
                note(f, f"create_pool({key}=...) has no engine equivalent", _NOT_MAPPED[key])
            elif key in _CONNECT_KEYWORDS:
                if "***" in source or not _is_literal(source):
                    note(f, f"option {key}={source} is not a literal; set it in the engine module by hand")
                else:
                    connect[key] = EngineOption(key, source, str(f.location))
            else:
                note(f, f"create_pool({key}=...) is not known to the engine mapping", "set it by hand if it matters")
        max_size = f.options.get("max_size", "10")
        if _is_literal(max_size):
            pool_sizes.append((int(ast.literal_eval(max_size)), str(f.location)))
        else:
            note(f, f"max_size={max_size} is not a literal; the engine's pool_size falls back to 10")
            pool_sizes.append((10, str(f.location)))
    if pools or engines:
        largest, origin = max(pool_sizes)
        kwargs.pop("max_overflow", None)
        kwargs["pool_size"] = EngineOption(
            "pool_size", str(largest), origin,
            "the largest pool the application had; every connection stays pooled like asyncpg's",
        )
        kwargs["max_overflow"] = EngineOption(
            "max_overflow", "0", origin, "QueuePool closes overflow connections on return; asyncpg kept them")
        kwargs.setdefault("pool_timeout", EngineOption(
            "pool_timeout", "30", origin, "seconds a caller waits for a free connection; asyncpg's pool waited forever"))

    if url_default is not None and "***" in redact(url_default):
        # a password in the source stays where it was; the generated module never repeats it
        read = next(e for e in reads if e.raw_default == url_default)
        notes.append((read.location.path, LeftAlone(
            "engine", read.location.line,
            f"the default of {url_var} carries a password, so the engine module does not copy it: {url_var} "
            "has to be set wherever the application runs, development included",
            f"set {url_var} in .env or the shell; keep credentials out of defaults")))
        url_default = None
    # the server given in pieces (host=, user=, **settings) goes to use_database_url() as it is;
    # pools of tests, scripts and benchmarks point the one engine at their own database there
    application_pools = list(pools)
    urls = {_url_key(root, import_root, f, python_files) if f.url is not None else ", ".join(
        f"{k}={v}" for k, v in sorted(f.options.items()) if k in ("host", "port", "user", "password", "database", "**"))
        for f in application_pools}
    settings_of = [(f, tuple(sorted((k, v) for k, v in f.options.items() if k in _CONNECTION_SETTINGS)))
                   for f in application_pools]
    if len(urls) == 1 and len({given for _, given in settings_of}) > 1:
        shown = "; ".join(f"{', '.join(f'{k}={v}' for k, v in given) or 'none'} at {f.location}"
                          for f, given in settings_of)
        block(application_pools[0], f"the asyncpg pools give their connections different settings ({shown}); one "
              "engine gives every connection the same ones, so each pool's settings would reach the others' queries",
              "give every pool the same connection settings (or none), or keep one of these data layers on asyncpg")
    if len(urls) > 1:
        block(application_pools[0], "the asyncpg pools connect with different URLs (" + ", ".join(
            f"{f.url} at {f.location}" for f in application_pools) + "); one engine would send them all to one database",
            "keep one database per application, or migrate each database's code separately")
    for f in pools:
        reason = _callers_disagree(root, import_root, f, python_files)
        if reason:
            block(f, reason, "pass the URL from one place (one environment variable), or keep this data layer on "
                             "asyncpg; one engine serves one database")
    for f in engines:
        if f.url is not None and (f.url.startswith(("'", '"')) or "://" in f.url):
            notes.append((f.location.path, LeftAlone(
                "engine", f.location.line, f"create_async_engine() had a literal URL ({f.url}); the shared engine "
                f"reads {url_var} instead", f"set {url_var} to that URL where this engine was used")))
    secondary = frozenset(e.name for e in inv.all("env_reads") if e.database_url and e.name != url_var)
    handed = {(c.origin, c.keyword) for c in callbacks if c.handed_over}
    server = frozenset({"host", "port", "user", "password", "passwd", "database"})

    def same_arguments(f: ConnectionFactory) -> bool:
        return all(key in server or (str(f.location), key) in handed for key in f.options)

    by_module: dict[str, bool] = {}
    for f in pools:
        name = _module_name(import_root, (root / f.location.path).resolve())
        by_module[name] = by_module.get(name, True) and same_arguments(f)
    by_path: dict[str, list[LeftAlone]] = {}
    for path, item in notes:
        by_path.setdefault(path, []).append(item)
    return MigrationPlan(
        root=root,
        import_root=import_root,
        url_var=url_var,
        url_default=url_default,
        secondary_url_vars=secondary,
        engine_module=settings.engine_module or _module_name(import_root, engine_file),
        engine_path=engine_file.relative_to(root).as_posix() if engine_file.is_relative_to(root) else str(engine_file),
        engine_kwargs=tuple(sorted(kwargs.values(), key=lambda o: o.key)),
        connect_args=tuple(sorted(connect.values(), key=lambda o: o.key)),
        sqlalchemy_engines=engines,
        asyncpg_pools=pools,
        move_asyncpg_pools=move_asyncpg_pools,
        notes=tuple(item for _, item in notes),
        notes_by_path=by_path,
        exported_names=_exported_names(root, import_root, inv, secondary, list(python_files)),
        json_codecs=_json_codecs(python_files),
        json_tables=_json_tables(root, inv),
        returns=tuple(sorted(
            (f"{_module_name(import_root, (root / facts.path).resolve())}.{name}", kind)
            for facts in inv.files for name, kind in facts.returns
            # the generated helpers hand out driver connections on purpose; they are not pools to migrate
            if facts.path not in (engine_rel, raw_sql_file.relative_to(root).as_posix() if raw_sql_file.is_relative_to(root) else ""))),
        pool_callbacks=tuple(callbacks),
        pool_blockers=tuple(blockers),
        raw_sql_module=_module_name(import_root, raw_sql_file),
        raw_sql_path=raw_sql_file.relative_to(root).as_posix() if raw_sql_file.is_relative_to(root) else str(raw_sql_file),
        alembic_baseline=has_alembic_baseline(root),
        location_problem=location_problem,
        same_argument_pools=frozenset(name for name, same in by_module.items() if same),
    )


def has_alembic_baseline(root: Path) -> bool:
    """Whether the target has an Alembic environment with at least one revision."""
    versions = root / "migrations" / "versions"
    return (root / "alembic.ini").is_file() and versions.is_dir() and any(versions.glob("*.py"))


def _json_tables(root: Path, inv: Inventory) -> tuple[TableFact, ...]:
    """The json and jsonb columns of the tables the application's own DDL creates."""
    from pgunify.schema.sources import ddl_scripts

    scripts, _ = ddl_scripts(root, inv)
    return json_tables(script.sql for script in scripts)


def _json_codecs(python_files) -> frozenset[str]:
    """The JSON types the application told asyncpg to decode itself (set_type_codec("jsonb", ...))."""
    codec = re.compile(rb"set_type_codec\(\s*['\"](jsonb?)['\"]")
    found = set()
    for path in python_files:
        try:
            found.update(m.decode() for m in codec.findall(Path(path).read_bytes()))
        except OSError:
            continue
    return frozenset(found)
