"""Typed table drift: what each table's history says happened since it was evidenced.

The recorded side is the ``tables`` field of the newest trusted bundle (or the versions
a run was pinned to, for a follow-up). A table whose commits since then changed rows,
whose schema changed, or that was rolled back, is class C drift, named with its
versions and operations (``applications v12 -> v15: WRITE append, MERGE``). Commits
that change no row (OPTIMIZE, Iceberg ``replace``) are reported and are not drift.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from seid.tables.state import Commit, Since, TableSpec, TableState, open_table

PATH_PREFIX = "table:"  # a table among the class C paths of a drift: ``table:applications``


@dataclass(frozen=True)
class TableChange:
    """One table that moved since its recorded version: how, and whether it is drift."""

    state: TableState
    recorded: int | None
    since: Since = field(default_factory=Since)
    schema_changed: bool = False

    @property
    def drift(self) -> bool:
        """Rows, schema or history changed; a table new to the evidence is drift too."""
        return (
            self.recorded is None
            or self.schema_changed
            or self.since.rolled_back
            or self.since.lost is not None
            or any(c.data_change for c in self.since.commits)
        )

    def describe(self) -> str:
        """``applications v12 -> v15: WRITE append, MERGE`` and what is not drift."""
        state = self.state
        if self.recorded is None:
            return f"{state.name} {state.label()}: new table (not in the last evidence)"
        what = [_operation(c, state) for c in self.since.commits]
        if self.since.rolled_back:
            what.append("rolled back")
        if self.schema_changed:
            what.append("schema changed")
        if self.since.lost:
            what.append(f"history unreadable ({self.since.lost})")
        line = f"{state.name} {state.label(self.recorded)} -> {state.label()}: "
        line += ", ".join(dict.fromkeys(what)) or "metadata changed"
        return line if self.drift else f"{line} (no data change: not drift)"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.state.name,
            "from": self.recorded,
            "to": self.state.version,
            "drift": self.drift,
            "operations": [c.to_json() for c in self.since.commits],
            "rolled_back": self.since.rolled_back,
            "schema_changed": self.schema_changed,
            "history_lost": self.since.lost,
            "line": self.describe(),
        }


@dataclass(frozen=True)
class TableCheck:
    """Every declared table now, and those that moved since their recorded version."""

    states: Mapping[str, TableState] = field(default_factory=dict)
    changes: tuple[TableChange, ...] = ()

    @property
    def drifted(self) -> tuple[TableChange, ...]:
        return tuple(c for c in self.changes if c.drift)

    def paths(self) -> dict[str, Literal["added", "modified"]]:
        """The drifted tables as class C paths (``table:<name>``) with their change kind."""
        return {
            f"{PATH_PREFIX}{c.state.name}": "added" if c.recorded is None else "modified"
            for c in self.drifted
        }

    def to_predicate(self) -> dict[str, dict[str, Any]]:
        """The bundle's ``tables`` field (DESIGN): each table's state and the operations
        since the previous bundle."""
        since = {c.state.name: [x.to_json() for x in c.since.commits] for c in self.changes}
        return {
            name: {**state.to_json(), "operations_since_previous": since.get(name, [])}
            for name, state in sorted(self.states.items())
        }


class MetaStore(Protocol):
    """Where derived values are kept between commands (``seid.statcache.StatCache``)."""

    def get_meta(self, key: str) -> str | None: ...

    def put_meta(self, key: str, value: str) -> None: ...


def check_tables(
    root: Path,
    tables: Sequence[TableSpec],
    recorded: Mapping[str, Any] | None,
    cache: MetaStore | None = None,
) -> TableCheck:
    """Read every table's state and compare it with ``recorded`` (a bundle's ``tables``).

    Without a record (no evidence yet) nothing is compared: the first run is due anyway.
    With a ``cache``, a local Delta table whose ``_delta_log/`` lists the same files as
    last time keeps its state, and an unchanged table imports no library at all.
    """
    known = _Known(root, cache)
    states: dict[str, TableState] = {}
    changes: list[TableChange] = []
    for table in tables:
        state = known.state(table)
        if state is None:
            state = open_table(root, table).state()
            known.remember(table, state)
        states[table.name] = state
        if recorded is None:
            continue
        before = recorded.get(table.name)
        if not isinstance(before, Mapping) or before.get("format") != state.format:
            changes.append(TableChange(state, None))
            continue
        if before.get("metadata_digest") == state.metadata_digest:
            continue
        version = int(before["version"])
        reader = open_table(root, table)
        since = reader.since(version) if version != state.version else Since()
        schema_changed = before.get("schema_digest") != state.schema_digest
        changes.append(TableChange(state, version, since, schema_changed))
    known.save()
    return TableCheck(states, tuple(changes))


class _Known:
    """Table states kept in the cache, each under its declaration and log fingerprint."""

    KEY = "tables/v1"

    def __init__(self, root: Path, cache: MetaStore | None) -> None:
        self.root, self.cache = root, cache
        raw = cache.get_meta(self.KEY) if cache is not None else None
        self.doc: dict[str, Any] = json.loads(raw) if raw else {}
        self.changed = False

    def _key(self, table: TableSpec) -> str | None:
        from seid.tables.delta import log_fingerprint

        if self.cache is None or table.format != "delta" or table.uri is None:
            return None
        fingerprint = log_fingerprint(self.root, table.uri)
        if fingerprint is None:
            return None
        return json.dumps([table.to_json(), fingerprint], sort_keys=True)

    def state(self, table: TableSpec) -> TableState | None:
        entry = self.doc.get(table.name)
        key = self._key(table)
        if key is None or not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return TableState(**entry["state"])

    def remember(self, table: TableSpec, state: TableState) -> None:
        key = self._key(table)
        if key is not None:
            self.doc[table.name] = {"key": key, "state": state.__dict__}
            self.changed = True

    def save(self) -> None:
        if self.cache is not None and self.changed:
            self.cache.put_meta(self.KEY, json.dumps(self.doc, sort_keys=True))


def _operation(commit: Commit, state: TableState) -> str:
    if commit.restored_to is not None:
        return f"{commit.operation} to {state.label(commit.restored_to)} (rolled back)"
    return commit.operation
