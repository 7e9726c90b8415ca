"""The risk program in force at the replayed head, and what the newest evidence says.

The report's first page is a risk register: the system, its classification, each risk's
inherent and residual level against the appetite, and the overall residual against its
criterion. Those numbers are :func:`seid.risk.analyze` of the manifest at the head
commit, the same function ``seid analyze --json`` runs, so the register and the command
can never disagree. The 5x5 matrix is written out cell by cell, banded as the manifest's
criteria say, so a reader of the JSON needs no copy of seid's banding to draw it.
"""

from __future__ import annotations

import math
from typing import Any

from seid import risk
from seid.config import Level, Likelihood, Manifest
from seid.replay.history import History
from seid.replay.join import Bundle, Evidence


def program(history: History) -> dict[str, Any] | None:
    """The manifest at the head commit as the register reads it; None without one."""
    if not history.commits:
        return None
    regime = history.regime_of(history.commits[-1])
    manifest = regime.manifest
    if manifest is None:
        return None
    classification = manifest.classification
    return {
        "commit": regime.commit,
        "manifest": manifest.path.name,
        "manifest_digest": manifest.manifest_digest,
        "error": regime.error,
        "system": {
            "name": manifest.system.name,
            "intended_purpose": manifest.system.intended_purpose,
            "version": manifest.system.version,
            "organization": manifest.system.organization,
        },
        "classification": None
        if classification is None
        else {
            "tier": classification.tier,
            "basis": list(classification.basis),
            "rationale": classification.rationale,
        },
        "appetite": {dim: level.value for dim, level in manifest.risk.appetite.items()},
        "matrix": _matrix(manifest),
        "analysis": risk.analyze(manifest.risk).to_dict(),
        "treatments": _treatments(manifest),
    }


def _matrix(manifest: Manifest) -> dict[str, Any]:
    """Rows by likelihood, columns by impact, both ascending by rank."""
    matrix = risk.Matrix.from_criteria(manifest.risk.criteria)
    likelihoods = sorted(Likelihood, key=lambda lv: lv.rank)
    impacts = sorted(Level, key=lambda lv: lv.rank)
    return {
        "likelihood": [lv.value for lv in likelihoods],
        "impact": [lv.value for lv in impacts],
        "cells": [[matrix.level(lk, im).value for im in impacts] for lk in likelihoods],
    }


def _treatments(manifest: Manifest) -> list[dict[str, Any]]:
    """Each risk's treatments and their measures, with what each measure cites."""
    return [
        {
            "risk": item.id,
            "method": treatment.method.value,
            "action": treatment.action,
            "controls": list(treatment.controls),
            "measures": [
                {
                    "measure": m.id,
                    "metric": m.metric,
                    "constraint": str(m.constraint),
                    "severity": m.severity.value,
                    "enforcement": m.enforcement,
                    "evaluation": m.evaluation,
                    "article": m.article,
                    "standard_clauses": list(m.standard_clauses),
                }
                for m in treatment.measures
            ],
        }
        for item in manifest.risk.risks
        for treatment in item.treat
    ]


def in_history(history: History, found: Evidence) -> list[Bundle]:
    """The verified bundles of the walked history, in its order (then by run time)."""
    position = {commit.sha: i for i, commit in enumerate(history.commits)}
    keyed = [(position.get(b.commit or ""), b.when or "", b.ref, b) for b in found.bundles]
    inside = [k for k in keyed if k[0] is not None]
    return [k[3] for k in sorted(inside, key=lambda k: k[:3])]


def claims(ordered: list[Bundle]) -> dict[str, Any] | None:
    """The PRML claims and their verdicts in the newest bundle of :func:`in_history`;
    None when there is none."""
    if not ordered:
        return None
    newest = ordered[-1]
    recorded = newest.predicate.get("claims")
    items = [c for c in recorded if isinstance(c, dict)] if isinstance(recorded, list) else []
    return {
        "bundle": newest.ref,
        "commit": newest.commit,
        "claims": [
            {
                "path": str(c.get("path")),
                "verdict": str(c.get("verdict")),
                "observed": c["observed"] if _is_number(c.get("observed")) else None,
                "locked": c.get("locked") is True,
                "reason": c["reason"] if isinstance(c.get("reason"), str) else None,
            }
            for c in items
        ],
    }


def gates(ordered: list[Bundle]) -> list[dict[str, Any]]:
    """Each bundle of :func:`in_history` with its gate."""
    return [
        {"entry": b.ref, "commit": b.commit, "gate": b.gate, "measured": b.when} for b in ordered
    ]


def _is_number(value: Any) -> bool:
    """A finite JSON number (a bundle's NaN would make the report invalid JSON)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
