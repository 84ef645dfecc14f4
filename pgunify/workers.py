"""The worker processes of the scan and the rewrite.

Each worker has a lane of files of its own: the scan hands a file to its lane, and the
rewrite hands it to the same lane again. A worker keeps the syntax tree and the metadata it
resolved for a file it scanned (pgunify.facts.parsed), so the rewrite of that file starts
from them instead of parsing the file and resolving its scopes and positions a second time,
a third of the work of rewriting it. Lanes are dealt out in turn over the files from the
largest to the smallest, so every lane gets its share of files of every size: what a file
costs depends more on whether it holds database code than on its size, and one very large
file without any cannot leave the files with work to a single lane.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any


class Workers:
    """`jobs` worker processes, one per lane."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        # forked where the platform forks as Linux does: a worker starts with this process's
        # modules instead of importing them again (see _settle)
        context = multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None
        self._lanes = [ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_settle)
                       for _ in range(jobs)]
        self._lane_of: dict[str, int] = {}
        self._given = 0  # how many sets of shared arguments were handed out

    def assign(self, files: Iterable[tuple[str, str]]) -> None:
        """Lanes for files not given one yet ((path, key) pairs; the key names the file in
        every phase), by size as the module's docstring says."""
        new = [(key, _size(path)) for path, key in files if key not in self._lane_of]
        for rank, (key, _) in enumerate(sorted(new, key=lambda item: (-item[1], item[0]))):
            self._lane_of[key] = rank % self.jobs

    def lane(self, key: str) -> int:
        found = self._lane_of.get(key)
        return found if found is not None else zlib.crc32(key.encode()) % self.jobs

    def submit(self, fn: Callable[..., list], items: Sequence, key: Callable[[Any], str], chunk_size: int,
               *common: Any) -> Pending:
        """`fn(*common, chunk)` for chunks of at most `chunk_size` items (see `per_task`), each
        chunk in the lane of its items; what each returns is a list, one result per item.
        `common` (the plan of a rewrite) crosses to each worker once, not once per chunk: a
        lane runs its tasks one after the other, in the order they were handed to it, in one
        process that is never replaced (no `max_tasks_per_child`), so it still holds what it
        received."""
        by_lane: dict[int, list[int]] = {}
        for index, item in enumerate(items):
            by_lane.setdefault(self.lane(key(item)), []).append(index)
        self._given += 1
        tasks: dict[Future, tuple[Future, list[int]]] = {}
        for lane, indexes in by_lane.items():
            given = self._lanes[lane].submit(_receive, self._given, common)
            for start in range(0, len(indexes), chunk_size):
                chunk = indexes[start:start + chunk_size]
                tasks[self._lanes[lane].submit(_run_chunk, self._given, fn, [items[i] for i in chunk])] = (given, chunk)
        return Pending(tasks, len(items))

    def shutdown(self) -> None:
        for lane in self._lanes:
            lane.shutdown()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class Pending:
    """Results of `Workers.submit`, in the order of its items."""

    def __init__(self, tasks: dict[Future, tuple[Future, list[int]]], count: int) -> None:
        self._tasks = tasks  # each task: the hand-out of its shared arguments, its items
        self._count = count

    def results(self, progress: Callable[[int, int], None] | None = None) -> list:
        found: list = [None] * self._count
        done = 0
        waiting = set(self._tasks)
        while waiting:
            finished, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in finished:
                given, indexes = self._tasks[future]
                if future.exception() is not None and given.done() and given.exception() is not None:
                    raise given.exception()  # the shared arguments never reached the worker: say why
                for index, result in zip(indexes, future.result(), strict=True):
                    found[index] = result
                done += len(indexes)
            if progress:
                progress(done, self._count)
        return found


def per_task(items: int, workers: Workers, least: int = 1, most: int | None = None) -> int:
    """Items per task: about eight tasks per worker, so no worker waits long at the end, but
    at least `least` (fewer hand-offs) and at most `most`."""
    size = max(least, items // (8 * workers.jobs))
    return size if most is None else min(size, most)


# in a worker: the arguments every chunk of the latest submit shares, by its number
_received: dict[int, tuple] = {}


def _receive(number: int, common: tuple) -> None:
    _received.clear()  # the chunks of earlier submits ran before this (a lane keeps its order)
    _received[number] = common


def _run_chunk(number: int, fn: Callable[..., list], chunk: list) -> list:
    return fn(*_received[number], chunk)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _settle() -> None:
    """Runs first in each worker.

    A worker starts with a copy of this process: the modules of pgunify, libcst, SQLAlchemy
    and their dependencies, some hundred thousand objects that live as long as it does. The
    cyclic garbage collector went through all of them at each of its full collections, which
    the hundreds of thousands of short-lived nodes of every syntax tree set off again and
    again: a sixth of a worker's time. They are set aside (`gc.freeze()`), and a full
    collection waits for ten times as many younger ones as by default; the nodes of a file's
    trees are freed by reference counting as soon as the file is done (a rewrite leaves a
    few thousand objects in cycles), so little waits for the collector.
    """
    gc.freeze()
    gc.enable()  # the migrate run pauses the collector in its own process while workers start
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old * 10)
