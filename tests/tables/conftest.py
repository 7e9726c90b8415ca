"""A command pipeline whose data is a lakehouse table, read at the pinned version."""

from __future__ import annotations

from pathlib import Path

import pytest

from seid import keys
from tests.conftest import git

MANIFEST = """\
version: seid/1
system: {{name: loans}}
pipeline: {{tool: command, command: [python, train.py], metrics: metrics.json}}
inputs:
  criteria: [sei.yaml]
  treatment: [train.py]
  tables:
{tables}
risk:
  appetite: {{individual: MEDIUM}}
  overall_residual_criterion: MEDIUM
  risks:
    - id: r1
      impact: {{individual: HIGH}}
      likelihood: LIKELY
      treat:
        - method: REDUCE
          residual_likelihood: UNLIKELY
          measures:
            - {{id: rows, metric: rows, constraint: ">= 1", enforcement: gate}}
"""

# Reads each table at the version seid pinned (env var and JSON file agree), counts
# its rows, and records what it read; a "writer" file makes it commit to the Delta
# table mid-run, as a concurrent writer would. It leaves through os._exit, as the README
# advises for short processes that used deltalake.
TRAIN = """\
import json, os, pathlib
pins = json.load(open(os.environ["SEID_TABLES"]))
seen, rows = {}, 0
for name, pin in sorted(pins.items()):
    version = int(os.environ["SEID_TABLE_" + name.upper() + "_VERSION"])
    assert version == pin["version"], (version, pin)
    if pathlib.Path("writer").exists() and pin["format"] == "delta":
        import pyarrow as pa
        from deltalake import write_deltalake
        write_deltalake(pin["uri"], pa.table({"id": [100], "amount": [1.0]}), mode="append")
    if pin["format"] == "delta":
        from deltalake import DeltaTable
        data = DeltaTable(pin["uri"], version=version).to_pyarrow_table()
    else:
        from pyiceberg.catalog import load_catalog
        catalog = load_catalog(pin["catalog_name"], **pin["catalog"])
        table = catalog.load_table(pin["table"])
        data = table.scan(snapshot_id=version).to_arrow()
    seen[name] = {"version": version, "rows": data.num_rows}
    rows += data.num_rows
with open("read.json", "w") as out:
    json.dump(seen, out)
with open("metrics.json", "w") as out:
    json.dump({"rows": rows}, out)
os._exit(0)  # no interpreter teardown after delta-rs: see the README (tables)
"""


def delta_entry(uri: str, name: str = "applications") -> str:
    return f"    - {{name: {name}, format: delta, uri: {uri}}}"


def make_project(repo: Path, tmp_path: Path, tables: str) -> Path:
    """The repo with the manifest and pipeline committed and a trusted key; its key path."""
    (repo / "sei.yaml").write_text(MANIFEST.format(tables=tables))
    (repo / "train.py").write_text(TRAIN)
    (repo / ".gitignore").write_text("read.json\nmetrics.json\nwriter\n")
    key = keys.generate(tmp_path / "keys")
    keys.add_trusted(repo, key.public_path)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return key.private_path


@pytest.fixture
def delta_project(repo: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(repo, key, table path): a Delta table of three applications outside the repo,
    at v1 (two files, so that OPTIMIZE has something to compact)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    table = tmp_path / "lake" / "applications"
    write_deltalake(str(table), pa.table({"id": [1, 2], "amount": [10.0, 20.0]}))
    write_deltalake(str(table), pa.table({"id": [3], "amount": [30.0]}), mode="append")
    key = make_project(repo, tmp_path, delta_entry(str(table)))
    return repo, key, table
