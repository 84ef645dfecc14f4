"""`pgunify migrate --shard K/N` and `pgunify report merge`: N shares merged give exactly the
report of the unsharded run, and reports that are not shares of one run are refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pgunify.cli import app
from pgunify.files import ShardError, parse_shard, shard_of

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from codemod_tree import generate  # noqa: E402

runner = CliRunner()


def migrate_json(target: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["migrate", str(target), "--format", "json", *extra])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def write_shards(target: Path, count: int, directory: Path, *extra: str) -> list[Path]:
    paths = []
    for index in range(1, count + 1):
        data = migrate_json(target, "--shard", f"{index}/{count}", *extra)
        assert data["shard"]["index"] == index and data["shard"]["count"] == count
        path = directory / f"shard-{index}-of-{count}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        paths.append(path)
    return paths


def merge(*args: str):
    return runner.invoke(app, ["report", "merge", *args])


@pytest.fixture(scope="module")
def generated_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("generated") / "tree"
    generate(root, files=60, seed=11)
    return root


@pytest.mark.parametrize("example", ["pepgmp", "fleetlog"])
def test_three_merged_shards_equal_the_unsharded_run_on_an_example(example, tmp_path):
    target = ROOT / "examples" / example
    whole = migrate_json(target, "--jobs", "2", "--no-import-check")  # shares cannot run it: it needs the whole tree
    shards = write_shards(target, 3, tmp_path, "--jobs", "2")
    merged = merge(*map(str, shards), "-o", str(tmp_path / "merged.json"))
    assert merged.exit_code == 0, merged.output
    assert json.loads((tmp_path / "merged.json").read_text(encoding="utf-8")) == whole
    # every file is in exactly one share
    paths = [f["path"] for p in shards for f in json.loads(p.read_text(encoding="utf-8"))["files"]]
    assert sorted(paths) == sorted(f["path"] for f in whole["files"]) and len(paths) == len(set(paths))


def test_merged_shards_equal_the_unsharded_run_on_a_generated_tree(generated_tree, tmp_path):
    whole = migrate_json(generated_tree, "--jobs", "1", "--no-import-check")
    assert whole["summary"]["files_changed"] > 0
    shards = write_shards(generated_tree, 3, tmp_path, "--jobs", "1")
    merged = merge(*map(str, reversed(shards)))  # the order given does not matter
    assert merged.exit_code == 0, merged.output
    assert json.loads(merged.stdout) == whole
    markdown = merge(*map(str, shards), "--format", "markdown")
    assert markdown.exit_code == 0
    assert f"{whole['summary']['files_changed']} files changed" in markdown.stdout


def test_shares_follow_the_path_only():
    paths = [f"pkg/module_{i}.py" for i in range(300)]
    assignment = {p: shard_of(p, 4) for p in paths}
    assert {shard_of(p, 4) for p in reversed(paths)} == {1, 2, 3, 4}
    assert all(shard_of(p, 4) == assignment[p] for p in reversed(paths))
    assert all(shard_of(p, 1) == 1 for p in paths)
    assert shard_of("pkg\\module_3.py", 4) == assignment["pkg/module_3.py"]


@pytest.mark.parametrize("bad", ["0/3", "4/3", "3", "a/b", "1/0", "-1/2", "2/3/4"])
def test_bad_shard_values_are_refused(bad, tmp_path):
    with pytest.raises(ShardError):
        parse_shard(bad)
    result = runner.invoke(app, ["migrate", str(ROOT / "examples" / "fleetlog"), "--shard", bad])
    assert result.exit_code == 2
    assert "--shard" in result.output


def test_reports_that_are_not_one_run_are_refused(generated_tree, tmp_path):
    shards = write_shards(generated_tree, 2, tmp_path, "--jobs", "1")

    missing = merge(str(shards[0]))
    assert missing.exit_code == 2 and "shard 2 of 2 missing" in missing.output

    twice = merge(str(shards[0]), str(shards[0]), str(shards[1]))
    assert twice.exit_code == 2 and "both shard 1/2" in twice.output

    other_options = tmp_path / "select"
    other_options.mkdir()
    selected = write_shards(generated_tree, 2, other_options, "--jobs", "1", "--select", "repositories")
    mixed = merge(str(shards[0]), str(selected[1]))
    assert mixed.exit_code == 2 and "different options" in mixed.output

    data = json.loads(shards[1].read_text(encoding="utf-8"))
    data["tool"]["version"] = "0.0.1"
    older = tmp_path / "older.json"
    older.write_text(json.dumps(data), encoding="utf-8")
    versions = merge(str(shards[0]), str(older))
    assert versions.exit_code == 2 and "pgunify versions" in versions.output

    other_count = write_shards(generated_tree, 3, tmp_path, "--jobs", "1")
    counts = merge(str(shards[0]), str(other_count[1]))
    assert counts.exit_code == 2 and "share of 3" in counts.output

    whole = tmp_path / "whole.json"
    whole.write_text(json.dumps(migrate_json(generated_tree, "--jobs", "1")), encoding="utf-8")
    unsharded = merge(str(whole))
    assert unsharded.exit_code == 2 and "not the report of a shard" in " ".join(unsharded.output.split())

    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    assert merge(str(broken)).exit_code == 2


def test_shards_of_different_trees_are_refused(generated_tree, tmp_path):
    first = write_shards(generated_tree, 2, tmp_path, "--jobs", "1")
    edited = tmp_path / "edited"
    generate(edited, files=60, seed=11)
    util = next(edited.rglob("*_util.py"))
    util.write_text(util.read_text(encoding="utf-8") + "\nEXTRA = 1\n", encoding="utf-8")
    other = tmp_path / "other"
    other.mkdir()
    second = write_shards(edited, 2, other, "--jobs", "1")
    result = merge(str(first[0]), str(second[1]))
    assert result.exit_code == 2 and "different trees" in result.output


def scan_json(target: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["scan", str(target), "--format", "json", "--fail-on", "never", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("example", ["pepgmp", "fleetlog"])
def test_merged_scan_shards_equal_the_unsharded_scan(example, tmp_path):
    target = ROOT / "examples" / example
    whole = scan_json(target)
    paths = []
    for index in (1, 2, 3):
        data = scan_json(target, "--shard", f"{index}/3")
        assert data["shard"]["kind"] == "scan"
        paths.append(tmp_path / f"scan-{index}.json")
        paths[-1].write_text(json.dumps(data), encoding="utf-8")
    merged = merge(*map(str, paths))
    assert merged.exit_code == 0, merged.output
    # the findings look across files (several pools, URL variables): they are derived again
    assert json.loads(merged.stdout) == whole
    assert whole["findings"]


def test_scan_and_migrate_shards_do_not_mix(generated_tree, tmp_path):
    migrate_shard = write_shards(generated_tree, 2, tmp_path, "--jobs", "1")[0]
    scan_shard = tmp_path / "scan-2.json"
    scan_shard.write_text(json.dumps(scan_json(generated_tree, "--shard", "2/2")), encoding="utf-8")
    result = merge(str(migrate_shard), str(scan_shard))
    assert result.exit_code == 2 and "cannot be merged together" in result.output
    assert runner.invoke(app, ["scan", str(generated_tree), "--shard", "3/2"]).exit_code == 2
