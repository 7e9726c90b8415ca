"""The HTML rendering of a reconstruct report: the document a risk officer reads.

One self-contained page rendered by Jinja2 with autoescaping: commit messages, author
names and bundle strings are untrusted, so no text reaches the page unescaped (the
drawings are geometry from :mod:`seid.replay.svg`, written by the template too). Inline
CSS and SVG only, and a Content-Security-Policy that forbids every request, so the page
reads the same offline, in an archive or in a locked-down browser, and needs no script.
Every colour carries a word (level, verdict, severity, status), for greyscale print and
colour-blind readers. A print stylesheet paginates it: the register first, a page per
risk, and the commit and generation time in every page footer.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from seid.isotime import instant
from seid.replay import conformance, forge, svg
from seid.replay.report import approval_facts, review_text, verdicts_text

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
SIGN_HOW = (
    "sign it by writing the report with --out DIR and --key PATH, or with SEID_SIGNING_KEY "
    "set to a private key ('seid key generate' makes one)"
)


@cache
def _environment() -> jinja2.Environment:
    templates = resources.files("seid.replay").joinpath("templates")

    def load(name: str) -> str:
        return templates.joinpath(name).read_text(encoding="utf-8")

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["word"] = lambda level: svg.LEVEL_WORDS.get(level, level or "none")
    env.filters["cell"] = _cell
    env.filters["css_text"] = lambda text: "".join(
        c for c in str(text) if c.isalnum() or c in " :+-."
    )
    return env


def _css_text(text: Any) -> str:
    """Only characters that need no escaping in a CSS string (a footer holds a commit id
    and a time; the template engine's HTML escaping does not apply inside <style>)."""
    return "".join(c for c in str(text) if c.isascii() and (c.isalnum() or c in " :+-."))


def _cell(value: Any) -> str:
    """A value as a reader says it: yes/no, not Python's True/False; a dash for nothing."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "-" if value is None else str(value)


def html(doc: Mapping[str, Any], signed_by: str | None = None, unsigned: str | None = None) -> str:
    """The page. ``signed_by`` is the key id that signed ``reconstruct.json``; else
    ``unsigned`` says why it was not signed."""
    if signed_by is None:
        why = unsigned or "rendered without --out: nothing was written, so nothing was signed"
        signing = f"The report is {why}. To make it evidence, {SIGN_HOW}."
    else:
        signing = f"reconstruct.json is signed by key {signed_by[:16]} (reconstruct.json.sig)."
    site = doc["repository"].get("web")
    return (
        _environment()
        .get_template("report.html")
        .render(
            doc=doc,
            signing=signing,
            signed=signed_by is not None,
            program=doc.get("program"),
            register=register(doc),
            findings=sorted(
                doc["findings"], key=lambda f: (SEVERITY_ORDER.get(f["severity"], 9), f["id"])
            ),
            severities={
                s: sum(1 for f in doc["findings"] if f["severity"] == s) for s in SEVERITY_ORDER
            },
            approval_facts=approval_facts(doc),
            matrices=svg.matrices(doc["program"]) if doc.get("program") else [],
            timeline=svg.timeline(doc),
            risks=[_risk(doc, r) for r in doc["risks"]],
            standards=conformance.build(doc, "").values(),
            uncited=conformance.citations(doc)[1],
            commit_url=lambda sha: forge.commit_url(site, sha),
            verdicts_text=verdicts_text,
            period=_period(doc),
        )
    )


def _rank(finding: Mapping[str, Any]) -> tuple[int, str]:
    """Findings first by severity, then in the report's order."""
    return SEVERITY_ORDER.get(finding["severity"], len(SEVERITY_ORDER)), finding["id"]


def _period(doc: Mapping[str, Any]) -> dict[str, Any]:
    dates = sorted(d for d in svg.commit_dates(doc).values() if instant(d))
    return {"from": dates[0][:10] if dates else None, "to": dates[-1][:10] if dates else None}


def register(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per risk of the analysis at head, with its gates and review."""
    program = doc.get("program")
    if not program:
        return []
    cycles = {r["risk_id"]: r for r in doc["risks"]}
    rows = []
    for analysis in program["analysis"]["risk_analysis"]:
        rid = analysis["risk_id"]
        treatments = [t for t in program["treatments"] if t["risk"] == rid]
        gates = [
            m["measure"] for t in treatments for m in t["measures"] if m["enforcement"] == "gate"
        ]
        cycle = cycles.get(rid)
        latest = {}
        for e in cycle["evaluations"] if cycle else []:
            latest[e["measure"]] = e["verdict_in_force"] or e["verdict"]
        dims = analysis["dimensions"]
        rows.append(
            {
                "risk": rid,
                "title": cycle["title"] if cycle else None,
                "analysis": analysis,
                "dimensions": dims,
                "methods": sorted({t["method"] for t in treatments}) or ["none"],
                "within": all(d["residual_eval"] == "within" for d in dims),
                "gates": [(g, latest.get(g, "not evaluated")) for g in gates],
                "review": _review_status(cycle["review"]) if cycle else "no history",
            }
        )
    return rows


def _review_status(review: Mapping[str, Any]) -> str:
    if not review["interval"]:
        return "no review interval"
    missed = len(review["missed"])
    return f"{missed} interval(s) missed" if missed else f"kept ({review['interval']})"


def _risk(doc: Mapping[str, Any], risk: Mapping[str, Any]) -> dict[str, Any]:
    charted = [e["measure"] for e in risk["evaluations"] if e["observed"] is not None]
    changes = svg.change_marks(doc, risk)
    return {
        "risk": risk,
        "review": review_text(risk["review"]),
        "charts": [svg.chart(m, risk["evaluations"], changes) for m in dict.fromkeys(charted)],
    }
