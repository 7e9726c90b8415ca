"""One worker per repository: one run at a time, exactly one queued follow-up.

Requests (a settled batch, a rescan, a schedule) only raise a flag: any number arriving
while a run is going collapse into one follow-up run, which snapshots everything again,
so nothing is lost and nothing runs twice for one change. A semaphore shared by all
workers bounds how many repositories run a pipeline at once (pipelines are heavy).

A run stopped by the daemon's shutdown raises ``Interrupted``: it is logged, never
attested; the next start-up reconcile re-runs it. A malformed manifest is logged at its
``path:line:col`` and nothing is appended; the next save that fixes it runs again. Any
other exception is logged with its traceback and the worker waits for the next change:
one bad run never leaves a repository unwatched.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from securesystemslib.signer import Signer  # type: ignore[attr-defined]  # re-exported

from seid.daemon import logging as dlog
from seid.daemon.config import RepoConfig
from seid.daemon.prometheus import Metrics
from seid.errors import InputError, SeidError
from seid.snapshot import DriftClass

GlobsHook = Callable[[Mapping[DriftClass, Sequence[str]]], None]
_log = dlog.get("seid.daemon.runner")


class RepoWorker:
    """Runs the chain for one repository on its own thread, when asked."""

    def __init__(
        self,
        repo: RepoConfig,
        signer: Signer,
        gate: threading.Semaphore,
        metrics: Metrics,
        on_globs: GlobsHook | None = None,
        on_follow_up: Callable[[], None] | None = None,
    ) -> None:
        self.repo = repo
        self.root = repo.path
        self._signer = signer
        self._gate = gate
        self._metrics = metrics
        self._stop = threading.Event()
        self.on_globs = on_globs
        self.on_follow_up = on_follow_up
        self._cond = threading.Condition()
        self._pending: list[str] = []
        self._force = False
        self._running = False
        self._thread = threading.Thread(
            target=self._loop, name=f"seid-run {self.root}", daemon=True
        )

    @property
    def label(self) -> str:
        return str(self.root)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def busy(self) -> bool:
        with self._cond:
            return self._running or bool(self._pending)

    def request(self, reason: str, *, force: bool = False) -> None:
        """Ask for a run; during a run this queues (at most) one follow-up."""
        with self._cond:
            if reason not in self._pending:
                self._pending.append(reason)
            self._force = self._force or force
            self._cond.notify()

    def set_signer(self, signer: Signer) -> None:
        self._signer = signer  # read once per run: a reload never changes a running one

    def retire(self) -> None:
        """Stop: a running pipeline is interrupted (not attested); no new run starts."""
        with self._cond:
            self._stop.set()
            self._cond.notify()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _take(self) -> tuple[list[str], bool] | None:
        with self._cond:
            while not self._pending and not self._stop.is_set():
                self._cond.wait()
            if self._stop.is_set():
                return None
            reasons, force = self._pending, self._force
            self._pending, self._force, self._running = [], False, True
            return reasons, force

    def _loop(self) -> None:
        """Runs until retired; no exception of one run ends it, so a later fix still runs."""
        dlog.bind(repo=self.label)
        while (taken := self._take()) is not None:
            try:
                while not self._gate.acquire(timeout=0.5):
                    if self._stop.is_set():
                        return
                try:
                    self._run_once(*taken)
                finally:
                    self._gate.release()
            except Exception:
                _log.exception("worker error; waiting for the next change")
            finally:
                with self._cond:
                    self._running = False

    def _run_once(self, reasons: list[str], force: bool) -> None:
        run_id = uuid.uuid4().hex[:12]
        dlog.bind(run=run_id)
        started = time.monotonic()
        result = "error"
        _log.info("run started", reasons=reasons, mode=self.repo.mode, force=force)
        try:
            result = self._chain(force)
        except InputError as err:
            result = "input-error"
            _log.error("input error; nothing appended", error=str(err))
        except SeidError as err:
            from seid.reproducers.execute import Interrupted

            result = "interrupted" if isinstance(err, Interrupted) else "error"
            _log.error(f"run {result}; not attested", error=str(err))
        except Exception:
            _log.exception("run crashed; not attested")
        finally:
            elapsed = time.monotonic() - started
            self._metrics.inc("seid_runs_total", repo=self.label, result=result)
            self._metrics.observe(elapsed, repo=self.label)
            if result not in ("error", "input-error", "interrupted"):
                self._metrics.set(
                    "seid_last_success_timestamp_seconds", time.time(), repo=self.label
                )
            self._metrics.set("seid_ledger_entries", ledger_size(self.root), repo=self.label)
            _log.info("run finished", result=result, seconds=round(elapsed, 3))
            dlog.unbind("run")
        self._refresh_globs()

    def _chain(self, force: bool) -> str:
        if self.repo.mode == "detect":
            from seid.daemon.detect import detect_only

            detected = detect_only(self.root, self._signer)
            if detected is None:
                return "up-to-date"
            _log.info("drift attested as a detection", index=detected.index, log=detected.log_id)
            return "detected"
        from seid.run import run

        report = run(self.root, self._signer, force=force, echo=False, stop=self._stop)
        _log.info("chain done", **report.to_dict(self.root, summary=True))
        if report.follow_up:
            _log.info(
                "inputs changed during the run; a follow-up is queued", paths=len(report.follow_up)
            )
            # Through the debouncer when there is one: the change may still be going on
            # (a checkout), and its own events settle into the same single follow-up.
            (self.on_follow_up or (lambda: self.request("follow-up")))()
        return report.status if report.gate is None else f"gate-{report.gate}"

    def _refresh_globs(self) -> None:
        """After a run the manifest may name other inputs: tell the watcher."""
        if self.on_globs is None:
            return
        try:
            globs = current_globs(self.root)
        except Exception:  # the run itself has logged what is wrong with the manifest
            return
        self.on_globs(globs)


def current_globs(root: Path) -> dict[DriftClass, list[str]]:
    from seid.config import load_manifest
    from seid.snapshot import watched_globs

    return watched_globs(root, load_manifest(root))


def ledger_size(root: Path) -> int:
    """Entries in every local log of ``root``, read from the heads (no lock, no recovery)."""
    from seid.ledger.log import acknowledged
    from seid.ledger.paths import list_logs

    return sum(acknowledged(root, log_id).size for log_id in list_logs(root))
