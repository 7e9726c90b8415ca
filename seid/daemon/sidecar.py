"""Sidecar mode: audit an MLflow model registry against the ledger.

A model version carrying the watched alias (``champion``) must have a passing evidence
bundle, signed by a trusted key, in the repository's ledger. A bundle evidences a
version when its ``pipeline`` names it: ``registered_model`` and ``model_version``, or,
when a bundle does not carry those, the version's MLflow ``run_id``. A version without
one is a finding (``promoted-without-passing-evidence``): logged, and attested once as
``https://seid.dev/finding/v1`` with the version as its subject.

When the repository's manifest writes an ``approval:`` policy, the version's evidence
must also have been approved: at some grant, the lifecycle of one of its passing bundles
was ``approved`` (a later, newer bundle or an expiry does not undo that). Otherwise the
alias was moved past the approval, in the registry's UI say, instead of through
``seid promote``: a ``promoted-without-approval`` finding.

An :class:`Auditor` reads (and verifies) the ledger again only when something the audit
depends on changed: the logs, the trusted keys, the published refs, the manifest, HEAD
(approval trailers) or git's signing trust; the registry is asked every time.

mlflow is imported only by the audit's child process (:mod:`seid.daemon.registry_query`).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from securesystemslib.signer import Signer  # type: ignore[attr-defined]  # re-exported

from seid import attest, evidence, git
from seid.daemon import logging as dlog
from seid.daemon.config import Sidecar
from seid.daemon.prometheus import Metrics
from seid.errors import SeidError, VerificationError
from seid.registry_statements import FINDING_PREDICATE, MEANING, WITHOUT_APPROVAL, WITHOUT_EVIDENCE

_log = dlog.get("seid.daemon.sidecar")


@dataclass(frozen=True)
class Promotion:
    """One registry version holding the alias."""

    model: str
    version: str
    alias: str
    run_id: str | None
    source: str | None

    @property
    def uri(self) -> str:
        return f"models:/{self.model}/{self.version}"

    def subject(self) -> evidence.Subject:
        """The version as a subject: its identity and source, hashed (no artifact read)."""
        ident = {
            "model": self.model,
            "version": self.version,
            "run_id": self.run_id,
            "source": self.source,
        }
        return evidence.Subject(self.uri, evidence.jcs_sha256(ident))


# MLflow's own HTTP settings for the audit's process (a user's environment wins): a few
# seconds per call and two retries, so a registry that is down costs the audit about
# half a minute, not urllib3's default of minutes; the deadline bounds the rest.
AUDIT_HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
AUDIT_DEADLINE = 90.0


def promotions(tracking_uri: str, alias: str) -> list[Promotion]:
    """Every registered model's version that holds ``alias`` now, asked in a child
    process (:mod:`seid.daemon.registry_query`) that is killed at the deadline."""
    argv = [sys.executable, "-m", "seid.daemon.registry_query", tracking_uri, alias]
    env = {**AUDIT_HTTP_ENV, **os.environ}
    proc = subprocess.Popen(
        [*argv, str(os.getpid())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=AUDIT_DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise SeidError(
            f"MLflow registry at {tracking_uri}: no answer within {AUDIT_DEADLINE:.0f} s"
        ) from None
    if proc.returncode != 0:
        reason = err.decode(errors="replace").strip().splitlines()
        raise SeidError(
            f"MLflow registry at {tracking_uri}: {reason[-1] if reason else proc.returncode}"
        )
    return [
        Promotion(p["model"], p["version"], alias, p["run_id"], p["source"])
        for p in json.loads(out)
    ]


def ledger_statements(root: Path, predicate_type: str) -> Iterator[dict[str, Any]]:
    """Statements of ``predicate_type`` signed by a key trusted in ``.sei/trust/``."""
    return (statement for _, statement in _signed(root, predicate_type))


def _signed(root: Path, predicate_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(sha256 of the entry, statement)``: what an approval binds to, and what it says."""
    from seid.keys import trusted_keys
    from seid.ledger.log import Ledger
    from seid.ledger.paths import list_logs

    trusted = trusted_keys(root)
    for log_id in list_logs(root):
        with Ledger.open(root, log_id) as ledger:
            entries = list(ledger.iter_entries())
        for entry in entries:
            try:
                statement = evidence.verify(entry, trusted).statement
            except VerificationError:
                continue
            if statement.get("predicateType") == predicate_type:
                yield hashlib.sha256(entry).hexdigest(), statement


def evidences(predicate: Mapping[str, Any], promotion: Promotion) -> bool:
    """Does a passing bundle's predicate name this version (model+version, else run id)?"""
    pipeline = predicate.get("pipeline") or {}
    if predicate.get("gate") != "pass" or not isinstance(pipeline, Mapping):
        return False
    model, version = pipeline.get("registered_model"), pipeline.get("model_version")
    if model is not None and version is not None:
        return bool(model == promotion.model and str(version) == promotion.version)
    return promotion.run_id is not None and pipeline.get("run_id") == promotion.run_id


@dataclass(frozen=True)
class LedgerFacts:
    """What an audit needs of the ledger: the trusted evidence bundles (entry digest,
    statement), the findings attested already, and the approval check (None: no policy)."""

    bundles: list[tuple[str, dict[str, Any]]]
    known: set[tuple[Any, ...]]
    approved: Callable[[set[str]], bool] | None


