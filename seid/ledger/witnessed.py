"""An auditor's view of witnesses: how much of each published log a quorum cosigned.

Under a policy (trusted witness keys and a quorum, from ``sei.yaml``), a log counts as
witnessed up to the newest size that at least ``quorum`` trusted witnesses cosigned and
that the published log still holds (same root at that size). A cosigned checkpoint the
published log no longer holds is a rewrite: the log's key signed two histories, and the
witness's ref still holds the one it checked, so the report names where they part.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from pathlib import Path

from securesystemslib.signer import Key  # type: ignore[attr-defined]

from seid import git, keys
from seid.errors import SeidError, VerificationError
from seid.ledger import checkpoint, cosignature, merkle
from seid.ledger.paths import REF_PREFIX, is_log_id
from seid.ledger.verify import LogReport, Problem, verify_stream
from seid.ledger.witness import leaves, parting, witness_refs
from seid.ledger.witness_ref import witness_ref

REWRITTEN = "rewritten:"


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
    """Each trusted witness's largest valid cosignature on ``log_id``, and notices on
    the rest.

    Every version the witness's ref ever held counts, not only its tip: a statement the
    witness signed stays made, so a tip rolled back to an older cosignature (replayed to
    hide a rewrite) or overwritten with a forged one cannot take it back.
    """
    found, notices = [], []
    present = witness_refs(repo)
    for wid in present:
        if wid not in policy.keys:
            notices.append(
                f"witness {wid[:16]} is not a trusted witness: its cosignatures are ignored"
            )
    for wid in sorted(set(present) & set(policy.keys)):
        tip = git.run(repo, "rev-parse", witness_ref(wid))
        valid = []
        for n, note in enumerate(_versions(repo, tip).get(log_id, [])):
            try:
                stamp = cosignature.verify(note, wid, policy.keys[wid])
                stated = checkpoint.verify(cosignature.split(note)[0], log_id, log_key)
            except VerificationError as err:
                refused = f"witness {wid[:16]}'s cosignature for log {log_id[:16]} refused: {err}"
                if refused not in notices:  # every forged version is named, each once
                    notices.append(refused)
                continue
            valid.append((n, Cosigned(wid, stated.size, stated.root, stamp)))
        if not valid:
            continue
        n, best = max(valid, key=lambda item: (item[1].size, item[1].timestamp))
        if valid[0][0] == 0 and n != 0:  # a witness never cosigns a smaller tree later
            notices.append(
                f"witness {wid[:16]}'s newest cosignature for log {log_id[:16]} (size "
                f"{valid[0][1].size}) is older than one its ref held before (size "
                f"{best.size}): a replayed cosignature; the larger one counts"
            )
        found.append(best)
    return found, notices


@functools.lru_cache(maxsize=8)
def _versions(repo: Path, commit: str) -> dict[str, list[bytes]]:
    """Every cosigned note a witness ref's history holds, by log id: the one its tip
    holds first, then the others newest first (one ``ls-tree``, one ``git log`` and one
    ``cat-file --batch`` per witness, however many logs).

    First is the tip's note, not the one of the latest-dated commit: a commit someone
    else pushed onto the ref, dated ahead, and merged by the witness (a merge that keeps
    the witness's tree, :mod:`seid.ledger.witness_ref`) cannot pose as what the witness
    says now. Merges are diffed against each parent (``-m``), so a note that only a
    merge's tree holds is read too.
    """
    blobs: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    for line in git.run(repo, "ls-tree", commit).splitlines():
        meta, _, path = line.partition("\t")
        if is_log_id(path):
            blobs[path] = [meta.split()[2]]
            seen.add((path, blobs[path][0]))
    out = git.run(repo, "log", "-m", "--format=", "--raw", "--no-abbrev", "--no-renames", commit)
    for line in out.splitlines():
        meta, _, path = line.partition("\t")
        fields = meta.split()
        found = (path, fields[3]) if len(fields) == 5 else None
        if found and found not in seen and is_log_id(path) and fields[3].strip("0"):
            seen.add(found)
            blobs.setdefault(path, []).append(fields[3])
    notes = git.cat_blobs(repo, {oid for oids in blobs.values() for oid in oids}, keep=True)
    return {log_id: [notes[oid] for oid in oids] for log_id, oids in blobs.items()}


def load_policy(root: Path) -> Policy | None:
    """The witness policy ``sei.yaml`` states (``evidence.witnesses``), if any; its
    errors are the manifest's (``sei.yaml:line:col``)."""
    from seid.config import load_manifest
    from seid.locate import MANIFEST_NAMES

    if not any((root / name).is_file() for name in MANIFEST_NAMES):
        return None
    manifest = load_manifest(root)
    stated = manifest.evidence.witnesses
    if stated is None:
        return None
    found: dict[str, Key] = {}
    for pattern in stated.keys:
        for path in sorted(root.glob(pattern)):
            key = keys.load_public_key(path)
            found[key.keyid] = key
    if len(found) < stated.quorum:
        raise SeidError(
            f"{manifest.path.name}: evidence.witnesses.keys name {len(found)} key files, "
            f"fewer than the quorum of {stated.quorum}"
        )
    return Policy(found, stated.quorum)


def apply(root: Path, reports: list[LogReport], *, require: bool = False) -> list[LogReport]:
    """Judge every published log under the policy, if there is one; returns reports of
    the logs as witnessed where a published one was rewritten (the evidence to keep).

    Without a published log there is nothing for a witness to vouch for, and the
    manifest is not read (a host verifying its own log needs no policy, and a broken
    ``sei.yaml`` does not stop it); with one, an unreadable policy is an error, never a
    silent pass (an insider could otherwise break the manifest to hide a rewrite).
    """
    if not require and not any(r.source.startswith(REF_PREFIX) for r in reports):
        return []
    policy = load_policy(root)
    if policy is None:
        if require:
            raise SeidError("--require-witnessed needs evidence.witnesses in sei.yaml")
        return []
    trusted = keys.trusted_keys(root)
    kept = []
    for report in reports:
        if report.source.startswith(REF_PREFIX):
            kept += judge(root, report, policy, trusted.get(report.log_id), require)
    return kept


def judge(
    repo: Path, report: LogReport, policy: Policy, log_key: Key | None, require: bool
) -> list[LogReport]:
    """Set ``report.witnessed``, add rewrite problems and not-yet-witnessed notes; when
    the log was rewritten, the verified report of the largest history a witness kept."""
    if log_key is None or not report.trusted:
        return []
    found, notices = cosigned(repo, policy, report.log_id, log_key)
    report.notices.extend(notices)
    holding: list[int] = []
    kept: list[LogReport] = []
    roots = _roots_at(repo, report, {cosig.size for cosig in found})
    for cosig in sorted(found, key=lambda c: -c.size):
        if roots.get(cosig.size) == cosig.root:
            holding.append(cosig.size)
            continue
        spec = f"{witness_ref(cosig.witness_id)}:{report.log_id}.log"
        witnessed = _witnessed_log(repo, spec, cosig, log_key)
        where = report.size
        if witnessed is not None:
            where = parting(repo, spec, report.log_id) or report.size
            kept = kept or [witnessed]
        report.problems.append(
            Problem(
                where,
                f"{REWRITTEN} witness {cosig.witness_id[:16]} cosigned size {cosig.size} root "
                f"{base64.b64encode(cosig.root).decode()}, and this log is not consistent with "
                f"it; the histories part at entry {where}",
            ),
        )
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
    return kept


def wanted_roots(repo: Path) -> dict[str, set[int]]:
    """Per log, every tree size a witness ref states: verify keeps the roots at these
    sizes as it streams each log (:func:`judge` then compares without a second read)."""
    wanted: dict[str, set[int]] = {}
    for wid in witness_refs(repo):
        tip = git.run(repo, "rev-parse", witness_ref(wid))
        for log_id, notes in _versions(repo, tip).items():
            for note in notes:
                try:
                    wanted.setdefault(log_id, set()).add(checkpoint.parse(note)[0].size)
                except VerificationError:
                    continue  # judged (and reported) by cosigned()
    return wanted


def _roots_at(repo: Path, report: LogReport, sizes: set[int]) -> dict[int, bytes]:
    """The published log's roots at ``sizes`` it reaches: those verify kept when it was
    asked for them, the rest from one more read (a caller that did not ask)."""
    reached = {size for size in sizes if size <= report.size}
    roots = {size: report.roots[size] for size in reached if size in report.roots}
    if 0 in reached:
        roots[0] = merkle.empty_root()
    missing = reached - roots.keys()
    if missing:
        hashes = leaves(repo, report.log_id)
        roots |= {n: merkle.root_of(hashes[:n]) for n in missing if n <= len(hashes)}
    return roots


def _witnessed_log(repo: Path, spec: str, cosig: Cosigned, log_key: Key) -> LogReport | None:
    """The log a witness kept beside its cosignature, verified; None unless it is there
    and is exactly the cosigned tree (a forged blob is no evidence)."""
    if not git.succeeds(repo, "cat-file", "-e", spec):
        return None
    log_id = spec.rpartition(":")[2].removesuffix(".log")
    with git.stream_blob(repo, spec) as stream:
        report = verify_stream(stream, log_id, log_key, spec)
    if not report.ok or (report.size, report.root) != (cosig.size, cosig.root):
        return None
    report.witnessed = report.size
    return report
