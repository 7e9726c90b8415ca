"""Real inotify: which events matter, new directories, overflow -> rescan, big checkouts."""

from __future__ import annotations

import json
import queue
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from seid import keys
from seid.daemon import watcher as watcher_mod
from seid.daemon.config import DaemonConfig, RepoConfig
from seid.daemon.service import Service
from seid.daemon.watcher import RESCAN, RepoWatcher, watch_plan
from seid.snapshot import DriftClass
from tests.conftest import git
from tests.daemon.conftest import Daemon, bundles, runs, wait_until

# Real timers, threads and daemon processes: seconds each, so out of the quick loop.
pytestmark = pytest.mark.slow

GLOBS: dict[DriftClass, list[str]] = {
    "A": ["sei.yaml"],
    "B": ["eval.py", "params.json"],
    "C": ["data/**"],
}


def _into(got: queue.Queue[str]) -> Callable[[list[str]], None]:
    def put(paths: list[str]) -> None:
        for path in paths:
            got.put(path)

    return put


def test_watch_plan_covers_bases_and_waits_for_missing_ones(tmp_path: Path) -> None:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "eval.py").write_text("")
    plan = watch_plan(tmp_path, ["eval.py", "data", "data/sub", "later/deep"])
    assert plan == {tmp_path: False, tmp_path / "data": True}


def test_watch_plan_for_the_root_leaves_out_git_sei_and_dvc(tmp_path: Path) -> None:
    """A glob matching anywhere (``**/*.prml.yaml``) watches the root and its top-level
    directories, never .git (a recursive watch there races a background ``git gc``
    removing loose-object directories: ENOENT), .sei or .dvc, nor symlinked ones."""
    for sub in (".git/objects/6d", ".sei/ledger", ".dvc/cache/ab", "data/sub", "claims"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "linked").symlink_to(tmp_path / "data")
    (tmp_path / "sei.yaml").write_text("")
    assert watch_plan(tmp_path, ["", "sei.yaml", "data/sub", ".git"]) == {
        tmp_path: False,
        tmp_path / "claims": True,
        tmp_path / "data": True,
    }


def test_a_top_level_directory_made_later_is_watched_for_root_globs(tmp_path: Path) -> None:
    root = tmp_path / "w"
    (root / ".git" / "objects").mkdir(parents=True)
    got: queue.Queue[str] = queue.Queue()
    w = RepoWatcher(root, {"A": ["**/*.prml.yaml"]}, _into(got))
    w.start()
    try:
        (root / ".git" / "objects" / "6d").mkdir()  # not watched, not reported
        (root / "claims").mkdir()
        assert RESCAN in _drain_until(got, RESCAN)  # a new top-level directory: re-plan
        (root / "claims" / "fair.prml.yaml").write_text("x")
        seen = _drain_until(got, "claims/fair.prml.yaml")
        assert not any(".git" in p for p in seen)
    finally:
        w.stop()


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, queue.Queue[str]]]:
    root = tmp_path / "w"
    (root / "data").mkdir(parents=True)
    (root / ".git").mkdir()
    got: queue.Queue[str] = queue.Queue()
    w = RepoWatcher(
        root,
        GLOBS,
        _into(got),
        always=["sei.yaml"],
        ignore=["metrics.json"],
    )
    w.start()
    yield root, got
    w.stop()


def _drain_until(got: queue.Queue[str], wanted: str) -> list[str]:
    seen = []
    while True:
        path = got.get(timeout=10)
        seen.append(path)
        if path.endswith(wanted):
            return seen


def test_only_watched_inputs_count(watched: tuple[Path, queue.Queue[str]]) -> None:
    root, got = watched
    (root / ".git" / "index").write_text("x")  # not watched at all
    (root / "metrics.json").write_text("{}")  # the pipeline's output
    (root / "notes.txt").write_text("x")  # no glob names it
    (root / "runs.log").write_text("x")
    (root / "params.json").write_text("{}")
    seen = _drain_until(got, "params.json")
    assert {Path(p).name for p in seen} == {"params.json"}


def test_a_directory_created_later_is_watched(tmp_path: Path) -> None:
    root = tmp_path / "w"
    root.mkdir()
    got: queue.Queue[str] = queue.Queue()
    w = RepoWatcher(root, GLOBS, _into(got))
    w.start()
    try:
        (root / "data").mkdir()
        assert RESCAN in _drain_until(got, RESCAN)  # the new base directory: rescan
        (root / "data" / "x.csv").write_text("1\n")
        _drain_until(got, "data/x.csv")  # and it is watched from then on
    finally:
        w.stop()


def _overflow_buffer() -> bytes:
    """The record the kernel queues when events were dropped: wd -1, IN_Q_OVERFLOW."""
    return struct.pack("iIII", -1, 0x4000, 0, 0)


