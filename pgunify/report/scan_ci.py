"""The scan's findings for CI: SARIF 2.1.0 for code scanning, and GitHub Actions workflow
commands that annotate the lines of a pull request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgunify import __version__
from pgunify.facts.model import Finding, Inventory

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _text(finding: Finding) -> str:
    return f"{finding.message} Fix: {finding.fix}" if finding.fix else finding.message


def to_sarif(inv: Inventory) -> dict[str, Any]:
    """One run, one rule per finding id (in order of first appearance), one result per finding.
    Paths are relative to the scanned root, named by the base id SRCROOT."""
    rules: dict[str, int] = {}
    for finding in inv.findings:
        rules.setdefault(finding.rule, len(rules))
    results = []
    for finding in inv.findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "ruleIndex": rules[finding.rule],
            "level": _SARIF_LEVEL[finding.severity.value],
            "message": {"text": _text(finding)},
        }
        if finding.location is not None:
            physical: dict[str, Any] = {"artifactLocation": {"uri": finding.location.path, "uriBaseId": "SRCROOT"}}
            if finding.location.line:
                physical["region"] = {"startLine": finding.location.line,
                                      "startColumn": finding.location.column + 1}  # SARIF counts from 1
            result["locations"] = [{"physicalLocation": physical}]
        results.append(result)
    root = Path(inv.root)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "pgunify",
                "version": __version__,
                "rules": [{"id": rule, "name": rule.replace("-", " "),
                           "shortDescription": {"text": rule.replace("-", " ")},
                           "help": {"text": "See the rule in docs/scan.md of pgunify."}} for rule in rules],
            }},
            "originalUriBaseIds": {"SRCROOT": {"uri": root.as_uri().rstrip("/") + "/"}},
            "results": results,
        }],
    }


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(inv: Inventory) -> str:
    """`::error file=F,line=L,col=C,title=RULE::message` lines, one per finding; GitHub shows
    them on the lines of the pull request when the paths are relative to the repository root."""
    lines = []
    for finding in inv.findings:
        props = []
        if finding.location is not None:
            props.append(f"file={_property(finding.location.path)}")
            if finding.location.line:
                props += [f"line={finding.location.line}", f"col={finding.location.column + 1}"]
        props.append(f"title={_property('pgunify ' + finding.rule)}")
        lines.append(f"::{_GITHUB_LEVEL[finding.severity.value]} {','.join(props)}::{_data(_text(finding))}")
    return "".join(line + "\n" for line in lines)
