"""Approval statements: what a sign-off binds to, signing it, and reading it back.

A request, grant or rejection is an in-toto Statement (predicate type
:data:`APPROVAL_PREDICATE`) whose subjects are exactly what was reviewed: the newest
evidence bundle (the SHA-256 of its envelope bytes), the OSCAL assessment plan the manifest
compiles to now, and the risk analysis (the SHA-256 of its canonical JSON). It is signed as
DSSE by the decider's own key and appended to that key's ledger log, so an approval is
evidence of the same standing as the bundle it approves.

The predicate: ``decision`` (request | grant | reject), ``system``, ``role``,
``by {name, email, keyid}``, ``at`` (UTC, the signer's claim), ``note``,
``bound_to {evidence, evidence_entry, plan, analysis}`` (``sha256:<hex>``; the entry as
``<log id prefix>#<index>``) and ``manifest_digest``.

The plan is compiled in memory rather than read from ``oscal.assessment_plan``: the file
may be stale (the manifest changed, nobody re-ran ``seid compile``), and approving a stale
file would bind to something the manifest no longer says. The compiled bytes are
deterministic (see :mod:`seid.oscal`), so they equal a fresh ``seid compile``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from securesystemslib.signer import Signer  # type: ignore[attr-defined]

from seid import evidence, git
from seid.approvals.names import APPROVAL_PREDICATE
from seid.config import Manifest
from seid.errors import SeidError, VerificationError
from seid.isotime import instant
from seid.ledger import entries
from seid.ledger.entries import Entry, run_time
from seid.ledger.log import Ledger
from seid.ledger.verify import verify_repo
from seid.risk import analyze

DECISIONS = ("request", "grant", "reject")
BOUND = ("evidence", "plan", "analysis")
Decision = Literal["request", "grant", "reject"]
Strength = Literal["signed-statement", "signed-commit", "trailer"]
STRENGTHS: tuple[Strength, ...] = ("trailer", "signed-commit", "signed-statement")  # weak first

_IDENTITY = re.compile(r"\s*([^<>\n]*?)\s*<([^<>\s]+@[^<>\s]+)>\s*")


@dataclass(frozen=True)
class Identity:
    """Who decided: a display name, an email, and the signing key id when signed."""

    name: str
    email: str
    keyid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email, "keyid": self.keyid}

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


def parse_identity(text: str, keyid: str | None = None) -> Identity | None:
    """``Name <email>`` as git writes it; None when it is not that shape."""
    match = _IDENTITY.fullmatch(text)
    return Identity(match[1], match[2], keyid) if match else None


def whoami(root: Path, given: str | None, keyid: str, registered: Identity | None) -> Identity:
    """The decider: the identity ``registered`` for the signing key (``--as`` may only
    repeat it); for a key with none, ``--as "Name <email>"``, else git's ``user.name``
    and ``user.email``."""
    found = parse_identity(given, keyid) if given is not None else None
    if given is not None and found is None:
        raise SeidError(f"--as {given!r}: expected 'Name <email>'")
    if registered is not None:
        if found is not None and not same_identity(found, registered):
            raise SeidError(
                f"--as {given!r} refused: key {keyid[:16]} is registered to {registered} "
                "in .sei/trust/, and a key speaks only for its holder"
            )
        return registered
    if found is not None:
        return found
    name, email = git.config(root, "user.name") or "", git.config(root, "user.email") or ""
    if not email:
        raise SeidError("who is deciding? pass --as 'Name <email>' or set git user.email")
    return Identity(name or email, email, keyid)


def same_identity(a: Identity, b: Identity) -> bool:
    """The same name and email (the email case-insensitively)."""
    return a.name == b.name and a.email.casefold() == b.email.casefold()


# --- what an approval binds to ------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """Digests (``sha256:<hex>``) of what was reviewed; ``evidence_entry`` names the bundle."""

    evidence: str | None
    plan: str | None
    analysis: str | None
    evidence_entry: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "evidence": self.evidence,
            "evidence_entry": self.evidence_entry,
            "plan": self.plan,
            "analysis": self.analysis,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Binding | None:
        if not isinstance(data, dict):
            return None
        values = [data.get(name) for name in (*BOUND, "evidence_entry")]
        if not all(value is None or isinstance(value, str) for value in values):
            return None
        return cls(*values)

    def changed(self, current: Binding, parts: tuple[str, ...] = BOUND) -> list[str]:
        """Which bound parts differ from ``current`` (a part bound as unknown differs too)."""
        return [name for name in parts if getattr(self, name) != getattr(current, name)]


def sha256_ref(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def analysis_digest(manifest: Manifest) -> str:
    """The risk analysis as evidence records it, hashed in RFC 8785 canonical JSON, so any
    JCS implementation recomputes it. Its values are identifiers, level names, booleans
    and nulls (no numbers, ASCII only), for which these are the bytes seid's own sorted,
    compact form gave: approvals bound before keep their meaning."""
    return f"sha256:{evidence.jcs_sha256(analyze(manifest.risk).to_dict())}"


@dataclass(frozen=True)
class Plan:
    """The compiled plan's digest (None: nothing to compile, or not compiled) and whether
    the file matches."""

    digest: str | None
    path: Path
    file: Literal["current", "stale", "absent", "unchecked"]


def compile_in_memory(root: Path, manifest: Manifest) -> Plan:
    """The plan ``seid compile`` would write now, hashed without writing it."""
    from seid.oscal.plan import build_plan, relative_href, source_time
    from seid.oscal.render import render

    target = root / manifest.oscal.assessment_plan
    href = relative_href(manifest.path, target.parent)
    try:
        plan = build_plan(manifest, source_time(root, manifest.path), href)
    except SeidError:  # no risks: no plan to approve, recorded as None
        return Plan(None, target, "absent")
    digest = sha256_ref(render(plan, json_output=target.suffix.lower() == ".json"))
    if not target.is_file():
        return Plan(digest, target, "absent")
    on_disk = f"sha256:{evidence.file_sha256(target)}"
    return Plan(digest, target, "current" if on_disk == digest else "stale")


# --- the ledger, read for approvals --------------------------------------------------------


@dataclass
class LedgerView:
    """Evidence bundles and approval statements from every log, local and published."""

    bundles: list[Entry] = field(default_factory=list)
    approvals: list[Entry] = field(default_factory=list)

    @classmethod
    def of(cls, read: Iterable[Entry]) -> LedgerView:
        """The bundles and approvals among entries read by :func:`seid.ledger.entries.read`
        (replay passes what it read already, so the ledger is verified once)."""
        view = cls()
        for entry in read:
            if entry.predicate_type == evidence.EVIDENCE_PREDICATE:
                view.bundles.append(entry)
            elif entry.predicate_type == APPROVAL_PREDICATE:
                view.approvals.append(entry)
        return view

    def latest_bundle(self) -> Entry | None:
        """The newest trusted bundle, ordered as replay orders them (run time, log, index)."""
        good = [b for b in self.bundles if b.problem is None]
        return max(good, key=lambda b: (_when(b), b.log_id, b.index)) if good else None


def _when(entry: Entry) -> str:
    return run_time(entry.predicate) or ""


def read_ledger(root: Path) -> LedgerView:
    """Verify every log (:func:`seid.ledger.verify.verify_repo`) and pick out our entries."""
    return LedgerView.of(entries.read(root, verify_repo(root)))


def current_binding(
    root: Path, manifest: Manifest, view: LedgerView, *, compile_plan: bool = True
) -> tuple[Binding, Plan]:
    """What an approval made now would bind to, and the plan it was compiled from
    (without ``compile_plan``, the plan is left unknown and OSCAL is never imported)."""
    latest = view.latest_bundle()
    if compile_plan:
        plan = compile_in_memory(root, manifest)
    else:
        plan = Plan(None, root / manifest.oscal.assessment_plan, "unchecked")
    binding = Binding(
        evidence=f"sha256:{latest.digest}" if latest and latest.digest else None,
        plan=plan.digest,
        analysis=analysis_digest(manifest),
        evidence_entry=latest.ref if latest else None,
    )
    return binding, plan


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """Something an auditor must see about approvals (shaped as replay's findings)."""

    kind: str
    summary: str
    commits: tuple[str, ...] = ()
    entries: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": "high" if self.kind in HIGH else "medium",
            "summary": self.summary,
            "commits": list(self.commits),
            "entries": list(self.entries),
        }


