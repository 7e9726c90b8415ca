"""Promotion: the registry's ``champion`` moves only on passing, signed evidence, and under
an approval policy only once that evidence is approved.

``seid run`` promotes right after a passing gate, unless the manifest writes an
``approval:`` policy: then the run leaves the registry alone and ``seid promote`` does it
once the approval is granted, re-checking everything from the verified ledger (the
newest bundle passed its gate, the approval is ``approved`` and bound to that bundle).
Either way a promotion statement (:data:`PROMOTION_PREDICATE`) bound to the bundle goes
into the ledger, after the promotion: replay judges every promotion by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from securesystemslib.signer import Signer  # type: ignore[attr-defined]

from seid import attest
from seid.approvals.lifecycle import lifecycle
from seid.approvals.policy import requires_approval
from seid.approvals.statement import LedgerView, read_ledger
from seid.config import Manifest, load_manifest
from seid.errors import SeidError
from seid.evidence import Subject
from seid.ledger.entries import Entry, entry_ref
from seid.registry_statements import PROMOTION_PREDICATE
from seid.reproducers.base import get_reproducer
from seid.reproducers.execute import now
from seid.reproducers.result import recorded_result


@dataclass(frozen=True)
class Promotion:
    """What ``seid promote`` moved, on the strength of which bundle."""

    promoted: str
    bundle: str  # the entry, as reports name it
    commit: str | None
    approval: str | None  # the lifecycle state it relied on; None without a policy


def record(
    root: Path, signer: Signer, bundle: attest.Attestation | Entry, commit: str | None, what: str
) -> None:
    """The promotion statement: its subject is the bundle that justified it."""
    if isinstance(bundle, Entry):
        assert bundle.digest is not None
        log_id, index, digest = bundle.log_id, bundle.index, bundle.digest
    else:
        log_id, index, digest = bundle.log_id, bundle.index, bundle.entry_sha256
    subject = Subject(f"evidence:{entry_ref(log_id, index)}", digest)
    predicate = {
        "git": {"commit": commit},
        "promoted": what,
        "evidence": f"sha256:{digest}",
        "at": now().isoformat(),
    }
    attest.append(root, signer, [subject], predicate, PROMOTION_PREDICATE)


def promote(root: Path, signer: Signer) -> Promotion:
    """Promote what the newest trusted bundle evidenced, if everything allows it."""
    manifest = load_manifest(root)
    view = read_ledger(root)
    bundle = view.latest_bundle()
    if bundle is None or bundle.digest is None:
        raise SeidError("no evidence bundle by a trusted key in the ledger: run 'seid run' first")
    gate = bundle.predicate.get("gate")
    if gate != "pass":
        raise SeidError(f"the newest bundle {bundle.ref} did not pass its gate (gate: {gate})")
    approval = _approved(root, manifest, view, bundle) if requires_approval(manifest) else None
    reproducer = get_reproducer(manifest.pipeline.tool)(root, manifest.pipeline, bundle.predicate)
    if not reproducer.registry:
        raise SeidError(f"a {manifest.pipeline.tool} pipeline has no model registry to promote in")
    result = recorded_result(manifest.pipeline.tool, bundle.predicate, reassessed=False)
    what = reproducer.promote(result)
    if what is None:
        raise SeidError(f"bundle {bundle.ref} records no registered model version to promote")
    git = bundle.predicate.get("git")
    commit = git.get("commit") if isinstance(git, dict) else None
    commit = commit if isinstance(commit, str) else None
    record(root, signer, bundle, commit, what)
    return Promotion(what, bundle.ref, commit, approval)


def _approved(root: Path, manifest: Manifest, view: LedgerView, bundle: Entry) -> str:
    """The lifecycle state, when it is ``approved`` for exactly this bundle."""
    state = lifecycle(root, manifest, view=view)
    bound = state.bound_to
    if state.state != "approved" or bound is None or bound.evidence != f"sha256:{bundle.digest}":
        raise SeidError(
            f"the approval policy in {manifest.path.name} holds the promotion: the approval of "
            f"{bundle.ref} is {state.state} (see 'seid approve show')"
        )
    return state.state
