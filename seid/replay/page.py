"""The HTML rendering of a reconstruct report: one self-contained page.

Inline CSS and SVG only, and a Content-Security-Policy that forbids every request, so
the page shows the same thing offline, in an archive, or in a locked-down browser. Per
risk, a timeline of each metric against the threshold in force, points coloured by
verdict, with criteria (A), treatment (B) and data (C) changes marked.
"""

from __future__ import annotations

import html as htmlmod
import string
from collections.abc import Mapping
from importlib import resources
from typing import Any

from seid.config import Constraint
from seid.isotime import instant
from seid.replay.report import approval_facts
from seid.replay.report import verdicts_text as _verdicts

_COLOURS = {"A": "#6a3fb5", "B": "#1f5fbf", "C": "#c76b00"}
_W, _H, _PAD = 760, 230, 44


def html(doc: Mapping[str, Any]) -> str:
    """One self-contained page: inline CSS and SVG, a CSP that forbids any request."""
    template = resources.files("seid.replay").joinpath("templates/report.html")
    page = string.Template(template.read_text(encoding="utf-8"))
    head = doc["repository"]["head"] or "no commits"
    return page.substitute(
        version=_e(doc["generator"]["version"]),
        head=_e(head[:12]),
        overview=_html_overview(doc),
        findings=_html_findings(doc["findings"]),
        approval="<h2>Approval</h2><ul>"
        + "".join(f"<li>{_e(fact)}</li>" for fact in approval_facts(doc))
        + "</ul>",
        risks="\n".join(_html_risk(risk, doc) for risk in doc["risks"]),
    )


def _e(value: Any) -> str:
    return htmlmod.escape("" if value is None else str(value), quote=True)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    """Cells are already-escaped HTML."""
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _code(sha: str | None) -> str:
    return f"<code title='{_e(sha)}'>{_e(sha[:12])}</code>" if sha else ""


def _html_overview(doc: Mapping[str, Any]) -> str:
    repo, hist, ledger = doc["repository"], doc["history"], doc["ledger"]
    items = [
        f"head {_code(repo['head'])}, generated {_e(doc['generated'])}",
        f"{hist['commits']} commits ({hist['merges']} merges); changes by class "
        + ", ".join(f"{c}: {n}" for c, n in hist["classified"].items()),
        f"ledger: {len(ledger['logs'])} log(s), {ledger['bundles']} verified bundle(s), "
        f"{len(ledger['broken'])} broken",
        *(f"note: {_e(n['message'])} {_code(n['commit'])}" for n in hist["notes"]),
    ]
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _html_findings(findings: list[Mapping[str, Any]]) -> str:
    rows = [
        [
            _e(f["id"]),
            f"<span class='{_e(f['severity'])}'>{_e(f['severity'])}</span>",
            _e(f["kind"]),
            _e(f["summary"]),
            " ".join(_code(c) for c in f["commits"]),
            _e(" ".join(f["entries"])),
        ]
        for f in findings
    ]
    header = ["id", "severity", "kind", "summary", "commits", "entries"]
    return f"<h2>Findings ({len(findings)})</h2>" + _html_table(header, rows)


def _html_risk(risk: Mapping[str, Any], doc: Mapping[str, Any]) -> str:
    title = f" ({_e(risk['title'])})" if risk["title"] else ""
    review = risk["review"]
    facts = [
        f"6.4.2 identified {_code(risk['identified_sha'])} {_e(risk['identified_date'])}",
        f"provenance {_e(risk['provenance'])}; {risk['recording']['bundles']} bundle(s)",
        f"6.6 review interval {_e(review['interval'] or 'none')}: {review['reviews']} review(s),"
        f" {len(review['missed'])} missed",
        f"6.2 authors {_e(', '.join(risk['communication']['authors']))}",
    ]
    criteria = _html_table(
        ["date", "commit", "author", "change", "measure", "before", "after"],
        [
            [
                _e(c["date"][:10]),
                _code(c["commit"]),
                _e(c["author"]),
                _e(c["kind"]),
                _e(c["measure"]),
                _e(c["before"]),
                _e(c["after"]),
            ]
            for c in risk["criteria"]
        ],
    )
    treatments = _html_table(
        ["date", "commit", "paths", "before", "after", "effective"],
        [
            [
                _e(t["date"][:10]),
                _code(t["commit"]),
                _e(", ".join(t["paths"])),
                _e(_verdicts(t["before"])),
                _e(_verdicts(t["after"])),
                _e(t["effective"]),
            ]
            for t in risk["treatments"]
        ],
    )
    charts = "".join(_svg(risk, measure, doc) for measure in _charted(risk))
    return (
        f"<h2 id='risk-{_e(risk['risk_id'])}'>Risk {_e(risk['risk_id'])}{title}</h2>"
        + "<ul>"
        + "".join(f"<li>{f}</li>" for f in facts)
        + "</ul>"
        + "<h3>6.4.3/6.4.4 Metric against threshold</h3>"
        + (charts or "<p><em>no metrics</em></p>")
        + "<h3>6.3 Criteria</h3>"
        + criteria
        + "<h3>6.5 Treatment</h3>"
        + treatments
    )


