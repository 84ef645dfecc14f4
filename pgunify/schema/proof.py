"""The proof of a baseline, run by `pgunify schema` every time.

Two throwaway databases: one built the way the legacy application builds its schema (its
SQL files in name order, the DDL its start-up code executes, `create_all` of every MetaData
its modules declare), one built by `alembic upgrade` to the baseline revision. Their
catalogs are compared object by object (`pgunify.schema.compare`). When the baseline is the
only revision, the unified metadata is also compared with the upgraded database (what
`alembic check` does), so a table dropped from the metadata by hand shows up as well.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pgunify.dsn import redact_text
from pgunify.postgres import Server, scratch_database
from pgunify.schema import compare
from pgunify.schema.drift import check as drift_check
from pgunify.schema.environment import existing_revisions


@dataclass
class Proof:
    revision: str = ""
    compared: dict[str, int] = field(default_factory=dict)  # kind -> objects in the legacy schema
    differences: list[compare.Difference] = field(default_factory=list)
    metadata_drift: list[str] = field(default_factory=list)  # the metadata against the upgraded database
    left_out: list[str] = field(default_factory=list)  # tables the proof leaves out, with why
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and not self.differences and not self.metadata_drift


_REVISION = re.compile(r"^revision(?:\s*:\s*str)?\s*=\s*['\"]([0-9A-Za-z_]+)['\"]", re.MULTILINE)
_ROOT = re.compile(r"^down_revision(?:\s*:[^=]+)?\s*=\s*None\b", re.MULTILINE)


def baseline_revision(root: Path) -> str | None:
    """The revision id of the first revision (the one with no down_revision)."""
    for path in existing_revisions(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        found = _REVISION.search(text)
        if found and _ROOT.search(text):
            return found.group(1)
    return None


def alembic(root: Path, url_var: str, url: str, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess:
    env = {**os.environ, url_var: url, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "alembic", "-c", str(root / "alembic.ini"), *args], cwd=root,
                          env=env, capture_output=True, text=True, timeout=timeout)


def prove(server: Server, root: Path, url_var: str, build_legacy: Callable[[str], list[str]],
          leave_out: dict[str, str], check_metadata: Callable[[str], object] | None = None) -> Proof:
    """Build both databases and compare them. `build_legacy(url)` creates the legacy schema
    in `url` and returns problems; `leave_out` maps tables the baseline does not own to why."""
    proof = Proof(left_out=[f"{name}: {why}" for name, why in sorted(leave_out.items())])
    revision = baseline_revision(root)
    if revision is None:
        proof.error = "no baseline revision (a revision without down_revision) in migrations/versions/"
        return proof
    proof.revision = revision
    skip = frozenset({"alembic_version", *leave_out})
    with scratch_database(server, prefix="unify_proof_legacy") as legacy_url, \
            scratch_database(server, prefix="unify_proof_alembic") as alembic_url:
        try:
            problems = build_legacy(legacy_url)
        except Exception as exc:  # noqa: BLE001 - the application's own start-up failed; said as such
            proof.error = redact_text(f"building the legacy schema failed: {exc}")
            return proof
        if problems:
            proof.error = "building the legacy schema failed: " + "; ".join(problems)
            return proof
        upgrade = alembic(root, url_var, alembic_url, "upgrade", revision)
        if upgrade.returncode != 0:
            tail = "\n".join((upgrade.stderr or upgrade.stdout).strip().splitlines()[-8:])
            proof.error = redact_text(f"alembic upgrade {revision} failed: {tail}")
            return proof
        legacy = compare.snapshot(legacy_url, skip)
        upgraded = compare.snapshot(alembic_url, skip)
        proof.compared = compare.count(legacy)
        proof.differences = compare.compare(legacy, upgraded, "in the legacy schema",
                                            f"after alembic upgrade {revision}")
        if check_metadata is not None and len(existing_revisions(root)) == 1:
            report = check_metadata(alembic_url)
            if report.error:
                proof.error = f"comparing the metadata with the upgraded database failed: {report.error}"
            proof.metadata_drift = [d for d in report.differences if not _left_out(d, leave_out)]
    return proof


def _left_out(difference: str, leave_out: dict[str, str]) -> bool:
    return any(re.search(rf"\b{re.escape(name)}\b", difference.split(":")[0]) for name in leave_out)


def metadata_checker(import_root: Path, tables_module: str, url_var: str) -> Callable[[str], object]:
    return lambda url: drift_check(import_root, tables_module, url, url_var)
