"""Syntax trees a worker keeps from the scan for the rewrite of the same file.

The scan parses a file and resolves its parents, scopes and positions to read its facts;
the rewrite of that file needs the very same tree and metadata first. A worker of a migrate
run (pgunify.workers: a file goes to the same worker in both phases) keeps them here; the
rewrite takes them once, and only for the same bytes. Nothing is kept unless the scan was
asked to (`keeping`), so `pgunify scan` and one-process runs hold no trees.
"""

from __future__ import annotations

from libcst.metadata import MetadataWrapper

_kept: dict[str, tuple[bytes, MetadataWrapper]] = {}
_keeping = False


def keeping(on: bool) -> None:
    global _keeping
    _keeping = on
    if not on:
        _kept.clear()


def keep(rel: str, source: bytes, wrapper: MetadataWrapper) -> None:
    if _keeping:
        _kept[rel] = (source, wrapper)


def take(rel: str, source: bytes) -> MetadataWrapper | None:
    """The tree and metadata kept for this file, if its bytes are the ones the scan read."""
    entry = _kept.pop(rel, None)
    return entry[1] if entry is not None and entry[0] == source else None
