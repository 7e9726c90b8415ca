"""The daemon as a process: notify, signals, the lock, reconcile, a malformed manifest."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from seid.ledger.verify import verify_repo
from tests.conftest import SeidRunner, assert_one_line_error
from tests.daemon.conftest import Daemon, bundles, runs, wait_until

# Real timers, threads and daemon processes: seconds each, so out of the quick loop.
pytestmark = pytest.mark.slow

Start = Callable[..., Daemon]


def _params(repo: Path, **values: object) -> None:
    (repo / "params.json").write_text(json.dumps(values))


def _events(daemon: Daemon, event: str) -> list[dict[str, object]]:
    return [line for line in daemon.lines() if line.get("event") == event]


def test_edit_one_bundle_then_rename_save_one_run(
    project: tuple[Path, Path], start_daemon: Start
) -> None:
    repo, key = project
    daemon = start_daemon(repo, key)
    _params(repo, gap=0.02)
    wait_until(lambda: bundles(repo) == 1, what="one bundle")
    # An editor's save: write a temp file beside the target, then rename it over.
    tmp = repo / ".params.json.swp"
    tmp.write_text('{"gap": 0.021}')
    os.replace(tmp, repo / "params.json")
    wait_until(lambda: bundles(repo) == 2, what="the renamed save's bundle")
    assert daemon.stop() == 0
    assert runs(repo) == 2 and bundles(repo) == 2
    # every line is JSON and carries the repo; run lines carry the run id
    finished = _events(daemon, "run finished")
    assert finished and all(line["repo"] == str(repo) and line["run"] for line in finished)


def test_change_during_a_run_one_follow_up(project: tuple[Path, Path], start_daemon: Start) -> None:
    repo, key = project
    daemon = start_daemon(repo, key)
    _params(repo, gap=0.02, sleep=2)
    wait_until(lambda: runs(repo) == 1, what="the run to start")
    for i in range(3):  # three changes while it runs
        (repo / "data" / "d.csv").write_text(f"changed {i}\n")
    wait_until(lambda: bundles(repo) == 2, timeout=60, what="run and its follow-up")
    assert daemon.stop() == 0
    assert runs(repo) == 2 and bundles(repo) == 2


def test_sigterm_mid_run_then_startup_reconcile(
    project: tuple[Path, Path], start_daemon: Start
) -> None:
    repo, key = project
    daemon = start_daemon(repo, key)
    _params(repo, gap=0.02)
    wait_until(lambda: bundles(repo) == 1, what="first bundle")
    _params(repo, gap=0.02, sleep=60)
    wait_until(lambda: runs(repo) == 2, what="the long run to start")
    daemon.send(signal.SIGTERM)
    assert daemon.notified("STOPPING=1")
    assert daemon.stop() == 0
    assert bundles(repo) == 1  # the interrupted run is not attested
    assert all(report.ok for report in verify_repo(repo))
    (line,) = _events(daemon, "run interrupted; not attested")
    assert "stopped" in str(line["error"])
    # restarted, the start-up reconcile runs what the stop cut short
    _params(repo, gap=0.02, sleep=0)
    start_daemon(repo, key)
    wait_until(lambda: bundles(repo) == 2, what="reconcile bundle")


def test_kill_9_then_restart_catches_the_missed_change(
    project: tuple[Path, Path], start_daemon: Start
) -> None:
    repo, key = project
    daemon = start_daemon(repo, key)
    daemon.stop(signal.SIGKILL)
    _params(repo, gap=0.025)  # nobody watches
    again = start_daemon(repo, key)  # the stale lock file does not block it
    wait_until(lambda: bundles(repo) == 1, what="reconcile bundle")
    assert again.stop() == 0
    (line,) = [x for x in _events(again, "run started") if x["reasons"] == ["startup-reconcile"]]
    assert line["repo"] == str(repo)


def test_malformed_manifest_logged_nothing_appended_recovers(
    project: tuple[Path, Path], start_daemon: Start
) -> None:
    repo, key = project
    daemon = start_daemon(repo, key)
    good = (repo / "sei.yaml").read_text()
    (repo / "sei.yaml").write_text(good + "risk: {}\n")  # duplicate key
    wait_until(lambda: _events(daemon, "input error; nothing appended"), what="the error line")
    (line,) = _events(daemon, "input error; nothing appended")
    where = good.count("\n") + 1  # the appended line
    assert str(line["error"]) == f"{repo}/sei.yaml:{where}:1: duplicate key 'risk'"
    assert bundles(repo) == 0
    (repo / "sei.yaml").write_text(good.replace("< 0.03", "< 0.04"))  # fixed, and moved
    wait_until(lambda: bundles(repo) == 1, what="bundle after the fix")
    assert daemon.stop() == 0


def test_notify_protocol(project: tuple[Path, Path], start_daemon: Start) -> None:
    repo, key = project
    daemon = start_daemon(repo, key, extra_env={"WATCHDOG_USEC": "400000"})
    assert daemon.messages[-1].startswith("READY=1\nSTATUS=watching 1 ")
    daemon.notified("WATCHDOG=1")
    daemon.send(signal.SIGHUP)
    assert daemon.notified("RELOADING=1").split("\n")[1].startswith("MONOTONIC_USEC=")
    daemon.notified("READY=1")
    _params(repo, gap=0.02)  # still watching after the reload
    wait_until(lambda: bundles(repo) == 1, what="bundle after reload")
    daemon.send(signal.SIGTERM)
    daemon.notified("STOPPING=1")
    assert daemon.stop() == 0


def test_second_daemon_on_the_same_repo_is_refused(
    project: tuple[Path, Path], start_daemon: Start, seid: SeidRunner, tmp_path: Path
) -> None:
    repo, key = project
    first = start_daemon(repo, key)
    second = seid("daemon", "--key", key, "--config", tmp_path / "seid0.toml", repo, timeout=30)
    assert_one_line_error(second, "another seid daemon", f"pid {first.proc.pid}", str(repo))
    assert first.proc.poll() is None


def test_bad_config_is_one_line(seid: SeidRunner, tmp_path: Path, repo: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[debounce]\nquiet = "soon"\n')
    result = seid("daemon", "--config", config, repo)
    assert_one_line_error(result, f"{config}:2:", "debounce.quiet must be")


def test_config_file_parsed_with_lines_for_errors(tmp_path: Path) -> None:
    from seid.daemon.config import RepoConfig, load
    from seid.errors import InputError

    path = tmp_path / "seid.toml"
    path.write_text(
        'key = "keys/seid.key"\nmax_concurrent_runs = 2\n[debounce]\nquiet = 0.5\n'
        '[schedules]\npublish = 60\n[http]\naddress = "127.0.0.1:9464"\n'
        '[[repos]]\npath = "repo"\nmode = "detect"\npolling = true\n'
    )
    config = load(path)
    assert config.key == tmp_path / "keys" / "seid.key"
    assert config.repos == (RepoConfig(tmp_path / "repo", "detect", True),)
    assert (config.quiet, config.max_latency, config.max_concurrent_runs) == (0.5, 30.0, 2)
    assert config.schedules.publish == 60 and config.schedules.reconcile == 600
    assert config.http == ("127.0.0.1", 9464)
    cli = RepoConfig(tmp_path / "other")
    assert config.with_repos([cli]).repos == (cli,)  # the command line replaces the list
    cases = {
        "[debounce]\nquite = 1\n": ":2: unknown setting debounce.quite",
        "[[repos]]\npath = 'r'\nmode = 'train'\n": ":3: repos[0].mode must be run or detect",
        "a = 1\nx = ]\n": ":2:5: invalid TOML",
        "x = [\n": ":1: invalid TOML",
        "[http]\naddress = 'localhost'\n": ":2: http.address: expected host:port",
        # the second table's setting, at its own line (the key's first occurrence is line 3)
        "[[repos]]\npath = 'a'\nmode = 'run'\n[[repos]]\npath = 'b'\n# note\nmode = 'x'\n": (
            ":7: repos[1].mode must be run or detect, got 'x'"
        ),
        "[schedules]\nverify = 60\nreview = -1\n": ":3: schedules.review: input should be",
        "[debounce]\nquiet = 5\nmax_latency = 1\n": ":1: debounce: need 0 < debounce.quiet",
        "[[repos]]\nmode = 'run'\n": ":1: repos[0].path is required",
        'key = """\nmode = 1\n"""\n[http]\nport = 1\n': ":5: unknown setting http.port",
        "[http]\nport = 1\n[[repos]]\nmode = 'x'\n": ":2: unknown setting http.port",
        "max_concurrent_runs = 0\n": ":1: max_concurrent_runs: input should be greater",
        "[sidecar]\ntracking_uri = 'http://x'\n": ":1: sidecar needs repo",
        "[schedules]\nreview_rerun = 1\n": ":2: schedules.review_rerun must be true or false",
    }
    for text, fragment in cases.items():
        path.write_text(text)
        with pytest.raises(InputError) as err:
            load(path)
        assert fragment in str(err.value) and str(err.value).startswith(str(path)), str(err.value)


def test_library_loggers_share_the_json_pipeline() -> None:
    import io
    import logging

    from seid.daemon import logging as dlog

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    out = io.StringIO()
    try:
        dlog.setup(out, json=True)
        dlog.bind(repo="/srv/ml/credit", run="abc123")
        logging.getLogger("apscheduler.scheduler").warning("job missed")
        logging.getLogger("watchdog.observers").info("chatter")  # below WARNING: dropped
        dlog.get("seid.daemon").info("run finished", result="gate-pass")
    finally:
        dlog.unbind("repo", "run")
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [x["event"] for x in lines] == ["job missed", "run finished"]
    for line in lines:
        assert line["repo"] == "/srv/ml/credit" and line["run"] == "abc123"
        assert line["timestamp"].endswith("Z") and line["level"] in ("warning", "info")
    assert lines[0]["logger"] == "apscheduler.scheduler"


def test_a_batch_waits_while_git_rewrites_the_tree(project: tuple[Path, Path]) -> None:
    """A checkout holds .git/index.lock: the run waits for it, not for half a tree."""
    import time

    from seid import keys
    from seid.daemon.config import DaemonConfig, RepoConfig, Schedules
    from seid.daemon.service import Service

    repo, key = project
    off = Schedules(reconcile=0, verify=0, review=0)
    config = DaemonConfig(repos=(RepoConfig(repo),), quiet=0.2, max_latency=30, schedules=off)
    service = Service(config, keys.load_signer(key))
    service.start()
    try:
        state = service.repos[repo]
        wait_until(lambda: not state.worker.busy(), what="start-up reconcile")
        lock = repo / ".git" / "index.lock"
        lock.write_text("")
        _params(repo, gap=0.02)
        time.sleep(1.0)  # five quiet periods
        assert runs(repo) == 0 and not state.worker.busy()
        lock.unlink()
        wait_until(lambda: bundles(repo) == 1, what="the run after git let go")
    finally:
        service.shutdown()


def test_a_manifest_no_parser_expected_at_start_then_fixed(
    project: tuple[Path, Path], start_daemon: Start
) -> None:
    """An integer too long for Python to convert (more than 4,300 digits): the daemon
    starts anyway, says why it cannot read the manifest, and runs once it is fixed."""
    repo, key = project
    good = (repo / "sei.yaml").read_text()
    bad = good.replace("system: {name: toy}", "system: {name: toy, n: " + "9" * 5000 + "}")
    assert bad != good
    (repo / "sei.yaml").write_text(bad)
    daemon = start_daemon(repo, key)
    (line,) = _events(daemon, "cannot read the manifest yet; watching it")
    assert "sei.yaml" in str(line["error"]) or "digits" in str(line["error"])
    assert daemon.proc.poll() is None
    (repo / "sei.yaml").write_text(good.replace("< 0.03", "< 0.04"))
    wait_until(lambda: bundles(repo) >= 1, what="a bundle after the fix")
    assert daemon.stop() == 0
