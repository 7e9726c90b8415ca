"""The reconstruction as a document: JSON (the record, signed as DSSE) and Markdown for
reviews; :mod:`seid.replay.page` renders the same document as HTML.

The JSON document is the one source: Markdown and HTML render it and nothing else, so
what a reader sees is exactly what was signed. Its schema is
``seid/replay/schema/reconstruct-v1.json`` (``$id`` :data:`SCHEMA_ID`), checked against
real and fuzzed documents by the tests; a change that breaks readers gets a new
version, never an edit of v1. Non-UTF-8 path bytes appear backslash-escaped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from securesystemslib.signer import Signer  # type: ignore[attr-defined]

from seid import __version__, evidence
from seid.replay.cycle import RiskCycle
from seid.replay.findings import ALL_KINDS, Finding
from seid.replay.history import History
from seid.replay.join import Evidence
from seid.replay.program import claims, gates, in_history, program

if TYPE_CHECKING:
    from seid.replay.approval import Approvals
    from seid.replay.reexecute import Reproduction

SCHEMA_ID = "https://seid.dev/reconstruct/v1"
PREDICATE_TYPE = SCHEMA_ID
JSON_NAME = "reconstruct.json"
SIG_SUFFIX = ".sig"


@dataclass(frozen=True)
class Scope:
    """What was replayed: the repository, the range, and the clock findings used."""

    head: str | None
    since: str | None
    until: str | None
    now: datetime
    infer: bool = False
    web: dict[str, Any] | None = None  # the forge's web view of origin (seid.replay.forge)


def document(
    scope: Scope,
    history: History,
    found: Evidence,
    cycles: list[RiskCycle],
    findings: list[Finding],
    reproductions: list[Reproduction] | None = None,
    approvals: Approvals | None = None,
) -> dict[str, Any]:
    """The reconstruction as plain JSON data (see the schema for every field).

    ``reproductions`` come from ``--reexecute``; without them the key is absent.
    ``approvals`` (:func:`seid.replay.approval.review`) give the system's ``approval``
    and ``lifecycle``; without them (or without a manifest) both are null.
    """
    walked = {commit.sha for commit in history.commits}
    ordered = in_history(history, found)
    extra = (
        {}
        if reproductions is None
        else {"reproducibility": [dataclasses.asdict(r) for r in reproductions]}
    )
    return extra | {
        "schema": SCHEMA_ID,
        "generator": {"name": "seid", "version": __version__},
        "generated": scope.now.isoformat(),
        "repository": {
            "head": scope.head,
            "since": scope.since,
            "until": scope.until,
            "shallow": history.shallow,
            "inferred_classes": scope.infer,
            "web": scope.web,
        },
        "history": _history(history),
        "ledger": _ledger(found, walked) | {"gates": gates(ordered)},
        "program": program(history),
        "claims": claims(ordered),
        "approval": approvals.approval if approvals else None,
        "lifecycle": approvals.lifecycle if approvals else None,
        "risks": [_risk(cycle, found) for cycle in sorted(cycles, key=lambda c: c.risk_id)],
        "findings": [_finding(i, f) for i, f in enumerate(findings, 1)],
        "summary": _summary(findings, cycles),
    }


def _history(history: History) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    changes = []
    for commit in history.commits:
        for cls in commit.classes:
            counts[cls] += 1
        if commit.classes and not commit.is_merge:
            changes.append(
                {
                    "commit": commit.sha,
                    "date": commit.date,
                    "author": commit.author,
                    "subject": commit.subject,
                    "classes": {c: sorted(p) for c, p in sorted(commit.classes.items())},
                }
            )
    return {
        "commits": len(history.commits),
        "merges": sum(1 for c in history.commits if c.is_merge),
        "first": history.commits[0].sha if history.commits else None,
        "last": history.commits[-1].sha if history.commits else None,
        "classified": {cls: counts[cls] for cls in ("A", "B", "C")},
        "manifests": [
            {"commit": r.commit, "source": r.source, "error": r.error} for r in history.regimes
        ],
        "notes": [dataclasses.asdict(note) for note in history.notes],
        "changes": changes,
    }


def _ledger(found: Evidence, walked: set[str]) -> dict[str, Any]:
    return {
        "logs": [
            {
                "log_id": log.log_id,
                "sources": list(log.sources),
                "size": log.size,
                "ok": log.ok,
                "notices": list(log.notices),
            }
            for log in found.logs
        ],
        "bundles": len(found.bundles),
        "broken": [dataclasses.asdict(b) | {"entry": b.ref} for b in found.broken],
        "outside_history": [b.ref for b in found.bundles if b.commit not in walked],
        "dirty_joined": [
            {"entry": b.ref, "recorded": b.recorded_commit, "joined": b.joined}
            for b in found.bundles
            if b.joined
        ],
        "promotions": [dataclasses.asdict(p) for p in found.promotions],
        "other_statements": found.other,
    }


def _plain(item: Any) -> dict[str, Any]:
    """A flat dataclass (without slots: its fields are its ``__dict__``) as a dict, without
    ``asdict``'s deep copy: hot on long histories."""
    return dict(vars(item))


