"""The daemon's main loop: locks, watches, workers, schedules, signals, systemd notify.

Start-up: lock every repository (one daemon per repo), start its worker and its watches,
then ask each worker for a *reconcile* run (anything changed while no daemon watched,
or a run a previous daemon was stopped in, is caught here), then ``READY=1``. The main
thread only waits for signals and sends ``WATCHDOG=1`` while every watcher and worker
thread is alive. SIGHUP re-reads the config without dropping events (unchanged repos
keep their watches; every repo reconciles afterwards). SIGTERM/SIGINT stop cleanly: a
running pipeline's process group is terminated (then killed after a grace period) and
its run is not attested; a ledger append in progress finishes first.
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from securesystemslib.signer import Signer  # type: ignore[attr-defined]  # re-exported

from seid.daemon import logging as dlog
from seid.daemon.config import DaemonConfig, RepoConfig
from seid.daemon.debounce import Debouncer
from seid.daemon.notify import Notifier
from seid.daemon.prometheus import Metrics
from seid.daemon.runner import RepoWorker
from seid.daemon.tables import TableLogs
from seid.daemon.watcher import RESCAN, RepoWatcher
from seid.errors import SeidError
from seid.snapshot import DriftClass

if TYPE_CHECKING:
    pass

LOCK_NAME = "daemon.lock"
FOLLOW_UP = "<follow-up>"  # a marker path: the last run saw inputs change under it
JOIN_SECONDS = 60.0  # below systemd's TimeoutStopSec=90s, above the tool's 10 s grace
_log = dlog.get("seid.daemon")


class AlreadyRunning(SeidError):
    """Another daemon holds the repository's lock."""


