"""Geometry of the report's drawings: the risk matrix, the cycle timeline, the measure
charts. Numbers and raw labels only; the template writes the SVG, so every label goes
through the template engine's escaping like any other text on the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from seid.config import Constraint
from seid.isotime import instant

WIDTH, HEIGHT, PAD = 760.0, 250.0, 56.0
CELL = 64.0  # one matrix cell, in SVG units
LEVEL_WORDS = {
    "VERY_LOW": "very low",
    "LOW": "low",
    "MEDIUM": "medium",
    "HIGH": "high",
    "VERY_HIGH": "very high",
}


@dataclass(frozen=True)
class Axis:
    """A dated x axis from ``start`` to ``end`` across the drawing's inner width."""

    start: datetime
    end: datetime
    left: float = PAD
    right: float = WIDTH - PAD

    @classmethod
    def over(cls, times: Iterable[datetime], **edges: float) -> Axis:
        found = sorted(times)
        start, end = found[0], found[-1]
        pad = (end - start) / 20 or timedelta(hours=1)
        return cls(start - pad, end + pad, **edges)

    def x(self, when: datetime) -> float:
        span = (self.end - self.start).total_seconds() or 1.0
        return self.left + (when - self.start).total_seconds() / span * (self.right - self.left)

    def ticks(self, count: int = 5) -> list[tuple[float, str]]:
        """Evenly spaced dated ticks; with hours when the span is under three days."""
        span = self.end - self.start
        form = "%Y-%m-%d %H:%M" if span < timedelta(days=3) else "%Y-%m-%d"
        steps = [self.start + span * (i + 0.5) / count for i in range(count)]
        return [(self.x(t), t.strftime(form)) for t in steps]


@dataclass(frozen=True)
class Mark:
    """Something at a time: x, its lane or value, a word for its colour, and a tooltip."""

    x: float
    y: float
    tone: str
    label: str
    title: str
    row: int = 0  # the label's line above the mark, so near neighbours' labels do not overlap


@dataclass
class Chart:
    """One measure over time: points, whiskers, the threshold in force, A/B/C changes."""

    measure: str
    axis: Axis
    ticks: list[tuple[float, str]]
    yticks: list[tuple[float, str]]
    points: list[Mark] = field(default_factory=list)
    whiskers: list[tuple[float, float, float]] = field(default_factory=list)
    threshold: list[tuple[float, float]] = field(default_factory=list)
    threshold_label: str = ""  # the criterion in force at the newest point
    label_y: float = 0.0
    earlier: list[tuple[float, float, str]] = field(default_factory=list)  # moved from
    changes: list[Mark] = field(default_factory=list)
    width: float = WIDTH
    height: float = HEIGHT
    pad: float = PAD


def _threshold(text: str | None) -> float | None:
    try:
        return Constraint.parse(text).threshold if text else None
    except ValueError:
        return None


def chart(measure: str, evaluations: Sequence[Mapping[str, Any]], changes: list[Mark]) -> Chart:
    """The measure's observations (by commit date) with the criteria in force at each.

    ``changes`` carry their time in ``x`` as a POSIX timestamp; they are placed here."""
    points = [
        (when, e)
        for e in evaluations
        if e["measure"] == measure
        and e["observed"] is not None
        and (when := instant(e["date"])) is not None
    ]
    stamps = [datetime.fromtimestamp(c.x, UTC) for c in changes]
    axis = Axis.over([t for t, _ in points] + stamps)
    values = [float(e["observed"]) for _, e in points]
    values += [
        v for _, e in points for k, v in (e.get("interval") or {}).items() if k != "ci_level"
    ]
    texts = [(t, e["constraint_in_force"] or e["constraint"]) for t, e in points]
    limits = [(t, _threshold(text), text) for t, text in texts]
    values += [v for _, v, _ in limits if v is not None]
    low, high = min(values), max(values)
    margin = (high - low) * 0.12 or max(abs(high) * 0.1, 0.01)
    low, high = low - margin, high + margin

    def y(v: float) -> float:
        return HEIGHT - PAD + (low - v) / (high - low) * (HEIGHT - 2 * PAD)

    out = Chart(measure, axis, axis.ticks(), [(y(v), f"{v:.4g}") for v in _steps(low, high)])
    for when, e in points:
        verdict = e["verdict_in_force"] or e["verdict"]
        ci = e.get("interval") or {}
        title = f"{e['observed']:.6g} {verdict} ({e['constraint_in_force'] or e['constraint']})"
        if "ci_low" in ci:
            level = f"{ci['ci_level']:.0%} " if ci.get("ci_level") else ""
            title += f"; {level}CI {ci['ci_low']:.4g} to {ci['ci_high']:.4g}"
            out.whiskers.append((axis.x(when), y(ci["ci_low"]), y(ci["ci_high"])))
        title += f"; commit {e['commit'][:12]}, bundle {e['bundle']}, {e['date'][:10]}"
        out.points.append(Mark(axis.x(when), y(float(e["observed"])), verdict, verdict, title))
    known = [(t, v, text) for t, v, text in limits if v is not None]
    for i, (t, v, _) in enumerate(known):
        if i:  # a step: the old threshold holds until the commit that moved it
            out.threshold.append((axis.x(t), y(known[i - 1][1])))
        if i and known[i - 1][2] != known[i][2]:  # label what it was, where it moved,
            old_y = y(known[i - 1][1])  # on the side away from the new line
            below = old_y > y(v)
            out.earlier.append((axis.x(t), old_y + (12 if below else -4), f"was {known[i - 1][2]}"))
        out.threshold.append((axis.x(t), y(v)))
    if known:
        out.threshold.append((axis.right, y(known[-1][1])))
        moved_up = len(known) > 1 and known[-1][1] < known[-2][1]  # lower on the page
        out.label_y = y(known[-1][1]) + (12 if moved_up else -4)
        out.threshold_label = f"threshold {known[-1][2]}"
    placed = [
        Mark(axis.x(s), PAD / 2, c.tone, c.label, c.title)
        for s, c in zip(stamps, changes, strict=True)
    ]
    out.changes = _stagger(placed, near=1.0)  # one commit's classes share one line
    return out


