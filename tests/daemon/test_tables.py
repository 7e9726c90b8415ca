"""The daemon and lakehouse tables: a local Delta log watched, an Iceberg catalog polled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from seid import keys
from seid.daemon.detect import DETECTION_PREDICATE, detect_only
from seid.ledger.newest import latest_statement
from seid.run import run
from tests.daemon.conftest import Daemon, bundles, wait_until
from tests.tables.conftest import delta_entry, make_project

pytestmark = pytest.mark.slow


def _recorded_version(repo: Path, name: str) -> int:
    statement = latest_statement(repo, "https://seid.dev/evidence/v1")
    assert statement is not None
    version: int = statement["predicate"]["tables"][name]["version"]
    return version


def test_a_delta_append_is_one_run_an_optimize_none(
    repo: Path, tmp_path: Path, start_daemon: Callable[..., Daemon]
) -> None:
    """The table lives outside the repository; its _delta_log/ is watched. An append
    becomes one debounced run attested with the new version; an OPTIMIZE wakes the
    daemon, whose run finds no data change and attests nothing."""
    table = tmp_path / "lake" / "applications"
    write_deltalake(str(table), pa.table({"id": [1, 2], "amount": [1.0, 2.0]}))
    write_deltalake(str(table), pa.table({"id": [3], "amount": [3.0]}), mode="append")
    key = make_project(repo, tmp_path, delta_entry(str(table)))
    daemon = start_daemon(repo, key, extra_config="tables = 0\n")
    assert bundles(repo) == 1 and _recorded_version(repo, "applications") == 1
    write_deltalake(str(table), pa.table({"id": [4, 5], "amount": [4.0, 5.0]}), mode="append")
    wait_until(lambda: bundles(repo) == 2, 60, "a run for the append")
    assert _recorded_version(repo, "applications") == 2
    daemon.runs_finished(2)
    DeltaTable(str(table)).optimize.compact()
    daemon.runs_finished(3, timeout=60)
    assert bundles(repo) == 2
    results = [x.get("result") for x in daemon.lines() if x.get("event") == "run finished"]
    assert results[-1] == "up-to-date", results


def test_a_table_created_after_the_daemon_started_is_watched_from_then_on(
    repo: Path, tmp_path: Path, start_daemon: Callable[..., Daemon]
) -> None:
    """The manifest names a Delta table that does not exist yet when the daemon starts
    (its start-up run cannot pin it). Once it is written, the tables job starts watching
    its log: the table's first version and a later append are each attested."""
    table = tmp_path / "lake" / "applications"
    key = make_project(repo, tmp_path, delta_entry(str(table)))
    daemon = start_daemon(repo, key, extra_config="tables = 1\n")
    assert bundles(repo) == 0  # no table: the start-up run could not read it
    write_deltalake(str(table), pa.table({"id": [1, 2], "amount": [1.0, 2.0]}))
    wait_until(lambda: bundles(repo) == 1, 60, "a run once the table exists")
    assert _recorded_version(repo, "applications") == 0
    assert any(x.get("event") == "watching table logs" for x in daemon.lines())
    write_deltalake(str(table), pa.table({"id": [3], "amount": [3.0]}), mode="append")
    wait_until(lambda: bundles(repo) == 2, 60, "a run for the append")
    assert _recorded_version(repo, "applications") == 1


def test_an_iceberg_append_is_found_by_the_tables_schedule(
    repo: Path, tmp_path: Path, start_daemon: Callable[..., Daemon]
) -> None:
    from tests.tables.test_iceberg import _rows, _table

    entry = (
        "    - {name: bureau, format: iceberg, table: credit.bureau,"
        ' catalog: {uri: "sqlite:///catalog.db", warehouse: warehouse}}'
    )
    key = make_project(repo, tmp_path, entry)
    (repo / ".gitignore").write_text("read.json\nmetrics.json\ncatalog.db\nwarehouse/\n")
    table = _table(repo)
    first = table.current_snapshot().snapshot_id
    start_daemon(repo, key, extra_config="tables = 1\n")
    assert _recorded_version(repo, "bureau") == first
    table.append(_rows([3]))
    now = table.refresh().current_snapshot().snapshot_id
    wait_until(lambda: bundles(repo) == 2, 60, "a run for the Iceberg append")
    assert _recorded_version(repo, "bureau") == now


def test_detect_mode_attests_each_table_change_once(repo: Path, tmp_path: Path) -> None:
    """A table-only change is attested as a detection; the next append is a new one,
    though no file changed (detections are told apart by table versions too)."""
    table = tmp_path / "lake" / "applications"
    write_deltalake(str(table), pa.table({"id": [1], "amount": [1.0]}))
    key = make_project(repo, tmp_path, delta_entry(str(table)))
    signer = keys.load_signer(key)
    assert run(repo, signer, echo=False).status == "attested"
    assert detect_only(repo, signer) is None
    for ids in ([2], [3]):
        write_deltalake(str(table), pa.table({"id": ids, "amount": [1.0]}), mode="append")
        assert detect_only(repo, signer) is not None
        assert detect_only(repo, signer) is None  # the same change: attested once
    statement = latest_statement(repo, DETECTION_PREDICATE)
    assert statement is not None
    assert statement["predicate"]["tables"]["applications"]["version"] == 2
    assert statement["predicate"]["drift"]["paths"] == {"C": ["table:applications"]}
