"""Iceberg tables as class C inputs: real pyiceberg tables in a local SQLite catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog import load_catalog
from pyiceberg.types import StringType

from seid import keys
from seid.config.values import Table, TableCatalog
from seid.isotime import instant
from seid.ledger.newest import latest_statement
from seid.run import run
from seid.tables.drift import check_tables
from seid.tables.state import TableSpec, open_table
from tests.tables.conftest import make_project

pytestmark = pytest.mark.slow

SCHEMA = pa.schema([("id", pa.int64()), ("amount", pa.float64())])


def _rows(ids: list[int]) -> pa.Table:
    return pa.table({"id": ids, "amount": [float(i) for i in ids]}, schema=SCHEMA)


def _decl() -> TableSpec:
    catalog = TableCatalog(uri="sqlite:///catalog.db", warehouse="warehouse")
    return Table(name="bureau", format="iceberg", catalog=catalog, table="credit.bureau").spec()


def _table(root: Path) -> Any:
    """The Iceberg table as a writer sees it, through the same catalog the manifest names."""
    (root / "warehouse").mkdir(exist_ok=True)
    catalog = load_catalog(
        "default",
        type="sql",
        uri=f"sqlite:///{root / 'catalog.db'}",
        warehouse=(root / "warehouse").as_uri(),
    )
    if not catalog.table_exists("credit.bureau"):
        catalog.create_namespace_if_not_exists("credit")
        table = catalog.create_table("credit.bureau", schema=SCHEMA)
        table.append(_rows([1, 2]))
    return catalog.load_table("credit.bureau")


def _recorded(root: Path) -> dict[str, Any]:
    return check_tables(root, [_decl()], {}).to_predicate()


def _change(root: Path, recorded: dict[str, Any]) -> tuple[bool, str, list[str]]:
    (change,) = check_tables(root, [_decl()], recorded).changes
    return change.drift, change.describe(), [c.operation for c in change.since.commits]


def test_appends_overwrites_and_deletes_are_drift(tmp_path: Path) -> None:
    table = _table(tmp_path)
    before = _recorded(tmp_path)
    first = table.current_snapshot().snapshot_id
    table.append(_rows([3]))
    table.overwrite(_rows([9]))
    table.delete("id == 9")
    drift, line, operations = _change(tmp_path, before)
    now = table.refresh().current_snapshot().snapshot_id
    assert drift and operations == ["append", "delete", "append", "delete"]
    assert line == f"bureau snapshot {first} -> snapshot {now}: append, delete"


def _compact(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rewrite the table's data files with the same rows in a ``replace`` snapshot, as a
    compaction by Spark's rewrite_data_files commits it. pyiceberg 0.12 reads such
    snapshots but will not write one (its summary updater knows append, overwrite and
    delete only), so its summary is computed as an overwrite's and labelled replace."""
    from pyiceberg.io.pyarrow import _dataframe_to_data_files
    from pyiceberg.table.snapshots import Operation, Summary
    from pyiceberg.table.update import snapshot as producing

    summarise = producing.update_snapshot_summaries

    def as_replace(summary: Summary, previous_summary: Any = None) -> Summary:
        if summary.operation is not Operation.REPLACE:
            return summarise(summary, previous_summary)
        overwrite = Summary(Operation.OVERWRITE, **summary.additional_properties)
        done = summarise(overwrite, previous_summary)
        return Summary(Operation.REPLACE, **done.additional_properties)

    monkeypatch.setattr(producing, "update_snapshot_summaries", as_replace)
    rows = table.scan().to_arrow()
    with table.transaction() as tx:
        rewrite = producing._OverwriteFiles(
            operation=Operation.REPLACE, transaction=tx, io=table.io
        )
        for task in table.scan().plan_files():
            rewrite.delete_data_file(task.file)
        for written in _dataframe_to_data_files(tx.table_metadata, df=rows, io=table.io):
            rewrite.append_data_file(written)
        rewrite.commit()


