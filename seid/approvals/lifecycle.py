"""The approval lifecycle of a system, from the ledger and git history.

``draft`` (nothing requested) -> ``approval_requested`` -> ``approved`` | ``rejected``;
an approval lapses into ``review_due`` when its expiry passes and becomes ``approved``
again after a new grant; it is ``superseded`` as soon as anything it was bound to (the
newest evidence bundle, the compiled plan, the risk analysis) differs from now. Never
carried over silently: a superseded approval needs a new grant bound to what is current.

The newest request opens a round; only grants and rejections after it count, the latest
per role (per person for a rejection without a role, which that person's later grant
replaces). A grant by the requester under ``distinct_from_requester`` (their rejection
is a withdrawal and counts), statements by untrusted keys, broken entries and decisions
dated in the future are findings and never count. So is a grant the policy does not
authorise (``unauthorised-approval``): by a key not named for its role, a second role
granted by one person under ``distinct_approvers``, or a statement whose ``by`` is not
the identity registered for its key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from seid.approvals import policy, trailers
from seid.approvals.authority import Trust, refusal
from seid.approvals.statement import (
    BOUND,
    STRENGTHS,
    Binding,
    Event,
    Finding,
    LedgerView,
    Strength,
    current_binding,
    event_of,
    read_ledger,
    same_identity,
)
from seid.config import Manifest
from seid.config.semantics import ANY_ROLE
from seid.errors import VerificationError
from seid.isotime import instant
from seid.ledger.entries import run_time

State = Literal["draft", "approval_requested", "approved", "rejected", "review_due", "superseded"]
Record = Literal["none", "requested", "approved", "rejected"]
SKEW = timedelta(minutes=5)


@dataclass
class Lifecycle:
    """Where the approval of a system stands, and everything that decided it."""

    state: State
    record: Record
    current: Binding
    request: Event | None = None
    grants: list[Event] = field(default_factory=list)
    rejections: list[Event] = field(default_factory=list)
    missing_roles: list[str] = field(default_factory=list)
    stale: dict[str, list[str]] = field(default_factory=dict)  # grant source -> changed parts
    expires: datetime | None = None
    findings: list[Finding] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # every decision read, for state_at

    @property
    def approved_at(self) -> datetime | None:
        return max(g.at for g in self.grants) if self.record == "approved" else None

    @property
    def bound_to(self) -> Binding | None:
        latest = max(self.grants, key=lambda g: g.at) if self.grants else None
        return latest.binding if latest else None

    @property
    def strength(self) -> Strength | None:
        found = [STRENGTHS.index(g.strength) for g in self.grants]
        return STRENGTHS[min(found)] if found else None

    @property
    def changed(self) -> list[str]:
        parts = {part for changed in self.stale.values() for part in changed}
        return [part for part in ("evidence", "plan", "analysis") if part in parts]

    def to_dict(self) -> dict[str, Any]:
        """``approval``, ``lifecycle`` and ``findings`` as ``seid reconstruct`` reports them."""
        bound = self.bound_to
        return {
            "approval": {
                "state": self.record,
                "requested_by": self.request.to_dict() if self.request else None,
                "approved_by": [self._grant(g) for g in self.grants],
                "rejected_by": [r.to_dict() for r in self.rejections],
                "missing_roles": self.missing_roles,
                "at": _iso(self.approved_at),
                "expires": _iso(self.expires),
                "strength": self.strength,
                "bound_to": bound.to_dict() if bound else None,
                "current": self.current.to_dict(),
                "changed": self.changed,
            },
            "lifecycle": {"state": self.state},
            "findings": [f.to_dict() for f in self.findings],
        }

    def _grant(self, grant: Event) -> dict[str, Any]:
        bound = grant.binding.to_dict() if grant.binding else None
        return {**grant.to_dict(), "bound_to": bound, "stale": self.stale.get(grant.source, [])}


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def lifecycle(
    repo_root: Path,
    manifest: Manifest,
    now: datetime | None = None,
    view: LedgerView | None = None,
    *,
    lazy_plan: bool = False,
    git: trailers.GitDecisions | None = None,
    trust: Trust | None = None,
) -> Lifecycle:
    """The lifecycle of the system ``manifest`` describes, as of ``now`` (default: now),
    from ``view``, ``git`` and ``trust`` when the ledger, the trailers and the trust
    directory were read already (default: read them).

    With ``lazy_plan`` the plan is compiled only when some decision exists: with none the
    state is ``draft`` whatever the plan says, and compiling it costs the OSCAL import
    (~0.3 s), which replay and status need not pay for a system nobody asked to approve.
    """
    view = view if view is not None else read_ledger(repo_root)
    trust = trust if trust is not None else Trust.load(repo_root)
    events, findings = collect(repo_root, manifest, view, git, trust)
    compile_plan = bool(events) or not lazy_plan
    current, plan = current_binding(repo_root, manifest, view, compile_plan=compile_plan)
    if plan.file == "stale":
        findings.append(
            Finding("stale-plan", f"{plan.path.name} differs from what the manifest compiles to")
        )
    latest = view.latest_bundle()
    newest = instant(run_time(latest.predicate)) if latest else None
    result = decide(events, manifest, current, now or datetime.now(UTC), newest, trust=trust)
    result.findings[:0] = findings
    return result


def collect(
    repo_root: Path,
    manifest: Manifest,
    view: LedgerView,
    git: trailers.GitDecisions | None = None,
    trust: Trust | None = None,
) -> tuple[list[Event], list[Finding]]:
    """Events from trusted approval statements and from commit trailers, with findings.

    A trailer pointing (``Seid-Statement``) at a statement already read is the same
    decision, counted once at the statement's strength. A statement whose ``by`` is not
    the identity ``trust`` registers for its key is a finding, not an event.
    """
    trust = trust if trust is not None else Trust.load(repo_root)
    events: list[Event] = []
    findings: list[Finding] = []
    for entry in view.approvals:
        if entry.problem is not None:
            kind = "approval-untrusted" if "not trusted" in entry.problem else "approval-broken"
            findings.append(
                Finding(
                    kind, f"approval {entry.ref} not counted: {entry.problem}", (), (entry.ref,)
                )
            )
            continue
        try:
            event = event_of(entry)
        except VerificationError as err:
            findings.append(Finding("approval-broken", str(err), (), (entry.ref,)))
            continue
        registered = trust.identity(event.by.keyid)
        if registered is not None and not same_identity(event.by, registered):
            summary = (
                f"{event.decision} by {event.by} not counted: its key {entry.log_id[:16]} "
                f"is registered to {registered}"
            )
            findings.append(Finding("unauthorised-approval", summary, (), (entry.ref,)))
            continue
        if event.system in (None, manifest.system.name):
            events.append(event)
    signed = {f"sha256:{entry.digest}" for entry in view.approvals if entry.problem is None}
    from_git, problems = git if git is not None else trailers.read(repo_root)
    events += [e for e in from_git if e.statement is None or e.statement not in signed]
    return events, findings + problems


def state_at(
    events: list[Event],
    manifest: Manifest,
    when: datetime,
    evidence: str | None,
    trust: Trust,
) -> State:
    """The state at a past moment (e.g. a promotion), judged against the evidence bundle
    standing then (``sha256:<hex>``). Plan and analysis digests are not rebuilt for past
    times, so only the evidence binding is compared."""
    past = [e for e in events if e.at <= when]
    current = Binding(evidence, None, None)
    return decide(past, manifest, current, when, parts=("evidence",), trust=trust).state


def decide(
    events: list[Event],
    manifest: Manifest,
    current: Binding,
    now: datetime,
    newest_bundle: datetime | None = None,
    parts: tuple[str, ...] = BOUND,
    *,
    trust: Trust | None = None,
) -> Lifecycle:
    """The state the events lead to under the manifest's policy and who ``trust`` says
    holds which key (pure: no I/O).

    A decision dated after ``now`` (beyond clock skew) is a finding and does not count:
    the date is the signer's claim, and a future date would stretch its expiry.
    """
    trust = trust if trust is not None else Trust()
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    ordered = sorted((e for e in events if e.at <= now + SKEW), key=lambda e: e.at)
    requests = [e for e in ordered if e.decision == "request"]
    request = requests[-1] if requests else None
    result = Lifecycle("draft", "none", current, request, events=list(events))
    result.findings += [
        Finding(
            "approval-future-dated",
            f"{e.decision} by {e.by} is dated {e.at.isoformat()}, after now; not counted",
            *_where(e),
        )
        for e in events
        if e.at > now + SKEW
    ]
    latest: dict[str, Event] = {}
    for event in ordered:
        if event.decision == "request" or not _counts(event, request, manifest, result):
            continue
        if event.decision == "grant" and not _authorised(event, manifest, trust, latest, result):
            continue
        _take(latest, event)
    result.rejections = [e for e in latest.values() if e.decision == "reject"]
    result.grants = [e for e in latest.values() if e.decision == "grant"]
    if result.rejections:
        result.state, result.record = "rejected", "rejected"
        return result
    if request is None:
        return result
    result.missing_roles = policy.missing_roles(manifest, result.grants)
    if result.missing_roles:
        result.state, result.record = "approval_requested", "requested"
        return result
    result.record = "approved"
    for grant in result.grants:
        changed = _stale(grant, current, newest_bundle, result, parts)
        if changed:
            result.stale[grant.source] = changed
    result.expires = policy.expires_at(manifest, min(g.at for g in result.grants))
    if result.stale:
        result.state = "superseded"
    elif result.expires is not None and now >= result.expires:
        result.state = "review_due"
    else:
        result.state = "approved"
    return result


def _take(latest: dict[str, Event], event: Event) -> None:
    """Keep the latest decision per role; a person's grant replaces their role-less reject."""
    person = event.by.email.casefold()
    earlier = latest.get(person)
    if event.decision == "grant" and earlier is not None and earlier.decision == "reject":
        del latest[person]
    latest[event.role or person] = event


