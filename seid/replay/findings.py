"""Findings: the gaps an auditor needs named, each with the commits and entries behind it.

- ``unevidenced-change``: a class B or C commit with no verified bundle at it or at any
  later commit before the next change of the same inputs;
- ``moved-goalposts``: a criterion relaxed, a gate measure (or its risk) removed or
  demoted to audit, or the appetite for the risk raised, after a failing verdict on it;
- ``gate-bypass``: a promotion (a registry tag by :mod:`seid.replay.promotions`, or a
  promotion statement in the ledger) of a
  commit whose standing evidence (the newest bundle since the last B/C change) did not
  pass the gate, or that has no evidence at all;
- ``review-overdue``: a stretch longer than ``review_interval`` without a review;
- ``broken-evidence``: a ledger entry whose signature or inclusion does not verify, or
  that a fork disputes (never used as evidence); or whose subject file in the work tree
  no longer has the digest it recorded (the entry still stands for what it recorded);
- ``rewritten-log``: a published log not consistent with a checkpoint a trusted witness
  cosigned (:mod:`seid.ledger.witnessed`): its key signed two histories. Only the
  witnessed history is evidence; the rewritten one is broken from where they part;
- ``claim-amended``: a claim changed without ``prior_hash`` naming the version it replaces;
- ``unevidenced-table-change``: a declared table's data-changing commit that no bundle
  recorded before its data changed again (:mod:`seid.replay.tables`, read from the table);
- ``not-reproducible`` (``--reexecute`` only): a bundle whose run cannot be re-executed,
  a table version it stood on having been vacuumed or expired;
- ``promoted-without-passing-evidence``, ``promoted-without-approval``: a model version
  the registry sidecar saw holding the watched alias without them (:mod:`seid.registry_statements`);
- ``unapproved-promotion`` and the approval kinds of :data:`seid.approvals.statement.KINDS`
  come from :mod:`seid.replay.approval`, which needs the work tree as well as history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from seid import registry_statements
from seid.approvals import statement as approvals
from seid.replay import promotions
from seid.replay.criteria import APPETITE_RAISED, GATE_REMOVED, RELAXED
from seid.replay.cycle import CriteriaEvent, Evaluation, RiskCycle
from seid.replay.history import Commit, History
from seid.replay.join import Bundle, Evidence

KINDS = (
    "unevidenced-change",
    "moved-goalposts",
    "gate-bypass",
    "review-overdue",
    "broken-evidence",
    "claim-amended",
)
# Read from the declared tables themselves, not from git (seid.replay.tables).
TABLE_KIND = "unevidenced-table-change"
# Found by --reexecute only (seid.replay.reexecute): a table version the run stood on is gone.
NOT_REPRODUCIBLE = "not-reproducible"
# Read from the witnesses' cosignatures (seid.ledger.witnessed), not from git.
REWRITTEN_KIND = "rewritten-log"
# The order of a report.
ALL_KINDS = (
    *KINDS,
    TABLE_KIND,
    NOT_REPRODUCIBLE,
    REWRITTEN_KIND,
    "unapproved-promotion",
    *registry_statements.KINDS,
    *approvals.KINDS,
)
SEVERITY = {
    "unevidenced-change": "medium",
    "moved-goalposts": "high",
    "gate-bypass": "high",
    "review-overdue": "medium",
    "broken-evidence": "high",
    REWRITTEN_KIND: "high",
    "claim-amended": "medium",
    TABLE_KIND: "medium",
    NOT_REPRODUCIBLE: "medium",
    "unapproved-promotion": "high",
    **{kind: "high" for kind in registry_statements.KINDS},
    **{kind: "high" if kind in approvals.HIGH else "medium" for kind in approvals.KINDS},
}
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # what an unverified entry names may be junk
_LOOSENING = (RELAXED, GATE_REMOVED, APPETITE_RAISED, "risk-removed", "measure-removed")


@dataclass(frozen=True)
class Finding:
    kind: str
    summary: str
    commits: list[str]
    entries: list[str] = field(default_factory=list)
    risk: str | None = None
    measure: str | None = None

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]


def find(
    history: History, found: Evidence, cycles: list[RiskCycle], also: Iterable[Finding] = ()
) -> list[Finding]:
    """Every finding (with ``also``, the approval findings), in a stable order: by kind,
    then as they occur in history."""
    out = [
        *_unevidenced(history, found),
        *_goalposts(history, cycles),
        *_bypass(history, found),
        *_reviews(cycles),
        *_broken(found),
        *_rewritten(found),
        *_claims(history),
        *_registry(found),
        *also,
    ]
    return sorted(out, key=lambda f: ALL_KINDS.index(f.kind))


def _watched(commit: Commit) -> list[str]:
    """The model and data paths the commit changed (a path has one class: no repeats)."""
    classes = commit.classes
    if "B" not in classes and "C" not in classes:
        return []
    return [*classes.get("B", ()), *classes.get("C", ())]


def _unevidenced(history: History, found: Evidence) -> list[Finding]:
    """Walk backwards, remembering where each path next changes and the newest bundle."""
    by_commit = found.by_commit()
    out: list[Finding] = []
    commits = history.commits
    end = len(commits)
    next_change: dict[str, int] = {}
    nearest = end  # the oldest position with a bundle seen so far, going back
    for i in range(end - 1, -1, -1):
        commit = commits[i]
        if commit.sha in by_commit:
            nearest = i
        paths = _watched(commit)
        if not paths or commit.is_merge:
            continue
        horizon = min([next_change.get(p, end) for p in paths])
        if nearest >= horizon:
            classes = "".join(sorted(c for c in ("B", "C") if c in commit.classes))
            again = sorted(p for p in paths if next_change.get(p, end) == horizon)
            until = (
                f"before {_some(again)} changed again"
                if horizon < end
                else "at it or at any later commit"
            )
            out.append(
                Finding(
                    "unevidenced-change",
                    f"class {classes} change ({_some(paths)}) with no evidence bundle {until}",
                    [commit.sha],
                )
            )
        for path in paths:
            next_change[path] = i
    out.reverse()
    return out


def _some(paths: Iterable[str], shown: int = 3) -> str:
    names = sorted(paths)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _goalposts(history: History, cycles: list[RiskCycle]) -> list[Finding]:
    position = {c.sha: i for i, c in enumerate(history.commits)}
    out: list[Finding] = []
    for cycle in cycles:
        for event in cycle.criteria:
            if event.kind not in _LOOSENING:
                continue
            failing = _last_failure(cycle.evaluations, event, position)
            if failing is None:
                continue
            what = f"measure {event.measure}" if event.measure else f"risk {cycle.risk_id}"
            against = failing.constraint_in_force or failing.constraint
            out.append(
                Finding(
                    "moved-goalposts",
                    f"{event.kind.replace('-', ' ')}: {what} after a failing verdict "
                    f"({failing.observed} against {against})",
                    [event.commit, failing.commit],
                    [failing.bundle],
                    cycle.risk_id,
                    event.measure,
                )
            )
    return out


def _last_failure(
    evaluations: list[Evaluation], event: CriteriaEvent, position: dict[str, int]
) -> Evaluation | None:
    """The newest verdict on the event's measure (any, for a risk) before the event."""
    here = position[event.commit]
    last = None
    for evaluation in evaluations:
        if position.get(evaluation.commit, here) >= here:
            continue
        same = evaluation.measure == event.measure
        if same or (event.measure is None and evaluation.enforcement == "gate"):
            last = evaluation
    if last is None or (last.verdict_in_force or last.verdict) != "fail":
        return None
    return last


