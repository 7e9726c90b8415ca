"""The ISO/IEC 23894 cycle of each risk, drawn from the walked history and the evidence.

| clause | drawn from |
|---|---|
| 6.2 communication | authors of the commits that set criteria or treat, signers of bundles |
| 6.3 criteria | manifest changes, compared with the manifest of the first parent |
| 6.4.2 identification | the commit that first names the risk |
| 6.4.3/6.4.4 analysis, evaluation | verdicts in bundles, re-judged against the criteria in force |
| 6.5 treatment | class B commits and the verdicts before and after them |
| 6.6 monitoring, review | manifest changes and bundles judging the risk vs ``review_interval`` |
| 6.7 recording | the bundles that evidence the risk (gaps are findings) |

Order is the walk's (parents before children); a side branch is compared with its own
first parent, so a change made on a branch is counted once, where it was made.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from seid import review
from seid.config import Manifest, Measure, Risk
from seid.isotime import instant
from seid.replay.criteria import diff_appetite, diff_risk, measures_of, risks_of
from seid.replay.history import Commit, History
from seid.replay.join import Bundle, Evidence
from seid.risk import Matrix, analyze_risk


@dataclass(frozen=True)
class CriteriaEvent:
    """A change to what a risk is judged by (6.3), at the commit that made it."""

    commit: str
    date: str
    author: str
    kind: str
    measure: str | None = None
    before: str | None = None
    after: str | None = None


@dataclass(frozen=True)
class Evaluation:
    """One verdict of one bundle (6.4.3 metric, 6.4.4 verdict) and the criteria in force."""

    commit: str
    date: str
    measured: str | None
    bundle: str
    signer: str
    measure: str
    metric: str
    observed: float | None
    verdict: str
    constraint: str | None
    constraint_in_force: str | None
    verdict_in_force: str | None
    enforcement: str | None
    interval: dict[str, float] | None = None  # the bundle's confidence interval (power)
    # The table versions the measured run was pinned to (declared lakehouse tables).
    tables: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Treatment:
    """A class B commit (6.5): the verdicts before it and the first ones after it."""

    commit: str
    date: str
    author: str
    paths: list[str]
    before: dict[str, str]
    after: dict[str, str]
    after_bundle: str | None
    effective: bool | None


@dataclass(frozen=True)
class Gap:
    """A stretch longer than the review interval without a review (6.6)."""

    start_commit: str | None
    start: str
    due: str
    end_commit: str | None
    end: str | None


@dataclass(frozen=True)
class Review:
    """What 6.6 counted: each edit of the manifest naming the risk, and each bundle judging
    it (once, however many of its measures it judged), is one review event."""

    interval: str | None
    reviews: int
    last: str | None
    missed: list[Gap]
    edits: int = 0
    bundles: int = 0


@dataclass
class RiskCycle:
    """Everything replay knows about one risk, clause by clause."""

    risk_id: str
    title: str | None = None
    identified: CriteriaEvent | None = None
    removed: CriteriaEvent | None = None
    criteria: list[CriteriaEvent] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    treatments: list[Treatment] = field(default_factory=list)
    review: Review = field(default_factory=lambda: Review(None, 0, None, []))
    authors: list[str] = field(default_factory=list)
    signers: list[str] = field(default_factory=list)
    bundles: int = 0
    assessment: dict[str, Any] | None = None


@dataclass
class _Context:
    history: History
    by_commit: Mapping[str, list[Bundle]]
    position: dict[str, int]
    now: datetime
    risks: list[dict[str, Risk]]  # by regime: a few manifests serve thousands of commits

    def risks_at(self, commit: Commit | None) -> dict[str, Risk]:
        return {} if commit is None else self.risks[commit.regime]


def build(history: History, found: Evidence, now: datetime) -> list[RiskCycle]:
    """The cycle of every risk any manifest in the walked history names."""
    position = {commit.sha: i for i, commit in enumerate(history.commits)}
    risks = [risks_of(regime.manifest) for regime in history.regimes]
    ctx = _Context(history, found.by_commit(), position, now, risks)
    cycles: dict[str, RiskCycle] = {}
    for commit in history.commits:
        _criteria(ctx, commit, cycles)
        for bundle in ctx.by_commit.get(commit.sha, ()):
            _evaluate(ctx, commit, bundle, cycles)
    for cycle in cycles.values():
        cycle.treatments = _treatments(ctx, cycle)
        cycle.review = _review(ctx, cycle)
        cycle.signers = sorted({e.signer for e in cycle.evaluations})
        cycle.bundles = len({e.bundle for e in cycle.evaluations})
        cycle.authors = sorted(
            {e.author for e in cycle.criteria} | {t.author for t in cycle.treatments}
        )
        cycle.assessment = _assessment(history, cycle.risk_id)
    return list(cycles.values())


def _manifest(history: History, commit: Commit | None) -> Manifest | None:
    return None if commit is None else history.regime_of(commit).manifest


def _parent(ctx: _Context, commit: Commit) -> Commit | None:
    if not commit.parents or commit.parents[0] not in ctx.position:
        return None
    return ctx.history.commits[ctx.position[commit.parents[0]]]


def _criteria(ctx: _Context, commit: Commit, cycles: dict[str, RiskCycle]) -> None:
    if commit.is_merge:
        return
    parent = _parent(ctx, commit)
    if parent is not None and parent.regime == commit.regime:
        return
    after_manifest = _manifest(ctx.history, commit)
    before, after = ctx.risks_at(parent), ctx.risks_at(commit)
    if after_manifest is None and ctx.history.regime_of(commit).error:
        return  # an invalid manifest changes nothing: the last usable one stays in force
    stamp = (commit.sha, commit.date, commit.author)
    known = parent is not None or not commit.parents  # range start: nothing to compare with
    for rid, risk in after.items():
        cycle = cycles.setdefault(rid, RiskCycle(rid, risk.title))
        if rid not in before and known:
            event = CriteriaEvent(*stamp, "identified" if cycle.identified is None else "restored")
            cycle.identified = cycle.identified or event
            cycle.criteria.append(event)
        changes = diff_risk(before.get(rid), risk)
        if rid in before:
            changes += diff_appetite(_manifest(ctx.history, parent), after_manifest, risk)
        for kind, measure, old, new in changes:
            cycle.criteria.append(CriteriaEvent(*stamp, kind, measure, old, new))
    for rid in sorted(before.keys() - after.keys()):
        event = CriteriaEvent(*stamp, "risk-removed")
        cycle = cycles.setdefault(rid, RiskCycle(rid, before[rid].title))
        cycle.removed = event
        cycle.criteria.append(event)


def _evaluate(ctx: _Context, commit: Commit, bundle: Bundle, cycles: dict[str, RiskCycle]) -> None:
    in_force = ctx.risks_at(commit)
    for entry in bundle.verdicts:
        rid, mid = str(entry.get("risk")), str(entry.get("measure"))
        risk = in_force.get(rid)
        cycle = cycles.setdefault(rid, RiskCycle(rid, risk.title if risk else None))
        measure = measures_of(risk).get(mid) if risk else None
        observed = _number(entry.get("observed"))
        cycle.evaluations.append(
            Evaluation(
                commit=commit.sha,
                date=commit.date,
                measured=bundle.when,
                bundle=bundle.ref,
                signer=bundle.log_id,
                measure=mid,
                metric=str(entry.get("metric")),
                observed=observed,
                verdict=str(entry.get("verdict")),
                constraint=_str(entry.get("constraint")),
                constraint_in_force=str(measure.constraint) if measure else None,
                verdict_in_force=_rejudge(measure, observed, str(entry.get("verdict"))),
                enforcement=measure.enforcement if measure else _str(entry.get("enforcement")),
                interval=_confidence(bundle, mid, str(entry.get("metric"))),
                tables=bundle.table_versions(),
            )
        )


def _rejudge(measure: Measure | None, observed: float | None, recorded: str) -> str | None:
    """The verdict under the criteria in force; a recorded CI verdict is kept as is."""
    if measure is None:
        return None
    if observed is None or recorded in ("inconclusive", "declared", "missing"):
        return recorded
    return "pass" if measure.constraint.holds(observed) else "fail"


def _confidence(bundle: Bundle, measure: str, metric: str) -> dict[str, float] | None:
    """The bundle's confidence interval for the measure (its ``power`` block, keyed by
    measure id or by metric name), when it has both ends as numbers."""
    metrics = bundle.predicate.get("metrics")
    if not isinstance(metrics, dict):
        return None
    entry = metrics.get(measure, metrics.get(metric))
    power = entry.get("power") if isinstance(entry, dict) else None
    if not isinstance(power, dict):
        return None
    ends = {k: _number(power.get(k)) for k in ("ci_low", "ci_high", "ci_level")}
    if ends["ci_low"] is None or ends["ci_high"] is None:
        return None
    return {k: v for k, v in ends.items() if v is not None}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _latest(evaluations: Iterable[Evaluation]) -> dict[str, str]:
    out: dict[str, str] = {}
    for evaluation in evaluations:
        out[evaluation.measure] = evaluation.verdict_in_force or evaluation.verdict
    return out


def _treatments(ctx: _Context, cycle: RiskCycle) -> list[Treatment]:
    """Every non-merge class B commit, with the risk's verdicts around it (one pass).

    "After" is the first bundle at or after the commit and before the next class B
    commit, re-judged against the criteria in force *at the treatment*: a later
    relaxation must not make a treatment look effective.
    """
    out: list[Treatment] = []
    commits = ctx.history.commits
    evaluations = cycle.evaluations  # in walk order, as _evaluate appended them
    at = [ctx.position[e.commit] for e in evaluations] + [len(commits)]  # ends in a sentinel
    treated = [i for i, c in enumerate(commits) if "B" in c.classes and not c.is_merge]
    latest: dict[str, str] = {}
    done = 0
    for k, here in enumerate(treated):
        while at[done] < here:
            latest.update(_latest([evaluations[done]]))
            done += 1
        commit = commits[here]
        risk = ctx.risks_at(commit).get(cycle.risk_id)
        if risk is None:
            continue
        horizon = treated[k + 1] if k + 1 < len(treated) else len(commits)
        first = evaluations[done].bundle if at[done] < horizon else None
        after = _judged_at(_same_bundle(evaluations, done), risk) if first else {}
        out.append(
            Treatment(
                commit.sha,
                commit.date,
                commit.author,
                commit.classes["B"],
                dict(latest),
                after,
                first,
                _effective(latest, after) if first else None,
            )
        )
    return out


def _judged_at(evaluations: Iterable[Evaluation], risk: Risk) -> dict[str, str]:
    measures = measures_of(risk)
    return {
        e.measure: _rejudge(measures.get(e.measure), e.observed, e.verdict) or e.verdict
        for e in evaluations
    }


def _effective(before: Mapping[str, str], after: Mapping[str, str]) -> bool | None:
    """True when a failing measure now passes; False when a failing one still does not;
    None when nothing was failing (there was nothing to treat)."""
    failing = [m for m, v in before.items() if v == "fail" and m in after]
    if not failing:
        return None
    return any(after[m] == "pass" for m in failing)


def _same_bundle(evaluations: list[Evaluation], start: int) -> Iterator[Evaluation]:
    """The evaluations of the bundle at ``start`` (one bundle's verdicts are adjacent)."""
    bundle = evaluations[start].bundle
    for evaluation in evaluations[start:]:
        if evaluation.bundle != bundle:
            return
        yield evaluation


def _review(ctx: _Context, cycle: RiskCycle) -> Review:
    """Reviews are manifest changes and bundles judging the risk (when they ran, so a
    scheduled re-run counts); gaps past the interval are missed reviews."""
    found: list[tuple[datetime | None, str]] = []
    names = [r.manifest.path.name if r.manifest else None for r in ctx.history.regimes]
    for commit in ctx.history.commits:
        changed = commit.classes.get("A")
        if changed and names[commit.regime] in changed and cycle.risk_id in ctx.risks_at(commit):
            found.append((instant(commit.date), commit.sha))
    edits = len(found)
    judged = {e.bundle: e for e in cycle.evaluations}.values()  # one event per bundle
    found += [(instant(e.measured) or instant(e.date), e.commit) for e in judged]
    events = sorted(((t, sha) for t, sha in found if t is not None), key=lambda e: e[0])
    interval = _interval(ctx.history)
    missed: list[Gap] = []
    if interval and events and cycle.removed is None:
        stops: list[tuple[datetime, str | None]] = [*events[1:], (ctx.now, None)]
        for (start, sha), (end, end_sha) in zip(events, stops, strict=True):
            if review.overdue(start, interval, end):
                missed.append(
                    Gap(
                        sha,
                        start.isoformat(),
                        review.due(start, interval).isoformat(),
                        end_sha,
                        None if end_sha is None else end.isoformat(),
                    )
                )
    last = events[-1][0].isoformat() if events else None
    return Review(interval, len(events), last, missed, edits, len(judged))


def _interval(history: History) -> str | None:
    """The review interval of the newest usable manifest."""
    for commit in reversed(history.commits):
        manifest = _manifest(history, commit)
        if manifest is not None:
            return manifest.risk.review_interval
    return None


def _assessment(history: History, risk_id: str) -> dict[str, Any] | None:
    """The sei engine's ``assessment`` block, from the newest manifest naming the risk."""
    for commit in reversed(history.commits):
        manifest = _manifest(history, commit)
        risk = risks_of(manifest).get(risk_id)
        if manifest is None or risk is None:
            continue
        analysis = analyze_risk(
            risk, manifest.risk.appetite, Matrix.from_criteria(manifest.risk.criteria)
        )
        return {
            "likelihood": analysis.likelihood.value,
            "residual_declared_likelihood": analysis.residual_likelihood.value,
            "dimensions": [d.to_dict() for d in analysis.dimensions],
        }
    return None
