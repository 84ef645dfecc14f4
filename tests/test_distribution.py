"""The package as users get it: the wheel built from this tree, installed into a fresh
environment, carries its name, licence and typing marker, and runs the demo's steps."""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import pgunify

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True)
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_is_pgunify_with_its_licence_types_and_one_version(wheel: Path) -> None:
    assert wheel.name.startswith(f"pgunify-{pgunify.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(info))
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert metadata["Name"] == "pgunify"
    assert metadata["Version"] == pgunify.__version__  # the one version source
    assert metadata["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "Typing :: Typed" in metadata.get_all("Classifier")
    assert "pgunify/py.typed" in names
    assert "pgunify/codemods/repositories/__init__.py" in names
    assert any(n.startswith("pgunify/templates/") and n.endswith(".tmpl") for n in names)
    assert any(n.startswith("pgunify/migrations_template/") and n.endswith(".mako") for n in names)
    # nothing that another distribution's `unify.py` or `unify` script would collide with
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top_level == {"pgunify"}
    assert "pgunify = pgunify.cli:main" in entry_points
    assert "unify =" not in entry_points.replace("pgunify =", "")


@pytest.mark.postgres
def test_the_wheel_in_a_fresh_environment_runs_the_demo(wheel: Path, tmp_path: Path) -> None:
    env = dict(os.environ, UNIFY_VENV=str(tmp_path / "venv"), UNIFY_INSTALL=str(wheel), UNIFY_REQUIRE_DB="1",
               TMPDIR=str(tmp_path))
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(sys.prefix))
    done = subprocess.run([str(ROOT / "scripts" / "demo")], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for step in range(1, 9):
        assert f"== {step}. " in done.stdout
    assert re.search(r"\d+ cases .*; 0 difference\(s\)", done.stdout), done.stdout[-2000:]
    # the example's own suite, after migrate and after schema: all passed, none skipped
    suites = re.findall(r"^(\d+) passed[^\n]*$", done.stdout, re.MULTILINE)
    assert len(suites) == 2 and int(suites[0]) > 100 and suites[0] == suites[1], suites
    # the environment's pgunify is the wheel's, not this checkout
    where = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-c", "import pgunify; print(pgunify.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    assert where.startswith(str(tmp_path / "venv")), where
