"""Reading published logs: git refs ``refs/seid/ledger/<log-id>`` (plumbing only)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

from seid.errors import SeidError
from seid.ledger.paths import REF_PREFIX, LedgerError, check_log_id, is_log_id


def ref_name(log_id: str) -> str:
    return REF_PREFIX + check_log_id(log_id)


def git(
    repo: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> str:
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=repo,
            input=stdin,
            capture_output=True,
            env=env,
            check=False,
        )
    except OSError as exc:
        raise SeidError(f"cannot run git: {exc.strerror}") from None
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise LedgerError(f"git {args[0]} failed: {message[-1] if message else proc.returncode}")
    return proc.stdout.decode().strip()


def ref_logs(repo: Path) -> dict[str, str]:
    """Published (or fetched) logs in this repository: log id -> commit."""
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", REF_PREFIX)
    logs = {}
    for line in out.splitlines():
        ref, _, commit = line.partition(" ")
        log_id = ref.removeprefix(REF_PREFIX)
        if is_log_id(log_id):
            logs[log_id] = commit
    return logs


@contextlib.contextmanager
def open_ref_log(repo: Path, log_id: str) -> Iterator[BinaryIO]:
    """Stream the ``log`` file of the published log ``log_id`` (never loaded whole)."""
    ref = ref_name(log_id)
    git(repo, "cat-file", "-e", f"{ref}:log")
    proc = subprocess.Popen(
        ["git", "cat-file", "blob", f"{ref}:log"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        yield cast(BinaryIO, proc.stdout)
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


def copy_ref_log(repo: Path, log_id: str, dest: Path) -> bool:
    """Copy the published ``log`` of ``log_id`` to ``dest``; False if there is none."""
    try:
        if log_id not in ref_logs(repo):
            return False
    except SeidError:
        return False  # not a git repository, or no git: nothing published
    with open_ref_log(repo, log_id) as stream, dest.open("xb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)
    return True
