"""Table changes in replay: each declared table's history joined with the bundles.

Tables are not in git, so their changes are read from the tables themselves: every
commit the table remembers, with the bundles that recorded that version (by
``predicate.tables.<name>.version``). A data-changing commit that no bundle recorded
before the table's data changed again (or up to now) is an ``unevidenced-table-change``
finding, the table counterpart of an unevidenced commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seid.errors import SeidError
from seid.replay.findings import TABLE_KIND, Finding
from seid.replay.history import History
from seid.replay.join import Evidence
from seid.tables.state import Commit, TableSpec, TableState, open_table


@dataclass(frozen=True)
class TableReplay:
    """The report's ``tables`` section, and the findings it gives."""

    section: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def replay_head_tables(root: Path, history: History, found: Evidence) -> TableReplay:
    """The tables the newest manifest in the replayed history declares (none: empty,
    and no table library is imported)."""
    if not history.commits:
        return TableReplay()
    manifest = history.regime_of(history.commits[-1]).manifest
    if manifest is None or manifest.inputs is None or not manifest.inputs.tables:
        return TableReplay()
    return replay_tables(root, [t.spec() for t in manifest.inputs.tables], found)


def replay_tables(root: Path, tables: Sequence[TableSpec], found: Evidence) -> TableReplay:
    """Every declared table's remembered commits, each with the bundles at its version."""
    section: dict[str, Any] = {}
    findings: list[Finding] = []
    for table in tables:
        try:
            reader = open_table(root, table)
            state, history = reader.state(), reader.history()
        except SeidError as err:
            section[table.name] = {"format": table.format, "error": str(err)}
            continue
        at = _bundles_by_version(found, table.name)
        commits = list(history.commits)
        section[table.name] = {
            **state.to_json(),
            "history_lost": history.lost,
            "commits": [{**c.to_json(), "bundles": at.get(c.version, [])} for c in commits],
        }
        findings += _unevidenced(state, commits, at)
    return TableReplay(section, findings)


def _bundles_by_version(found: Evidence, name: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for bundle in found.bundles:
        version = bundle.table_versions().get(name)
        if version is not None:
            out.setdefault(version, []).append(bundle.ref)
    return out


def _unevidenced(
    state: TableState, commits: list[Commit], at: dict[int, list[str]]
) -> list[Finding]:
    """Data changes with no bundle at their version or at a later one that changed no
    data (an OPTIMIZE after an append still shows the appended rows)."""
    out: list[Finding] = []
    for i, commit in enumerate(commits):
        if not commit.data_change:
            continue
        stretch = [commit]
        for later in commits[i + 1 :]:
            if later.data_change:
                break
            stretch.append(later)
        if any(c.version in at for c in stretch):
            continue
        until = "before its data changed again" if i + len(stretch) < len(commits) else "up to now"
        summary = (
            f"table {state.name} {state.label(commit.version)}: {commit.operation} "
            f"with no evidence bundle {until}"
        )
        out.append(Finding(TABLE_KIND, summary, []))
    return out
