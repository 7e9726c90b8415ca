"""Conformance per standard clause, from the reconstruct document alone.

Measures cite clauses (``standard_clauses``: ``iso/23894@2023#6.4.4`` or
``ISO/IEC 23894:2023 6.4.4``; ``article``: ``EU AI Act Art. 10(2)(f)``; a treatment's
``controls`` when written as a citation). For each standard cited, and for ISO/IEC 23894
always, every clause gets a status:

- ``failing``: a citing measure's latest verdict (under the criteria in force) fails,
  or a finding breaks the clause (for 23894, seid's own cycle sections 6.2 to 6.7);
- ``evidenced``: a citing measure passes in a verified bundle, or for a 23894 section,
  signed evidence shows the cycle step was done;
- ``declared``: the manifest says the clause is addressed (a manual measure, a measure
  no bundle has judged yet, or the cycle step as git history records it);
- ``not-addressed``: nothing does.

Each standard's table is its own document (``conformance/<standard>.json`` beside
``reconstruct.json``), signed the same way, successor of the sei engine's per-standard
conformance files. Its schema is ``seid/replay/schema/conformance-v1.json``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from securesystemslib.signer import Signer  # type: ignore[attr-defined]

from seid import evidence

SCHEMA_ID = "https://seid.dev/conformance/v1"
DIRECTORY = "conformance"
STATUSES = ("failing", "evidenced", "declared", "not-addressed")
ISO_23894 = "iso-iec-23894"
_TITLES = {ISO_23894: "ISO/IEC 23894:2023", "eu-ai-act": "EU AI Act (Regulation (EU) 2024/1689)"}
CYCLE = {  # seid's cycle sections: the 23894 clauses always listed
    "6.2": "Communication and consultation",
    "6.3": "Scope, context and criteria",
    "6.4.2": "Risk identification",
    "6.4.3": "Risk analysis",
    "6.4.4": "Risk evaluation",
    "6.5": "Risk treatment",
    "6.6": "Monitoring and review",
    "6.7": "Recording and reporting",
}
# The 23894 section a finding breaks; approval and promotion findings are sign-off (6.2).
_FINDING_CLAUSE = {
    "moved-goalposts": "6.3",
    "claim-amended": "6.3",
    "gate-bypass": "6.4.4",
    "promoted-without-passing-evidence": "6.4.4",
    "review-overdue": "6.6",
    "broken-evidence": "6.7",
    "rewritten-log": "6.7",
    "unevidenced-change": "6.7",
}
_JUDGED = ("pass", "fail")
_SLASHED = re.compile(r"(?P<std>[a-z0-9][a-z0-9./_-]*?)(?:@(?P<edition>[^#\s]+))?#(?P<clause>\S+)")
_ISO = re.compile(
    r"(?:ISO/IEC|ISO|IEC)\s*(?P<number>\d+)(?::\d{4})?\s+(?:clause\s+)?(?P<clause>(?:[A-Z]\.?)?\d+(?:\.\d+)*)",
    re.IGNORECASE,
)
_AI_ACT = re.compile(r"EU\s+AI\s+Act,?\s+(?P<clause>(?:Art(?:icle|\.)?|Annex)\s*\S.*)", re.I)


@dataclass(frozen=True)
class Citation:
    """One clause of one standard, as a measure cites it."""

    standard: str  # a slug: iso-iec-23894, eu-ai-act, ...
    clause: str
    text: str  # as written in the manifest


def cite(text: str) -> Citation | None:
    """The standard and clause a citation names; None for free text."""
    text = " ".join(text.split())
    if found := _SLASHED.fullmatch(text):
        std = found["std"].replace("/", "-")
        if iso := re.fullmatch(r"iso(?:-iec)?-(\d+)", std):  # iso/23894: ISO/IEC 23894
            std = f"iso-iec-{iso[1]}"
        clause = found["clause"]
        if std == "eu-ai-act" and (art := re.fullmatch(r"art-?(\S+)", clause, re.I)):
            clause = f"Art. {art[1]}"
        return Citation(std, clause, text)
    if found := _ISO.fullmatch(text):
        return Citation(f"iso-iec-{found['number']}", found["clause"], text)
    if found := _AI_ACT.fullmatch(text):
        clause = re.sub(r"^Art(?:icle|\.)?\s*", "Art. ", found["clause"], flags=re.I)
        return Citation("eu-ai-act", clause, text)
    return None


def citations(doc: Mapping[str, Any]) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Every (measure, citation) pair of the program, and the texts that name no clause."""
    program = doc.get("program")
    pairs: list[tuple[str, dict[str, Any]]] = []
    free: list[str] = []
    for treatment in program["treatments"] if program else []:
        for measure in treatment["measures"]:
            texts = [*measure["standard_clauses"], *filter(None, [measure["article"]])]
            texts += treatment["controls"]
            key = f"{treatment['risk']}/{measure['measure']}"
            for text in texts:
                found = cite(text)
                if found is not None:
                    pairs.append((key, {"citation": found, "measure": measure}))
                elif text not in treatment["controls"]:  # a control may be plain words
                    free.append(text)
    return pairs, sorted(set(free))