def _risk(cycle: RiskCycle, found: Evidence) -> dict[str, Any]:
    identified = cycle.identified
    asdict = _plain
    return {
        # The sei engine's reconstruct fields, kept so tools built on it keep working.
        "risk_id": cycle.risk_id,
        "identified_sha": identified.commit if identified else None,
        "identified_date": identified.date if identified else None,
        "provenance": "ledger" if cycle.bundles else "git-history",
        "assessment": cycle.assessment,
        # seid's cycle, clause by clause.
        "title": cycle.title,
        "removed": asdict(cycle.removed) if cycle.removed else None,
        "criteria": [asdict(e) for e in cycle.criteria],
        "evaluations": [asdict(e) for e in cycle.evaluations],
        "treatments": [asdict(t) for t in cycle.treatments],
        "review": asdict(cycle.review) | {"missed": [asdict(g) for g in cycle.review.missed]},
        "communication": {"authors": cycle.authors, "signers": cycle.signers},
        "recording": {"bundles": cycle.bundles, "logs": len(found.logs)},
    }


def _finding(number: int, finding: Finding) -> dict[str, Any]:
    return {
        "id": f"F{number:04d}",
        "kind": finding.kind,
        "severity": finding.severity,
        "summary": finding.summary,
        "risk": finding.risk,
        "measure": finding.measure,
        "commits": finding.commits,
        "entries": finding.entries,
    }


def _summary(findings: list[Finding], cycles: list[RiskCycle]) -> dict[str, Any]:
    counts = Counter(f.kind for f in findings)
    return {
        "risks": len(cycles),
        "findings": len(findings),
        "by_kind": {kind: counts[kind] for kind in ALL_KINDS},
        "high": sum(1 for f in findings if f.severity == "high"),
    }


def to_json(doc: Mapping[str, Any]) -> bytes:
    """Compact, key-sorted UTF-8 JSON with a final newline: stable bytes to hash and sign
    (compact: ``jq .`` pretty-prints). orjson writes it ten times faster than the stdlib;
    what orjson refuses (a lone surrogate a bundle's string may hold, an integer past 64
    bits) is written by the stdlib encoder, ASCII-escaped, so any document is written."""
    try:
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return (text + "\n").encode("ascii")


def sign_report(data: bytes, signer: Signer) -> bytes:
    """A DSSE envelope whose in-toto subject is the JSON report: the report is evidence."""
    subject = evidence.Subject(JSON_NAME, hashlib.sha256(data).hexdigest())
    doc = json.loads(data)
    predicate = {
        "schema": SCHEMA_ID,
        "repository": doc["repository"],
        "summary": doc["summary"],
    }
    return evidence.sign(evidence.statement([subject], PREDICATE_TYPE, predicate), signer)


# --- Markdown ------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _md(value: Any) -> str:
    """A table-safe Markdown cell: no markup, links or HTML from commit text gets through."""
    text = "" if value is None else str(value)
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _short(sha: str | None) -> str:
    return f"`{sha[:12]}`" if sha else ""


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def markdown(doc: Mapping[str, Any]) -> str:
    """The report for a review meeting: findings first, the approval, then the cycle of
    each risk."""
    repo, hist, ledger, summary = doc["repository"], doc["history"], doc["ledger"], doc["summary"]
    lines = [
        "# seid reconstruct: the ISO/IEC 23894 cycle",
        "",
        f"- head {_short(repo['head'])}, range {_md(repo['since'] or 'start')}.."
        f"{_md(repo['until'] or 'HEAD')}, generated {_md(doc['generated'])}",
        f"- {hist['commits']} commits ({hist['merges']} merges); changes by class: "
        + ", ".join(f"{c} {n}" for c, n in hist["classified"].items()),
        f"- ledger: {len(ledger['logs'])} log(s), {ledger['bundles']} verified bundle(s), "
        f"{len(ledger['broken'])} broken entr(y/ies)",
        *(f"- note: {_md(n['message'])} {_short(n['commit'])}" for n in hist["notes"]),
        "",
        f"## Findings ({summary['findings']}, {summary['high']} high)",
        "",
    ]
    rows = [
        [
            f["id"],
            f["severity"],
            f["kind"],
            _md(f["summary"]),
            " ".join(_short(c) for c in f["commits"]),
            _md(" ".join(f["entries"])),
        ]
        for f in doc["findings"]
    ]
    lines += _table(["id", "severity", "kind", "summary", "commits", "entries"], rows)
    lines += ["## Approval", "", *(f"- {_md(fact)}" for fact in approval_facts(doc)), ""]
    for risk in doc["risks"]:
        lines += _md_risk(risk)
    return "\n".join(lines)


