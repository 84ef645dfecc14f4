"""A large, realistic monorepo for the codemod throughput benchmark, generated on demand.

Real services have a few asyncpg repository modules among many that never touch the
database (models, services, routers, utilities): about one file in six mentions asyncpg.
The repositories here use the call forms of the bundled examples (pool-level fetch /
fetchrow / fetchval / execute / executemany, acquire blocks, transactions, prepared
statements, cursors) with varied receiver names, SQL styles and imports, so a run sees
the same mix of easy and hard cases as on real code. Deterministic for a given seed.

    python benchmarks/codemod_tree.py OUT_DIR [--files 1200] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

NOUNS = (
    "invoice", "shipment", "parcel", "tenant", "ledger", "voucher", "coupon", "carrier", "route", "depot",
    "sensor", "reading", "meter", "tariff", "contract", "clause", "patient", "visit", "ward", "dose",
    "course", "lesson", "grade", "cohort", "listing", "bid", "auction", "seller", "badge", "member",
    "ticket", "queue", "agent", "macro", "article", "author", "comment", "vote", "playlist", "track",
    "album", "artist", "station", "train", "platform", "fare", "booking", "room", "guest", "stay",
    "policy", "claim", "premium", "broker", "asset", "lease", "vendor", "purchase", "budget", "project",
    "sprint", "epic", "release", "build", "runner", "artifact", "camera", "alert", "zone", "device",
)
ADJECTIVES = (
    "active", "archived", "pending", "regional", "shared", "daily", "primary", "external", "legacy",
    "partner", "internal", "billing", "public", "audit", "retail", "field", "remote", "core",
)
FIELDS = (
    ("name", "text", "str"), ("status", "text", "str"), ("amount", "numeric", "Decimal"),
    ("quantity", "integer", "int"), ("notes", "text", "str"), ("created_at", "timestamptz", "datetime"),
    ("updated_at", "timestamptz", "datetime"), ("owner_id", "bigint", "int"), ("region", "text", "str"),
    ("priority", "smallint", "int"), ("enabled", "boolean", "bool"), ("score", "double precision", "float"),
    ("tags", "text[]", "list[str]"), ("attributes", "jsonb", "dict"), ("code", "text", "str"),
    ("expires_at", "timestamptz", "datetime"), ("weight_kg", "numeric", "Decimal"), ("email", "text", "str"),
)
DOMAINS = ("billing", "logistics", "catalog", "accounts", "support", "metering", "scheduling", "inventory",
           "payments", "reporting", "identity", "notifications", "fleet", "media", "pricing", "search")


@dataclass(frozen=True)
class TreeStats:
    root: Path
    files: int
    lines: int
    asyncpg_files: int  # files whose text mentions asyncpg


def _camel(*words: str) -> str:
    return "".join(w.title().replace("_", "") for w in words)


class _Names:
    """Unique, varied identifiers; the same seed gives the same names."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def entity(self) -> str:
        for _ in range(1000):
            noun, other, adjective = self.rng.choice(NOUNS), self.rng.choice(NOUNS), self.rng.choice(ADJECTIVES)
            name = self.rng.choice((noun, f"{adjective}_{noun}", f"{noun}_{other}", f"{adjective}_{noun}_{other}"))
            if name not in self.used and noun != other:
                self.used.add(name)
                return name
        name = f"{self.rng.choice(NOUNS)}_{len(self.used)}"
        self.used.add(name)
        return name