def build(doc: Mapping[str, Any], report_sha256: str) -> dict[str, dict[str, Any]]:
    """One conformance document per standard, by slug (23894 always)."""
    pairs, _ = citations(doc)
    latest = _latest_verdicts(doc)
    by_standard: dict[str, dict[str, list[dict[str, Any]]]] = {ISO_23894: {c: [] for c in CYCLE}}
    for key, item in pairs:
        citation: Citation = item["citation"]
        clauses = by_standard.setdefault(citation.standard, {})
        verdict, bundle = latest.get(key, (None, None))
        row = {
            "risk": key.split("/", 1)[0],
            "measure": item["measure"]["measure"],
            "evaluation": item["measure"]["evaluation"],
            "verdict": verdict,
            "bundle": bundle,
            "cites": citation.text,
        }
        clauses.setdefault(citation.clause, []).append(row)
    out = {}
    for slug, clauses in sorted(by_standard.items()):
        rows = [_clause(slug, clause, measures, doc) for clause, measures in clauses.items()]
        out[slug] = {
            "schema": SCHEMA_ID,
            "standard": {"id": slug, "title": _TITLES.get(slug, slug)},
            "report": {
                "head": doc["repository"]["head"],
                "generated": doc["generated"],
                "reconstruct_sha256": report_sha256,
            },
            "clauses": rows,
            "summary": {s: sum(1 for r in rows if r["status"] == s) for s in STATUSES}
            | {"clauses": len(rows)},
        }
    return out


