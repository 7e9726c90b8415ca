"""Where logs live: ``<repo>/.sei/ledger/<log-id>/`` and git refs ``refs/seid/ledger/<id>``."""

from __future__ import annotations

import re
from pathlib import Path

from seid.errors import SeidError
from seid.fsutil import LEDGER_DIR

REF_PREFIX = "refs/seid/ledger/"
_LOG_ID = re.compile(r"[0-9a-f]{16,128}")


class LedgerError(SeidError):
    """A ledger that cannot be read or written: I/O, corruption, wrong key."""


def is_log_id(text: str) -> bool:
    return bool(_LOG_ID.fullmatch(text))


def check_log_id(log_id: str) -> str:
    """Log ids are key ids (lowercase hex); anything else could escape the directory."""
    if not isinstance(log_id, str) or not is_log_id(log_id):
        raise SeidError(f"bad log id {log_id!r}: expected a lowercase hex key id")
    return log_id


def log_dir(repo_root: Path, log_id: str) -> Path:
    return repo_root / LEDGER_DIR / check_log_id(log_id)


def list_logs(repo_root: Path) -> list[str]:
    """Ids of the logs kept in this repository's working copy, sorted."""
    base = repo_root / LEDGER_DIR
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if is_log_id(p.name) and p.is_dir())
