"""The approval policy in ``sei.yaml``: which roles must grant, four eyes, and expiry.

``approval.roles_required`` lists the roles that must each grant (none listed: any one
grant will do); ``distinct_from_requester`` refuses a decision by the person who asked,
matched by signing key id *and* by email, so a second key does not make a second person;
``distinct_approvers`` (the default when two or more roles are required) has each role
granted by a different person, none of them the requester; ``approval.approvers`` names
who may grant each role (see :mod:`~seid.approvals.authority`); ``approval.expires``
(else ``risk.review_interval``) is how long a grant holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from seid.approvals.names import requires_approval as requires_approval
from seid.approvals.statement import Event, Identity
from seid.config import Manifest
from seid.config.semantics import ANY_ROLE
from seid.errors import SeidError
from seid.isotime import add_duration


def check_role(manifest: Manifest, role: str | None) -> str | None:
    """The role a grant is made in; refuses one the policy does not know."""
    required = manifest.approval.roles_required
    if role is None:
        if required:
            raise SeidError(f"--role is required: one of {', '.join(required)}")
        return ANY_ROLE
    if required and role not in required:
        raise SeidError(f"role {role!r} is not in approval.roles_required ({', '.join(required)})")
    return role


def same_person(a: Identity, b: Identity) -> bool:
    """One person: the same signing key, or the same email (case-insensitive)."""
    same_key = a.keyid is not None and a.keyid == b.keyid
    return same_key or a.email.casefold() == b.email.casefold()


def distinct_approvers(manifest: Manifest) -> bool:
    """Whether each role must be granted by a different person (by default, when two or
    more roles are required)."""
    chosen = manifest.approval.distinct_approvers
    return chosen if chosen is not None else len(manifest.approval.roles_required) >= 2


def is_self_decision(manifest: Manifest, request: Event | None, decider: Identity) -> bool:
    """Whether the policy forbids ``decider`` deciding on ``request``."""
    distinct = manifest.approval.distinct_from_requester or distinct_approvers(manifest)
    return distinct and request is not None and same_person(request.by, decider)


def granted_other_role(manifest: Manifest, grants: Iterable[Event], grant: Event) -> Event | None:
    """Under ``distinct_approvers``, the grant of another role by the same person that
    keeps ``grant`` from counting; None when it may count."""
    if not distinct_approvers(manifest):
        return None
    same = (
        g
        for g in grants
        if g.decision == "grant" and g.role != grant.role and same_person(g.by, grant.by)
    )
    return next(same, None)


def refuse_self_decision(manifest: Manifest, request: Event | None, decider: Identity) -> None:
    if is_self_decision(manifest, request, decider):
        assert request is not None
        raise SeidError(
            f"self-approval refused: {request.by} requested this approval and "
            "approval.distinct_from_requester (or distinct_approvers) is true"
        )


def missing_roles(manifest: Manifest, grants: Iterable[Event]) -> list[str]:
    """Required roles without a grant (with none required, one grant of any role)."""
    granted = {grant.role for grant in grants}
    required = manifest.approval.roles_required
    if not required:
        return [] if granted else [ANY_ROLE]
    return [role for role in required if role not in granted]


def expiry_duration(manifest: Manifest) -> str | None:
    """How long an approval holds: ``approval.expires``, else the risk review interval."""
    return manifest.approval.expires or manifest.risk.review_interval


def expires_at(manifest: Manifest, granted: datetime) -> datetime | None:
    duration = expiry_duration(manifest)
    return add_duration(granted, duration) if duration else None
