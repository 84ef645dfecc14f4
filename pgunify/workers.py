"""The worker processes of the scan and the rewrite."""

from __future__ import annotations

import gc
from concurrent.futures import ProcessPoolExecutor


def worker_pool(jobs: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=jobs, initializer=_settle)


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
