"""The daemon as a real subprocess over a real git repository with a `command` pipeline."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from seid import keys
from seid.daemon.runner import ledger_size
from tests.conftest import COMMAND_MANIFEST, git

# Counts its runs in runs.txt (not watched); sleeps on request, so a test can act mid-run.
EVAL = """\
import json, time
p = json.load(open("params.json"))
with open("runs.txt", "a") as fh:
    fh.write("run\\n")
time.sleep(p.get("sleep", 0))
json.dump({"gap": p.get("gap", 0.01)}, open("metrics.json", "w"))
"""

QUIET = 0.3


def wait_until(check: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    """Poll ``check`` until it is truthy; fail with ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


def runs(repo: Path) -> int:
    path = repo / "runs.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def bundles(repo: Path) -> int:
    return ledger_size(repo)


@pytest.fixture
def project(repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A committed repo (manifest, eval.py, params, data) and its signing key."""
    (repo / "sei.yaml").write_text(COMMAND_MANIFEST)
    (repo / "eval.py").write_text(EVAL)
    (repo / "params.json").write_text('{"gap": 0.01}')
    (repo / "data").mkdir()
    (repo / "data" / "d.csv").write_text("1,2\n")
    (repo / ".gitignore").write_text("runs.txt\nmetrics.json\n")
    key = keys.generate(tmp_path / "keys")
    keys.add_trusted(repo, key.public_path)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo, key.private_path


class Daemon:
    """A running ``seid daemon`` with its notify socket and its log lines."""

    def __init__(self, proc: subprocess.Popen[str], sock: socket.socket, log: Path) -> None:
        self.proc, self.sock, self.log = proc, sock, log
        self.messages: list[str] = []

    def notified(self, prefix: str, timeout: float = 30.0) -> str:
        """The next notify message starting with ``prefix`` (others are kept)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            self.messages.append(message)
            if message.startswith(prefix):
                return message
            if self.proc.poll() is not None:
                break
        raise AssertionError(f"no {prefix} (got {self.messages}); log:\n{self.log.read_text()}")

    def runs_finished(self, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until ``count`` runs (the start-up reconcile is the first) have finished."""

        def done() -> bool:
            return sum(x.get("event") == "run finished" for x in self.lines()) >= count

        wait_until(done, timeout, f"{count} finished runs")

    def lines(self) -> list[dict[str, object]]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


@pytest.fixture
def start_daemon(tmp_path: Path, env: dict[str, str]) -> Iterator[Callable[..., Daemon]]:
    """Start ``seid daemon`` with a fast test config; waits for READY=1 and the reconcile."""
    started: list[Daemon] = []

    def start(
        repo: Path,
        key: Path,
        *,
        extra_config: str = "",
        args: tuple[str, ...] = (),
        ready: bool = True,
        extra_env: dict[str, str] | None = None,
        quiet: float = QUIET,
    ) -> Daemon:
        n = len(started)
        config = tmp_path / f"seid{n}.toml"
        config.write_text(
            f"[debounce]\nquiet = {quiet}\nmax_latency = 30\n"
            "[schedules]\nreconcile = 0\nverify = 0\nreview = 0\n" + extra_config
        )
        sock_path = str(tmp_path / f"notify{n}.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        log = tmp_path / f"daemon{n}.log"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "seid",
                "daemon",
                "--config",
                str(config),
                "--key",
                str(key),
                "--json-logs",
                *args,
                str(repo),
            ],
            env={**env, "NOTIFY_SOCKET": sock_path, **(extra_env or {})},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        daemon = Daemon(proc, sock, log)
        started.append(daemon)
        if ready:
            daemon.notified("READY=1")
            daemon.runs_finished(1)  # the start-up reconcile: tests act after it
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            os.killpg(daemon.proc.pid, signal.SIGKILL)
            daemon.proc.wait()
        daemon.sock.close()