def _bypass(history: History, found: Evidence) -> list[Finding]:
    promoted: dict[str, list[str]] = {}
    patterns = _promotion_tags(history)
    for sha, names in history.tags.items():
        said = [p for p in (promotions.promotion(n, patterns) for n in names) if p is not None]
        if said:
            promoted.setdefault(sha, []).extend(said)
    for promotion in found.promotions:
        promoted.setdefault(promotion.commit, []).append(
            f"{promotion.predicate_type} {promotion.ref}"
        )
    out: list[Finding] = []
    for sha, standing in standing_evidence(history, found, set(promoted)).items():
        how = ", ".join(promoted[sha])
        if standing is None:
            out.append(Finding("gate-bypass", f"promoted ({how}) with no evidence bundle", [sha]))
        elif standing.gate != "pass":
            out.append(
                Finding(
                    "gate-bypass",
                    f"promoted ({how}) while its evidence says gate {standing.gate}",
                    list(dict.fromkeys(c for c in (sha, standing.commit) if c)),
                    [standing.ref],
                )
            )
    return out


def _promotion_tags(history: History) -> list[str]:
    """The tag patterns the newest usable manifest declares as promotions."""
    for regime in reversed(history.regimes):
        if regime.manifest is not None:
            return list(regime.manifest.replay.promotion_tags)
    return []