def _fields(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    return rng.sample(FIELDS, count)


# -- modules that talk to the database ------------------------------------------------------

def _db_module(package: str) -> str:
    return f'''"""Process-wide asyncpg pool: opened once at start-up, handed to the repositories."""
from __future__ import annotations

import os

import asyncpg

_pool: asyncpg.Pool | None = None


async def open_pool() -> asyncpg.Pool:
    global _pool
    if _pool is None:
        _pool = await asyncpg.create_pool(
            os.environ.get("DATABASE_URL", "postgresql://app@localhost:5432/{package}"),
            min_size=2,
            max_size=10,
            command_timeout=30,
        )
    return _pool


def get_pool() -> asyncpg.Pool:
    if _pool is None:
        raise RuntimeError("the database pool is not open; call open_pool() first")
    return _pool


async def close_pool() -> None:
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        await pool.close()
'''


def _repository_module(rng: random.Random, entity: str, package: str) -> str:
    table = entity + ("es" if entity.endswith(("s", "x", "ch")) else "s")
    cls = _camel(entity)
    attr = rng.choice(("self.pool", "self._pool", "self._db", "self.db"))
    con = rng.choice(("conn", "con", "connection"))
    import_style = rng.choice(("module", "from", "from-pool"))
    constants = rng.random() < 0.6
    fields = _fields(rng, rng.randint(4, 7))
    cols = ", ".join(f for f, _, _ in fields)
    params = ", ".join(f"${i}" + (f"::{t}" if t in ("jsonb", "text[]", "timestamptz") else "")
                       for i, (_, t, _) in enumerate(fields, start=1))
    args = ", ".join(f"{entity}.{f}" for f, _, _ in fields)
    setters = ",\n           ".join(f"{f} = COALESCE(${i + 2}, {f})" for i, (f, _, _) in enumerate(fields[:3]))
    pool_type = {"module": "asyncpg.Pool", "from": "Pool", "from-pool": "Pool"}[import_style]
    record_type = "asyncpg.Record" if import_style == "module" else "Record"
    imports = {
        "module": "import asyncpg",
        "from": "import asyncpg\nfrom asyncpg import Pool, Record",
        "from-pool": "import asyncpg\nfrom asyncpg import Record\nfrom asyncpg.pool import Pool",
    }[import_style]
    sql = {
        "INSERT": f"""
    INSERT INTO {table} ({cols})
    VALUES ({params})
    RETURNING id""",
        "GET": f"SELECT id, {cols} FROM {table} WHERE id = $1",
        "LIST": f"""
    SELECT id, {cols}
      FROM {table}
     WHERE ($1::text IS NULL OR {fields[0][0]}::text = $1)
     ORDER BY id
     LIMIT $2 OFFSET $3""",
        "COUNT": f"SELECT count(*) FROM {table}",
        "UPDATE": f"""
    UPDATE {table}
       SET {setters}
     WHERE id = $1
    RETURNING id, {cols}""",
        "DELETE": f"DELETE FROM {table} WHERE id = $1",
        "EXISTS": f"SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)",
        "BULK": f"INSERT INTO {table} ({fields[0][0]}, {fields[1][0]}) VALUES ($1, $2)",
        "TRACK": f"SELECT id, {fields[0][0]} FROM {table} WHERE id > $1 ORDER BY id",
        "IDS": f"SELECT id FROM {table} WHERE {fields[0][0]}::text = $1",
    }
    prefix = entity.upper()

    def q(key: str) -> str:
        if constants:
            return f"{key}_{prefix}_SQL"
        text = sql[key]
        return f'"""{text}\n"""' if "\n" in text else repr(text)

    header = [f'"""{cls} persistence on the shared asyncpg pool."""', "from __future__ import annotations", "",
              "import logging", "from dataclasses import dataclass", "from datetime import datetime",
              "from decimal import Decimal", "from typing import Any, AsyncIterator, Iterable, Optional", "",
              imports, "", f"logger = logging.getLogger(__name__)", ""]
    if constants:
        for key, text in sql.items():
            header.append(f'{key}_{prefix}_SQL = """{text}\n"""' if "\n" in text else f"{key}_{prefix}_SQL = {text!r}")
            header.append("")
    body = [
        "",
        "@dataclass",
        f"class {cls}Row:",
        "    id: int",
        *[f"    {f}: {py} | None = None" for f, _, py in fields],
        "",
        "",
        f"def _to_{entity}(record: {record_type}) -> {cls}Row:",
        f"    return {cls}Row(id=record[\"id\"], " + ", ".join(f"{f}=record[\"{f}\"]" for f, _, _ in fields) + ")",
        "",
        "",
        f"class {cls}Repository:",
        f'    """Reads and writes {table}; every method takes one round trip unless it says otherwise."""',
        "",
        f"    def __init__(self, pool: {pool_type}) -> None:",
        f"        {attr} = pool",
        "",
        f"    async def get(self, {entity}_id: int) -> Optional[{cls}Row]:",
        f"        record = await {attr}.fetchrow({q('GET')}, {entity}_id)",
        f"        return _to_{entity}(record) if record else None",
        "",
        f"    async def list(self, {fields[0][0]}: str | None = None, limit: int = 50, offset: int = 0) -> list[{cls}Row]:",
        f"        records = await {attr}.fetch({q('LIST')}, {fields[0][0]}, limit, offset)",
        f"        return [_to_{entity}(r) for r in records]",
        "",
        "    async def count(self) -> int:",
        f"        return await {attr}.fetchval({q('COUNT')})",
        "",
        f"    async def exists(self, {entity}_id: int) -> bool:",
        f"        return bool(await {attr}.fetchval({q('EXISTS')}, {entity}_id))",
        "",
        f"    async def create(self, {entity}: {cls}Row) -> int:",
        f"        async with {attr}.acquire() as {con}:",
        f"            async with {con}.transaction():",
        f"                new_id = await {con}.fetchval({q('INSERT')}, {args})",
        f"                logger.info(\"created {entity} %s\", new_id)",
        "                return new_id",
        "",
        f"    async def update(self, {entity}_id: int, " + ", ".join(f"{f}: Any = None" for f, _, _ in fields[:3]) + f") -> Optional[{cls}Row]:",
        f"        record = await {attr}.fetchrow({q('UPDATE')}, {entity}_id, " + ", ".join(f for f, _, _ in fields[:3]) + ")",
        f"        return _to_{entity}(record) if record is not None else None",
        "",
        f"    async def delete(self, {entity}_id: int) -> bool:",
        f"        status = await {attr}.execute({q('DELETE')}, {entity}_id)",
        "        return status.endswith(\" 1\")",
        "",
        "    async def add_many(self, rows: Iterable[tuple[Any, Any]]) -> None:",
        f"        async with {attr}.acquire() as {con}:",
        f"            async with {con}.transaction():",
        f"                await {con}.executemany({q('BULK')}, list(rows))",
        "",
        f"    async def ids_by_{fields[0][0]}(self, values: Iterable[str]) -> dict[str, list[int]]:",
        "        found: dict[str, list[int]] = {}",
        f"        async with {attr}.acquire() as {con}:",
        f"            stmt = await {con}.prepare({q('IDS')})",
        "            for value in values:",
        "                found[value] = [r[\"id\"] for r in await stmt.fetch(value)]",
        "        return found",
        "",
        f"    async def stream(self, after_id: int = 0) -> AsyncIterator[{record_type}]:",
        f"        async with {attr}.acquire() as {con}:",
        f"            async with {con}.transaction():",
        f"                async for record in {con}.cursor({q('TRACK')}, after_id, prefetch=100):",
        "                    yield record",
        "",
    ]
    if rng.random() < 0.4:
        body += [
            "    async def ping(self) -> bool:",
            f"        async with {attr}.acquire() as {con}:",
            f"            return await {con}.fetchval(\"SELECT 1\") == 1",
            "",
        ]
    return "\n".join(header + body)


# -- ordinary modules ----------------------------------------------------------------------

def _model_module(rng: random.Random, entities: list[str]) -> str:
    out = ['"""Domain objects; no I/O here."""', "from __future__ import annotations", "",
           "from dataclasses import dataclass, field", "from datetime import datetime, timezone",
           "from decimal import Decimal", "from enum import Enum", ""]
    for entity in entities:
        cls = _camel(entity)
        fields = _fields(rng, rng.randint(5, 9))
        out += ["", f"class {cls}Status(str, Enum):", '    DRAFT = "draft"', '    ACTIVE = "active"',
                '    CLOSED = "closed"', "", "", "@dataclass", f"class {cls}:",
                f'    """A {entity.replace("_", " ")} as the rest of the service sees it."""', "", "    id: int"]
        out += [f"    {f}: {py} | None = None" for f, _, py in fields]
        out += [f"    status: {cls}Status = {cls}Status.DRAFT",
                "    labels: list[str] = field(default_factory=list)", "",
                "    def is_open(self) -> bool:",
                f"        return self.status is not {cls}Status.CLOSED", "",
                "    def close(self) -> None:",
                f"        self.status = {cls}Status.CLOSED", "",
                "    def to_dict(self) -> dict:",
                "        return {",
                '            "id": self.id,']
        out += [f'            "{f}": self.{f},' for f, _, _ in fields]
        out += ['            "status": self.status.value,', '            "labels": list(self.labels),', "        }", "",
                "    @classmethod",
                f"    def from_dict(cls, data: dict) -> \"{cls}\":",
                "        return cls(",
                '            id=int(data["id"]),']
        out += [f'            {f}=data.get("{f}"),' for f, _, _ in fields]
        out += [f'            status={cls}Status(data.get("status", "draft")),',
                '            labels=list(data.get("labels", ())),', "        )", ""]
    return "\n".join(out) + "\n"


def _service_module(rng: random.Random, entities: list[str], package: str, domain: str) -> str:
    out = ['"""Business rules; storage is injected, so these are tested without a database."""',
           "from __future__ import annotations", "", "import logging", "from datetime import datetime, timedelta, timezone",
           "from typing import Protocol", "", "logger = logging.getLogger(__name__)", ""]
    for entity in entities:
        cls = _camel(entity)
        limit = rng.randint(5, 500)
        out += ["", f"class {cls}Store(Protocol):",
                f"    async def get(self, {entity}_id: int): ...", "",
                f"    async def list(self, status: str | None = None, limit: int = 50, offset: int = 0): ...", "",
                "    async def count(self) -> int: ...", "", "",
                f"class {cls}LimitExceeded(Exception):", "    pass", "", "",
                f"class {cls}Service:",
                f'    """Rules around {entity.replace("_", " ")}s that do not belong in storage."""', "",
                f"    MAX_OPEN = {limit}", "",
                f"    def __init__(self, store: {cls}Store, clock=None) -> None:",
                "        self._store = store",
                "        self._clock = clock or (lambda: datetime.now(timezone.utc))", "",
                f"    async def ensure_capacity(self) -> None:",
                "        current = await self._store.count()",
                "        if current >= self.MAX_OPEN:",
                f"            raise {cls}LimitExceeded(f\"{{current}} open, at most {{self.MAX_OPEN}}\")", "",
                f"    async def describe(self, {entity}_id: int) -> str:",
                f"        item = await self._store.get({entity}_id)",
                "        if item is None:",
                f"            return \"no such {entity.replace('_', ' ')}\"",
                "        age = self._clock() - getattr(item, \"created_at\", self._clock())",
                "        return f\"#{item.id}, {age.days} days old\"", "",
                "    async def page(self, page: int, size: int = 25) -> list:",
                "        if page < 1 or not 1 <= size <= 200:",
                "            raise ValueError(\"page starts at 1 and size is between 1 and 200\")",
                "        return await self._store.list(None, size, (page - 1) * size)", "",
                "    def overdue(self, items: list, days: int = 30) -> list:",
                "        cutoff = self._clock() - timedelta(days=days)",
                "        late = [i for i in items if getattr(i, \"created_at\", cutoff) < cutoff]",
                f"        logger.debug(\"%d of %d {entity}s overdue\", len(late), len(items))",
                "        return late", ""]
    return "\n".join(out) + "\n"


def _router_module(rng: random.Random, entities: list[str], domain: str) -> str:
    out = ['"""HTTP endpoints; thin, they only translate between JSON and the services."""',
           "from __future__ import annotations", "", "from typing import Any", "",
           "from fastapi import APIRouter, Depends, HTTPException, Query", "",
           f'router = APIRouter(prefix="/{domain}", tags=["{domain}"])', ""]
    for entity in entities:
        cls = _camel(entity)
        out += ["", f"def get_{entity}_service() -> Any:",
                f'    raise NotImplementedError("wired in main.py")', "", "",
                f'@router.get("/{entity}s/{{item_id}}")',
                f"async def read_{entity}(item_id: int, service: Any = Depends(get_{entity}_service)) -> dict:",
                "    text = await service.describe(item_id)",
                f'    if text.startswith("no such"):',
                "        raise HTTPException(status_code=404, detail=text)",
                '    return {"id": item_id, "summary": text}', "", "",
                f'@router.get("/{entity}s")',
                f"async def list_{entity}s(page: int = Query(1, ge=1), size: int = Query(25, ge=1, le=200),",
                f"                     service: Any = Depends(get_{entity}_service)) -> list[dict]:",
                "    try:",
                "        items = await service.page(page, size)",
                "    except ValueError as exc:",
                "        raise HTTPException(status_code=422, detail=str(exc)) from exc",
                "    return [getattr(i, \"to_dict\", lambda: {\"id\": i})() for i in items]", "", "",
                f'@router.post("/{entity}s/check", status_code=204)',
                f"async def check_{entity}_capacity(service: Any = Depends(get_{entity}_service)) -> None:",
                "    try:",
                "        await service.ensure_capacity()",
                "    except Exception as exc:  # the service's own limit error",
                "        raise HTTPException(status_code=409, detail=str(exc)) from exc", ""]
    return "\n".join(out) + "\n"


def _util_module(rng: random.Random, topic: str) -> str:
    width = rng.randint(8, 40)
    out = [f'"""Small helpers for {topic.replace("_", " ")}: pure functions, no I/O."""', "from __future__ import annotations",
           "", "import hashlib", "import re", "from collections.abc import Iterable, Iterator", "from datetime import datetime, timezone",
           "", f"_WORD = re.compile(r\"[A-Za-z0-9]+\")", ""]
    for i in range(rng.randint(6, 10)):
        name = f"{topic}_{rng.choice(('slug', 'chunks', 'digest', 'clamp', 'window', 'parse', 'merge', 'normalise'))}_{i}"
        kind = i % 5
        if kind == 0:
            out += ["", f"def {name}(text: str, limit: int = {width}) -> str:",
                    '    """Lower-case words joined by dashes, cut at a word boundary."""',
                    "    words = [w.lower() for w in _WORD.findall(text)]",
                    "    out: list[str] = []",
                    "    for word in words:",
                    "        if sum(len(w) + 1 for w in out) + len(word) > limit:",
                    "            break",
                    "        out.append(word)",
                    '    return "-".join(out)', ""]
        elif kind == 1:
            out += ["", f"def {name}(items: Iterable, size: int = {width}) -> Iterator[list]:",
                    "    batch: list = []",
                    "    for item in items:",
                    "        batch.append(item)",
                    "        if len(batch) == size:",
                    "            yield batch",
                    "            batch = []",
                    "    if batch:",
                    "        yield batch", ""]
        elif kind == 2:
            out += ["", f"def {name}(*parts: object) -> str:",
                    "    digest = hashlib.sha256()",
                    "    for part in parts:",
                    '        digest.update(repr(part).encode("utf-8"))',
                    '        digest.update(b"\\0")',
                    f"    return digest.hexdigest()[:{rng.randint(8, 32)}]", ""]
        elif kind == 3:
            out += ["", f"def {name}(value: float, low: float = 0.0, high: float = {float(width)}) -> float:",
                    "    if low > high:",
                    '        raise ValueError("low must not exceed high")',
                    "    return max(low, min(high, value))", ""]
        else:
            out += ["", f"def {name}(stamp: str | None) -> datetime | None:",
                    "    if not stamp:",
                    "        return None",
                    "    parsed = datetime.fromisoformat(stamp)",
                    "    if parsed.tzinfo is None:",
                    "        parsed = parsed.replace(tzinfo=timezone.utc)",
                    "    return parsed", ""]
    return "\n".join(out) + "\n"


def _settings_module(package: str) -> str:
    return f'''"""Settings read from the environment once, at import."""
from __future__ import annotations

import os

SERVICE_NAME = os.getenv("SERVICE_NAME", "{package}")
LOG_LEVEL = os.getenv("LOG_LEVEL", "INFO")
PAGE_SIZE = int(os.getenv("PAGE_SIZE", "25"))
'''


# -- the tree ------------------------------------------------------------------------------

def generate(root: Path, files: int = 1200, seed: int = 7, db_share: float = 0.17) -> TreeStats:
    """Write a tree of about `files` Python files under root (emptied first) and say what it holds."""
    rng = random.Random(seed)
    names = _Names(rng)
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    package = "monorepo_app"
    base = root / package
    written: dict[Path, str] = {
        base / "__init__.py": "",
        base / "db.py": _db_module(package),
        base / "settings.py": _settings_module(package),
    }
    repositories = max(1, round(files * db_share)) - 1  # db.py mentions asyncpg too
    others = max(0, files - len(written) - repositories)
    domain_count = max(1, files // 80)
    domains = [DOMAINS[i % len(DOMAINS)] + (f"_{i // len(DOMAINS)}" if i >= len(DOMAINS) else "") for i in range(domain_count)]
    for domain in domains:
        for sub in ("", "repositories", "models", "services", "routers", "utils"):
            written[base / domain / sub / "__init__.py" if sub else base / domain / "__init__.py"] = ""
    others -= len(written) - 3
    for i in range(repositories):
        domain = domains[i % len(domains)]
        entity = names.entity()
        written[base / domain / "repositories" / f"{entity}_repository.py"] = _repository_module(rng, entity, package)
    kinds = ("models", "services", "routers", "utils")
    for i in range(max(0, others)):
        domain = domains[i % len(domains)]
        kind = kinds[i % len(kinds)]
        entities = [names.entity() for _ in range(rng.randint(4, 7))]
        stem = entities[0]
        if kind == "models":
            text = _model_module(rng, entities)
        elif kind == "services":
            text = _service_module(rng, entities, package, domain)
        elif kind == "routers":
            text = _router_module(rng, entities, domain)
        else:
            text = _util_module(rng, stem)
        written[base / domain / kind / f"{stem}_{kind[:-1]}.py"] = text
    lines = mentions = 0
    for path, text in written.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        lines += text.count("\n")
        mentions += "asyncpg" in text
    return TreeStats(root=root, files=len(written), lines=lines, asyncpg_files=mentions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--files", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    stats = generate(args.out, args.files, args.seed)
    print(f"{stats.files} files, {stats.lines} lines, {stats.asyncpg_files} mention asyncpg, under {stats.root}")


if __name__ == "__main__":
    main()
