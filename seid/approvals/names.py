"""The approvals vocabulary other code looks for: importable without the approvals
machinery (pydantic, crypto), so ``seid status`` can probe for decisions cheaply."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seid.config import Manifest

APPROVAL_PREDICATE = "https://seid.dev/approval/v1"
# A commit message naming a decision (``Sei-``/``Seid-`` trailers), for ``git log -i -E
# --grep``: only those commits are printed, so git checks signatures (one gpg or
# ssh-keygen run per %G?) for them alone, not for a whole signed history.
DECISION_GREP = "^seid?-(approval-requested|approved|rejected)-by:"
OPEN_POLICY = "approval.approvers is not set: any trusted key may approve"


def requires_approval(manifest: Manifest) -> bool:
    """A manifest that writes an ``approval`` policy requires one before promotion."""
    return "approval" in manifest.model_fields_set


def open_policy(manifest: Manifest) -> str | None:
    """The warning for a policy that requires approval but names no approvers."""
    return (
        OPEN_POLICY if requires_approval(manifest) and manifest.approval.approvers is None else None
    )