HIGH = (
    "approval-untrusted",
    "approval-broken",
    "approval-future-dated",
    "self-approval",
    "bad-commit-signature",
    "commit-signer-mismatch",
    "unauthorised-approval",
)
# Every kind approvals report, in the order a report lists them.
KINDS = (
    *HIGH,
    "unchecked-commit-signature",
    "approval-without-request",
    "approval-unbound",
    "stale-plan",
)


@dataclass(frozen=True)
class Event:
    """One request, grant or rejection, from a signed statement or a commit trailer."""

    decision: Decision
    by: Identity
    at: datetime
    strength: Strength
    source: str  # "<log>#<index>" or "commit <sha>"
    role: str | None = None
    binding: Binding | None = None
    system: str | None = None
    note: str | None = None
    statement: str | None = None  # sha256 of the statement envelope a trailer points to
    signing_key: str | None = None  # a trailer's commit signing key, as git's %GK prints it

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.by.to_dict(),
            "decision": self.decision,
            "role": self.role,
            "at": self.at.isoformat(),
            "strength": self.strength,
            "source": self.source,
            "note": self.note,
        }


def event_of(entry: Entry) -> Event:
    """The event a (verified) approval statement records; VerificationError if malformed."""
    pred = entry.predicate
    decision, at = pred.get("decision"), instant(pred.get("at"))
    found = pred.get("by")
    by: dict[str, Any] = found if isinstance(found, dict) else {}
    name, email = by.get("name"), by.get("email")
    role, note, system = pred.get("role"), pred.get("note"), pred.get("system")
    if decision not in DECISIONS or at is None or not isinstance(email, str):
        raise VerificationError(f"approval statement {entry.ref} is malformed")
    if not all(v is None or isinstance(v, str) for v in (name, role, note, system)):
        raise VerificationError(f"approval statement {entry.ref} is malformed")
    return Event(
        decision=decision,
        by=Identity(name or email, email, entry.log_id),  # the log is the signing key's
        at=at,
        strength="signed-statement",
        source=entry.ref,
        role=role,
        binding=Binding.from_dict(pred.get("bound_to")),
        system=system,
        note=note,
    )