def read_facts(root: Path) -> LedgerFacts:
    """Read and verify what the audit needs of the ledger (the costly part of an audit)."""
    bundles = list(_signed(root, evidence.EVIDENCE_PREDICATE))
    known = {
        tuple(f["predicate"].get(k) for k in ("kind", "model", "version", "alias"))
        for f in ledger_statements(root, FINDING_PREDICATE)
    }
    return LedgerFacts(bundles, known, _approval_check(root))


class Auditor:
    """The registry audit of one repository, run again and again by the daemon: it keeps
    the ledger facts until their :func:`~seid.approvals.standing.fingerprint` changes.

    A registry that cannot be asked is not an error of every audit: the failure is
    logged when it starts or its reason changes, and again when the registry answers,
    and ``failure`` holds the reason meanwhile (``/healthz`` reports it as degraded).
    """

    def __init__(self, sidecar: Sidecar, metrics: Metrics | None = None) -> None:
        self.sidecar = sidecar
        self.metrics = metrics or Metrics()
        self.failure: str | None = None
        self._memo: tuple[str, LedgerFacts] | None = None

    def audit(self, signer: Signer, now: datetime | None = None) -> list[tuple[Promotion, str]]:
        """Find aliased versions without passing (or, under a policy, approved) evidence;
        attest each new finding once. Returns ``(version, finding kind)``; nothing while
        the registry cannot be asked."""
        repo = str(self.sidecar.root)
        try:
            held = promotions(self.sidecar.tracking_uri, self.sidecar.alias)
        except SeidError as err:
            self.metrics.inc("seid_registry_audits_total", repo=repo, result="failed")
            if str(err) != self.failure:
                _log.error("registry audit failed; retrying at each audit", error=str(err))
            self.failure = str(err)
            return []
        if self.failure is not None:
            _log.info("registry answers again", registry=self.sidecar.tracking_uri)
            self.failure = None
        self.metrics.inc("seid_registry_audits_total", repo=repo, result="ok")
        found = _judge(self.sidecar, signer, self._facts(), held, now or datetime.now(UTC))
        for _, kind in found:
            self.metrics.inc("seid_registry_findings_total", repo=repo, kind=kind)
        return found

    def _facts(self) -> LedgerFacts:
        from seid.approvals.standing import fingerprint

        root = self.sidecar.root
        key = fingerprint(root, _head(root), signing=True)
        if self._memo is None or self._memo[0] != key:
            self._memo = (key, read_facts(root))
        return self._memo[1]


def _head(root: Path) -> str | None:
    return git.head(root)


def _judge(
    sidecar: Sidecar,
    signer: Signer,
    facts: LedgerFacts,
    held: list[Promotion],
    now: datetime,
) -> list[tuple[Promotion, str]]:
    flagged = []
    for promotion in held:
        backing = {
            f"sha256:{digest}"
            for digest, s in facts.bundles
            if evidences(s["predicate"], promotion)
        }
        if not backing:
            kind = WITHOUT_EVIDENCE
        elif facts.approved is not None and not facts.approved(backing):
            kind = WITHOUT_APPROVAL
        else:
            continue
        flagged.append((promotion, kind))
        _log.warning(
            f"model version promoted {MEANING[kind]}",
            model=promotion.model,
            version=promotion.version,
            alias=promotion.alias,
            run_id=promotion.run_id,
        )
        if (kind, promotion.model, promotion.version, promotion.alias) not in facts.known:
            _attest(sidecar.root, signer, sidecar.tracking_uri, promotion, kind, now)
    return flagged


def _approval_check(root: Path) -> Callable[[set[str]], bool] | None:
    """Under an approval policy: whether any of some bundles (``sha256:`` refs) was ever
    approved. None when the manifest writes no policy (or cannot be read: the audit of
    evidence still stands, and the run of the manifest reports its errors)."""
    from seid.approvals.authority import Trust
    from seid.approvals.lifecycle import collect, state_at
    from seid.approvals.policy import requires_approval
    from seid.approvals.statement import read_ledger
    from seid.config import load_manifest

    try:
        manifest = load_manifest(root)
    except SeidError:
        return None
    if not requires_approval(manifest):
        return None
    trust = Trust.load(root)
    events, _ = collect(root, manifest, read_ledger(root), trust=trust)
    grants = [e.at for e in events if e.decision == "grant"]

    def approved(refs: set[str]) -> bool:
        return any(
            state_at(events, manifest, at, ref, trust) == "approved"
            for at in grants
            for ref in refs
        )

    return approved


def _attest(
    root: Path, signer: Signer, tracking_uri: str, promotion: Promotion, kind: str, when: datetime
) -> None:
    predicate = {
        "kind": kind,
        "model": promotion.model,
        "version": promotion.version,
        "alias": promotion.alias,
        "run_id": promotion.run_id,
        "source": promotion.source,
        "registry": tracking_uri,
        "observed": when.replace(microsecond=0).isoformat(),
    }
    done = attest.append(root, signer, [promotion.subject()], predicate, FINDING_PREDICATE)
    _log.warning("finding attested", index=done.index, log=done.log_id, model=promotion.model)
