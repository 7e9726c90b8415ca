"""The approvals vocabulary other code looks for: importable without the approvals
machinery (pydantic, crypto), so ``seid status`` can probe for decisions cheaply."""

from __future__ import annotations

APPROVAL_PREDICATE = "https://seid.dev/approval/v1"
# A commit message naming a decision (``Sei-``/``Seid-`` trailers), for ``git log -i -E
# --grep``: only those commits are printed, so git checks signatures (one gpg or
# ssh-keygen run per %G?) for them alone, not for a whole signed history.
DECISION_GREP = "^seid?-(approval-requested|approved|rejected)-by:"
