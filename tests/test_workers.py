"""The worker processes set aside what they inherit from the cyclic garbage collector."""

from __future__ import annotations

import gc

from pgunify.workers import worker_pool


def _collector_state(_: int) -> tuple[bool, int, tuple[int, int, int]]:
    return gc.isenabled(), gc.get_freeze_count(), gc.get_threshold()


def test_workers_freeze_what_they_inherit_and_collect_fully_less_often():
    gc.disable()  # as during a migrate run, when the workers start
    try:
        with worker_pool(2) as pool:
            states = list(pool.map(_collector_state, range(4)))
    finally:
        gc.enable()
    parent_threshold = gc.get_threshold()
    for enabled, frozen, threshold in states:
        assert enabled  # the workers' own garbage is collected
        assert frozen > 10_000  # the modules and objects copied from this process
        assert threshold[:2] == parent_threshold[:2] and threshold[2] == parent_threshold[2] * 10
    assert gc.get_freeze_count() == 0  # this process keeps its own collector as it was


def test_a_migrate_run_gives_the_collector_back_as_it_found_it(tmp_path):
    from example_tree import copy_example
    from pgunify.config import load_settings
    from pgunify.rewrite.runner import run

    tree = copy_example("guildbot", tmp_path)
    for before in (True, False):
        (gc.enable if before else gc.disable)()
        try:
            run(tree, ("repositories",), load_settings(tree), jobs=2, import_check=False)
            assert gc.isenabled() is before
        finally:
            gc.enable()


def test_a_run_in_one_process_collects_the_garbage_of_each_rewrite(tmp_path, monkeypatch):
    from example_tree import copy_example
    from pgunify.config import load_settings
    from pgunify.rewrite import runner

    tree = copy_example("guildbot", tmp_path)
    seen = []
    transform = runner._transform_file

    def watched(*args, **kwargs):
        seen.append(gc.isenabled())
        return transform(*args, **kwargs)

    monkeypatch.setattr(runner, "_transform_file", watched)
    runner.run(tree, ("repositories",), load_settings(tree), jobs=1, import_check=False)
    assert seen and all(seen)  # paused while the model is held, on while files are rewritten here
    assert gc.isenabled()
