"""Apache Iceberg tables through pyiceberg: snapshot id, ancestry, time travel.

A table's version is its current snapshot id. Ids are not ordered, so what happened
between two of them is read from the parent links: the snapshots from now back to the
recorded one, each with the operation its summary names. ``replace`` (compaction,
rewritten files) changes no row; ``append``, ``overwrite`` and ``delete`` do. A rollback
makes no snapshot of its own: the current snapshot is then an ancestor of the recorded
one, which is how it is told apart. Schema changes make no snapshot either; they show
in the schema digest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from seid.tables.state import (
    CatalogSpec,
    Commit,
    Since,
    TableSpec,
    TableState,
    first_line,
    local_path,
    metadata_digest,
    millis_instant,
    table_error,
)

if TYPE_CHECKING:
    from pyiceberg.table import Table as IcebergTable
    from pyiceberg.table.snapshots import Snapshot


NO_DATA_CHANGE = frozenset({"replace"})
NO_SNAPSHOT = 0  # the version of a table that has never been written


def catalog_properties(root: Path, catalog: CatalogSpec) -> dict[str, str]:
    """pyiceberg's catalog properties, with a relative SQLite file or warehouse path
    taken from the repository root rather than the current directory."""
    uri = catalog.uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        uri = prefix + os.path.normpath(root / uri[len(prefix) :])
    props = {"type": catalog.type, "uri": uri, **catalog.properties}
    if catalog.warehouse is not None:
        warehouse = catalog.warehouse
        if not urlparse(warehouse).scheme:
            warehouse = (root / warehouse).resolve().as_uri()
        props["warehouse"] = warehouse
    return props


def display_uri(table: TableSpec) -> str:
    """What the bundle records as the table's URI: the catalog and the identifier."""
    assert table.catalog is not None and table.table is not None
    return f"{table.catalog.uri}#{table.table}"


class IcebergReader:
    """A declared Iceberg table, loaded from its catalog once."""

    def __init__(self, root: Path, table: TableSpec) -> None:
        from pyiceberg.catalog import load_catalog
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        assert table.catalog is not None and table.table is not None
        self.table = table
        try:
            props = catalog_properties(root, table.catalog)
            catalog = load_catalog(table.catalog.name, **props)
            self._table: IcebergTable = catalog.load_table(table.table)
        except (NoSuchTableError, NoSuchNamespaceError):
            raise table_error(
                table, f"no Iceberg table {table.table} in {table.catalog.uri}"
            ) from None
        except Exception as exc:  # catalogs raise their drivers' errors (SQLAlchemy, HTTP)
            raise table_error(table, f"cannot load the catalog: {first_line(exc)}") from None

    def state(self) -> TableState:
        t = self._table
        snapshot = t.current_snapshot()
        schema = t.schema().model_dump(mode="json")
        facts = {
            "snapshot": snapshot.model_dump(mode="json") if snapshot else None,
            "schema": schema,
            "spec": t.spec().model_dump(mode="json"),
            "sort_order": t.sort_order().model_dump(mode="json"),
        }
        return TableState(
            name=self.table.name,
            format="iceberg",
            uri=display_uri(self.table),
            version=snapshot.snapshot_id if snapshot else NO_SNAPSHOT,
            metadata_digest=metadata_digest(facts),
            schema_digest=metadata_digest({k: v for k, v in schema.items() if k != "schema-id"}),
        )

    def since(self, version: int) -> Since:
        current = self._table.current_snapshot()
        after: list[Snapshot] = []
        for snapshot in self._ancestors(current):
            if snapshot.snapshot_id == version:
                return Since(commits=tuple(_commit(s) for s in reversed(after)))
            after.append(snapshot)
        recorded = self._table.snapshot_by_id(version) if version != NO_SNAPSHOT else None
        if version != NO_SNAPSHOT and recorded is None:
            lost = f"snapshot {version} is expired"
            return Since(commits=tuple(_commit(s) for s in reversed(after)), lost=lost)
        back = {s.snapshot_id for s in self._ancestors(recorded)}
        # Rolled back to an ancestor of the recorded snapshot, or onto another branch of
        # history: either way the rows are not the recorded ones plus later commits.
        fresh = [s for s in after if s.snapshot_id not in back]
        return Since(commits=tuple(_commit(s) for s in reversed(fresh)), rolled_back=True)

    def _ancestors(self, snapshot: Snapshot | None) -> Iterator[Snapshot]:
        while snapshot is not None:
            yield snapshot
            parent = snapshot.parent_snapshot_id
            snapshot = self._table.snapshot_by_id(parent) if parent is not None else None

    def history(self) -> Since:
        current = self._table.current_snapshot()
        return Since(commits=tuple(_commit(s) for s in reversed(list(self._ancestors(current)))))

    def missing_at(self, version: int) -> str | None:
        if version == NO_SNAPSHOT:
            return None
        if self._table.snapshot_by_id(version) is None:
            return f"snapshot {version} is expired"
        files = [task.file.file_path for task in self._table.scan(snapshot_id=version).plan_files()]
        gone = [
            f for f in files if f.startswith(("file:", "/")) and not os.path.exists(local_path(f))
        ]
        if gone:
            return f"snapshot {version}: {len(gone)} data file(s) removed, e.g. {gone[0]}"
        return None


def _commit(snapshot: Snapshot) -> Commit:
    operation = snapshot.summary.operation.value if snapshot.summary else "unknown"
    changed = operation not in NO_DATA_CHANGE
    at = millis_instant(snapshot.timestamp_ms)
    return Commit(snapshot.snapshot_id, operation, changed, at=at)