def test_a_replace_snapshot_is_reported_and_is_not_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table(tmp_path)
    table.append(_rows([3]))
    before = _recorded(tmp_path)
    _compact(table.refresh(), monkeypatch)
    table = table.refresh()
    assert table.current_snapshot().summary.operation.value == "replace"
    assert table.scan().to_arrow().num_rows == 3  # the same rows, in new files
    drift, line, operations = _change(tmp_path, before)
    assert not drift and operations == ["replace"]
    assert "replace" in line
    table.append(_rows([4]))
    drift, _, operations = _change(tmp_path, before)
    assert drift and operations == ["replace", "append"]


def test_a_schema_change_makes_no_snapshot_and_is_drift(tmp_path: Path) -> None:
    table = _table(tmp_path)
    before = _recorded(tmp_path)
    with table.update_schema() as update:
        update.add_column("region", StringType())
    drift, line, operations = _change(tmp_path, before)
    assert drift and operations == [] and line.endswith(": schema changed")


def test_a_rollback_is_drift_and_says_so(tmp_path: Path) -> None:
    table = _table(tmp_path)
    first = table.current_snapshot().snapshot_id
    table.append(_rows([3]))
    before = _recorded(tmp_path)
    table.manage_snapshots().rollback_to_snapshot(first).commit()
    drift, line, _ = _change(tmp_path, before)
    assert drift and line.endswith(f"-> snapshot {first}: rolled back")


def test_an_expired_snapshot_is_named_not_a_crash(tmp_path: Path) -> None:
    table = _table(tmp_path)
    first = table.current_snapshot().snapshot_id
    table.append(_rows([3]))
    reader = open_table(tmp_path, _decl())
    assert reader.missing_at(first) is None
    table.maintenance.expire_snapshots().by_id(first).commit()
    reader = open_table(tmp_path, _decl())
    assert reader.missing_at(first) == f"snapshot {first} is expired"
    drift, line, _ = _change(tmp_path, {"bureau": {"format": "iceberg", "version": first}})
    assert drift and f"history unreadable (snapshot {first} is expired)" in line


def test_pinned_run_reads_the_pinned_snapshot_and_records_it(repo: Path, tmp_path: Path) -> None:
    """The loan story's Iceberg half: a run pinned to a snapshot of a table in a local
    SQLite catalog, an append re-runs it, the bundle records both snapshots."""
    entry = (
        "    - {name: bureau, format: iceberg, table: credit.bureau,"
        ' catalog: {uri: "sqlite:///catalog.db", warehouse: warehouse}}'
    )
    key = make_project(repo, tmp_path, entry)
    table = _table(repo)
    signer = keys.load_signer(key)
    first = run(repo, signer, echo=False)
    assert first.gate == "pass"
    snapshot = table.current_snapshot().snapshot_id
    assert json.loads((repo / "read.json").read_text()) == {
        "bureau": {"version": snapshot, "rows": 2}
    }
    assert run(repo, signer, echo=False).status == "up-to-date"
    table.append(_rows([3, 4]))
    second = run(repo, signer, echo=False)
    assert second.status == "attested" and second.detection.drift.paths == {"C": ["table:bureau"]}
    now = table.refresh().current_snapshot().snapshot_id
    assert json.loads((repo / "read.json").read_text())["bureau"] == {"version": now, "rows": 4}
    statement = latest_statement(repo, "https://seid.dev/evidence/v1")
    assert statement is not None
    recorded = statement["predicate"]["tables"]["bureau"]
    assert recorded["format"] == "iceberg" and recorded["version"] == now
    assert recorded["uri"] == "sqlite:///catalog.db#credit.bureau"
    (operation,) = recorded["operations_since_previous"]
    assert instant(operation.pop("at")) is not None  # the snapshot's own commit time
    assert operation == {"version": now, "operation": "append", "data_change": True}
