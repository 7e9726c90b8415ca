"""Reading published logs: git refs ``refs/seid/ledger/<log-id>`` (plumbing only)."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import BinaryIO

from seid import git
from seid.errors import SeidError
from seid.ledger.paths import REF_PREFIX, check_log_id, is_log_id


def ref_name(log_id: str) -> str:
    return REF_PREFIX + check_log_id(log_id)


def ref_logs(repo: Path) -> dict[str, str]:
    """Published (or fetched) logs in this repository: log id -> commit."""
    out = git.run(repo, "for-each-ref", "--format=%(refname) %(objectname)", REF_PREFIX)
    logs = {}
    for line in out.splitlines():
        ref, _, commit = line.partition(" ")
        log_id = ref.removeprefix(REF_PREFIX)
        if is_log_id(log_id):
            logs[log_id] = commit
    return logs


def open_ref_log(repo: Path, log_id: str) -> contextlib.AbstractContextManager[BinaryIO]:
    """Stream the ``log`` file of the published log ``log_id`` (never loaded whole)."""
    return git.stream_blob(repo, f"{ref_name(log_id)}:log")


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
