"""Approvals in the reconstruction: the system's lifecycle now, and promotions made while
it was not approved.

The lifecycle is :mod:`seid.approvals.lifecycle`'s, computed from the entries replay has
verified already (so the ledger is verified once) and the manifest in the work tree
(whose compiled plan an approval binds to), at the report's clock. With no decision at
all the plan is not compiled (``current.plan`` is null): the state is ``draft`` anyway.

``unapproved-promotion``: a promotion statement in the ledger (what ``seid run`` appends
after promoting) for a commit whose manifest declares an ``approval`` policy, made while
the approval was not ``approved``. It is judged as of the time the statement records
(else the promoted commit's date), against the bundle standing at that commit, under the
policy in force there. Git tags are not judged here: a lightweight tag records no time,
and they count for ``gate-bypass`` already.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from seid.approvals.authority import Trust
from seid.approvals.lifecycle import Lifecycle, lifecycle, state_at
from seid.approvals.policy import requires_approval
from seid.approvals.statement import Event, LedgerView
from seid.approvals.trailers import GitDecisions
from seid.config import load_manifest
from seid.errors import SeidError
from seid.isotime import instant
from seid.replay.findings import Finding, standing_evidence
from seid.replay.history import History
from seid.replay.join import Evidence


@dataclass(frozen=True)
class Approvals:
    """The report's ``approval`` and ``lifecycle`` (None without a usable manifest)."""

    approval: dict[str, Any] | None
    lifecycle: dict[str, Any] | None
    findings: list[Finding]


def review(
    root: Path,
    history: History,
    found: Evidence,
    now: datetime,
    git: GitDecisions | None = None,
) -> Approvals:
    """The approval lifecycle of the work tree's system and the approval findings
    (``git``: the decision trailers, when read already)."""
    try:
        manifest = load_manifest(root)
    except SeidError:
        return Approvals(None, None, [])  # e.g. --infer: no manifest, no policy, no system
    view = LedgerView.of(found.statements)
    trust = Trust.load(root)
    state = lifecycle(root, manifest, now, view, lazy_plan=True, git=git, trust=trust)
    data = state.to_dict()
    promotions = unapproved_promotions(history, found, state.events, trust)
    findings = _unbroken(state, found) + promotions
    lifecycle_data = data["lifecycle"] | {"system": manifest.system.name}
    return Approvals(data["approval"], lifecycle_data, findings)


def _unbroken(state: Lifecycle, found: Evidence) -> list[Finding]:
    """The lifecycle's findings, less those about entries already named as broken
    evidence: one finding per bad entry."""
    broken = {b.ref for b in found.broken}
    return [
        Finding(f.kind, f.summary, list(f.commits), list(f.entries))
        for f in state.findings
        if not f.entries or not set(f.entries) <= broken
    ]


def unapproved_promotions(
    history: History, found: Evidence, events: list[Event], trust: Trust
) -> list[Finding]:
    """Recorded promotions made while the approval policy in force was not satisfied, by
    the grants that policy authorises (``trust``: who holds the keys now)."""
    commits = {commit.sha: commit for commit in history.commits}
    standing = standing_evidence(history, found, {p.commit for p in found.promotions})
    out: list[Finding] = []
    for promotion in found.promotions:
        commit = commits.get(promotion.commit)
        manifest = history.regime_of(commit).manifest if commit else None
        if commit is None or manifest is None or not requires_approval(manifest):
            continue
        when = instant(promotion.at)
        judged = when or instant(commit.date)
        if judged is None:
            continue
        bundle = standing.get(commit.sha)
        digest = f"sha256:{bundle.digest}" if bundle else None
        state = state_at(events, manifest, judged, digest, trust)
        if state == "approved":
            continue
        at = judged.isoformat() + ("" if when else " (the commit's date: no time recorded)")
        what = f"evidence {bundle.ref}" if bundle else "no evidence bundle"
        out.append(
            Finding(
                "unapproved-promotion",
                f"promoted at {at} while the approval of {what} was {state}",
                [commit.sha],
                [promotion.ref, *([bundle.ref] if bundle else [])],
            )
        )
    return out
