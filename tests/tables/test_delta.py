"""Delta tables as class C inputs: real delta-rs tables, real runs, real ledger."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from seid import keys
from seid.config.values import Table
from seid.drift import detect
from seid.ledger.newest import latest_statement
from seid.run import run
from seid.statcache import StatCache
from seid.tables.drift import check_tables
from seid.tables.state import TableSpec, open_table
from tests.conftest import SeidRunner

pytestmark = pytest.mark.slow


def _rows(ids: list[int]) -> pa.Table:
    return pa.table({"id": ids, "amount": [float(i) for i in ids]})


def _decl(path: Path) -> TableSpec:
    return Table(name="applications", format="delta", uri=str(path)).spec()


def _recorded(repo: Path, path: Path) -> dict[str, object]:
    """The table as a bundle would record it now."""
    return check_tables(repo, [_decl(path)], {}).to_predicate()


def _change(repo: Path, path: Path, recorded: dict[str, object]) -> tuple[bool, str]:
    check = check_tables(repo, [_decl(path)], recorded)
    (change,) = check.changes
    return change.drift, change.describe()


def test_appends_and_a_merge_are_drift_named_with_versions_and_operations(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t"
    write_deltalake(str(path), _rows([1, 2]))
    before = _recorded(tmp_path, path)
    write_deltalake(str(path), _rows([3]), mode="append")
    write_deltalake(str(path), _rows([4]), mode="append")
    source = _rows([1])
    DeltaTable(str(path)).merge(
        source, "s.id = t.id", source_alias="s", target_alias="t"
    ).when_matched_update_all().execute()
    drift, line = _change(tmp_path, path, before)
    assert drift
    assert line == "applications v0 -> v3: WRITE append, MERGE"


def test_optimize_is_reported_and_is_not_drift(tmp_path: Path) -> None:
    path = tmp_path / "t"
    write_deltalake(str(path), _rows([1]))
    write_deltalake(str(path), _rows([2]), mode="append")
    before = _recorded(tmp_path, path)
    DeltaTable(str(path)).optimize.compact()
    DeltaTable(str(path)).optimize.z_order(["id"])
    drift, line = _change(tmp_path, path, before)
    assert not drift
    assert line == "applications v1 -> v3: OPTIMIZE (no data change: not drift)"
    assert check_tables(tmp_path, [_decl(path)], before).paths() == {}


def test_update_delete_and_overwrite_are_drift(tmp_path: Path) -> None:
    path = tmp_path / "t"
    write_deltalake(str(path), _rows([1, 2, 3]))
    before = _recorded(tmp_path, path)
    table = DeltaTable(str(path))
    table.update({"amount": "0.0"}, predicate="id = 1")
    table.delete("id = 2")
    write_deltalake(str(path), _rows([7]), mode="overwrite")
    drift, line = _change(tmp_path, path, before)
    assert drift and line == "applications v0 -> v3: UPDATE, DELETE, WRITE overwrite"


def test_a_schema_change_is_drift_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "t"
    write_deltalake(str(path), _rows([1]))
    before = _recorded(tmp_path, path)
    wider = pa.table({"id": [2], "amount": [2.0], "region": ["north"]})
    write_deltalake(str(path), wider, mode="append", schema_mode="merge")
    drift, line = _change(tmp_path, path, before)
    assert drift and line == "applications v0 -> v1: WRITE append, schema changed"


def test_a_restore_is_drift_and_says_it_rolled_back(tmp_path: Path) -> None:
    path = tmp_path / "t"
    write_deltalake(str(path), _rows([1]))
    write_deltalake(str(path), _rows([2]), mode="append")
    before = _recorded(tmp_path, path)
    DeltaTable(str(path)).restore(0)
    drift, line = _change(tmp_path, path, before)
    assert drift and line == "applications v1 -> v2: RESTORE to v0 (rolled back)"


def test_a_vacuumed_version_is_named_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "t"
    write_deltalake(str(path), _rows([1, 2]))
    write_deltalake(str(path), _rows([3]), mode="overwrite")
    reader = open_table(tmp_path, _decl(path))
    assert reader.missing_at(0) is None and reader.missing_at(1) is None
    DeltaTable(str(path)).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    reader = open_table(tmp_path, _decl(path))
    missing = reader.missing_at(0)
    assert missing is not None and missing.startswith("v0: 1 data file(s) removed (vacuum)")
    assert reader.missing_at(reader.state().version) is None


def test_state_reads_the_log_not_the_data(tmp_path: Path) -> None:
    """Deleting every data file changes nothing the state reports: it never reads them."""
    path = tmp_path / "t"
    write_deltalake(str(path), _rows([1, 2]))
    before = open_table(tmp_path, _decl(path)).state()
    for parquet in path.glob("*.parquet"):
        parquet.unlink()
    after = open_table(tmp_path, _decl(path)).state()
    assert after == before and after.version == 0 and len(after.metadata_digest) == 64


def test_pinned_run_records_the_table_and_a_concurrent_writer_is_a_follow_up(
    delta_project: tuple[Path, Path, Path],
) -> None:
    """The pipeline reads the pinned version although a writer commits during the run;
    the bundle records that version, and the commit after it is a follow-up."""
    repo, key, table = delta_project
    signer = keys.load_signer(key)
    (repo / "writer").write_text("commit during the run\n")
    report = run(repo, signer, echo=False)
    assert report.gate == "pass", report
    assert json.loads((repo / "read.json").read_text()) == {
        "applications": {"version": 1, "rows": 3}
    }
    assert DeltaTable(str(table)).version() == 2  # the writer did commit
    assert report.follow_up == ("applications v1 -> v2: WRITE append",)
    statement = latest_statement(repo, "https://seid.dev/evidence/v1")
    assert statement is not None
    recorded = statement["predicate"]["tables"]["applications"]
    assert recorded["format"] == "delta" and recorded["uri"] == str(table)
    assert recorded["version"] == 1 and recorded["operations_since_previous"] == []
    assert len(recorded["metadata_digest"]) == 64
    pins = json.loads((repo / ".sei" / "tables.json").read_text())
    assert pins == {"applications": {"format": "delta", "uri": str(table), "version": 1}}


def test_run_reruns_on_appends_not_on_optimize_and_records_operations(
    delta_project: tuple[Path, Path, Path],
) -> None:
    repo, key, table = delta_project
    signer = keys.load_signer(key)
    assert run(repo, signer, echo=False).status == "attested"
    DeltaTable(str(table)).optimize.compact()
    with StatCache.open(repo) as cache:
        found = detect(repo, {"A": ["sei.yaml"]}, cache, tables=[_decl(table)])
    assert not found.drift
    assert found.tables is not None
    assert [c.describe() for c in found.tables.changes] == [
        "applications v1 -> v2: OPTIMIZE (no data change: not drift)"
    ]
    assert run(repo, signer, echo=False).status == "up-to-date"
    write_deltalake(str(table), _rows([4, 5]), mode="append")
    report = run(repo, signer, echo=False)
    assert report.status == "attested" and report.gate == "pass"
    assert report.detection.drift.paths == {"C": ["table:applications"]}
    assert json.loads((repo / "read.json").read_text())["applications"] == {
        "version": 3,
        "rows": 5,
    }
    statement = latest_statement(repo, "https://seid.dev/evidence/v1")
    assert statement is not None
    recorded = statement["predicate"]["tables"]["applications"]
    assert recorded["version"] == 3
    operations = [op["operation"] for op in recorded["operations_since_previous"]]
    assert operations == ["OPTIMIZE", "WRITE append"]
    assert run(repo, signer, echo=False).status == "up-to-date"


def test_status_and_run_on_the_command_line_name_the_table_change(
    delta_project: tuple[Path, Path, Path], seid: SeidRunner
) -> None:
    repo, key, table = delta_project
    first = seid("run", "--key", key, cwd=repo)
    assert first.code == 0, first.err
    assert "tables pinned: applications v1" in first.out
    assert seid("status", cwd=repo).code == 0
    DeltaTable(str(table)).optimize.compact()
    quiet = seid("status", cwd=repo)
    assert quiet.code == 0, quiet.out
    assert "  applications v1 -> v2: OPTIMIZE (no data change: not drift)" in quiet.out
    write_deltalake(str(table), _rows([8]), mode="append")
    DeltaTable(str(table)).delete("id = 1")
    status = seid("status", cwd=repo)
    assert status.code == 1
    assert "  added     table:applications" not in status.out
    assert "  modified  table:applications" in status.out
    assert "  applications v1 -> v4: OPTIMIZE, WRITE append, DELETE" in status.out
    doc = json.loads(seid("status", "--json", cwd=repo).out)
    assert doc["drift"]["paths"] == {"C": ["table:applications"]}
    change = doc["tables"]["applications"]["change"]
    assert (change["from"], change["to"], change["drift"]) == (1, 4, True)
    rerun = seid("run", "--key", key, cwd=repo)
    assert rerun.code == 0, rerun.err
    assert "table applications v1 -> v4: OPTIMIZE, WRITE append, DELETE" in rerun.out
    assert "tables pinned: applications v4" in rerun.out
    write_deltalake(str(table), _rows([10]), mode="append")
    as_json = json.loads(seid("run", "--key", key, "--json", cwd=repo).out)
    assert as_json["tables"]["pinned"] == {"applications": 5}
    (change,) = as_json["tables"]["changes"]
    assert change["line"] == "applications v4 -> v5: WRITE append" and change["drift"]


def test_a_warm_status_of_an_unchanged_local_table_imports_no_library(
    delta_project: tuple[Path, Path, Path],
) -> None:
    """The state is kept under the _delta_log/ listing: unchanged, deltalake is never
    imported; one commit more and the table is read again."""
    repo, key, table = delta_project
    assert run(repo, keys.load_signer(key), echo=False).status == "attested"

    def status() -> str:
        """The exit status of ``seid status`` and whether it imported deltalake."""
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "seid", "status"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
        imported = {
            line.rsplit("|", 1)[-1].strip().split(".")[0]
            for line in proc.stderr.splitlines()
            if line.startswith("import time:")
        }
        return f"{proc.returncode} {'deltalake' in imported}"

    status()
    assert status() == "0 False"
    write_deltalake(str(table), _rows([9]), mode="append")
    assert status() == "1 True"
