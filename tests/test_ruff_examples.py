"""The migrated code against the target's own linter: ruff, under its default rules plus
import sorting (I) and line length (E501), on a migrated copy of each example and on the
legacy copy.  A finding the legacy copy does not have (counted per file and rule, since
lines move) is one the migration added.

The migration adds none: a finding in a migrated example that its legacy copy does not
have fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from example_tree import copy_example
from pgunify.cli import app

RUFF = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")


def ruff_findings(root: Path) -> Counter:
    assert RUFF, "ruff is a test dependency (pip install -e '.[test]')"
    done = subprocess.run(
        [RUFF, "check", "--no-cache", "--extend-select", "I,E501", "--output-format", "json", "--exit-zero", "."],
        cwd=root, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return Counter((str(Path(f["filename"]).relative_to(root)), f["code"]) for f in json.loads(done.stdout))


def added_by_migration(legacy: Counter, migrated: Counter) -> Counter:
    added = Counter()
    for (path, rule), count in migrated.items():
        extra = count - legacy.get((path, rule), 0)
        if extra > 0:
            added[rule] += extra
    return added


def test_counting_findings_per_file_and_rule() -> None:
    legacy = Counter({("a.py", "E501"): 2, ("a.py", "F401"): 1})
    migrated = Counter({("a.py", "E501"): 3, ("a.py", "F401"): 1, ("new.py", "I001"): 1})
    assert added_by_migration(legacy, migrated) == Counter({"E501": 1, "I001": 1})
    assert added_by_migration(migrated, legacy) == Counter()


@pytest.mark.parametrize("name", ["pepgmp", "fleetlog", "guildbot"])
def test_migration_adds_no_ruff_findings(name: str, tmp_path: Path) -> None:
    legacy_root = copy_example(name, tmp_path / "legacy", as_git=False)
    migrated_root = copy_example(name, tmp_path / "migrated")
    result = CliRunner().invoke(app, ["migrate", str(migrated_root), "--write", "--no-diff"])
    assert result.exit_code == 0, result.output

    legacy = ruff_findings(legacy_root)
    migrated = ruff_findings(migrated_root)
    assert sum(legacy.values()) > 0  # ruff ran and read the code
    added = added_by_migration(legacy, migrated)
    assert not added, f"new ruff findings in the migrated {name}: {dict(sorted(added.items()))}"


def test_wrapped_generated_modules_still_carry_the_marker_on_one_line() -> None:
    # a later run (and the closure check) knows generated modules by this marker
    from pgunify.facts.flow import GENERATED_MARKER
    from pgunify.templates import _template

    for name in ("engine_module.py.tmpl", "raw_sql_module.py.tmpl"):
        assert GENERATED_MARKER in _template(name).template, name