def _steps(low: float, high: float, count: int = 4) -> list[float]:
    return [low + (high - low) * (i + 0.5) / count for i in range(count)]


def change_marks(doc: Mapping[str, Any], risk: Mapping[str, Any]) -> list[Mark]:
    """The risk's criteria (A) and treatment (B) changes and the data (C) changes, with
    their time as a POSIX timestamp in ``x`` (a chart places them on its own axis)."""
    found = [(c["date"], "A", c["kind"], c["commit"]) for c in risk["criteria"]]
    found += [(t["date"], "B", "treatment", t["commit"]) for t in risk["treatments"]]
    found += [
        (c["date"], "C", "data", c["commit"])
        for c in doc["history"]["changes"]
        if "C" in c["classes"]
    ]
    marks = []
    for date, cls, what, sha in found:
        when = instant(date)
        if when is not None:
            title = f"{cls} {what}, commit {sha[:12]}, {date[:10]}"
            marks.append(Mark(when.timestamp(), 0.0, cls, cls, title))
    return marks


LANES = ("A criteria", "B treatment", "C data", "bundles", "approvals", "promotions", "findings")
LANE_HEIGHT = 30.0


@dataclass
class Timeline:
    axis: Axis
    ticks: list[tuple[float, str]]
    lanes: list[tuple[float, str]]
    marks: list[Mark]
    width: float = WIDTH + 80
    height: float = PAD + LANE_HEIGHT * len(LANES) + 30
    undated: int = 0


def timeline(doc: Mapping[str, Any]) -> Timeline | None:
    """The whole cycle in lanes over the replayed period; None when nothing is dated."""
    dates = commit_dates(doc)
    events: list[tuple[str, str | None, str, str, str]] = []  # lane, time, tone, label, title
    for c in doc["history"]["changes"]:
        for cls in c["classes"]:
            lane = LANES["ABC".index(cls)]
            events.append(
                (lane, c["date"], cls, cls, f"{cls}: {c['subject']} ({c['commit'][:12]})")
            )
    for name, table in (doc.get("tables") or {}).items():  # data changes git does not see
        for c in table.get("commits", []):
            if c.get("data_change"):
                what = f"table {name} v{c['version']}: {c['operation']}"
                events.append((LANES[2], c.get("at"), "C", "C", f"C: {what}"))
    for g in doc["ledger"].get("gates", []):
        when = g["measured"] or dates.get(g["commit"] or "")
        gate = g["gate"] or "unknown"
        events.append(("bundles", when, gate, gate, f"bundle {g['entry']}: gate {gate}"))
    approval = doc.get("approval") or {}
    decisions = [approval.get("requested_by"), *approval.get("approved_by", [])]
    decisions += approval.get("rejected_by", [])
    for d in filter(None, decisions):
        tone = {"grant": "pass", "reject": "fail"}.get(d["decision"], "other")
        title = f"{d['decision']} by {d['name']} ({d['role'] or 'no role'})"
        events.append(("approvals", d["at"], tone, d["decision"], title))
    for p in doc["ledger"]["promotions"]:
        what = p.get("promoted") or f"commit {p['commit'][:12]}"
        events.append(("promotions", p.get("at"), "other", "promoted", f"promoted: {what}"))
    for f in doc["findings"]:
        when = next((dates[c] for c in f["commits"] if c in dates), None)
        events.append(
            (
                "findings",
                when,
                f["severity"],
                f"{f['id']} {f['severity']}",
                f"{f['id']}: {f['summary']}",
            )
        )
    dated = [(e, t) for e in events if (t := instant(e[1])) is not None]
    if not dated:
        return None
    left = PAD + 80
    axis = Axis.over([t for _, t in dated], left=left, right=WIDTH + 80 - PAD / 2)
    lanes = [(PAD + LANE_HEIGHT * (i + 0.5), name) for i, name in enumerate(LANES)]
    marks = [Mark(axis.x(t), lanes[LANES.index(e[0])][0], e[2], e[3], e[4]) for e, t in dated]
    return Timeline(axis, axis.ticks(6), lanes, _stagger(marks), undated=len(events) - len(dated))