def _latest_verdicts(doc: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """``risk/measure`` -> (latest verdict under the criteria in force, its bundle)."""
    latest: dict[str, tuple[str, str]] = {}
    for risk in doc["risks"]:
        for e in risk["evaluations"]:
            latest[f"{risk['risk_id']}/{e['measure']}"] = (
                e["verdict_in_force"] or e["verdict"],
                e["bundle"],
            )
    return latest


def _clause(
    slug: str, clause: str, measures: list[dict[str, Any]], doc: Mapping[str, Any]
) -> dict[str, Any]:
    verdicts = {m["verdict"] for m in measures}
    findings: list[str] = []
    facts: list[str] = []
    cycle = "not-addressed"
    if slug == ISO_23894 and clause in CYCLE:
        findings = [f["id"] for f in doc["findings"] if _broken_clause(f["kind"]) == clause]
        facts, cycle = _cycle(clause, doc)
    if "fail" in verdicts or findings:
        status = "failing"
    elif "pass" in verdicts or cycle == "evidenced":
        status = "evidenced"
    elif measures or cycle == "declared":
        status = "declared"
    else:
        status = "not-addressed"
    return {
        "clause": clause,
        "title": CYCLE.get(clause) if slug == ISO_23894 else None,
        "status": status,
        "measures": measures,
        "evidence": facts,
        "findings": findings,
    }


def _broken_clause(kind: str) -> str:
    return _FINDING_CLAUSE.get(kind, "6.2")


def _cycle(clause: str, doc: Mapping[str, Any]) -> tuple[list[str], str]:
    """What the replayed cycle shows for a 23894 section, and how strongly."""
    risks, ledger = doc["risks"], doc["ledger"]
    judged = [e for r in risks for e in r["evaluations"]]
    if clause == "6.2":
        signers = {s for r in risks for s in r["communication"]["signers"]}
        authors = {a for r in risks for a in r["communication"]["authors"]}
        facts = [f"{len(authors)} author(s) of criteria and treatment commits"]
        facts.append(f"{len(signers)} signer(s) of evidence bundles")
        return facts, _strength(signers, authors)
    if clause == "6.3":
        events = sum(len(r["criteria"]) for r in risks)
        return [f"{events} criteria change(s) in the manifest history"], _strength((), events)
    if clause == "6.4.2":
        named = [r["risk_id"] for r in risks if r["identified_sha"]]
        return [f"{len(named)} risk(s) identified by a commit"], _strength((), named)
    if clause in ("6.4.3", "6.4.4"):
        measured = [e for e in judged if e["observed"] is not None]
        verdicts = [e for e in judged if (e["verdict_in_force"] or e["verdict"]) in _JUDGED]
        used = measured if clause == "6.4.3" else verdicts
        what = "metric(s) measured" if clause == "6.4.3" else "verdict(s) against the criteria"
        return [f"{len(used)} {what} in verified bundles"], _strength(used, ())
    if clause == "6.5":
        treated = [t for r in risks for t in r["treatments"]]
        effective = [t for t in treated if t["effective"]]
        facts = [f"{len(treated)} treatment commit(s), {len(effective)} shown effective"]
        return facts, _strength(effective, treated)
    if clause == "6.6":
        bundles = sum(r["review"].get("bundles", 0) for r in risks)
        intervals = {r["review"]["interval"] for r in risks} - {None}
        facts = [f"review interval {', '.join(sorted(intervals)) or 'not set'}"]
        return [*facts, f"{bundles} bundle(s) judging a risk"], _strength(bundles, intervals)
    bundles = ledger["bundles"]
    logs, broken = len(ledger["logs"]), len(ledger["broken"])
    facts = [f"{logs} ledger log(s), {bundles} verified bundle(s), {broken} broken entr(y/ies)"]
    return facts, _strength(bundles, ())


def _strength(signed: Iterable[Any] | int, declared: Iterable[Any] | int) -> str:
    def some(value: Iterable[Any] | int) -> bool:
        return value > 0 if isinstance(value, int) else bool(list(value))

    return "evidenced" if some(signed) else "declared" if some(declared) else "not-addressed"


def path(slug: str) -> str:
    return f"{DIRECTORY}/{slug}.json"


def sign(data: bytes, slug: str, signer: Signer) -> bytes:
    """A DSSE envelope whose in-toto subject is the conformance file, like the report's."""
    subject = evidence.Subject(path(slug), hashlib.sha256(data).hexdigest())
    doc = json.loads(data)
    predicate = {"schema": SCHEMA_ID, "standard": doc["standard"], "summary": doc["summary"]}
    return evidence.sign(evidence.statement([subject], SCHEMA_ID, predicate), signer)


def files(doc: Mapping[str, Any], report_json: bytes, signer: Signer | None) -> dict[str, bytes]:
    """``conformance/<standard>.json`` (and ``.sig`` when signing) for each standard,
    bound to the exact bytes of ``reconstruct.json``."""
    from seid.replay.report import SIG_SUFFIX, to_json

    out = {}
    for slug, table in build(doc, hashlib.sha256(report_json).hexdigest()).items():
        data = to_json(table)
        out[path(slug)] = data
        if signer is not None:
            out[path(slug) + SIG_SUFFIX] = sign(data, slug, signer)
    return out
