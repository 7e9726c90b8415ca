"""Pinned runs: the table versions a run stands on, handed to the pipeline.

``seid run`` reads each table's version once, before the pipeline starts, and the
pipeline reads exactly those: an environment variable per table
(``SEID_TABLE_<NAME>_VERSION``) and one JSON file for all of them, named by
``SEID_TABLES``. A writer that commits during the run changes neither; the bundle
records the pinned versions, and the change after them is a follow-up. Re-execution
(``seid reconstruct --reexecute``) pins the versions a bundle recorded, which is how it
time-travels, after checking that each can still be read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seid.fsutil import sei_dir, write_atomic

if TYPE_CHECKING:
    from seid.tables.state import TableSpec

PINS_FILE = "tables.json"  # in .sei/: a DVC stage may list it among its deps
PINS_ENV = "SEID_TABLES"


def write_pins(
    root: Path,
    tables: Sequence[TableSpec],
    versions: Mapping[str, int],
    *,
    into: Path | None = None,
) -> dict[str, str]:
    """Write ``.sei/tables.json`` (under ``into``, default ``root``) and return the
    environment that names the versions; table URIs are resolved against ``root``.

    The file maps each table name to ``{format, version, uri}`` for Delta and ``{format,
    version, table, catalog_name, catalog}`` for Iceberg: everything a stage needs to open
    that version. It is written only when its content changes, so a DVC stage that
    depends on it is stale exactly when a pinned version moved.
    """
    env: dict[str, str] = {}
    doc: dict[str, dict[str, Any]] = {}
    for table in tables:
        entry: dict[str, Any] = {"format": table.format, "version": versions[table.name]}
        if table.format == "delta":
            from seid.tables.delta import table_uri

            assert table.uri is not None
            entry["uri"] = table_uri(root, table.uri)
        else:
            from seid.tables.iceberg import catalog_properties

            assert table.catalog is not None
            entry["table"] = table.table
            entry["catalog_name"] = table.catalog.name
            entry["catalog"] = catalog_properties(root, table.catalog)
        doc[table.name] = entry
        env[table.env_var] = str(versions[table.name])
    path = sei_dir(into or root) / PINS_FILE
    data = json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"
    if not path.is_file() or path.read_bytes() != data:
        write_atomic(path, data)
    env[PINS_ENV] = str(path)
    return env


def recorded_versions(
    root: Path, tables: Sequence[TableSpec], recorded: Mapping[str, Any]
) -> tuple[dict[str, int], list[str]]:
    """The versions a bundle's ``tables`` recorded, and why any of them cannot be read
    again (``applications: v3: 2 data file(s) removed (vacuum)``): vacuum and snapshot
    expiry make a recorded run not reproducible, which is a finding, not a crash."""
    from seid.errors import SeidError
    from seid.tables.state import open_table

    versions: dict[str, int] = {}
    problems: list[str] = []
    for table in tables:
        entry = recorded.get(table.name)
        if not isinstance(entry, Mapping) or not isinstance(entry.get("version"), int):
            problems.append(f"{table.name}: no version recorded in the bundle")
            continue
        versions[table.name] = entry["version"]
        try:
            missing = open_table(root, table).missing_at(entry["version"])
        except SeidError as err:
            missing = str(err)
        if missing is not None:
            problems.append(f"{table.name}: {missing}")
    return versions, problems
