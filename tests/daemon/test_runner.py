"""RepoWorker in-process on real repositories: one follow-up, the shared gate, detect mode."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from seid import evidence, keys
from seid.config import load_manifest
from seid.daemon.config import RepoConfig
from seid.daemon.detect import DETECTION_PREDICATE
from seid.daemon.prometheus import Metrics
from seid.daemon.runner import RepoWorker
from seid.drift import detect
from seid.ledger.log import Ledger
from seid.ledger.paths import list_logs
from seid.snapshot import watched_globs
from seid.statcache import StatCache
from tests.daemon.conftest import bundles, runs, wait_until

# Real timers, threads and daemon processes: seconds each, so out of the quick loop.
pytestmark = pytest.mark.slow


def _worker(
    repo: Path, key: Path, mode: str = "run", gate: threading.Semaphore | None = None
) -> RepoWorker:
    worker = RepoWorker(
        RepoConfig(repo, mode),  # type: ignore[arg-type]
        keys.load_signer(key),
        gate or threading.Semaphore(1),
        Metrics(),
    )
    worker.start()
    return worker


def _idle(worker: RepoWorker) -> None:
    wait_until(lambda: not worker.busy(), timeout=60, what="the worker to go idle")


def test_requests_during_a_run_queue_exactly_one_follow_up(project: tuple[Path, Path]) -> None:
    repo, key = project
    (repo / "params.json").write_text(json.dumps({"gap": 0.02, "sleep": 1}))
    worker = _worker(repo, key)
    try:
        worker.request("change")
        wait_until(lambda: runs(repo) == 1, what="the run to start")
        (repo / "data" / "d.csv").write_text("changed\n")
        for i in range(5):
            worker.request(f"change {i}")
        _idle(worker)
    finally:
        worker.retire()
        worker.join(30)
    assert runs(repo) == 2 and bundles(repo) == 2


def test_the_gate_keeps_repos_from_running_at_once(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, key = project
    other = tmp_path / "other"
    import shutil

    shutil.copytree(repo, other)
    for root in (repo, other):
        (root / "params.json").write_text(json.dumps({"gap": 0.02, "sleep": 1}))
    gate = threading.Semaphore(1)
    first, second = _worker(repo, key, gate=gate), _worker(other, key, gate=gate)
    try:
        first.request("change")
        wait_until(lambda: runs(repo) == 1, what="the first repo's run")
        second.request("change")
        assert first.busy() and runs(other) == 0  # waiting for the gate
        _idle(first)
        _idle(second)
    finally:
        for w in (first, second):
            w.retire()
            w.join(30)
    assert runs(repo) == runs(other) == 1


def test_a_malformed_manifest_appends_nothing(project: tuple[Path, Path]) -> None:
    repo, key = project
    (repo / "sei.yaml").write_text("version: [\n")
    worker = _worker(repo, key)
    try:
        worker.request("change")
        wait_until(
            lambda: worker._metrics.get("seid_runs_total", repo=str(repo), result="input-error")
        )
    finally:
        worker.retire()
        worker.join(30)
    assert bundles(repo) == 0


def test_detect_mode_attests_the_drift_once_and_reruns_nothing(project: tuple[Path, Path]) -> None:
    repo, key = project
    (repo / "params.json").write_text(json.dumps({"gap": 0.5}))
    worker = _worker(repo, key, mode="detect")
    try:
        worker.request("change")
        _idle(worker)
        worker.request("scheduled-reconcile")  # the same drift again: not attested twice
        _idle(worker)
    finally:
        worker.retire()
        worker.join(30)
    assert runs(repo) == 0 and bundles(repo) == 1
    (log_id,) = list_logs(repo)
    with Ledger.open(repo, log_id) as ledger:
        (statement,) = [evidence.decode(e) for e in ledger.iter_entries()]
    assert statement["predicateType"] == DETECTION_PREDICATE
    predicate = statement["predicate"]
    assert predicate["drift"] == {"classes": ["B"], "paths": {"B": ["params.json"]}}
    assert {s["name"] for s in statement["subject"]} == {"sei.yaml", "params.json"}
    # a detection is not evidence: the drift stays open for a person's `seid run`
    with StatCache.open(repo) as cache:
        assert detect(repo, watched_globs(repo, load_manifest(repo)), cache).drift


def test_an_exception_outside_the_chain_leaves_the_worker_running(
    project: tuple[Path, Path],
) -> None:
    """A failure no run step expected (here in the hook that hands the watcher its new
    globs) is logged; the worker stays, and the next change is still run."""
    repo, key = project
    worker = _worker(repo, key)
    calls: list[int] = []

    def flaky(_globs: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the watcher went away")

    worker.on_globs = flaky
    try:
        (repo / "params.json").write_text(json.dumps({"gap": 0.02}))
        worker.request("change")
        wait_until(lambda: calls, what="the first run to end")
        _idle(worker)
        assert worker.alive()
        (repo / "params.json").write_text(json.dumps({"gap": 0.021}))
        worker.request("change")
        wait_until(lambda: len(calls) == 2, what="the second run to end")
        _idle(worker)
    finally:
        worker.retire()
        worker.join(30)
    assert runs(repo) == 2 and bundles(repo) == 2
