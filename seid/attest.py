"""Attest: one run's facts -> the evidence predicate (DESIGN, contract) -> the ledger.

The predicate is assembled from value objects the earlier stages returned; nothing here
re-reads the world except the claim files (judged against this run's metrics) and the
subjects (hashed as they are when attested).
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from securesystemslib.signer import Signer  # type: ignore[attr-defined]  # re-exported

from seid import evidence
from seid.assess import Assessment
from seid.claims import evaluate as evaluate_claim
from seid.claims import load_claim
from seid.config import Manifest
from seid.drift import Drift
from seid.environment import environment, host
from seid.ledger.log import Ledger
from seid.metrics_file import Metric
from seid.risk import Analysis
from seid.snapshot import Snapshot


@dataclass(frozen=True)
class Attestation:
    """Where a bundle went: its log, index, the digest of its bytes and the new head."""

    log_id: str
    index: int
    entry_sha256: str
    checkpoint: bytes


def metrics_record(metrics: Mapping[str, Metric]) -> dict[str, Any]:
    """``metrics`` in the bundle: value, and the interval when the pipeline gave one."""
    out: dict[str, Any] = {}
    for name, metric in sorted(metrics.items()):
        entry: dict[str, Any] = {"value": metric.value}
        power = {
            "ci_low": metric.ci_low,
            "ci_high": metric.ci_high,
            "ci_level": metric.ci_level,
            "n": metric.n,
            "method": metric.method,
        }
        if any(v is not None for v in power.values()):
            entry["power"] = {k: v for k, v in power.items() if v is not None}
        out[name] = entry
    return out


def claim_paths(root: Path, manifest: Manifest) -> list[Path]:
    """The claim files the manifest's ``claims`` globs name, sorted, inside the repo."""
    found: set[Path] = set()
    for pattern in manifest.claims:
        for name in glob.glob(pattern, root_dir=root, recursive=True):
            path = (root / name).resolve()
            if path.is_file() and path.is_relative_to(root.resolve()):
                found.add(path)
    return sorted(found)


def claim_records(
    root: Path, manifest: Manifest, metrics: Mapping[str, Metric], snapshot: Snapshot
) -> list[dict[str, Any]]:
    """Every claim's verdict, and whether its ``dataset.hash`` is data this run stood on.

    A claim names its data by digest; when no class C input of the snapshot has that
    digest, the claim was registered against other data, and the record says so.
    """
    data_digests = set(snapshot.inputs.get("C", {}).values())
    # A metrics file keyed by measure id still answers a claim on the measure's metric.
    named = {m.metric: metrics[m.id] for _, m in manifest.iter_measures() if m.id in metrics}
    by_name = {**named, **metrics}
    records = []
    for path in claim_paths(root, manifest):
        claim = load_claim(path, display=path.relative_to(root.resolve()).as_posix())
        record = evaluate_claim(claim, by_name).record()
        record["path"] = path.relative_to(root.resolve()).as_posix()
        record["dataset_id"] = claim.dataset_id
        record["dataset_matches"] = claim.dataset_hash in data_digests
        records.append(record)
    return records


def risk_records(analysis: Analysis, assessment: Assessment) -> list[dict[str, Any]]:
    """The risk analysis with what this run showed: control confirmed, cycle open/closed.

    A risk's cycle closes when it needs no treatment, or when its gate measures passed
    in this run and its residual level is within appetite on every dimension.
    """
    out = []
    for risk in analysis.risks:
        record = risk.to_dict()
        confirmed = assessment.gate_measures_passed(risk.risk_id)
        within = all(d.residual_eval == "within" for d in risk.dimensions)
        closed = not risk.requires_treatment or (confirmed and within)
        record["control_confirmed"] = confirmed
        record["cycle"] = "closed" if closed else "open"
        out.append(record)
    return out


def build_predicate(
    *,
    manifest: Manifest,
    snapshot: Snapshot,
    drift: Drift,
    pipeline: Mapping[str, Any],
    metrics: Mapping[str, Metric],
    assessment: Assessment,
    analysis: Analysis,
    claims: Sequence[Mapping[str, Any]],
    gate: str,
    ledger: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``https://seid.dev/evidence/v1`` predicate, every field DESIGN lists."""
    predicate: dict[str, Any] = {
        "git": {"commit": snapshot.commit, "branch": snapshot.branch, "dirty": snapshot.dirty},
        "drift": drift.to_predicate(),
        "inputs": snapshot.to_predicate(),
        "manifest_digest": manifest.manifest_digest,
        "claims": list(claims),
        "pipeline": dict(pipeline),
        "metrics": metrics_record(metrics),
        "verdicts": [v.to_dict() for v in assessment.verdicts],
        "post_market": list(assessment.post_market),
        "risk_analysis": risk_records(analysis, assessment),
        "overall_residual": analysis.overall_residual.to_dict(),
        "gate": gate,
        "environment": environment(),
        "host": host(),
        "ledger": dict(ledger),
    }
    if extra:
        predicate.update(extra)
    return predicate


def subjects(root: Path, paths: Iterable[str]) -> list[evidence.Subject]:
    """Subjects for the files among ``paths`` that exist, each hashed now."""
    out = []
    for name in sorted(set(paths)):
        path = root / name
        if path.is_file():
            out.append(evidence.subject_for_file(path, root))
    return out


def append(
    root: Path,
    signer: Signer,
    subject_list: Sequence[evidence.Subject],
    predicate: dict[str, Any],
    predicate_type: str = evidence.EVIDENCE_PREDICATE,
) -> Attestation:
    """Sign a statement of ``predicate_type`` and append it to the signer's own log.

    The log id is the key id. The predicate gets ``ledger {log_id, previous_root,
    previous_size}``, the head it extends. A log that exists only as its published ref (a
    re-cloned host) is continued from that ref, never forked. Statements other than
    evidence bundles (detections, findings) pass their own ``predicate_type``, so they
    never become the drift baseline.
    """
    log_id = signer.public_key.keyid
    signed: list[bytes] = []

    def make(size: int, previous: bytes | None) -> bytes:
        """Called under the writers' lock: the head recorded is the one appended to."""
        full = {
            **predicate,
            "ledger": {
                **predicate.get("ledger", {}),
                "log_id": log_id,
                "previous_root": previous.hex() if previous else None,
                "previous_size": size,
            },
        }
        signed.append(evidence.sign(evidence.statement(subject_list, predicate_type, full), signer))
        return signed[-1]

    with Ledger.open(root, log_id, create=True, continue_published=True) as ledger:
        index, checkpoint = ledger.append_with(make, signer)
    return Attestation(log_id, index, hashlib.sha256(signed[-1]).hexdigest(), checkpoint)
