"""`pgunify verify`: the legacy code and the migrated code, side by side, on the same inputs."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer


class VerifyFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def verify(
    path: Path = typer.Argument(..., exists=True, file_okay=False, resolve_path=True, help="Root of the migrated application."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="Git revision of the legacy code (default: the snapshot `pgunify migrate --write` kept in .pgunify/baseline/)."),
    examples: Optional[int] = typer.Option(None, "--examples", "-n", min=0, help="Generated calls per method (default 20, or examples in \\[tool.pgunify.verify])."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the generated inputs (same seed, same calls)."),
    dsn: Optional[str] = typer.Option(None, "--dsn", envvar="UNIFY_DATABASE_URL", show_envvar=True, help="PostgreSQL server to create the run's databases on (default: provisioned, see docs/postgres.md); better in the environment than on a command line."),
    dsn_is_scratch: bool = typer.Option(False, "--dsn-is-scratch", help="Allow a --dsn whose database is not empty (it is never written to)."),
    scenarios: Optional[Path] = typer.Option(None, "--scenarios", help="Folder of scenario files (default: PATH/verify/)."),
    select: List[str] = typer.Option([], "--select", "-k", help="Only methods whose Class.method contains this text (repeatable)."),
    no_generated: bool = typer.Option(False, "--no-generated", help="Run the scenario files only."),
    no_scenarios: bool = typer.Option(False, "--no-scenarios", help="Run the generated calls only."),
    mutants: bool = typer.Option(False, "--mutants", help="Measure the run's strength: plant SQL mutants in the migrated side one at a time and report which ones the calls told apart (docs/verify.md)."),
    emit_tests: Optional[Path] = typer.Option(None, "--emit-tests", help="Write the cases as plain pytest files into this folder."),
    output_format: VerifyFormat = typer.Option(VerifyFormat.text, "--format", "-f", help="text, json or markdown."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write the report (in --format; text becomes Markdown) to this file."),
) -> None:
    """Run the legacy and the migrated repositories side by side and compare every call.

    Each side runs in its own process against its own database, cloned from one seeded
    template; both get the same generated calls and scenario steps. Return values (with
    their types), exceptions (class and SQLSTATE) and the database state after each call
    must match. Exit codes: 0 no unexplained difference, 1 differences (or the migrated code
    cannot run: it does not import, or its pool cannot be built), 2 usage error.
    """
    from pgunify.config import ConfigError, load_settings
    from pgunify.postgres import ProvisioningError
    from pgunify.verify.report import render_markdown, render_text, summary_line, to_data
    from pgunify.verify.runner import UsageError, verify as run_verify
    from pgunify.verify.scenarios import ScenarioError, load_scenarios
    from pgunify.verify.settings import load_verify_settings
    from pgunify.verify.trees import BaselineError, from_baseline, from_git

    def fail(message: str) -> None:
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2)

    try:
        settings = load_verify_settings(path)
        base_settings = load_settings(path)
        folder = scenarios if scenarios is not None else path / settings.scenarios
        if scenarios is not None and not scenarios.is_dir():
            fail(f"--scenarios {scenarios}: no such folder")
        loaded = [] if no_scenarios else load_scenarios(folder, path)
    except (ConfigError, ScenarioError) as exc:
        fail(str(exc))
        return
    if baseline is None:
        make_tree = lambda work: from_baseline(path, work)  # noqa: E731
    else:
        make_tree = lambda work: from_git(path, baseline, work)  # noqa: E731
    count = settings.examples if examples is None else examples
    if no_generated:
        count = 0
    from pgunify.progress import Activity
    from pgunify.report.console import make_console

    try:
        with Activity(make_console(stderr=True), "verifying") as activity:
            result = run_verify(
                path, make_tree, settings, examples=count, seed=settings.seed if seed is None else seed,
                scenarios=loaded, dsn=dsn, dsn_is_scratch=dsn_is_scratch, select=tuple(select),
                import_root=base_settings.import_root, mutants=mutants, progress=activity.say,
            )
    except (BaselineError, UsageError, ProvisioningError) as exc:
        fail(str(exc))
        return
    except KeyboardInterrupt:
        typer.echo("interrupted: every database this run created was dropped", err=True)
        raise typer.Exit(130)
    if emit_tests is not None:
        from pgunify.verify.emit import emit_tests as write_tests

        written = write_tests(result, emit_tests, path)
        typer.echo(f"wrote {len(written)} test file(s) to {emit_tests}", err=True)
    if output_format is VerifyFormat.json:
        text = json.dumps(to_data(result), indent=2, ensure_ascii=False) + "\n"
    elif output_format is VerifyFormat.markdown:
        text = render_markdown(result)
    else:
        text = render_text(result)
    sys.stdout.write(text)
    if report is not None:
        report.write_text(text if output_format is not VerifyFormat.text else render_markdown(result), encoding="utf-8")
    if output_format is not VerifyFormat.text:
        typer.echo(summary_line(result), err=True)
    if result.no_evidence:
        typer.echo(f"no evidence: {result.no_evidence}", err=True)
    if result.failed or result.no_evidence:
        raise typer.Exit(1)
