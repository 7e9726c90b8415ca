"""Pinned runs: the table versions a run stands on, handed to the pipeline.

``seid run`` reads each table's version once, before the pipeline starts, and the
pipeline reads exactly those: an environment variable per table
(``SEID_TABLE_<NAME>_VERSION``) and one JSON file for all of them, named by
``SEID_TABLES``. A writer that commits during the run changes neither; the bundle
records the pinned versions, and the change after them is a follow-up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from seid.fsutil import sei_dir, write_atomic

if TYPE_CHECKING:
    from seid.config.values import Table
    from seid.tables.drift import TableCheck

PINS_FILE = "tables.json"  # in .sei/: a DVC stage may list it among its deps
PINS_ENV = "SEID_TABLES"


def write_pins(root: Path, tables: Sequence[Table], check: TableCheck) -> dict[str, str]:
    """Write ``.sei/tables.json`` and return the environment that names the versions.

    The file maps each table name to ``{format, uri, version}`` (plus ``table`` and the
    catalog's properties for Iceberg), everything a stage needs to open that version.
    It is written only when its content changes, so a DVC stage that depends on it is
    stale exactly when a pinned version moved.
    """
    env: dict[str, str] = {}
    doc: dict[str, dict[str, object]] = {}
    for table in tables:
        state = check.states[table.name]
        entry: dict[str, object] = {"format": state.format, "version": state.version}
        if table.format == "delta":
            entry["uri"] = state.uri
        else:
            from seid.tables.iceberg import catalog_properties

            assert table.catalog is not None
            entry["table"] = table.table
            entry["catalog_name"] = table.catalog.name
            entry["catalog"] = catalog_properties(root, table.catalog)
        doc[table.name] = entry
        env[table.env_var] = str(state.version)
    path = sei_dir(root) / PINS_FILE
    data = json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"
    if not path.is_file() or path.read_bytes() != data:
        write_atomic(path, data)
    env[PINS_ENV] = str(path)
    return env
