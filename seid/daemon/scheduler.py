"""Periodic jobs (APScheduler 3, background thread): what file events cannot catch.

- reconcile: every repository's worker runs the chain, which snapshots every input, so
  a change the watcher missed is caught within the interval;
- verify: every ledger is verified (tree, checkpoints, signatures); a failure is logged;
- review: risks not evaluated within ``risk.review_interval`` and post-market measures
  past their ``frequency`` are flagged, and re-run when ``review_rerun`` is set;
  an approval whose review is due is flagged too;
- publish: each local log to ``refs/seid/ledger/<log-id>``;
- witness (off by default): with the host's key as a witness key, fetch the other
  hosts' logs, cosign those that grew consistently and push the cosignatures
  (:mod:`seid.ledger.witness`), those cosigned over HTTP too; a commit someone else
  pushed onto the witness ref is merged, not a failure (:mod:`seid.ledger.witness_ref`);
  a refusal or failure is logged, counted on ``/metrics`` and tried again at the next
  interval;
- tables: lakehouse tables with no local log to watch are polled (:mod:`seid.daemon.tables`);
- registry audit (sidecar mode): see :mod:`seid.daemon.sidecar`.

Coalescing is on and each job runs one instance at a time: a busy host that misses
several firings runs the job once. The misfire grace time is generous so a late job
still runs instead of being skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seid.daemon import logging as dlog
from seid.daemon.tables import TablePoller
from seid.errors import SeidError

if TYPE_CHECKING:
    from seid.config import Manifest
    from seid.daemon.service import RepoState, Service

MISFIRE_GRACE = 3600
_log = dlog.get("seid.daemon.scheduler")


def start_scheduler(service: Service) -> Any:
    """A started BackgroundScheduler with the jobs the config turns on (0 = off)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE},
    )
    for name, seconds, job in jobs(service):
        if seconds > 0:
            scheduler.add_job(_guarded(name, job), "interval", seconds=seconds, id=name, name=name)
    scheduler.start()
    return scheduler


def jobs(service: Service) -> list[tuple[str, float, Callable[[], None]]]:
    every = service.config.schedules
    out: list[tuple[str, float, Callable[[], None]]] = [
        ("reconcile", every.reconcile, lambda: reconcile(service)),
        ("verify", every.verify, lambda: verify(service)),
        ("review", every.review, lambda: review(service)),
        ("publish", every.publish, lambda: publish(service)),
        ("witness", every.witness, lambda: witness(service)),
    ]
    if every.tables > 0:  # its first reading is taken now, so only when it is on
        out.append(("tables", every.tables, TablePoller(service)))
    if service.config.sidecar is not None:
        sidecar = service.config.sidecar
        out.append(("registry-audit", every.registry_audit, _registry_audit(service, sidecar)))
    return out


def _guarded(name: str, job: Callable[[], None]) -> Callable[[], None]:
    """A job never takes the scheduler down; its failure is one logged line."""

    def run() -> None:
        dlog.bind(job=name)
        try:
            job()
        except SeidError as err:
            _log.error("scheduled job failed", error=str(err))
        except Exception:
            _log.exception("scheduled job crashed")
        finally:
            dlog.unbind("job", "repo")

    return run


def _states(service: Service) -> Iterator[RepoState]:
    for state in list(service.repos.values()):
        dlog.bind(repo=str(state.config.path))
        yield state


def reconcile(service: Service) -> None:
    for state in _states(service):
        service.metrics.inc("seid_rescans_total", repo=str(state.config.path))
        state.worker.request("scheduled-reconcile")


def verify(service: Service) -> None:
    from seid.ledger.verify import verify_repo

    for state in _states(service):
        for report in verify_repo(state.config.path):
            first = report.first
            if first is None:
                _log.info(
                    "ledger verified", log=report.log_id, source=report.source, size=report.size
                )
            else:
                _log.error(
                    "ledger does NOT verify",
                    log=report.log_id,
                    source=report.source,
                    entry=first.entry,
                    reason=first.reason,
                )


