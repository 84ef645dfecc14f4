"""A content-addressed cache of per-file results, so an unchanged file is never analysed twice.

Keys cover the file's bytes, its path relative to the target, the options that shape the
result, and a fingerprint of pgunify's own code, so a new version (or an edited checkout)
never reads an old entry. Entries are written atomically; a damaged one is a miss.

Layout: `<base>/<version>-<fingerprint>/<kind>/<2 hex>/<key>`, where the base is the
platform's per-user cache folder (platformdirs), `UNIFY_CACHE_DIR` if set. The first write
of a process removes the folders of older pgunify versions, and those of the same version
(an edited checkout) untouched for a week; newer versions' folders are left to them.

A cached result is a pickle, and unpickling runs code, so nothing is read from a folder
another user could have written to: the base and every folder above it must be owned by
this user (or root) and not writable by group or others, unless sticky like /tmp, and so
must the entry. Where that does not hold the cache is not used at all, reads nor writes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import shutil
import stat
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from pgunify import __version__

_MISS = object()
STALE_AFTER = 7 * 24 * 3600  # seconds unused before a same-version folder of another fingerprint goes


def cache_dir() -> Path | None:
    """The base folder of the cache, or None when the cache is off or not safe to use."""
    if os.environ.get("UNIFY_NO_CACHE"):
        return None
    configured = os.environ.get("UNIFY_CACHE_DIR")
    if configured:
        base = Path(configured)
    else:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("pgunify", appauthor=False))
    return base if _private(str(base.absolute())) else None


@lru_cache(maxsize=8)
def _private(base: str) -> bool:
    """Whether no other user can write into `base` or put something else in its place.

    A folder that does not exist yet is judged by the nearest one that does (it will be
    created with mode 0700)."""
    if not hasattr(os, "getuid"):  # Windows: per-user profile folders, no POSIX modes
        return True
    me = os.getuid()
    path = Path(base)
    while not path.exists() and path.parent != path:
        path = path.parent
    depth = 0 if path == Path(base) else 1  # a folder still to be made is made private
    for depth, folder in enumerate([path, *path.parents], start=depth):
        try:
            info = folder.stat()
        except OSError:
            return _refuse(base, f"{folder} cannot be read")
        if depth == 0 and not _safe(info, me):
            return _refuse(base, f"{folder} is not this user's alone")
        if depth and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
            return _refuse(base, f"others can write to {folder}")
        if depth and info.st_uid not in (me, 0) and info.st_mode & stat.S_IWUSR:
            return _refuse(base, f"{folder} belongs to another user")
    return True


def _refuse(base: str, why: str) -> bool:
    logging.getLogger("pgunify").warning("the result cache at %s is not used: %s", base, why)
    return False


def _safe(info: os.stat_result, me: int) -> bool:
    return info.st_uid in (me, 0) and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _generation() -> str:
    return f"{__version__}-{code_fingerprint()}"


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
    path = base / _generation() / kind / cache_key[:2] / cache_key
    try:
        with path.open("rb") as handle:
            if hasattr(os, "getuid") and not _safe(os.fstat(handle.fileno()), os.getuid()):
                return _MISS
            return pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        return _MISS


def put(kind: str, cache_key: str, value: Any) -> None:
    base = cache_dir()
    if base is None:
        return
    _prune_once(base)
    directory = base / _generation() / kind / cache_key[:2]
    try:
        old = os.umask(0o077)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        finally:
            os.umask(old)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, directory / cache_key)
    except OSError:
        pass  # a cache that cannot be written is only slower


def is_miss(value: Any) -> bool:
    return value is _MISS


@lru_cache(maxsize=8)
def _prune_once(base: Path) -> None:
    """Remove what older pgunify versions left under `base` (once per process and base)."""
    from packaging.version import InvalidVersion, Version

    current = _generation()
    try:
        mine = Version(__version__)
        entries = list(base.iterdir())
    except (OSError, InvalidVersion):
        return
    try:
        os.utime(base / current)  # in use: not stale for another week
    except OSError:
        pass
    now = time.time()
    for entry in entries:
        if not entry.is_dir() or entry.is_symlink() or entry.name == current:
            continue
        version, _, fingerprint = entry.name.partition("-")
        try:
            theirs = Version(version)
        except InvalidVersion:
            theirs = None  # the flat layout of earlier versions (kind folders at the top)
        if theirs is not None and not fingerprint:
            continue  # not a folder of ours
        if theirs is not None and theirs > mine:
            continue
        try:
            if theirs == mine and now - entry.stat().st_mtime < STALE_AFTER:
                continue
        except OSError:
            continue
        if theirs is None and entry.name not in _EARLIER_KINDS:
            continue
        shutil.rmtree(entry, ignore_errors=True)


_EARLIER_KINDS = frozenset({"facts", "migrate"})  # the top folders of the unversioned layout