def _counts(event: Event, request: Event | None, manifest: Manifest, result: Lifecycle) -> bool:
    """Whether a decision belongs to the open round and the policy lets it count."""
    where = _where(event)
    if request is None:
        summary = f"{event.decision} by {event.by} with no approval request"
        result.findings.append(Finding("approval-without-request", summary, *where))
        return False
    if event.at < request.at:
        return False  # an earlier round, closed by the newer request
    if event.decision == "grant" and policy.is_self_decision(manifest, request, event.by):
        result.findings.append(
            Finding(
                "self-approval",
                f"{event.decision} by {event.by} not counted: they requested the approval "
                "(approval.distinct_from_requester)",
                *where,
            )
        )
        return False
    return True


def _authorised(
    grant: Event, manifest: Manifest, trust: Trust, latest: dict[str, Event], result: Lifecycle
) -> bool:
    """Whether the policy lets this grant's key grant its role, and (distinct approvers)
    its person has not granted another role of the round; else an
    ``unauthorised-approval`` finding."""
    why = refusal(trust, manifest, trust.keys_of(grant), grant.role)
    other = policy.granted_other_role(manifest, latest.values(), grant)
    if other is not None:
        why = f"{grant.by} granted {other.role} already (approval.distinct_approvers)"
    if why is None:
        return True
    summary = f"grant as {grant.role or ANY_ROLE} by {grant.by} not counted: {why}"
    result.findings.append(Finding("unauthorised-approval", summary, *_where(grant)))
    return False


def _where(event: Event) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(commits, entries) naming where an event was recorded."""
    if event.source.startswith("commit "):
        return (event.source.removeprefix("commit "),), ()
    return (), (event.source,)


def _stale(
    grant: Event,
    current: Binding,
    newest_bundle: datetime | None,
    result: Lifecycle,
    parts: tuple[str, ...],
) -> list[str]:
    """What changed since ``grant``; an unbound trailer is stale once a newer bundle exists."""
    if grant.binding is not None:
        return grant.binding.changed(current, parts)
    result.findings.append(
        Finding(
            "approval-unbound",
            f"grant by {grant.by} names no evidence, plan or analysis digest; "
            "judged by time against the newest bundle",
            *_where(grant),
        )
    )
    return ["evidence"] if newest_bundle is not None and newest_bundle > grant.at else []