def standing_evidence(
    history: History, found: Evidence, commits: set[str]
) -> dict[str, Bundle | None]:
    """The bundle standing at each walked commit of ``commits``, in walk order: the newest
    at or after the last B/C change before it (None: nothing evidences that version)."""
    by_commit = found.by_commit()
    out: dict[str, Bundle | None] = {}
    standing: Bundle | None = None
    for commit in history.commits:
        if _watched(commit) and not commit.is_merge:
            standing = None
        bundles = by_commit.get(commit.sha)
        if bundles:
            standing = bundles[-1]
        if commit.sha in commits:
            out[commit.sha] = standing
    return out


def _registry(found: Evidence) -> list[Finding]:
    """What the sidecar attested about the model registry, as it saw it."""
    return [
        Finding(
            seen.kind,
            f"{seen.uri} held the alias {seen.alias} {registry_statements.MEANING[seen.kind]} "
            f"(seen by the registry sidecar at {seen.observed or 'an unrecorded time'})",
            [],
            [seen.ref],
        )
        for seen in found.registry
    ]


def _reviews(cycles: list[RiskCycle]) -> list[Finding]:
    out: list[Finding] = []
    for cycle in cycles:
        for gap in cycle.review.missed:
            until = gap.end or "now"
            out.append(
                Finding(
                    "review-overdue",
                    f"no review of risk {cycle.risk_id} from {gap.start[:10]} until {until[:10]}"
                    f" (due {gap.due[:10]}, interval {cycle.review.interval})",
                    list(dict.fromkeys(c for c in (gap.start_commit, gap.end_commit) if c)),
                    risk=cycle.risk_id,
                )
            )
    return out


def _broken(found: Evidence) -> list[Finding]:
    out = [
        Finding(
            "broken-evidence",
            f"ledger entry does not verify: {broken.reason}",
            [broken.commit] if broken.commit and _SHA.fullmatch(broken.commit) else [],
            [broken.ref],
        )
        for broken in found.broken
    ]
    out += [
        Finding(
            "broken-evidence",
            f"{stale.reason} (the file in the work tree is not what this entry recorded)",
            [],
            [stale.ref],
        )
        for stale in found.stale_subjects
    ]
    return out


def _rewritten(found: Evidence) -> list[Finding]:
    """One finding per log and witness: the log's key signed another history."""
    return [
        Finding(
            REWRITTEN_KIND,
            f"log {bad.log_id[:16]} {bad.reason.removeprefix('rewritten: ')}",
            [],
            [bad.ref],
        )
        for bad in found.rewritten
    ]


def _claims(history: History) -> list[Finding]:
    out: list[Finding] = []
    for version in history.claims:
        if version.previous_hash is None or version.hash == version.previous_hash:
            continue
        if version.prior_hash == version.previous_hash:
            continue
        said = f"prior_hash {version.prior_hash[:12]}" if version.prior_hash else "no prior_hash"
        out.append(
            Finding(
                "claim-amended",
                f"claim {version.claim_id} in {version.path} changed with {said}; "
                f"it replaces {version.previous_hash[:12]}",
                [version.commit],
            )
        )
    return out