def _md_risk(risk: Mapping[str, Any]) -> list[str]:
    title = f" ({_md(risk['title'])})" if risk["title"] else ""
    lines = [
        f"## Risk {_md(risk['risk_id'])}{title}",
        "",
        f"- 6.4.2 identified: {_short(risk['identified_sha'])} {_md(risk['identified_date'])}"
        + (f"; removed {_short(risk['removed']['commit'])}" if risk["removed"] else ""),
        f"- provenance: {risk['provenance']}; 6.7 recording: "
        f"{risk['recording']['bundles']} bundle(s)",
        f"- 6.2 communication: authors {_md(', '.join(risk['communication']['authors']))}; "
        f"signers {_md(', '.join(s[:16] for s in risk['communication']['signers']))}",
        f"- 6.6 {_md(review_text(risk['review']))}",
        "",
        "### 6.3 Criteria",
        "",
    ]
    lines += _table(
        ["date", "commit", "author", "change", "measure", "before", "after"],
        [
            [
                _md(e["date"][:10]),
                _short(e["commit"]),
                _md(e["author"]),
                e["kind"],
                _md(e["measure"]),
                _md(e["before"]),
                _md(e["after"]),
            ]
            for e in risk["criteria"]
        ],
    )
    lines += ["### 6.4.3 Analysis and 6.4.4 evaluation", ""]
    lines += _table(
        ["date", "commit", "bundle", "measure", "observed", "verdict", "in force", "verdict then"],
        [
            [
                _md(e["date"][:10]),
                _short(e["commit"]),
                _md(e["bundle"]),
                _md(e["measure"]),
                _md(e["observed"]),
                _md(f"{e['verdict']} ({e['constraint']})"),
                _md(e["constraint_in_force"]),
                _md(e["verdict_in_force"]),
            ]
            for e in risk["evaluations"]
        ],
    )
    lines += ["### 6.5 Treatment", ""]
    lines += _table(
        ["date", "commit", "paths", "before", "after", "effective"],
        [
            [
                _md(t["date"][:10]),
                _short(t["commit"]),
                _md(", ".join(t["paths"])),
                _md(verdicts_text(t["before"])),
                _md(verdicts_text(t["after"])),
                _md(t["effective"]),
            ]
            for t in risk["treatments"]
        ],
    )
    return lines


def review_text(review: Mapping[str, Any]) -> str:
    """What 6.6 counted, in words."""
    interval = review["interval"] or "none set"
    counted = f"{review['reviews']} review event(s)"
    if "edits" in review:
        counted += (
            f": {review['edits']} edit(s) of the manifest naming the risk and "
            f"{review['bundles']} bundle(s) judging it"
        )
    last = review["last"][:10] if review["last"] else "never"
    return f"review interval {interval}; {counted}; last {last}; {len(review['missed'])} missed"


def verdicts_text(by_measure: Mapping[str, str]) -> str:
    """``measure: verdict, ...`` for a table cell."""
    return ", ".join(f"{m}: {v}" for m, v in sorted(by_measure.items()))


_STRENGTH = {
    "signed-statement": "signed statement in the ledger",
    "signed-commit": "git trailer in a signed commit",
    "trailer": "git trailer in an unsigned commit: weaker evidence than a signature",
}


def approval_facts(doc: Mapping[str, Any]) -> list[str]:
    """The approval and lifecycle as plain sentences, for Markdown and HTML alike; each
    decision says how it was made, so an unsigned trailer is never mistaken for a
    signature."""
    lifecycle, approval = doc.get("lifecycle"), doc.get("approval")
    if lifecycle is None or approval is None:
        return ["not assessed: no manifest in the work tree, so no system or policy"]
    facts = [f"lifecycle of system {lifecycle['system']}: {lifecycle['state']}"]
    if approval["requested_by"]:
        facts.append(f"requested by {_decision(approval['requested_by'])}")
    for grant in approval["approved_by"]:
        stale = f"; changed since: {', '.join(grant['stale'])}" if grant["stale"] else ""
        facts.append(f"approved as {grant['role']} by {_decision(grant)}{stale}")
    facts += [f"rejected by {_decision(r)}" for r in approval["rejected_by"]]
    if approval["requested_by"] and approval["missing_roles"]:
        facts.append(f"waiting for: {', '.join(approval['missing_roles'])}")
    if approval["at"]:
        facts.append(f"approved at {approval['at']}, expires {approval['expires'] or 'never'}")
    bound = approval["bound_to"]
    if bound:
        parts = [f"{k} {(bound[k] or 'none')[:19]}" for k in ("evidence", "plan", "analysis")]
        facts.append(f"bound to {', '.join(parts)} (entry {bound['evidence_entry']})")
    return facts


def _decision(event: Mapping[str, Any]) -> str:
    return (
        f"{event['name']} <{event['email']}> at {event['at']} "
        f"({_STRENGTH.get(event['strength'], event['strength'])}, {event['source']})"
    )
