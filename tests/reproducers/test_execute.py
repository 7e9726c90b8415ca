"""Tool processes: logged, in their own group, stopped whole (children included)."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from seid.errors import SeidError
from seid.reproducers.execute import Interrupted, run_logged

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
