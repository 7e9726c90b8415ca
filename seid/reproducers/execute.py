"""Running a pipeline tool: its own process group, its output in a log, stoppable.

Pipelines can run for hours and spawn workers of their own, so the tool runs in a new
session under a small leader (:mod:`seid.reproducers.leader`): stopping it (Ctrl-C, the
daemon's SIGTERM) terminates the whole group, then kills it after a grace period, and
the leader does the same when seid itself dies, even by SIGKILL, so no orphan of a run
goes on next to the rerun. Its output
goes to a log file under ``.sei/logs/`` and, on a terminal, to the screen as well.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from seid.errors import SeidError

GRACE_SECONDS = 10.0
ERROR_LINES = 5  # the tool's last error lines a failed run shows and records
_TAIL_BYTES = 64 * 1024
_LINE_CHARS = 300
_ERRORISH = re.compile(r"\b(error|exception|failed|fatal)\b", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Environment variables whose values are secrets, by the names tools give them
# (MLFLOW_TRACKING_TOKEN, AWS_SECRET_ACCESS_KEY, DVC's remote passwords, API keys).
_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|CREDENTIAL|API_?KEY|ACCESS_KEY|PRIVATE|AUTH(?!OR)", re.IGNORECASE
)
_MIN_SECRET = 6  # shorter values (``0``, ``true``) would mask ordinary words
_URL_USERINFO = re.compile(r"(?<=://)[^/\s@:]+:[^/\s@]+(?=@)")
_AUTH_HEADER = re.compile(r"(?i)(authorization:\s*(?:bearer|basic|token)\s+)\S+")
MASK = "***"
_LEADER = str(Path(__file__).with_name("leader.py"))


class Interrupted(SeidError):
    """The run was stopped from outside; it is logged, never attested as a verdict."""

    exit_code = 130


@dataclass(frozen=True)
class Outcome:
    """How one tool process ended."""

    argv: tuple[str, ...]
    returncode: int
    started: datetime
    finished: datetime
    log_path: Path
    log_start: int = 0  # where this process's output begins in the log
    secrets: tuple[str, ...] = field(default=(), repr=False)  # values masked in error lines


def error_lines(outcome: Outcome, limit: int = ERROR_LINES) -> tuple[str, ...]:
    """The tool's own last words from its part of the log, for a failed run to show.

    ``python exited with status 255`` says nothing; DVC's ``ERROR: failed to reproduce
    ...`` does, and it is the last thing in the log. The last lines that read like an
    error are taken, else the last lines, each once; colours and progress-bar rewrites
    are dropped.
    """
    try:
        with outcome.log_path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(outcome.log_start, size - _TAIL_BYTES))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ()
    lines = [
        _ANSI.sub("", line.rsplit("\r", 1)[-1]).strip()[:_LINE_CHARS] for line in text.split("\n")
    ]
    lines = [redact(line, outcome.secrets) for line in lines if line]
    errors = [line for line in lines if _ERRORISH.search(line)]
    return tuple(dict.fromkeys(reversed(errors or lines)))[:limit][::-1]


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The values of ``env``'s secret-named variables, longest first (so a secret that
    contains another is masked whole)."""
    found = {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_SECRET}
    return tuple(sorted(found, key=len, reverse=True))


def redact(line: str, secrets: Sequence[str]) -> str:
    """``line`` with secrets masked: error lines go into signed bundles in an append-only
    ledger that is pushed to shared refs, where a token once written stays for good. The
    run's own secret values, the password of a URL and an Authorization header go."""
    for secret in secrets:
        line = line.replace(secret, MASK)
    line = _URL_USERINFO.sub(lambda m: m.group().split(":", 1)[0] + ":" + MASK, line)
    return _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, line)


def now() -> datetime:
    """UTC now, second precision: the form bundles record."""
    return datetime.now(UTC).replace(microsecond=0)


def _pump(source: IO[bytes], log: IO[bytes], echo: IO[bytes] | None) -> None:
    for chunk in iter(lambda: source.read1(65536), b""):  # type: ignore[attr-defined]
        log.write(chunk)
        log.flush()
        if echo is not None:
            echo.write(chunk)
            echo.flush()


def stop_group(proc: subprocess.Popen[bytes], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the process group, SIGKILL it if still alive after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


def run_logged(
    argv: Sequence[str],
    cwd: Path,
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    echo: bool | None = None,
    stop: threading.Event | None = None,
    grace: float = GRACE_SECONDS,
) -> Outcome:
    """Run ``argv`` (never through a shell) with stdout and stderr into ``log_path``.

    ``echo`` defaults to whether stdout is a terminal. ``stop`` lets another thread (the
    daemon's signal handler) end the run; a KeyboardInterrupt does the same. Either way
    the group is stopped and :class:`Interrupted` is raised.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    show = sys.stdout.isatty() if echo is None else echo
    started = now()
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        start = log.tell()
        _check_runnable(argv[0], cwd, env)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", _LEADER, str(os.getpid()), str(grace), "--", *argv],
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as err:
            raise SeidError(f"cannot start the pipeline's leader: {err.strerror}") from None
        assert proc.stdout is not None
        pump = threading.Thread(
            target=_pump,
            args=(proc.stdout, log, sys.stdout.buffer if show else None),
            daemon=True,
        )
        pump.start()
        try:
            while proc.poll() is None:
                if stop is not None and stop.wait(0.2):
                    stop_group(proc, grace)
                    raise Interrupted(f"{argv[0]} stopped; its log is {log_path}")
                if stop is None:
                    try:
                        proc.wait(timeout=0.5)
                    except subprocess.TimeoutExpired:
                        continue
        except KeyboardInterrupt:
            stop_group(proc, grace)
            raise Interrupted(f"{argv[0]} interrupted; its log is {log_path}") from None
        finally:
            pump.join(timeout=5)
    secrets = secret_values(env if env is not None else os.environ)
    return Outcome(tuple(argv), proc.returncode, started, now(), log_path, start, secrets)


def _check_runnable(program: str, cwd: Path, env: Mapping[str, str] | None) -> None:
    """Refuse a missing or non-executable tool here, with its name: the leader would
    only exit 127 in a log."""
    if os.sep in program:
        path = cwd / program
        if not path.is_file():
            raise SeidError(f"cannot run {program!r}: command not found")
        if not os.access(path, os.X_OK):
            raise SeidError(f"cannot run {program!r}: permission denied")
        return
    search = (env if env is not None else os.environ).get("PATH", os.defpath)
    if shutil.which(program, path=search) is None:
        raise SeidError(f"cannot run {program!r}: command not found")
