"""Tool processes: logged, in their own group, stopped whole (children included)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from seid.errors import SeidError
from seid.reproducers.execute import Interrupted, error_lines, run_logged

SPAWNER = """
import os, signal, subprocess, sys, time
if sys.argv[1] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
open(sys.argv[2], "w").write(f"{os.getpid()} {child.pid}")
print("spawned", flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); read its state
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


def test_output_and_status_are_recorded(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "run.log"
    code = "import sys; print('to out'); print('to err', file=sys.stderr); sys.exit(3)"
    outcome = run_logged([sys.executable, "-c", code], tmp_path, log, echo=False)
    assert outcome.returncode == 3
    text = log.read_text()
    assert "to out" in text and "to err" in text
    assert text.startswith("$ ")
    assert outcome.finished >= outcome.started


def _stop_after_spawn(tmp_path: Path, mode: str, grace: float) -> tuple[int, int]:
    pids = tmp_path / "pids"
    stop = threading.Event()

    def trigger() -> None:
        while not pids.exists() or not pids.read_text():
            time.sleep(0.05)
        stop.set()

    threading.Thread(target=trigger, daemon=True).start()
    with pytest.raises(Interrupted):
        run_logged(
            [sys.executable, "-c", SPAWNER, mode, str(pids)],
            tmp_path,
            tmp_path / "x.log",
            echo=False,
            stop=stop,
            grace=grace,
        )
    parent, child = map(int, pids.read_text().split())
    return parent, child


def test_stop_terminates_the_whole_group(tmp_path: Path) -> None:
    parent, child = _stop_after_spawn(tmp_path, "obey", grace=10)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(parent)
    assert not _alive(child)


def test_a_process_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    parent, child = _stop_after_spawn(tmp_path, "ignore", grace=0.5)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(parent)
    assert not _alive(child)


def test_missing_command_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(SeidError, match="command not found"):
        run_logged(["seid-no-such-tool"], tmp_path, tmp_path / "x.log", echo=False)


def test_a_non_executable_tool_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "train.sh").write_text("#!/bin/sh\n")
    with pytest.raises(SeidError, match=r"'./train.sh': permission denied"):
        run_logged(["./train.sh"], tmp_path, tmp_path / "log", echo=False)


def test_a_tool_killed_by_a_signal_is_reported_as_such(tmp_path: Path) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    outcome = run_logged([sys.executable, "-c", code], tmp_path, tmp_path / "log", echo=False)
    assert outcome.returncode == -11


PARENT = """
import sys
from pathlib import Path
from seid.reproducers.execute import run_logged
tmp = Path(sys.argv[1])
run_logged([sys.executable, "-c", sys.argv[2], "ignore", str(tmp / "pids")], tmp,
           tmp / "log", echo=False, grace=1.0)
"""


def test_the_group_dies_with_a_sigkilled_seid(tmp_path: Path) -> None:
    """The daemon killed by SIGKILL (OOM killer, kill -9) can stop nothing itself: the
    leader hears of its death and stops the group, children that ignore SIGTERM too."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path), SPAWNER])
    pids = tmp_path / "pids"
    deadline = time.monotonic() + 30
    while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    tool, child = map(int, pids.read_text().split())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while (_alive(tool) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(tool) and not _alive(child)


FAILING_TOOL = """
import sys
print("step 1 of 3 ok")
print("fetching  10%\\rfetching  90%\\rfetching 100%")
print("\\x1b[31mERROR\\x1b[0m: failed to reproduce 'stage': missing data 'source'", file=sys.stderr)
print("Having any troubles? Hit us up.")
sys.exit(255)
"""


def test_error_lines_are_the_tools_last_error_lines_of_this_run(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    earlier = run_logged([sys.executable, "-c", "print('old ERROR elsewhere')"], tmp_path, log)
    assert error_lines(earlier) == ("old ERROR elsewhere",)
    failed = run_logged([sys.executable, "-c", FAILING_TOOL], tmp_path, log, echo=False)
    assert failed.returncode == 255
    assert error_lines(failed) == ("ERROR: failed to reproduce 'stage': missing data 'source'",)
    fetched = run_logged([sys.executable, "-c", "print('a\\r b\\r c')"], tmp_path, log)
    assert error_lines(fetched) == ("c",)  # what a progress bar left on screen
    quiet = run_logged(
        [sys.executable, "-c", "print('a'); print('b'); raise SystemExit(1)"],
        tmp_path,
        log,
        echo=False,
    )
    assert error_lines(quiet, limit=1) == ("b",)  # nothing reads as an error: the last lines


LEAKY_TOOL = """
import os, sys
token = os.environ["MLFLOW_TRACKING_TOKEN"]
print(f"ERROR: GET https://tracker/api returned 401 for token {token}", file=sys.stderr)
print("error: cannot push to https://bob:hunter2-pw@git.example.org/repo.git", file=sys.stderr)
print("ERROR: request failed with Authorization: Bearer eyJhbGciOi.x.y", file=sys.stderr)
sys.exit(1)
"""


def test_error_lines_never_carry_the_runs_secrets(tmp_path: Path) -> None:
    """Error lines are signed into bundles of an append-only ledger pushed to shared refs:
    a secret printed by the tool must be masked before it gets there."""
    token = "s3cr3t-token-value-42"
    env = {**os.environ, "MLFLOW_TRACKING_TOKEN": token, "GIT_AUTHOR_NAME": "Ada Tester"}
    failed = run_logged(
        [sys.executable, "-c", LEAKY_TOOL], tmp_path, tmp_path / "run.log", env=env, echo=False
    )
    lines = error_lines(failed)
    assert token in (tmp_path / "run.log").read_text()  # the local log keeps what it saw
    assert lines == (
        "ERROR: GET https://tracker/api returned 401 for token ***",
        "error: cannot push to https://bob:***@git.example.org/repo.git",
        "ERROR: request failed with Authorization: Bearer ***",
    )
    assert "Ada Tester" not in failed.secrets and token in failed.secrets
    assert token not in repr(failed)
