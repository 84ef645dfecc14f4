"""`pgunify verify` on a migrated copy of examples/fleetlog: another wiring style (a
module-level `open_pool()`, a jsonb codec on every connection, records handed to callers)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from example_tree import copy_example
from pgunify.cli import app

runner = CliRunner()


def test_stores_and_scenario_have_no_difference(tmp_path, database_url):
    root = copy_example("fleetlog", tmp_path)
    assert runner.invoke(app, ["migrate", str(root), "--write", "--no-diff"]).exit_code == 0
    result = runner.invoke(app, ["verify", str(root), "--dsn", database_url, "-n", "5", "--format", "json",
                                 "-k", "VehicleStore", "-k", "TripStore"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["differences"] == 0
    assert data["summary"]["scenarios"] == 1
    assert data["summary"]["methods"] >= 20  # the two stores' public async methods
    scenario = data["calls"]["scenario:a vehicle is registered, driven, serviced and retired"]
    assert scenario == {"calls": 13, "raised": 2}  # the taken plate and the vehicle with history
    # records came back from both sides and compared equal as records
    assert data["calls"]["VehicleStore.get"]["calls"] == 5