def lock_repo(root: Path) -> IO[str]:
    """Hold ``.sei/daemon.lock`` (flock) for the daemon's lifetime; refuse a second one."""
    from seid.fsutil import sei_dir

    path = sei_dir(root) / LOCK_NAME
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyRunning(
            f"another seid daemon (pid {holder}) already watches {root} (lock {path})"
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


@dataclass
class RepoState:
    """Everything the daemon runs for one repository."""

    config: RepoConfig
    lock: IO[str]
    worker: RepoWorker
    debouncer: Debouncer
    watcher: RepoWatcher
    quiet: tuple[float, float] = field(default=(1.0, 30.0))
    table_logs: TableLogs | None = None  # the local Delta tables' _delta_log/ folders

    def stop_watching(self) -> None:
        self.watcher.stop()
        if self.table_logs is not None:
            self.table_logs.stop()


class Service:
    """Owns the repositories' states; ``serve()`` runs until a stop signal."""

    def __init__(
        self,
        config: DaemonConfig,
        signer: Signer,
        *,
        reload: Callable[[], tuple[DaemonConfig, Signer]] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.signer = signer
        self.metrics = Metrics()
        self.notifier = notifier or Notifier()
        self.repos: dict[Path, RepoState] = {}
        self.stop_event = threading.Event()
        self._reload = reload
        self._wake = threading.Event()
        self._want_reload = False
        self._stop_signal: str | None = None
        self._gate = threading.BoundedSemaphore(config.max_concurrent_runs)
        self._scheduler: Any = None
        self._http: Any = None
        # What works only in part, and why (the registry audit); /healthz reports it.
        self.degraded: dict[str, str] = {}

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Lock and watch every repository, then reconcile each; raises on a held lock."""
        try:
            for repo in self.config.repos:
                self._add(repo, self.config)
        except BaseException:
            self._release_all()
            raise
        self._start_services()
        for state in self.repos.values():
            state.worker.request("startup-reconcile")
        _log.info("watching", repos=[str(p) for p in self.repos])
        self.notifier.ready(f"watching {len(self.repos)} repositories")

    def serve(self) -> int:
        """Install the signal handlers, start, and loop until SIGTERM/SIGINT."""
        handlers = {
            signal.SIGTERM: self._on_stop,
            signal.SIGINT: self._on_stop,
            signal.SIGHUP: self._on_hup,
        }
        previous = {sig: signal.signal(sig, h) for sig, h in handlers.items()}
        try:
            self.start()
            self._loop()
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def request_stop(self) -> None:
        self.stop_event.set()
        self._wake.set()

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        # No logging here: the handler may interrupt a thread holding a logging lock.
        self._stop_signal = signal.Signals(signum).name
        self.request_stop()

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self._want_reload = True
        self._wake.set()

    def _loop(self) -> None:
        interval = self.notifier.watchdog_interval()
        tick = min(interval, 5.0) if interval else 5.0
        while not self.stop_event.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            if self.stop_event.is_set():
                break
            if self._want_reload:
                self._want_reload = False
                self.reload()
            if self.healthy() and interval:
                self.notifier.watchdog()
        _log.info("stop requested", signal=self._stop_signal)

    @property
    def http_address(self) -> tuple[str, int] | None:
        """Where /metrics and /healthz are served (the real port when 0 was asked)."""
        return None if self._http is None else self._http.server_address[:2]

    def alive(self) -> bool:
        """Every watcher and worker thread is running (read-only: for /healthz)."""
        states = list(self.repos.values())
        return all(s.worker.alive() and s.watcher.alive() for s in states)

    def healthy(self) -> bool:
        """All watches and workers alive; a dead watcher is restarted (and rescans)."""
        ok = True
        for state in self.repos.values():
            if not state.worker.alive():
                _log.error("worker thread died", repo=str(state.config.path))
                ok = False
            if not state.watcher.alive():
                _log.error("watcher died; restarting it", repo=str(state.config.path))
                ok = False
                try:
                    state.watcher.stop()
                    state.watcher.start()
                    state.watcher.rescan()
                except OSError as err:
                    _log.error("watcher restart failed", error=str(err))
        return ok

    def shutdown(self) -> None:
        """Stop everything; runs stop, appends finish, locks are released."""
        if not self.repos and self._scheduler is None:
            return
        self.notifier.stopping()
        self.stop_event.set()
        self._stop_services()
        states = list(self.repos.values())
        for state in states:
            state.stop_watching()
            state.debouncer.close(flush=False)
            state.worker.retire()
        for state in states:
            state.worker.join(JOIN_SECONDS)
            if state.worker.alive():
                _log.error("a run did not stop in time", repo=str(state.config.path))
        self._release_all()
        _log.info("stopped")

    # --- reload --------------------------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: new config and key; unchanged repos keep watching throughout."""
        self.notifier.reloading()
        if self._reload is None:
            self.notifier.ready()
            return
        try:
            config, signer = self._reload()
        except SeidError as err:
            _log.error("reload failed; keeping the running config", error=str(err))
            self.notifier.ready()
            return
        self._stop_services()
        self.signer = signer
        wanted = {r.path: r for r in config.repos}
        for path in list(self.repos):
            state = self.repos[path]
            if (
                wanted.get(path) != state.config
                or (config.quiet, config.max_latency) != state.quiet
            ):
                self._remove(path)
        for repo in config.repos:
            if repo.path not in self.repos:
                try:
                    self._add(repo, config)
                except SeidError as err:
                    _log.error("cannot watch repository", repo=str(repo.path), error=str(err))
        self.config = config
        for state in self.repos.values():
            state.worker.set_signer(signer)
            state.worker.request("reload-reconcile")
        self._start_services()
        _log.info("reloaded", repos=[str(p) for p in self.repos])
        self.notifier.ready(f"watching {len(self.repos)} repositories")

    # --- repositories --------------------------------------------------------------------

    def _add(self, repo: RepoConfig, config: DaemonConfig) -> None:
        root = repo.path
        if not root.is_dir():
            raise SeidError(f"{root}: not a directory")
        lock = lock_repo(root)
        label = str(root)
        globs, outputs = _watch_list(root)
        worker = RepoWorker(repo, self.signer, self._gate, self.metrics)

        batches = _Batches(root, worker, self.metrics, config.max_latency)
        debouncer = batches.debouncer = Debouncer(
            batches.settled, config.quiet, config.max_latency, name=f"seid-debounce {label}"
        )
        watcher = RepoWatcher(
            root,
            globs,
            batches.seen,
            polling=repo.polling,
            always=_manifest_names(),
            ignore=outputs,
        )
        worker.on_globs = watcher.update
        worker.on_follow_up = lambda: debouncer.add([FOLLOW_UP])
        state = RepoState(
            repo, lock, worker, debouncer, watcher, (config.quiet, config.max_latency)
        )
        try:
            watcher.start()
        except OSError as err:
            debouncer.close()
            lock.close()
            raise SeidError(f"{root}: cannot watch: {err}") from None
        state.table_logs = TableLogs(root, batches.seen)
        worker.start()
        self.repos[root] = state

    def _remove(self, path: Path) -> None:
        state = self.repos.pop(path)
        state.stop_watching()
        state.debouncer.close(flush=False)
        state.worker.retire()
        state.lock.close()

    def _release_all(self) -> None:
        for state in self.repos.values():
            state.lock.close()
        self.repos.clear()

    # --- schedules and HTTP --------------------------------------------------------------

    def _start_services(self) -> None:
        from seid.daemon.scheduler import start_scheduler

        self._scheduler = start_scheduler(self)
        if self.config.http is not None:
            from seid.daemon.http import serve_http

            try:
                self._http = serve_http(self, *self.config.http)
            except OSError as err:
                _log.error("cannot serve HTTP", address=str(self.config.http), error=str(err))

    def _stop_services(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        server, self._http = self._http, None
        if server is not None:
            server.shutdown()
            server.server_close()


class _Batches:
    """File events -> the debouncer -> settled batches -> the repository's worker.

    A settled batch waits while git holds ``.git/index.lock`` (a checkout or merge
    rewriting the tree; running then would snapshot half of it), for at most the
    maximum latency, so a stale lock left by a crashed git cannot hold runs back.
    """

    def __init__(self, root: Path, worker: RepoWorker, metrics: Metrics, max_wait: float) -> None:
        self.root, self.worker, self.metrics, self.max_wait = root, worker, metrics, max_wait
        self.label = str(root)
        self.debouncer: Debouncer | None = None
        self._waiting_since: float | None = None

    def seen(self, paths: list[str]) -> None:
        self.metrics.inc("seid_events_total", repo=self.label)
        if self.debouncer is not None:
            self.debouncer.add(paths)

    def settled(self, paths: frozenset[str]) -> None:
        if self.debouncer is not None and (self.root / ".git" / "index.lock").exists():
            now = time.monotonic()
            self._waiting_since = self._waiting_since or now
            if now - self._waiting_since < self.max_wait:
                self.debouncer.add(paths)  # one more quiet period
                return
        self._waiting_since = None
        self.metrics.inc("seid_batches_total", repo=self.label)
        if RESCAN in paths:
            self.metrics.inc("seid_rescans_total", repo=self.label)
        reason = "rescan" if RESCAN in paths else "change"
        self.worker.request("follow-up" if paths == {FOLLOW_UP} else reason)


def _manifest_names() -> tuple[str, ...]:
    from seid.config import MANIFEST_NAMES

    return tuple(MANIFEST_NAMES)


def _watch_list(root: Path) -> tuple[dict[DriftClass, list[str]], tuple[str, ...]]:
    """The manifest's watched globs and the pipeline's own outputs (a run writing them
    must not wake the daemon). A manifest that cannot be read, for whatever reason, is
    logged, and the daemon watches for its fix: it never refuses to start over it."""
    from seid.config import load_manifest
    from seid.snapshot import watched_globs

    try:
        manifest = load_manifest(root)
        return watched_globs(root, manifest), (manifest.pipeline.metrics,)
    except Exception as err:  # any manifest error, not only a SeidError
        _log.error("cannot read the manifest yet; watching it", repo=str(root), error=str(err))
        return {}, ()
