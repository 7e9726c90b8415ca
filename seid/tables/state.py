"""What the format readers return: a table's state now and the commits of its history.

Both formats answer the same three questions (:class:`Reader`), so drift, pinning and
time travel never ask which format a table has.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from seid.errors import SeidError, ToolMissingError

if TYPE_CHECKING:
    from seid.config.values import Table

# The extra that installs each format's library, and the module it provides.
EXTRAS = {"delta": ("deltalake", "delta"), "iceberg": ("pyiceberg", "iceberg")}


@dataclass(frozen=True)
class Commit:
    """One version of a table's history: what the operation was, whether it changed
    rows (a compaction does not) and, for a restore or rollback, the version it went to."""

    version: int
    operation: str
    data_change: bool
    restored_to: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "operation": self.operation,
            "data_change": self.data_change,
        }
        if self.restored_to is not None:
            out["restored_to"] = self.restored_to
        return out


@dataclass(frozen=True)
class TableState:
    """A table as a run stands on it: the version and the digests of its metadata."""

    name: str
    format: str
    uri: str
    version: int
    metadata_digest: str
    schema_digest: str

    def label(self, version: int | None = None) -> str:
        """``v12`` for Delta; an Iceberg snapshot id as it is (ids are not ordered)."""
        shown = self.version if version is None else version
        return f"v{shown}" if self.format == "delta" else f"snapshot {shown}"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "uri": self.uri,
            "version": self.version,
            "metadata_digest": self.metadata_digest,
            "schema_digest": self.schema_digest,
        }


@dataclass(frozen=True)
class Since:
    """The commits from a recorded version to now, oldest first.

    ``rolled_back`` when the recorded version is no ancestor of the current one but the
    current one is an ancestor of it (Iceberg's rollback: no new snapshot is made);
    ``lost`` names why the history between them cannot be read (expired, cleaned up).
    """

    commits: tuple[Commit, ...] = ()
    rolled_back: bool = False
    lost: str | None = None


class Reader(Protocol):
    """One declared table, opened through its format's library."""

    def state(self) -> TableState:
        """The current version and its metadata digests; reads no data file."""
        ...

    def since(self, version: int) -> Since:
        """What the history says happened after ``version``, up to :meth:`state`'s."""
        ...

    def missing_at(self, version: int) -> str | None:
        """Why ``version`` can no longer be read (vacuumed, expired), or None."""
        ...

    def history(self) -> Since:
        """Every commit the table still remembers, oldest first, up to the current one."""
        ...


def open_table(root: Path, table: Table) -> Reader:
    """The reader for ``table``; a one-line error naming the extra when its library is
    not installed (imported only now: only manifests that declare tables pay for it)."""
    module, extra = EXTRAS[table.format]
    try:
        __import__(module)
    except ImportError:
        raise ToolMissingError(f"{module} (for table {table.name!r})", extra) from None
    if table.format == "delta":
        from seid.tables.delta import DeltaReader

        return DeltaReader(root, table)
    from seid.tables.iceberg import IcebergReader

    return IcebergReader(root, table)


def table_error(table: Table, message: str) -> SeidError:
    """``sei.yaml: inputs.tables <name>: ...``: where the table is declared, and what is wrong."""
    return SeidError(f"sei.yaml: inputs.tables {table.name}: {message}")


def metadata_digest(value: Any) -> str:
    """SHA-256 of ``value`` in seid's canonical JSON (sorted keys, compact). Not RFC 8785:
    Iceberg snapshot ids are 64-bit and JCS refuses integers past 2**53."""
    from seid.evidence import canonical_json

    return hashlib.sha256(canonical_json(value)).hexdigest()


def local_path(uri: str) -> str:
    """A ``file:`` URI as a path; anything else as it is."""
    return urlparse(uri).path if uri.startswith("file:") else uri


def first_line(exc: BaseException) -> str:
    """A library's error as one line (delta-rs and SQLAlchemy write several)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
