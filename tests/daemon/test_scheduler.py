"""Schedules: job options, a reconcile that catches what no event reported, reviews."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from seid import keys
from seid.config import load_manifest
from seid.daemon.config import DaemonConfig, RepoConfig, Schedules
from seid.daemon.scheduler import MISFIRE_GRACE, overdue_reviews
from seid.daemon.service import Service
from seid.keys import load_signer
from seid.run import run
from tests.daemon.conftest import bundles, runs, wait_until


def test_jobs_coalesce_one_instance_with_grace(project: tuple[Path, Path]) -> None:
    repo, key = project
    config = DaemonConfig(repos=(RepoConfig(repo),), schedules=Schedules(publish=60))
    service = Service(config, keys.load_signer(key))
    service.start()
    try:
        jobs = {job.id: job for job in service._scheduler.get_jobs()}
    finally:
        service.shutdown()
    assert set(jobs) == {"reconcile", "verify", "review", "publish", "tables"}
    for job in jobs.values():
        assert job.coalesce and job.max_instances == 1
        assert job.misfire_grace_time == MISFIRE_GRACE
    assert jobs["reconcile"].trigger.interval == timedelta(minutes=10)


def test_scheduled_reconcile_catches_a_change_no_event_reported(project: tuple[Path, Path]) -> None:
    repo, key = project
    schedules = Schedules(reconcile=0.5, verify=0, review=0)
    service = Service(
        DaemonConfig(repos=(RepoConfig(repo),), schedules=schedules), load_signer(key)
    )
    service.start()
    try:
        state = service.repos[repo]
        wait_until(lambda: not state.worker.busy(), what="start-up reconcile")
        state.watcher.stop()  # blind: only the schedule can notice now
        (repo / "params.json").write_text(json.dumps({"gap": 0.02}))
        wait_until(lambda: bundles(repo) == 1, what="the reconcile's bundle")
    finally:
        service.shutdown()
    assert runs(repo) == 1


@pytest.mark.parametrize(("age_days", "due"), [(1, False), (40, True)])
def test_review_interval_overdue(project: tuple[Path, Path], age_days: int, due: bool) -> None:
    repo, key = project
    text = (repo / "sei.yaml").read_text().replace("risk:\n", "risk:\n  review_interval: P30D\n")
    (repo / "sei.yaml").write_text(text)
    manifest = load_manifest(repo)
    assert [d["what"] for d in overdue_reviews(repo, manifest, datetime.now(UTC))] == [
        "risk.review_interval"  # never evaluated: due
    ]
    run(repo, load_signer(key), echo=False)
    later = datetime.now(UTC) + timedelta(days=age_days)
    found = overdue_reviews(repo, manifest, later)
    assert bool(found) is due


def test_publish_job_writes_the_ledger_ref(project: tuple[Path, Path]) -> None:
    from seid.daemon.scheduler import publish, verify
    from tests.conftest import git

    repo, key = project
    signer = load_signer(key)
    (repo / "params.json").write_text(json.dumps({"gap": 0.02}))
    report = run(repo, signer, echo=False)
    assert report.attestation is not None
    off = Schedules(reconcile=0, verify=0, review=0)
    service = Service(DaemonConfig(repos=(RepoConfig(repo),), schedules=off), signer)
    service.start()
    try:
        publish(service)
        verify(service)  # local and published log both verify: logs, never raises
    finally:
        service.shutdown()
    ref = f"refs/seid/ledger/{report.attestation.log_id}"
    assert git(repo, "for-each-ref", "--format=%(refname)", ref).strip() == ref


def test_review_due_at_the_boundary_as_replay_judges_it(project: tuple[Path, Path]) -> None:
    """Exactly one interval after the last evaluation a review is due, not yet overdue:
    the rule seid.review gives replay's review-overdue finding as well."""
    from seid.drift import latest_evidence
    from seid.ledger.newest import finished_at

    repo, key = project
    text = (repo / "sei.yaml").read_text().replace("risk:\n", "risk:\n  review_interval: P30D\n")
    (repo / "sei.yaml").write_text(text)
    run(repo, load_signer(key), echo=False, force=True)
    predicate = latest_evidence(repo).predicate
    assert predicate is not None
    last = finished_at(predicate)
    assert last is not None
    manifest = load_manifest(repo)
    assert overdue_reviews(repo, manifest, last + timedelta(days=30)) == []
    assert overdue_reviews(repo, manifest, last + timedelta(days=30, seconds=1)) != []