def _charted(risk: Mapping[str, Any]) -> list[str]:
    found = [e["measure"] for e in risk["evaluations"] if e["observed"] is not None]
    return list(dict.fromkeys(found))


def _threshold(text: str | None) -> float | None:
    try:
        return Constraint.parse(text).threshold if text else None
    except ValueError:
        return None


def _moment(text: str) -> float:
    moment = instant(text)
    if moment is None:
        raise ValueError(f"not an ISO 8601 time: {text!r}")
    return moment.timestamp()


def _svg(risk: Mapping[str, Any], measure: str, doc: Mapping[str, Any]) -> str:
    """Metric (points coloured by verdict) and threshold in force over time, with the
    criteria (A), treatment (B) and data (C) changes of the history marked."""
    points = [
        e for e in risk["evaluations"] if e["measure"] == measure and e["observed"] is not None
    ]
    marks = [(c["date"], "A", c["kind"], c["commit"]) for c in risk["criteria"]]
    marks += [(t["date"], "B", "treatment", t["commit"]) for t in risk["treatments"]]
    marks += [
        (c["date"], "C", "data", c["commit"])
        for c in doc["history"]["changes"]
        if "C" in c["classes"]
    ]
    at = [_moment(p["date"]) for p in points]
    times = at + [_moment(m[0]) for m in marks]
    values: list[float] = [float(p["observed"]) for p in points]
    limits = [
        (t, _threshold(p["constraint_in_force"] or p["constraint"]))
        for t, p in zip(at, points, strict=True)
    ]
    values += [v for _, v in limits if v is not None]
    t0, t1 = min(times), max(times)
    v0, v1 = min(values), max(values)
    span_t, span_v = (t1 - t0) or 1.0, (v1 - v0) or max(abs(v1), 1.0)
    v0, v1 = v0 - span_v * 0.1, v1 + span_v * 0.1

    def x(t: float) -> float:
        return _PAD + (t - t0) / span_t * (_W - 2 * _PAD)

    def y(v: float) -> float:
        return _H - _PAD + (v0 - v) / (v1 - v0) * (_H - 2 * _PAD)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {_W} {_H}' width='{_W}' "
        f"height='{_H}' role='img' aria-label='{_e(measure)} over time'>",
        f"<text x='{_PAD}' y='16' font-size='12'>{_e(measure)}</text>",
        f"<text x='4' y='{y(v1 - span_v * 0.1):.1f}' font-size='10'>{v1 - span_v * 0.1:.4g}</text>",
        f"<text x='4' y='{y(v0 + span_v * 0.1):.1f}' font-size='10'>{v0 + span_v * 0.1:.4g}</text>",
    ]
    for date, cls, what, sha in marks:
        px = x(_moment(date))
        parts.append(
            f"<line x1='{px:.1f}' x2='{px:.1f}' y1='{_PAD / 2}' y2='{_H - _PAD / 2}' "
            f"stroke='{_COLOURS[cls]}' stroke-dasharray='3 3'><title>{cls} {_e(what)} "
            f"{_e(sha[:12])} {_e(date)}</title></line>"
        )
    steps: list[str] = []
    known = [(t, v) for t, v in limits if v is not None]
    for i, (t, v) in enumerate(known):
        if i:  # a step: the old threshold holds until the commit that moved it
            steps.append(f"{x(t):.1f},{y(known[i - 1][1]):.1f}")
        steps.append(f"{x(t):.1f},{y(v):.1f}")
    if known:
        steps.append(f"{x(t1):.1f},{y(known[-1][1]):.1f}")
    if steps:
        parts.append(
            f"<polyline points='{' '.join(steps)}' fill='none' stroke='#444' stroke-width='1.5'>"
            "<title>threshold in force</title></polyline>"
        )
    for t, point in zip(at, points, strict=True):
        verdict = point["verdict_in_force"] or point["verdict"]
        css = verdict if verdict in ("pass", "fail", "inconclusive") else "other"
        parts.append(
            f"<circle cx='{x(t):.1f}' cy='{y(point['observed']):.1f}' r='4.5' class='{css}'>"
            f"<title>{_e(point['observed'])} {_e(verdict)} ({_e(point['constraint_in_force'])})"
            f" {_e(point['commit'][:12])} {_e(point['bundle'])}</title></circle>"
        )
    parts.append("</svg>")
    legend = "".join(
        f"<span><i class='swatch' style='background:{colour}'></i>{_e(label)}</span>"
        for colour, label in (
            ("#1b7f3b", "pass"),
            ("#c62828", "fail"),
            ("#d89a00", "inconclusive"),
            (_COLOURS["A"], "A criteria"),
            (_COLOURS["B"], "B treatment"),
            (_COLOURS["C"], "C data"),
        )
    )
    return "".join(parts) + f"<p class='legend'>{legend}</p>"