def publish(service: Service) -> None:
    from seid.ledger.paths import list_logs
    from seid.ledger.publish import publish as publish_log

    for state in _states(service):
        for log_id in list_logs(state.config.path):
            done = publish_log(state.config.path, log_id)
            if done.changed:
                _log.info("ledger published", ref=done.ref, size=done.size)


def witness(service: Service) -> None:
    from seid import keys
    from seid.ledger import witness as witnessing

    failed = None
    for configured in service.config.repos:  # needs no watcher: git refs only
        root, repo = configured.path, str(configured.path)
        dlog.bind(repo=repo)
        try:
            remote = witnessing.default_remote(root)
            outcomes = witnessing.run(root, service.signer, remote, keys.trusted_keys(root))
        except SeidError as err:
            service.metrics.inc("seid_witness_runs_total", repo=repo, result="error")
            failed = err
            continue
        refused = [o for o in outcomes if o.action == "refused"]
        cosigned = sum(o.action == "cosigned" for o in outcomes)
        service.metrics.inc("seid_witness_cosigned_total", cosigned, repo=repo)
        result = "refused" if refused else "ok"
        service.metrics.inc("seid_witness_runs_total", repo=repo, result=result)
        for outcome in refused:
            _log.error("witness refused to cosign", log=outcome.log_id, reason=outcome.reason)
        if cosigned:
            _log.info("witness cosigned", logs=cosigned)
    if failed is not None:
        raise failed  # logged once by the job guard; the next interval retries


def review(service: Service, now: datetime | None = None) -> None:
    from seid.config import load_manifest

    moment = now or datetime.now(UTC)
    for state in _states(service):
        try:
            manifest = load_manifest(state.config.path)
        except SeidError as err:
            _log.error("review skipped: manifest does not load", error=str(err))
            continue
        overdue = overdue_reviews(state.config.path, manifest, moment)
        for item in overdue:
            _log.warning("review overdue", **item)
        if overdue and service.config.schedules.review_rerun:
            state.worker.request("review-interval", force=True)
        _approval_review(state.config.path, manifest, moment)


def overdue_reviews(root: Path, manifest: Manifest, now: datetime) -> list[dict[str, str]]:
    """What is past due: the risk program's review, post-market measures' frequency.

    The reference time is when the newest evidence bundle's pipeline finished (the last
    evaluation); with no bundle at all everything with an interval is due.
    """
    from seid.drift import latest_evidence
    from seid.ledger.newest import finished_at
    from seid.review import overdue

    predicate = latest_evidence(root).predicate
    last = finished_at(predicate) if predicate is not None else None
    due: list[dict[str, str]] = []

    def check(what: str, interval: str | None) -> None:
        if interval is None:
            return
        if overdue(last, interval, now):
            since = last.isoformat() if last else "never"
            due.append({"what": what, "interval": interval, "last_evaluated": since})

    check("risk.review_interval", manifest.risk.review_interval)
    for _, measure in manifest.iter_measures():
        if measure.post_market:
            check(f"measure {measure.id} (post-market)", measure.frequency)
    return due


def _approval_review(root: Path, manifest: Manifest, now: datetime) -> None:
    from seid.approvals.lifecycle import lifecycle

    state = lifecycle(root, manifest, now, lazy_plan=True)
    if state.state == "review_due":
        expires = state.expires.isoformat() if state.expires else None
        _log.warning("approval review due", expires=expires)


def _registry_audit(service: Service, sidecar: Any) -> Callable[[], None]:
    """The registry audit job. Its auditor, made at the first run (which imports the
    sidecar module), keeps what it read of the ledger from one run to the next; while
    the registry cannot be asked the service is degraded (``/healthz``)."""
    auditors: list[Any] = []

    def run() -> None:
        if not auditors:
            from seid.daemon.sidecar import Auditor

            auditors.append(Auditor(sidecar, service.metrics))
        dlog.bind(repo=str(sidecar.root))
        auditor = auditors[0]
        auditor.audit(service.signer)
        if auditor.failure is None:
            service.degraded.pop("registry", None)
        else:
            service.degraded["registry"] = auditor.failure

    return run
