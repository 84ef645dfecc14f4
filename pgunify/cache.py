"""A content-addressed cache of per-file results, so an unchanged file is never analysed twice.

Keys cover the file's bytes, its path relative to the target, the options that shape the
result, and a fingerprint of pgunify's own code, so a new version (or an edited checkout)
never reads an old entry. Entries are written atomically; a damaged one is a miss.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from pgunify import __version__

_MISS = object()


def cache_dir() -> Path | None:
    if os.environ.get("UNIFY_NO_CACHE"):
        return None
    base = os.environ.get("UNIFY_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "pgunify")
    return Path(base)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Versions of pgunify and of the libraries it parses with, and the size and mtime of
    every module of pgunify and its codemods."""
    package = Path(__file__).resolve().parent
    roots = [package]
    try:
        from pgunify import codemods

        roots.append(Path(codemods.__file__).resolve().parent)
    except ImportError:  # pragma: no cover
        pass
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256(__version__.encode())
    for dependency in ("libcst", "sqlalchemy", "pglast", "asyncpg"):  # their parsers and regexes shape results
        try:
            digest.update(f"{dependency}={version(dependency)}".encode())
        except PackageNotFoundError:
            pass
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".tmpl"):
                stat = path.stat()
                digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def key(kind: str, *parts: bytes | str) -> str:
    digest = hashlib.sha256(f"{kind}\0{code_fingerprint()}".encode())
    for part in parts:
        digest.update(b"\0")
        digest.update(part if isinstance(part, bytes) else part.encode())
    return digest.hexdigest()


def get(kind: str, cache_key: str) -> Any:
    base = cache_dir()
    if base is None:
        return _MISS
    path = base / kind / cache_key[:2] / cache_key
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        return _MISS


def put(kind: str, cache_key: str, value: Any) -> None:
    base = cache_dir()
    if base is None:
        return
    directory = base / kind / cache_key[:2]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, directory / cache_key)
    except OSError:
        pass  # a cache that cannot be written is only slower


def is_miss(value: Any) -> bool:
    return value is _MISS
