"""Delta Lake tables through delta-rs (``deltalake``): version, history, time travel.

The table's history is the ``commitInfo`` of each commit, as delta-rs returns it. It
names the operation but not the ``dataChange`` flag of the commit's actions, so the
operations that the Delta protocol commits with ``dataChange: false`` (compaction,
Z-ordering, vacuum's bookkeeping, table properties and constraints) are listed in
:data:`NO_DATA_CHANGE`; any other operation, including one this list has never heard
of, counts as a data change: the safe side is a re-run, not a missed one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from seid.tables.state import (
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
    from deltalake import DeltaTable


NO_DATA_CHANGE = frozenset(
    {
        "OPTIMIZE",
        "VACUUM START",
        "VACUUM END",
        "SET TBLPROPERTIES",
        "UNSET TBLPROPERTIES",
        "ADD CONSTRAINT",
        "DROP CONSTRAINT",
        "ADD FEATURE",
        "UPGRADE PROTOCOL",
    }
)
LOG_DIR = "_delta_log"


def table_uri(root: Path, uri: str) -> str:
    """An object-store URI as written; a local path (or ``file:``) made absolute, a
    relative one against the repository root, not the current directory."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return parsed.path
    if parsed.scheme and len(parsed.scheme) > 1:
        return uri
    return os.path.normpath(root / uri)


def local_log(root: Path, uri: str) -> Path | None:
    """The ``_delta_log/`` folder of a table on this machine (what the daemon watches)."""
    resolved = table_uri(root, uri)
    return Path(resolved) / LOG_DIR if resolved.startswith("/") else None


def log_fingerprint(root: Path, uri: str) -> str | None:
    """SHA-256 of the names and sizes in a local table's ``_delta_log/`` (None for a
    table elsewhere, or without a log). A commit adds a file and a checkpoint or a log
    clean-up adds or removes some, so an equal fingerprint means the same versions."""
    log = local_log(root, uri)
    if log is None:
        return None
    try:
        entries = sorted((e.name, e.stat().st_size) for e in os.scandir(log))
    except OSError:
        return None
    return hashlib.sha256(repr(entries).encode()).hexdigest()


class DeltaReader:
    """A declared Delta table, opened at its current version."""

    def __init__(self, root: Path, table: TableSpec) -> None:
        assert table.uri is not None
        self.table = table
        self.uri = table_uri(root, table.uri)
        self._current = self._open(None)

    def _open(self, version: int | None) -> DeltaTable:
        from deltalake.exceptions import DeltaError, TableNotFoundError

        try:
            return self._load(version)
        except TableNotFoundError:
            raise table_error(self.table, f"no Delta table at {self.uri}") from None
        except DeltaError as exc:
            raise table_error(self.table, f"cannot read {self.uri}: {first_line(exc)}") from None

    def _load(self, version: int | None) -> DeltaTable:
        from deltalake import DeltaTable

        return DeltaTable(self.uri, version=version)

    def state(self) -> TableState:
        dt = self._current
        version = dt.version()
        latest = dt.history(1)
        commit = latest[0] if latest else {}
        schema = dt.schema().to_json()
        meta = dt.metadata()
        metadata = {
            "id": meta.id,
            "partition_columns": list(meta.partition_columns),
            "configuration": dict(meta.configuration),
        }
        return TableState(
            name=self.table.name,
            format="delta",
            uri=self.uri,
            version=version,
            metadata_digest=metadata_digest(
                {
                    "version": version,
                    "commit": commit,
                    "metadata": metadata,
                    "schema": schema,
                }
            ),
            schema_digest=metadata_digest(schema),
        )

    def since(self, version: int) -> Since:
        current = self._current.version()
        if version > current:
            return Since(rolled_back=True)  # the table was recreated below the recorded version
        entries = self._current.history(current - version) if current > version else []
        commits = sorted((_commit(entry) for entry in entries), key=lambda c: c.version)
        if [c.version for c in commits] != list(range(version + 1, current + 1)):
            first = commits[0].version if commits else current
            return Since(commits=tuple(commits), lost=f"the log before v{first} is cleaned up")
        return Since(commits=tuple(commits))

    def history(self) -> Since:
        return self.since(-1)

    def missing_at(self, version: int) -> str | None:
        from deltalake.exceptions import DeltaError

        try:
            old = self._load(version)
        except DeltaError as exc:
            return f"v{version} is gone from the log: {first_line(exc)}"
        if "://" in self.uri:
            return None  # an object store: files are checked when the pipeline reads them
        gone = [uri for uri in old.file_uris() if not os.path.exists(local_path(uri))]
        if gone:
            return f"v{version}: {len(gone)} data file(s) removed (vacuum), e.g. {gone[0]}"
        return None


def _commit(entry: dict[str, Any]) -> Commit:
    """``WRITE append``, ``MERGE``, ``RESTORE``... from one history entry."""
    operation = str(entry.get("operation", "UNKNOWN"))
    params = entry.get("operationParameters") or {}
    mode = params.get("mode")
    shown = f"{operation} {str(mode).lower()}" if operation == "WRITE" and mode else operation
    restored = params.get("version") if operation == "RESTORE" else None
    return Commit(
        version=int(entry["version"]),
        operation=shown,
        data_change=operation not in NO_DATA_CHANGE,
        restored_to=int(restored) if restored is not None else None,
        at=millis_instant(entry.get("timestamp")),
    )
