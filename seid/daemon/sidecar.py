"""Sidecar mode: audit an MLflow model registry against the ledger.

A model version carrying the watched alias (``champion``) must have a passing evidence
bundle, signed by a trusted key, in the repository's ledger. A bundle evidences a
version when its ``pipeline`` names it: ``registered_model`` and ``model_version``, or,
when a bundle does not carry those, the version's MLflow ``run_id``. A version without
one is a finding: logged, and attested once as ``https://seid.dev/finding/v1`` with the
version as its subject.

mlflow is imported here only, when the job first runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from securesystemslib.signer import Signer  # type: ignore[attr-defined]  # re-exported

from seid import attest, evidence
from seid.daemon import logging as dlog
from seid.daemon.config import Sidecar
from seid.errors import SeidError, VerificationError

FINDING_PREDICATE = "https://seid.dev/finding/v1"
KIND = "promoted-without-passing-evidence"
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
        ident = evidence.canonical_json(
            {
                "model": self.model,
                "version": self.version,
                "run_id": self.run_id,
                "source": self.source,
            }
        )
        return evidence.Subject(self.uri, hashlib.sha256(ident).hexdigest())


def promotions(tracking_uri: str, alias: str) -> list[Promotion]:
    """Every registered model's version that holds ``alias`` now."""
    try:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
    except ImportError as err:
        raise SeidError(f"sidecar mode needs mlflow: {err}") from None
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = []
    try:
        for model in _all_models(client):
            version = (model.aliases or {}).get(alias)
            if version is None:
                continue
            info = client.get_model_version(model.name, str(version))
            found.append(Promotion(model.name, str(version), alias, info.run_id, info.source))
    except MlflowException as err:
        raise SeidError(f"MLflow registry at {tracking_uri}: {err.message}") from None
    return found


def _all_models(client: Any) -> Iterator[Any]:
    token = None
    while True:
        page = client.search_registered_models(max_results=100, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def ledger_statements(root: Path, predicate_type: str) -> Iterator[dict[str, Any]]:
    """Statements of ``predicate_type`` signed by a key trusted in ``.sei/trust/``."""
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
                yield statement


def evidences(predicate: Mapping[str, Any], promotion: Promotion) -> bool:
    """Does a passing bundle's predicate name this version (model+version, else run id)?"""
    pipeline = predicate.get("pipeline") or {}
    if predicate.get("gate") != "pass" or not isinstance(pipeline, Mapping):
        return False
    model, version = pipeline.get("registered_model"), pipeline.get("model_version")
    if model is not None and version is not None:
        return bool(model == promotion.model and str(version) == promotion.version)
    return promotion.run_id is not None and pipeline.get("run_id") == promotion.run_id


def audit(sidecar: Sidecar, signer: Signer, now: datetime | None = None) -> list[Promotion]:
    """Find aliased versions without passing evidence; attest each new finding once."""
    root = sidecar.repo
    bundles = [s["predicate"] for s in ledger_statements(root, evidence.EVIDENCE_PREDICATE)]
    known = {
        (f["predicate"].get("model"), f["predicate"].get("version"), f["predicate"].get("alias"))
        for f in ledger_statements(root, FINDING_PREDICATE)
    }
    missing = []
    for promotion in promotions(sidecar.tracking_uri, sidecar.alias):
        if any(evidences(p, promotion) for p in bundles):
            continue
        missing.append(promotion)
        _log.warning(
            "model version promoted without a passing signed bundle",
            model=promotion.model,
            version=promotion.version,
            alias=promotion.alias,
            run_id=promotion.run_id,
        )
        if (promotion.model, promotion.version, promotion.alias) not in known:
            _attest(root, signer, sidecar.tracking_uri, promotion, now or datetime.now(UTC))
    return missing


def _attest(
    root: Path, signer: Signer, tracking_uri: str, promotion: Promotion, when: datetime
) -> None:
    predicate = {
        "kind": KIND,
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
