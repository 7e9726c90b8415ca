"""An auditor's view of witnesses: how much of each published log a quorum cosigned.

Under a policy (trusted witness keys and a quorum, from ``sei.yaml``), a log counts as
witnessed up to the newest size that at least ``quorum`` trusted witnesses cosigned and
that the published log still holds (same root at that size). A cosigned checkpoint the
published log no longer holds is a rewrite: the log's key signed two histories, and the
witness's ref still holds the one it checked, so the report names where they part.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from securesystemslib.signer import Key  # type: ignore[attr-defined]

from seid import git
from seid.errors import VerificationError
from seid.ledger import checkpoint, cosignature, merkle
from seid.ledger.verify import LogReport, Problem
from seid.ledger.witness import leaves, parting, witness_ref, witness_refs


@dataclass(frozen=True)
class Policy:
    """Trusted witness keys by witness id (their key ids), and the quorum."""

    keys: dict[str, Key]
    quorum: int


@dataclass(frozen=True)
class Cosigned:
    witness_id: str
    size: int
    root: bytes
    timestamp: int


def cosigned(
    repo: Path, policy: Policy, log_id: str, log_key: Key
) -> tuple[list[Cosigned], list[str]]:
    """Each trusted witness's valid cosignature on ``log_id``, and notices on the rest."""
    found, notices = [], []
    present = witness_refs(repo)
    for wid in present:
        if wid not in policy.keys:
            notices.append(
                f"witness {wid[:16]} is not a trusted witness: its cosignatures are ignored"
            )
    for wid in sorted(set(present) & set(policy.keys)):
        spec = f"{witness_ref(wid)}:{log_id}"
        if not git.succeeds(repo, "cat-file", "-e", spec):
            continue
        note = git.output(repo, "cat-file", "blob", spec)
        try:
            stamp = cosignature.verify(note, wid, policy.keys[wid])
            own, _ = cosignature.split(note)
            stated = checkpoint.verify(own, log_id, log_key)
        except VerificationError as err:
            notices.append(f"witness {wid[:16]}'s cosignature for log {log_id[:16]} refused: {err}")
            continue
        found.append(Cosigned(wid, stated.size, stated.root, stamp))
    return found, notices


def judge(
    repo: Path, report: LogReport, policy: Policy, log_key: Key | None, require: bool
) -> None:
    """Set ``report.witnessed`` and add the rewrite problems and not-yet-witnessed notes."""
    if log_key is None or not report.trusted:
        return
    found, notices = cosigned(repo, policy, report.log_id, log_key)
    report.notices.extend(notices)
    hashes = leaves(repo, report.log_id) if found else []
    holding = []
    for cosig in found:
        if cosig.size <= len(hashes) and merkle.root_of(hashes[: cosig.size]) == cosig.root:
            holding.append(cosig.size)
            continue
        spec = f"{witness_ref(cosig.witness_id)}:{report.log_id}.log"
        parted = (
            parting(repo, spec, report.log_id)
            if git.succeeds(repo, "cat-file", "-e", spec)
            else None
        )
        where = report.size if parted is None else parted
        report.problems.insert(
            0,
            Problem(
                where,
                f"rewritten: witness {cosig.witness_id[:16]} cosigned size {cosig.size} root "
                f"{base64.b64encode(cosig.root).decode()}, and this log is not consistent with "
                f"it; the histories part at entry {where}",
            ),
        )
    holding.sort(reverse=True)
    report.witnessed = holding[policy.quorum - 1] if len(holding) >= policy.quorum else 0
    if report.witnessed < report.size:
        gap = (
            f"entries {report.witnessed} to {report.size - 1} are not yet witnessed "
            f"(a quorum is {policy.quorum} witnesses; {len(holding)} cosigned a tree this "
            "log still holds)"
        )
        if require:
            report.problems.append(Problem(report.witnessed, gap))
        else:
            report.notices.append(gap)
    report.problems.sort(key=lambda p: p.entry)
