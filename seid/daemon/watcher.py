"""File-system watches over the directories that hold a repository's watched inputs.

Only the literal base directories of the manifest's input globs are watched (recursively
when the glob reaches below them), so a pipeline writing its outputs, git rewriting
``.git/`` or seid appending to ``.sei/`` never wake the daemon. Every event is filtered
once more by the same :class:`~seid.snapshot.Matcher` the snapshot uses.

Events are never trusted to be complete: an inotify queue overflow (which watchdog
itself drops without a word), a watch-limit error, or a watch directory that appears
later all end in a *rescan* marker, and the run that follows snapshots every input.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from seid.daemon import logging as dlog
from seid.snapshot import DriftClass, Matcher

RESCAN = "<rescan>"  # a marker path: the batch needs a full reconciling rescan
_RELEVANT = frozenset({"created", "deleted", "modified", "moved", "closed"})
_IGNORED_TOP = frozenset({".git", ".sei", ".dvc"})
_LIMIT_ERRORS = (errno.ENOSPC, errno.EMFILE)

_listeners: set[Callable[[], None]] = set()
_listeners_lock = threading.Lock()
_log = dlog.get("seid.daemon.watcher")


def _install_overflow_hook() -> bool:
    """Make watchdog's inotify reader report ``IN_Q_OVERFLOW`` instead of dropping it.

    watchdog (6.x) skips the overflow record (its watch descriptor is -1) while parsing
    the kernel's buffer. The parser is wrapped, once per process, to tell every
    registered watcher first; without the hook (another platform, a future watchdog)
    the periodic reconcile is the safety net and the daemon logs that it is.
    """
    try:
        from watchdog.observers.inotify_c import Inotify, InotifyConstants
    except (ImportError, OSError):
        return False
    original = Inotify.__dict__.get("_parse_event_buffer")
    if original is None or getattr(original, "_seid_hooked", False):
        return original is not None
    parse = original.__func__

    def parse_and_report(buffer: bytes) -> Generator[tuple[int, int, int, bytes]]:
        for wd, mask, cookie, name in parse(buffer):
            if wd == -1 and mask & InotifyConstants.IN_Q_OVERFLOW:
                report_overflow()
            yield wd, mask, cookie, name

    hooked = staticmethod(parse_and_report)
    hooked._seid_hooked = True  # type: ignore[attr-defined]
    Inotify._parse_event_buffer = hooked  # type: ignore[method-assign,assignment]
    return True


def report_overflow() -> None:
    """An event queue overflowed: every watcher rescans (the kernel says not which)."""
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener()


def watch_plan(root: Path, bases: Iterable[str]) -> dict[Path, bool]:
    """``{directory: recursive}`` covering the glob ``bases``, existing directories only.

    A base that is a file is covered by its directory (non-recursively); a base that does
    not exist yet by its nearest existing ancestor, so its creation is seen.

    The root base (``""``, a glob that may match anywhere, such as ``**/*.prml.yaml``)
    is the root itself, non-recursively, and every top-level directory recursively except
    ``.git``, ``.sei`` and ``.dvc`` (symlinks are not followed). Nothing in those three is
    ever an input, and a recursive watch over ``.git`` would cost a watch per object
    directory and race git itself: a background ``git gc`` removing loose-object
    directories while the watches are added fails the watch with ENOENT. A top-level
    directory made later changes the plan, which re-plans and rescans (:meth:`saw`).
    """
    plan: dict[Path, bool] = {}
    for base in bases:
        if base.partition("/")[0] in _IGNORED_TOP:
            continue  # its events are dropped anyway (_relevant)
        path = root / base if base else root
        if path == root:
            plan.setdefault(root, False)
            plan.update((top, True) for top in _top_directories(root))
            continue
        if path.is_dir():
            plan[path] = True
            continue
        parent = path.parent
        while not parent.is_dir() and parent != root:
            parent = parent.parent
        plan.setdefault(parent, False)
    recursive = [p for p, r in plan.items() if r]
    return {
        p: r for p, r in plan.items() if not any(p != q and p.is_relative_to(q) for q in recursive)
    }


def _top_directories(root: Path) -> list[Path]:
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return []
    return sorted(
        root / e.name
        for e in entries
        if e.name not in _IGNORED_TOP and e.is_dir(follow_symlinks=False)
    )


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: RepoWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _RELEVANT:
            return
        paths = [event.src_path, getattr(event, "dest_path", "") or ""]
        self.watcher.saw([os.fsdecode(p) for p in paths if p], is_directory=event.is_directory)


class RepoWatcher:
    """Watches one repository; relevant paths go to ``on_paths`` (from watchdog's thread)."""

    def __init__(
        self,
        root: Path,
        globs: Mapping[DriftClass, Sequence[str]],
        on_paths: Callable[[list[str]], None],
        *,
        polling: bool = False,
        always: Iterable[str] = (),
        ignore: Iterable[str] = (),
    ) -> None:
        self.root = root.resolve()
        self._on_paths = on_paths
        self._polling = polling
        self._always = frozenset(always)
        self._ignore = frozenset(ignore)
        self._lock = threading.Lock()
        self._matcher = Matcher(globs)
        self._plan: dict[Path, bool] = {}
        self._observer: BaseObserver | None = None

    @property
    def polling(self) -> bool:
        return self._polling

    def start(self) -> None:
        if not self._polling and not _install_overflow_hook():
            _log.warning("inotify overflow cannot be detected; relying on the reconcile")
        with _listeners_lock:
            _listeners.add(self.rescan)
        self._schedule()

    def stop(self) -> None:
        with _listeners_lock:
            _listeners.discard(self.rescan)
        with self._lock:
            observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=10)

    def alive(self) -> bool:
        observer = self._observer
        return observer is not None and observer.is_alive()

    def update(self, globs: Mapping[DriftClass, Sequence[str]]) -> None:
        """New input globs (the manifest changed): re-plan the watches if they moved."""
        matcher = Matcher(globs)
        with self._lock:
            self._matcher = matcher
            same = watch_plan(self.root, self._bases()) == self._plan
        if not same:
            self._schedule()

    def rescan(self) -> None:
        _log.warning("file events may have been lost; a full rescan follows", repo=str(self.root))
        self._on_paths([RESCAN])

    def saw(self, paths: Sequence[str], *, is_directory: bool = False) -> None:
        relevant = [p for p in paths if self._relevant(p, is_directory)]
        if not relevant:
            return
        self._on_paths(relevant)
        if is_directory and self._missing_base_appeared():
            # Not on watchdog's own thread (it cannot join itself); files made in the new
            # directory before its watch exists are caught by the rescan that follows.
            threading.Thread(target=self._replan, name="seid-replan", daemon=True).start()

    def _replan(self) -> None:
        self._schedule()
        self._on_paths([RESCAN])

    def _relevant(self, path: str, is_directory: bool) -> bool:
        try:
            rel = Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return False
        top = rel.partition("/")[0]
        if top in _IGNORED_TOP or rel in self._ignore or rel == ".":
            return False
        if rel in self._always:
            return True
        with self._lock:
            matcher = self._matcher
        if is_directory:
            return any(
                b == "" or rel == b or rel.startswith(b + "/") or b.startswith(rel + "/")
                for b in matcher.bases
            )
        return matcher.classify(rel) is not None

    def _bases(self) -> list[str]:
        return [*self._matcher.bases, *self._always]

    def _missing_base_appeared(self) -> bool:
        with self._lock:
            return watch_plan(self.root, self._bases()) != self._plan

    def _schedule(self) -> None:
        """(Re)create the observer over the current plan; limits fall back to polling."""
        with self._lock:
            old, self._observer = self._observer, None
        if old is not None:
            old.stop()
            old.join(timeout=10)
        for attempt in range(3):
            plan = watch_plan(self.root, self._bases())
            try:
                observer = self._start(plan, self._polling)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
                # A directory vanished between planning and watching (a checkout
                # removing it): plan again; what changed meanwhile the rescan catches.
                self._on_paths([RESCAN])
            except OSError as err:
                if err.errno not in _LIMIT_ERRORS or self._polling:
                    raise
                _log.error("inotify limit reached; polling", repo=str(self.root), error=str(err))
                self._polling = True
                observer = self._start(plan, True)
                self._on_paths([RESCAN])
                break
        with self._lock:
            self._plan, self._observer = plan, observer

    def _start(self, plan: Mapping[Path, bool], polling: bool) -> BaseObserver:
        observer: BaseObserver = PollingObserver(timeout=1.0) if polling else Observer()
        handler = _Handler(self)
        observer.daemon = True
        try:
            for path, recursive in sorted(plan.items()):
                observer.schedule(handler, str(path), recursive=recursive)
            observer.start()
        except BaseException:
            observer.stop()
            raise
        return observer