def test_the_overflow_hook_still_fits_the_locked_watchdog() -> None:
    """The hook wraps a private watchdog parser: a release that renames it or changes
    what it yields must fail here, not leave overflows silently unreported."""
    from watchdog.observers.inotify_c import Inotify

    assert watcher_mod._install_overflow_hook() is True
    assert getattr(Inotify.__dict__["_parse_event_buffer"], "_seid_hooked", False)
    modify = struct.pack("iIII", 1, 0x2, 0, 8) + b"a.csv\0\0\0"  # IN_MODIFY of a.csv
    assert list(Inotify._parse_event_buffer(modify)) == [(1, 0x2, 0, b"a.csv")]


def test_overflow_record_is_reported(watched: tuple[Path, queue.Queue[str]]) -> None:
    from watchdog.observers.inotify_c import Inotify

    _, got = watched
    assert list(Inotify._parse_event_buffer(_overflow_buffer())) == [(-1, 0x4000, 0, b"")]
    assert got.get(timeout=5) == RESCAN


def test_overflow_rescan_catches_a_lost_change(project: tuple[Path, Path]) -> None:
    """Events lost (the watch is down), then an overflow: the rescan still finds it."""
    from watchdog.observers.inotify_c import Inotify

    repo, key = project
    config = DaemonConfig(repos=(RepoConfig(repo),), quiet=0.2, max_latency=5)
    service = Service(config, keys.load_signer(key))
    service.start()
    try:
        state = service.repos[repo]
        wait_until(lambda: not state.worker.busy(), what="start-up reconcile")
        with watcher_mod._listeners_lock:  # its events are lost from here on
            watcher_mod._listeners.discard(state.watcher.rescan)
        state.watcher.stop()
        (repo / "params.json").write_text(json.dumps({"gap": 0.02}))
        with watcher_mod._listeners_lock:
            watcher_mod._listeners.add(state.watcher.rescan)
        list(Inotify._parse_event_buffer(_overflow_buffer()))
        wait_until(lambda: bundles(repo) == 1, what="the rescan's bundle")
        assert service.metrics.get("seid_rescans_total", repo=str(repo)) == 1
    finally:
        service.shutdown()
    assert runs(repo) == 1


def test_checkout_of_10000_files_is_one_run(
    project: tuple[Path, Path], start_daemon: Callable[..., Daemon]
) -> None:
    repo, key = project
    git(repo, "checkout", "-qb", "big")
    for i in range(10_000):
        (repo / "data" / f"f{i:05d}.csv").write_text(f"{i}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "10k files")
    git(repo, "checkout", "-q", "main")
    daemon = start_daemon(repo, key, quiet=1.0)  # the default quiet period
    (repo / "params.json").write_text('{"gap": 0.02}')  # a ledger baseline first
    wait_until(lambda: bundles(repo) == 1, what="the baseline bundle")
    git(repo, "checkout", "-q", "big")  # 10,000 files appear
    wait_until(lambda: bundles(repo) == 2, timeout=120, what="the checkout's bundle")
    (repo / "params.json").write_text('{"gap": 0.021}')  # a marker change after it
    wait_until(lambda: bundles(repo) == 3, timeout=60, what="the marker's bundle")
    assert daemon.stop() == 0
    assert runs(repo) == 3  # the checkout ran the pipeline once
    done = [x for x in daemon.lines() if x.get("event") == "chain done"]
    assert [x.get("drift") for x in done if x.get("status") == "attested"] == [["B"], ["C"], ["B"]]


def test_polling_mode_sees_changes(tmp_path: Path) -> None:
    """For file systems without inotify (NFS): the same filtering over a polling observer."""
    root = tmp_path / "w"
    (root / "data").mkdir(parents=True)
    got: queue.Queue[str] = queue.Queue()
    w = RepoWatcher(root, GLOBS, _into(got), polling=True)
    w.start()
    try:
        assert w.polling and w.alive()
        (root / "notes.txt").write_text("x")
        (root / "data" / "new.csv").write_text("1\n")
        seen = _drain_until(got, "data/new.csv")
        assert not any(p.endswith("notes.txt") for p in seen)
    finally:
        w.stop()


LIMITED = """\
import os, queue, resource, sys
from pathlib import Path
import watchdog.observers.inotify, watchdog.observers.polling
from seid.daemon.watcher import RepoWatcher
root = Path(sys.argv[1])
got = queue.Queue()
w = RepoWatcher(root, {"A": ["sei.yaml"], "C": ["data/**"]}, lambda p: [got.put(x) for x in p])
# Room for one inotify instance (3 fds with watchdog's wake-up pipe), not for two.
limit = len(os.listdir("/proc/self/fd")) + 3
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
w.start()
print(w.polling, got.get(timeout=10), flush=True)
(root / "data" / "x.csv").write_text("1")
while not got.get(timeout=10).endswith("data/x.csv"):
    pass
print("seen", flush=True)
w.stop()
"""


def test_watch_limit_falls_back_to_polling_and_rescans(tmp_path: Path) -> None:
    """Out of inotify instances (EMFILE here, via the fd limit): poll, rescan, still see."""
    import subprocess
    import sys

    (tmp_path / "data").mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", LIMITED, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    *logged, polled, seen = proc.stdout.splitlines()
    assert (polled, seen) == (f"True {RESCAN}", "seen")
    assert any("inotify limit reached; polling" in line for line in logged)