# --- making one -----------------------------------------------------------------------------


def build(
    decision: Decision,
    by: Identity,
    binding: Binding,
    manifest: Manifest,
    *,
    role: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The approval statement; its subjects are the reviewed bundle, plan and analysis."""
    subjects = [
        evidence.Subject(name, value.removeprefix("sha256:"))
        for name, value in (
            (f"evidence:{binding.evidence_entry}", binding.evidence),
            (manifest.oscal.assessment_plan, binding.plan),
            ("risk-analysis", binding.analysis),
        )
        if value is not None
    ]
    predicate = {
        "decision": decision,
        "system": manifest.system.name,
        "role": role,
        "by": by.to_dict(),
        "at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
        "note": note,
        "bound_to": binding.to_dict(),
        "manifest_digest": f"sha256:{manifest.manifest_digest}",
    }
    return evidence.statement(subjects, APPROVAL_PREDICATE, predicate)


def append(root: Path, statement: dict[str, Any], signer: Signer) -> tuple[str, int, bytes]:
    """Sign ``statement`` and append it to the signer's own log: (log id, index, envelope)."""
    envelope = evidence.sign(statement, signer)
    log_id = signer.public_key.keyid
    with Ledger.open(root, log_id, create=True, continue_published=True) as ledger:
        index, _ = ledger.append(envelope, signer)
    return log_id, index, envelope
