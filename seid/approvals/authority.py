"""Who may grant which role: the trust directory's key holders and the policy's approvers.

A statement's signer is its key. The holder recorded for a key (``seid trust add --as``)
is the one person that key speaks for, and the roles the record lists bound what it may
grant. The policy's ``approval.approvers`` names, per role, the keys that may grant it:
by key id (or a prefix of 16 hex digits or more), or by the holder's name, email or
``Name <email>``. A policy without ``approvers`` lets any trusted key grant, as before
(``seid status`` warns). A commit trailer is traced to a key through the commit's good
signature: an ssh signature by the fingerprint git reports (``%GK``) among the trusted
keys, a gpg signature by its user id's email among the recorded holders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from seid import keys
from seid.approvals.statement import Event, Identity
from seid.config import Manifest
from seid.config.semantics import ANY_ROLE
from seid.keys import Holder

_MIN_PREFIX = 16


@dataclass(frozen=True)
class Trust:
    """The trusted key ids, the holder recorded for each, and their ssh fingerprints."""

    keys: frozenset[str] = frozenset()
    holders: Mapping[str, Holder] = field(default_factory=dict)
    ssh: Mapping[str, str] = field(default_factory=dict)  # fingerprint -> key id

    @classmethod
    def load(cls, root: Path) -> Trust:
        return cls(
            frozenset(keys.trusted_keys(root)),
            keys.trusted_holders(root),
            keys.trusted_ssh_fingerprints(root),
        )

    def identity(self, keyid: str | None) -> Identity | None:
        """The identity registered for ``keyid``; None when no holder is recorded."""
        holder = self.holders.get(keyid) if keyid else None
        return Identity(holder.name, holder.email, keyid) if holder else None

    def resolve(self, name: str) -> set[str]:
        """The trusted keys a policy entry names (a key id or prefix, or a holder)."""
        wanted = name.strip().casefold()
        found = set()
        for keyid in self.keys:
            if keyid == wanted or (len(wanted) >= _MIN_PREFIX and keyid.startswith(wanted)):
                found.add(keyid)
            holder = self.holders.get(keyid)
            if holder is not None and wanted in _names(holder):
                found.add(keyid)
        return found

    def keys_of(self, event: Event) -> tuple[str, ...]:
        """The trusted keys behind ``event``: a statement's signing key; for a trailer, the
        key of the commit's good signature (none for a bare trailer)."""
        if event.strength == "signed-statement":
            return (event.by.keyid,) if event.by.keyid else ()
        if event.strength != "signed-commit" or not event.signing_key:
            return ()
        if event.signing_key.startswith("SHA256:"):  # ssh
            found = self.ssh.get(event.signing_key)
            return (found,) if found else ()
        email = event.by.email.casefold()  # gpg: git checked the uid; match it to a holder
        return tuple(sorted(k for k, h in self.holders.items() if h.email.casefold() == email))


def _names(holder: Holder) -> tuple[str, ...]:
    spelled = (holder.name, holder.email, f"{holder.name} <{holder.email}>")
    return tuple(name.casefold() for name in spelled)


def named_approvers(manifest: Manifest) -> bool:
    """Whether the policy names who may approve (else any trusted key may)."""
    return manifest.approval.approvers is not None


def refusal(
    trust: Trust, manifest: Manifest, signers: tuple[str, ...], role: str | None
) -> str | None:
    """Why none of the keys ``signers`` may grant ``role``; None when one of them may."""
    role = role or ANY_ROLE
    approvers = manifest.approval.approvers
    if not signers:
        if approvers is None:
            return None  # as before: an unsigned trailer counts, at trailer strength
        return "no trusted key is behind it (unsigned, or signed by a key not in .sei/trust/)"
    allowed = {k for name in (approvers or {}).get(role, []) for k in trust.resolve(name)}
    reasons = []
    for keyid in signers:
        holder = trust.holders.get(keyid)
        if holder is not None and holder.roles and role not in holder.roles:
            reasons.append(
                f"key {keyid[:16]} is registered for {', '.join(holder.roles)}, not {role}"
            )
        elif approvers is not None and keyid not in allowed:
            reasons.append(f"key {keyid[:16]} is not among approval.approvers.{role}")
        else:
            return None
    return "; ".join(reasons)
