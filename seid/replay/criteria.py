"""Clause 6.3, criteria: what changed in a risk's criteria between two manifests.

Each change is ``(kind, measure, before, after)``. The kinds that loosen what is
accepted (:data:`RELAXED`, :data:`GATE_REMOVED`, :data:`APPETITE_RAISED`) are the ones
a ``moved-goalposts`` finding looks for after a failing verdict; a relaxed threshold is
found by probing both thresholds and the points around them, whatever the operators.
"""

from __future__ import annotations

from seid.config import Constraint, Manifest, Measure, Risk

RELAXED = "relaxed"
GATE_REMOVED = "gate-removed"
APPETITE_RAISED = "appetite-raised"

Change = tuple[str, str | None, str | None, str | None]


def admits_more(old: Constraint, new: Constraint) -> bool:
    """Whether ``new`` passes some value ``old`` fails (the criterion was relaxed)."""
    points = {old.threshold, new.threshold, (old.threshold + new.threshold) / 2}
    for t in (old.threshold, new.threshold):
        step = max(abs(t), 1.0) * 1e-6
        points |= {t - step, t + step}
    points |= {-1e300, 1e300}
    return any(new.holds(x) and not old.holds(x) for x in points)


def measures_of(risk: Risk) -> dict[str, Measure]:
    return {measure.id: measure for measure in risk.measures}


def risks_of(manifest: Manifest | None) -> dict[str, Risk]:
    return {risk.id: risk for risk in manifest.risk.risks} if manifest else {}


def diff_risk(before: Risk | None, after: Risk | None) -> list[Change]:
    """``(kind, measure, before, after)`` for every change between two versions of a risk."""
    if before is None or after is None:
        return []
    out: list[Change] = []
    if before.likelihood != after.likelihood:
        out.append(("likelihood", None, before.likelihood.value, after.likelihood.value))
    if before.impact != after.impact:
        out.append(("impact", None, _impact(before), _impact(after)))
    old, new = measures_of(before), measures_of(after)
    for mid in sorted(old.keys() - new.keys()):
        kind = GATE_REMOVED if old[mid].enforcement == "gate" else "measure-removed"
        out.append((kind, mid, _show(old[mid]), None))
    for mid in sorted(new.keys() - old.keys()):
        out.append(("measure-added", mid, None, _show(new[mid])))
    for mid in sorted(old.keys() & new.keys()):
        out += _diff_measure(mid, old[mid], new[mid])
    return out


def diff_appetite(before: Manifest | None, after: Manifest | None, risk: Risk) -> list[Change]:
    """The appetite for the risk's impact dimensions raised (relaxed) or lowered."""
    if before is None or after is None:
        return []
    out: list[Change] = []
    for dimension in sorted(risk.impact):
        old, new = before.risk.appetite.get(dimension), after.risk.appetite.get(dimension)
        if old is None or new is None or old == new:
            continue
        kind = APPETITE_RAISED if new.rank > old.rank else "appetite-lowered"
        out.append((kind, None, f"{dimension}={old.value}", f"{dimension}={new.value}"))
    return out


def _diff_measure(mid: str, old: Measure, new: Measure) -> list[Change]:
    out: list[Change] = []
    if old.constraint != new.constraint or old.metric != new.metric:
        if old.metric != new.metric:
            kind = "metric-changed"
        elif admits_more(old.constraint, new.constraint):
            kind = RELAXED
        else:
            kind = "tightened"
        out.append((kind, mid, _show(old), _show(new)))
    if old.enforcement != new.enforcement:
        kind = GATE_REMOVED if old.enforcement == "gate" else "gate-added"
        out.append((kind, mid, old.enforcement, new.enforcement))
    return out


def _show(measure: Measure) -> str:
    return f"{measure.metric} {measure.constraint}"


def _impact(risk: Risk) -> str:
    return ", ".join(f"{k}={v.value}" for k, v in sorted(risk.impact.items()))
