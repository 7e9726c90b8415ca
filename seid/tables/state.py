"""What the format readers return: a table's state now and the commits of its history.

Both formats answer the same three questions (:class:`Reader`), so drift, pinning and
time travel never ask which format a table has.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from seid.errors import SeidError, ToolMissingError

# The extra that installs each format's library, and the module it provides.
EXTRAS = {"delta": ("deltalake", "delta"), "iceberg": ("pyiceberg", "iceberg")}


@dataclass(frozen=True)
class CatalogSpec:
    """An Iceberg catalog as declared (``seid.config.values.TableCatalog``, checked there)."""

    uri: str
    warehouse: str | None = None
    type: str = "sql"
    name: str = "default"
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TableSpec:
    """A declared table in plain values: what every reader, the pins and the daemon take.

    The manifest's pydantic model (``seid.config.values.Table``) checks a declaration
    once; a warm ``seid status`` rebuilds this from its cache without loading pydantic.
    """

    name: str
    format: str
    uri: str | None = None
    table: str | None = None
    catalog: CatalogSpec | None = None

    @property
    def env_var(self) -> str:
        """``SEID_TABLE_<NAME>_VERSION``: the variable a pinned run hands this table's
        version in (letters upper-cased, other characters ``_``)."""
        return f"SEID_TABLE_{re.sub('[^A-Za-z0-9]', '_', self.name).upper()}_VERSION"

    def to_json(self) -> dict[str, Any]:
        catalog = None if self.catalog is None else {**self.catalog.__dict__}
        if catalog is not None:
            catalog["properties"] = dict(self.catalog.properties) if self.catalog else {}
        return {**self.__dict__, "catalog": catalog}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TableSpec:
        catalog = doc.get("catalog")
        return cls(
            name=doc["name"],
            format=doc["format"],
            uri=doc.get("uri"),
            table=doc.get("table"),
            catalog=CatalogSpec(**catalog) if catalog is not None else None,
        )


@dataclass(frozen=True)
class Commit:
    """One version of a table's history: what the operation was, whether it changed
    rows (a compaction does not) and, for a restore or rollback, the version it went to."""

    version: int
    operation: str
    data_change: bool
    restored_to: int | None = None
    at: str | None = None  # when the table committed it (UTC ISO 8601), if it says

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "operation": self.operation,
            "data_change": self.data_change,
        }
        if self.restored_to is not None:
            out["restored_to"] = self.restored_to
        if self.at is not None:
            out["at"] = self.at
        return out


def millis_instant(millis: object) -> str | None:
    """A table log's commit time (milliseconds since the epoch) as UTC ISO 8601."""
    if isinstance(millis, bool) or not isinstance(millis, int):
        return None
    try:
        when = datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return when.isoformat(timespec="milliseconds")


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


def open_table(root: Path, table: TableSpec) -> Reader:
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


def table_error(table: TableSpec, message: str) -> SeidError:
    """``sei.yaml: inputs.tables <name>: ...``: where the table is declared, and what is wrong."""
    return SeidError(f"sei.yaml: inputs.tables {table.name}: {message}")


def metadata_digest(value: Any) -> str:
    """SHA-256 of ``value`` in seid's canonical JSON (sorted keys, compact). Not RFC 8785:
    Iceberg snapshot ids are 64-bit and JCS refuses integers past 2**53."""
    # evidence.canonical_json's form, written out: importing seid.evidence (and with it
    # securesystemslib) would cost a warm status more than reading the table does.
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def local_path(uri: str) -> str:
    """A ``file:`` URI as a path; anything else as it is."""
    return urlparse(uri).path if uri.startswith("file:") else uri


def first_line(exc: BaseException) -> str:
    """A library's error as one line (delta-rs and SQLAlchemy write several)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