def _stagger(marks: list[Mark], near: float = 14.0) -> list[Mark]:
    """Marks at one point of a lane become one (labels and titles joined); marks closer
    than ``near`` take turns on two label lines."""
    out: list[Mark] = []
    for mark in sorted(marks, key=lambda m: (m.y, m.x)):
        before = out[-1] if out else None
        if before is None or before.y != mark.y or mark.x - before.x >= near:
            out.append(mark)
        elif mark.x - before.x < 1.0:
            label = before.label if mark.label in before.label else f"{before.label} {mark.label}"
            title = f"{before.title}\n{mark.title}"
            out[-1] = Mark(before.x, before.y, before.tone, label, title, before.row)
        else:
            row = (before.row + 1) % 2
            out.append(Mark(mark.x, mark.y, mark.tone, mark.label, mark.title, row))
    return out


def commit_dates(doc: Mapping[str, Any]) -> dict[str, str]:
    """Every commit date the document records, by commit id."""
    dates = {c["commit"]: c["date"] for c in doc["history"]["changes"]}
    for risk in doc["risks"]:
        for item in (*risk["criteria"], *risk["evaluations"], *risk["treatments"]):
            dates.setdefault(item["commit"], item["date"])
    return dates


@dataclass
class Matrix:
    """One impact dimension's 5x5 matrix: cells by level, risks from inherent to residual."""

    dimension: str
    cells: list[tuple[float, float, str]]  # x, y, level
    rows: list[tuple[float, str]]  # likelihood labels
    columns: list[tuple[float, str]]  # impact labels
    arrows: list[tuple[float, float, float, float, str, str]] = field(default_factory=list)
    size: float = CELL * 5 + 56
    cell: float = CELL


def matrices(program: Mapping[str, Any]) -> list[Matrix]:
    """One matrix per impact dimension the analysis names, each risk numbered."""
    grid = program["matrix"]
    likelihoods, impacts = grid["likelihood"], grid["impact"]
    left, top = 130.0, 10.0

    def at(likelihood: str, impact: str) -> tuple[float, float]:
        column, row = impacts.index(impact), 4 - likelihoods.index(likelihood)
        return left + column * CELL, top + row * CELL

    risks = program["analysis"]["risk_analysis"]
    dims = list(dict.fromkeys(d["dimension"] for r in risks for d in r["dimensions"]))
    out = []
    for dim in dims:
        cells = [
            (*at(lk, im), grid["cells"][i][j])
            for i, lk in enumerate(likelihoods)
            for j, im in enumerate(impacts)
        ]
        rows = [
            (at(lk, impacts[0])[1] + CELL / 2, lk.replace("_", " ").lower()) for lk in likelihoods
        ]
        cols = [(at(likelihoods[0], im)[0] + CELL / 2, LEVEL_WORDS.get(im, im)) for im in impacts]
        matrix = Matrix(dim, cells, rows, cols)
        for number, r in enumerate(risks, 1):
            for d in r["dimensions"]:
                if d["dimension"] != dim:
                    continue
                x0, y0 = at(r["likelihood"], d["impact"])
                x1, y1 = at(r["residual_likelihood"], d["impact"])
                nudge = 12 + (number - 1) % 4 * 13
                matrix.arrows.append(
                    (x0 + nudge, y0 + 18, x1 + nudge, y1 + CELL - 14, str(number), r["risk_id"])
                )
        out.append(matrix)
    return out
