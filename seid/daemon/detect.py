"""``mode: detect``: drift noticed and attested, re-runs left to people.

A detection is its own statement type, ``https://seid.dev/detection/v1``, so it never
becomes the evidence baseline: the drift stays open until a person runs ``seid run``.
Replay never reads a detection as a verdict: it counts them among the ledger's other
statements (``ledger.other_statements`` in its report), and the commit stays an
unevidenced change until a bundle evidences it. The same
drift is attested once: a detection whose snapshot equals the newest detection's is
skipped.

Predicate: ``git``, ``drift {classes, paths}``, ``inputs`` (the snapshot), ``tables``
(the declared tables' versions, when there are any),
``baseline {source, commit}``, ``manifest_digest``, ``host``, ``ledger {log_id,
previous_root, previous_size}``. Subjects: the manifest and the changed files that exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from securesystemslib.signer import Signer  # type: ignore[attr-defined]  # re-exported

from seid import attest
from seid.config import load_manifest
from seid.drift import Detection, detect
from seid.environment import host
from seid.ledger.newest import latest_statement
from seid.run import declared_tables
from seid.snapshot import watched_globs
from seid.statcache import StatCache

DETECTION_PREDICATE = "https://seid.dev/detection/v1"
MAX_SUBJECTS = 1000


def detect_only(root: Path, signer: Signer) -> attest.Attestation | None:
    """Attest the current drift as a detection; None when there is none or it is known."""
    manifest = load_manifest(root)
    with StatCache.open(root) as cache:
        tables = declared_tables(root, manifest)
        found = detect(root, watched_globs(root, manifest), cache, tables=tables)
    if not found.drift:
        return None
    inputs = found.snapshot.to_predicate()
    versions = found.tables.to_predicate() if found.tables is not None else None
    previous = latest_statement(root, DETECTION_PREDICATE)
    if previous is not None and _same(previous["predicate"], inputs, versions):
        return None
    changed = sorted({p for paths in found.drift.paths.values() for p in paths})
    subjects = attest.subjects(root, [manifest.path.name, *changed[:MAX_SUBJECTS]])
    return attest.append(
        root,
        signer,
        subjects,
        predicate(found, manifest.manifest_digest, changed),
        DETECTION_PREDICATE,
    )


def _same(previous: dict[str, Any], inputs: dict[str, Any], tables: Any) -> bool:
    """The newest detection already stands on these files and these table versions."""
    return previous.get("inputs") == inputs and previous.get("tables") == tables


def predicate(found: Detection, manifest_digest: str, changed: list[str]) -> dict[str, Any]:
    snap = found.snapshot
    extra = {"tables": found.tables.to_predicate()} if found.tables is not None else {}
    return extra | {
        "git": {"commit": snap.commit, "branch": snap.branch, "dirty": snap.dirty},
        "drift": found.drift.to_predicate(),
        "inputs": snap.to_predicate(),
        "baseline": {"source": found.baseline.source, "commit": found.baseline.commit},
        "manifest_digest": manifest_digest,
        "subjects_truncated": len(changed) > MAX_SUBJECTS,
        "host": host(),
    }
