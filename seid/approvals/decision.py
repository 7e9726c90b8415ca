"""Making a decision: the rules that refuse one before anything is signed, then signing it.

``seid approve`` is this module behind a command line. A decision is refused (a
:class:`~seid.errors.SeidError`, nothing written) when there is no trusted evidence to
bind to, no request to decide on, a role the policy does not know, an ``--as`` that is not
the identity registered for the key, a grant by the requester, a grant by a key the
policy does not let grant that role, or (``distinct_approvers``) a second role granted
by the same person. The same rules judge decisions read back
(:mod:`~seid.approvals.lifecycle`), whichever way they arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from securesystemslib.signer import Signer  # type: ignore[attr-defined]

from seid.approvals import policy, statement, trailers
from seid.approvals.authority import Trust, refusal
from seid.approvals.lifecycle import collect, decide
from seid.approvals.statement import Binding, Decision, Identity
from seid.config import Manifest
from seid.errors import SeidError


@dataclass(frozen=True)
class Prepared:
    """A decision every rule allows, ready to sign."""

    decision: Decision
    by: Identity
    role: str | None
    binding: Binding
    trusted: bool  # whether the signing key is in .sei/trust/ (else it will not count)


@dataclass(frozen=True)
class Recorded:
    """Where a decision went: its ledger entry, the envelope, and its commit if any."""

    log_id: str
    index: int
    envelope: bytes


def prepare(
    root: Path,
    manifest: Manifest,
    decision: Decision,
    role: str | None,
    signer: Signer,
    who: str | None,
) -> Prepared:
    """Check ``decision`` against the ledger, the trust directory and the policy."""
    keyid = signer.public_key.keyid
    trust = Trust.load(root)
    me = statement.whoami(root, who, keyid, trust.identity(keyid))
    view = statement.read_ledger(root)
    current, _ = statement.current_binding(root, manifest, view)
    if current.evidence is None:
        raise SeidError(
            "no evidence bundle by a trusted key in the ledger to approve: run 'seid run' first"
        )
    if decision == "grant":
        role = policy.check_role(manifest, role)
    elif role is not None:
        policy.check_role(manifest, role)
    if decision != "request":
        events, _ = collect(root, manifest, view, trust=trust)
        standing = decide(events, manifest, current, datetime.now(UTC), trust=trust)
        if standing.request is None:
            raise SeidError("no approval has been requested: run 'seid approve request' first")
        if decision == "grant":  # a requester may still withdraw (reject) their request
            policy.refuse_self_decision(manifest, standing.request, me)
            _refuse_unauthorised(trust, manifest, me, role, standing.grants)
    return Prepared(decision, me, role, current, keyid in trust.keys)


def _refuse_unauthorised(
    trust: Trust,
    manifest: Manifest,
    me: Identity,
    role: str | None,
    grants: list[statement.Event],
) -> None:
    assert me.keyid is not None
    why = refusal(trust, manifest, (me.keyid,) if me.keyid in trust.keys else (), role)
    if why is not None:
        raise SeidError(f"grant as {role} refused: {why}")
    probe = statement.Event("grant", me, datetime.now(UTC), "signed-statement", "", role)
    other = policy.granted_other_role(manifest, grants, probe)
    if other is not None:
        raise SeidError(
            f"grant as {role} refused: {me} granted {other.role} already, and "
            "approval.distinct_approvers needs a different person for each role"
        )


def record(
    root: Path, manifest: Manifest, made: Prepared, signer: Signer, note: str | None
) -> Recorded:
    """Sign the decision and append it to the signer's own log."""
    built = statement.build(
        made.decision, made.by, made.binding, manifest, role=made.role, note=note
    )
    log_id, index, envelope = statement.append(root, built, signer)
    return Recorded(log_id, index, envelope)


def commit(root: Path, made: Prepared, recorded: Recorded, note: str | None) -> str:
    """The decision as an empty commit with ``Sei-*`` trailers pointing at its statement."""
    text = trailers.message(
        made.decision,
        made.by,
        made.binding,
        role=made.role,
        note=note,
        statement=statement.sha256_ref(recorded.envelope),
    )
    try:
        return trailers.commit(root, text)
    except SeidError as err:
        raise SeidError(f"{err} (the signed statement is recorded)") from None
