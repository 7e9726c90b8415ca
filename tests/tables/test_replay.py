"""``seid reconstruct --reexecute`` time-travels declared tables to the recorded versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from seid import keys
from seid.isotime import instant
from seid.run import run
from tests.conftest import SeidRunner
from tests.replay.schema import problems

pytestmark = pytest.mark.slow


def _reexecuted(seid: SeidRunner, repo: Path) -> dict[str, Any]:
    result = seid("reconstruct", "--reexecute", "1", cwd=repo, timeout=300)
    assert result.code in (0, 1), result.err
    doc: dict[str, Any] = json.loads(result.out)
    return doc


def test_reexecute_reads_the_recorded_version_then_names_a_vacuumed_one(
    delta_project: tuple[Path, Path, Path], seid: SeidRunner
) -> None:
    repo, key, table = delta_project
    signer = keys.load_signer(key)
    assert run(repo, signer, echo=False).gate == "pass"
    write_deltalake(str(table), pa.table({"id": [4, 5], "amount": [4.0, 5.0]}), mode="append")
    assert run(repo, signer, echo=False).status == "attested"  # v2: five rows
    write_deltalake(str(table), pa.table({"id": [6], "amount": [6.0]}), mode="append")
    doc = _reexecuted(seid, repo)
    (again,) = doc["reproducibility"]
    assert again["status"] == "reproduced", again
    assert not [f for f in doc["findings"] if f["kind"] == "not-reproducible"]
    (rows,) = again["metrics"]
    assert rows["recorded"] == rows["recomputed"] == 5.0  # v2, not the six rows of v3
    write_deltalake(str(table), pa.table({"id": [9], "amount": [9.0]}), mode="overwrite")
    DeltaTable(str(table)).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )
    doc = _reexecuted(seid, repo)
    (gone,) = doc["reproducibility"]
    assert gone["status"] == "not-reproducible", gone
    assert str(gone["error"]).startswith("applications: v2: ")
    assert "removed (vacuum)" in str(gone["error"])
    (finding,) = [f for f in doc["findings"] if f["kind"] == "not-reproducible"]
    assert finding["commits"] == [gone["commit"]] and finding["entries"] == [gone["bundle"]]
    assert "removed (vacuum)" in finding["summary"] and finding["severity"] == "medium"
    assert problems(doc) == []


def test_reconstruct_lists_table_commits_and_finds_unevidenced_ones(
    delta_project: tuple[Path, Path, Path], seid: SeidRunner
) -> None:
    """v1 evidenced; v2 appended and appended over again (v3) before a run: unevidenced;
    v3 evidenced; v4 an OPTIMIZE: no finding; v5 appended since: unevidenced up to now."""
    repo, key, table = delta_project
    signer = keys.load_signer(key)
    assert run(repo, signer, echo=False).gate == "pass"
    for ids in ([4], [5]):
        write_deltalake(str(table), pa.table({"id": ids, "amount": [1.0]}), mode="append")
    assert run(repo, signer, echo=False).status == "attested"
    DeltaTable(str(table)).optimize.compact()
    write_deltalake(str(table), pa.table({"id": [6], "amount": [1.0]}), mode="append")
    result = seid("reconstruct", cwd=repo)
    doc = json.loads(result.out)
    assert problems(doc) == []
    commits = doc["tables"]["applications"]["commits"]
    assert [(c["version"], c["operation"], bool(c["bundles"])) for c in commits] == [
        (0, "WRITE errorifexists", False),
        (1, "WRITE append", True),
        (2, "WRITE append", False),
        (3, "WRITE append", True),
        (4, "OPTIMIZE", False),
        (5, "WRITE append", False),
    ]
    found = [f["summary"] for f in doc["findings"] if f["kind"] == "unevidenced-table-change"]
    assert found == [
        "table applications v0: WRITE errorifexists with no evidence bundle before its data "
        "changed again",
        "table applications v2: WRITE append with no evidence bundle before its data changed again",
        "table applications v5: WRITE append with no evidence bundle up to now",
    ]
    assert doc["summary"]["by_kind"]["unevidenced-table-change"] == 3
    (risk,) = doc["risks"]
    pinned = sorted({e["tables"]["applications"] for e in risk["evaluations"]})
    assert pinned == [1, 3]  # 6.4 analysis: each measurement with the version it stood on
    # each commit carries the table's own time, so the page's timeline puts the data
    # changes in the C lane (an OPTIMIZE changes no data: not drawn there)
    assert all(instant(c["at"]) is not None for c in commits)
    page = seid("reconstruct", "--format", "html", cwd=repo).out
    assert "C: table applications v5: WRITE append" in page
    assert "C: table applications v2: WRITE append" in page
    assert "C: table applications v4: OPTIMIZE" not in page
