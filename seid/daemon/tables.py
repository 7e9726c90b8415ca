"""The daemon's eye on lakehouse tables: local Delta logs watched, the rest polled.

A Delta table on this machine commits by writing a file into its ``_delta_log/``
folder, so that folder is watched like the repository's own inputs. Tables in object
stores and Iceberg catalogs have no folder to watch: the ``tables`` schedule reads
their versions (``[schedules] tables = 60``, seconds). Either way what is seen is only
a hint, ``table:<name>``, fed to the repository's debouncer: the run that follows reads
the history and decides, so an OPTIMIZE wakes the daemon but re-runs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from seid.daemon import logging as dlog

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

    from seid.daemon.service import Service
    from seid.tables.state import TableSpec

_log = dlog.get("seid.daemon.tables")


def declared(root: Path) -> list[TableSpec]:
    """The tables the repository's manifest declares (none when it cannot be read: the
    repository's own watcher reports that)."""
    from seid.config import load_manifest
    from seid.errors import SeidError

    try:
        return [t.spec() for t in load_manifest(root).resolved_inputs(root).tables]
    except SeidError:
        return []


def local_logs(root: Path, tables: Sequence[TableSpec]) -> dict[str, Path]:
    """``name -> _delta_log/`` of each Delta table on this machine."""
    from seid.tables.delta import local_log

    out: dict[str, Path] = {}
    for table in tables:
        if table.format == "delta" and table.uri is not None:
            log = local_log(root, table.uri)
            if log is not None:
                out[table.name] = log
    return out


class _LogHandler(FileSystemEventHandler):
    def __init__(self, name: str, on_paths: Callable[[list[str]], None]) -> None:
        self.hint = f"table:{name}"
        self.on_paths = on_paths

    def on_any_event(self, event: FileSystemEvent) -> None:
        path = os.fsdecode(event.dest_path or event.src_path)
        # A commit lands as NNN.json (delta-rs writes a temporary file, then renames it).
        if event.event_type in ("created", "moved", "modified") and path.endswith(".json"):
            self.on_paths([self.hint])


class TableLogs:
    """The local Delta logs of one repository under watch. Refreshed by the ``tables``
    job, so a table declared, or created, after the daemon started is watched from then
    on (and polled by nobody: its log is the better eye)."""

    def __init__(self, root: Path, on_paths: Callable[[list[str]], None]) -> None:
        self.root = root
        self.on_paths = on_paths
        self.names: frozenset[str] = frozenset()
        self._observer: BaseObserver | None = None
        self.refresh(declared(root))

    def refresh(self, tables: Sequence[TableSpec]) -> list[str]:
        """Watch the logs of ``tables`` that exist; returns the names newly watched."""
        logs = {n: p for n, p in local_logs(self.root, tables).items() if p.is_dir()}
        if frozenset(logs) == self.names:
            return []
        new = sorted(set(logs) - self.names)
        self.stop()
        self.names = frozenset(logs)
        if logs:
            observer: BaseObserver = Observer()
            observer.daemon = True
            for name, log in sorted(logs.items()):
                observer.schedule(_LogHandler(name, self.on_paths), str(log), recursive=False)
            observer.start()
            self._observer = observer
            _log.info("watching table logs", repo=str(self.root), tables=sorted(logs))
        return new

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
            self._observer = None


class TablePoller:
    """The ``tables`` job: each polled table's version and metadata digest, compared
    with the previous poll; a table that moved is handed to its repository's debouncer."""

    def __init__(self, service: Service) -> None:
        """The first reading is taken now, as the daemon starts (its start-up reconcile
        covers what happened before), so a commit before the first poll is not missed."""
        self.service = service
        self.seen: dict[tuple[Path, str], str] = {}
        self()

    def __call__(self) -> None:
        from seid.errors import SeidError
        from seid.tables.state import open_table

        for root, state in list(self.service.repos.items()):
            tables = declared(root)
            logs = state.table_logs
            new = logs.refresh(tables) if logs is not None else []
            if new:  # it may have moved before it was watched: the run decides
                state.debouncer.add([f"table:{name}" for name in new])
            watched = logs.names if logs is not None else frozenset()
            for table in tables:
                if table.name in watched:
                    continue
                try:
                    digest = open_table(root, table).state().metadata_digest
                except SeidError as err:
                    _log.error("cannot read table", repo=str(root), error=str(err))
                    continue
                known = self.seen.get((root, table.name))
                self.seen[(root, table.name)] = digest
                if known is not None and known != digest:
                    _log.info("table moved", repo=str(root), table=table.name)
                    state.debouncer.add([f"table:{table.name}"])
