"""The worker processes set aside what they inherit from the cyclic garbage collector."""

from __future__ import annotations

import gc
import sys

import pytest

from pgunify.workers import Workers


def _collector_state(items: list[str]) -> list[tuple[bool, int, tuple[int, int, int]]]:
    return [(gc.isenabled(), gc.get_freeze_count(), gc.get_threshold()) for _ in items]


def test_workers_freeze_what_they_inherit_and_collect_fully_less_often():
    gc.disable()  # as during a migrate run, when the workers start
    try:
        with Workers(2) as pool:
            states = pool.submit(_collector_state, ["a", "b", "c", "d"], str, 1).results()
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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers see this process's patches only where forked")
def test_each_file_is_rewritten_in_the_worker_that_scanned_it_from_the_tree_it_kept(tmp_path, monkeypatch):
    """A file goes to the same worker in the scan and the rewrite, and the rewrite starts from
    the syntax tree the scan made there: no rewritten file is parsed a second time. Workers
    are forked from this process, so they record what they take in a file."""
    from example_tree import copy_example
    from pgunify.config import load_settings
    from pgunify.facts import parsed
    from pgunify.rewrite.outcome import Changed
    from pgunify.rewrite.runner import run

    monkeypatch.setenv("UNIFY_NO_CACHE", "1")
    tree = copy_example("pepgmp", tmp_path)
    log = tmp_path / "taken.log"
    take = parsed.take

    def recorded(rel, source):
        found = take(rel, source)
        with log.open("a") as handle:
            handle.write(f"{rel} {'kept' if found is not None else 'parsed'}\n")
        return found

    monkeypatch.setattr(parsed, "take", recorded)
    result, _ = run(tree, ("repositories", "statement-constants"), load_settings(tree), jobs=2, import_check=False)
    taken = dict(line.split() for line in log.read_text().splitlines())
    rewritten = {o.path for o in result.outcomes if isinstance(o, Changed) and o.old is not None}
    assert len(rewritten) > 3
    assert {taken[rel] for rel in rewritten} == {"kept"}


def test_a_kept_tree_serves_only_the_bytes_it_was_parsed_from():
    import libcst as cst
    from libcst.metadata import MetadataWrapper

    from pgunify.facts import parsed

    wrapper = MetadataWrapper(cst.parse_module(b"x = 1\n"), unsafe_skip_copy=True)
    try:
        parsed.keep("a.py", b"x = 1\n", wrapper)  # not kept: nothing asked this process to keep
        assert parsed.take("a.py", b"x = 1\n") is None
        parsed.keeping(True)
        parsed.keep("a.py", b"x = 1\n", wrapper)
        assert parsed.take("a.py", b"x = 2\n") is None  # changed since the scan read it
        parsed.keep("a.py", b"x = 1\n", wrapper)
        assert parsed.take("a.py", b"x = 1\n") is wrapper
        assert parsed.take("a.py", b"x = 1\n") is None  # taken once
    finally:
        parsed.keeping(False)


def _echo(items: list[str]) -> list[str]:
    return items


def test_arguments_that_never_reach_a_worker_are_named_as_the_cause():
    with Workers(1) as pool:
        with pytest.raises(Exception, match="pickle") as raised:
            pool.submit(_echo, ["a", "b"], str, 1, lambda: None).results()  # a local function cannot cross
    assert not isinstance(raised.value, KeyError)


def test_results_come_back_in_the_order_of_the_items_whatever_lane_ran_them(tmp_path):
    files = []
    for index, size in enumerate([5, 900, 40, 3000, 7, 120]):
        path = tmp_path / f"f{index}.py"
        path.write_text("x" * size)
        files.append((str(path), f"f{index}.py"))
    with Workers(2) as pool:
        pool.assign(files)
        lanes = {pool.lane(rel) for _, rel in files}
        got = pool.submit(_echo, files, lambda item: item[1], 1).results()
    assert lanes == {0, 1}
    assert got == files
