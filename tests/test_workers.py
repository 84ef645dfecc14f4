"""The worker processes set aside what they inherit from the cyclic garbage collector."""

from __future__ import annotations

import gc

from pgunify.workers import worker_pool


def _collector_state(_: int) -> tuple[int, tuple[int, int, int]]:
    return gc.get_freeze_count(), gc.get_threshold()


def test_workers_freeze_what_they_inherit_and_collect_fully_less_often():
    with worker_pool(2) as pool:
        states = list(pool.map(_collector_state, range(4)))
    parent_threshold = gc.get_threshold()
    for frozen, threshold in states:
        assert frozen > 10_000  # the modules and objects copied from this process
        assert threshold[:2] == parent_threshold[:2] and threshold[2] == parent_threshold[2] * 10
    assert gc.get_freeze_count() == 0  # this process keeps its own collector as it was
