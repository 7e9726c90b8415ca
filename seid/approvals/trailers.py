"""Approvals as git commit trailers, for teams that review in pull requests.

The sei engine drives its lifecycle with ``Sei-Approval-Requested-by:``,
``Sei-Approved-by:`` and ``Sei-Rejected-by:`` trailers; seid reads those and the ``Seid-``
spellings, plus its own binding trailers (``Seid-Role``, ``Seid-Evidence``, ``Seid-Plan``,
``Seid-Analysis``, ``Seid-Statement``). One ``git log`` streams the trailers and the
signature status (``%G?``) of the commits whose message names a decision: anyone can
type a trailer, so a trailer counts as ``trailer`` strength unless the commit itself
carries a good signature, by a key git trusts, of the person the trailer names (``%GS``).
The signing key (``%GK``) of such a commit is what :mod:`~seid.approvals.authority`
traces to a key of the trust directory before the grant may count for a role.

Writing uses plumbing (``commit-tree`` on HEAD's tree, then a compare-and-swap
``update-ref``), so an approval commit never sweeps up whatever happens to be staged;
``commit.gpgSign`` is honoured (``commit-tree`` itself ignores it), which is what makes
it a ``signed-commit``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from seid import git
from seid.approvals.names import DECISION_GREP
from seid.approvals.statement import (
    Binding,
    Decision,
    Event,
    Finding,
    Identity,
    Strength,
    parse_identity,
)
from seid.errors import SeidError
from seid.isotime import instant

_NAMES: tuple[tuple[str, Decision], ...] = (
    ("approval-requested-by", "request"),
    ("approved-by", "grant"),
    ("rejected-by", "reject"),
)
DECISION_KEYS: dict[str, Decision] = {
    f"{prefix}-{name}": decision for prefix in ("sei", "seid") for name, decision in _NAMES
}
WRITE_KEYS: dict[Decision, str] = {
    "request": "Sei-Approval-Requested-by",
    "grant": "Sei-Approved-by",
    "reject": "Sei-Rejected-by",
}
# Only "G" counts: "U" (good signature, unknown validity) is what git reports for an
# ssh signature by any key missing from gpg.ssh.allowedSignersFile, i.e. by anyone.
GOOD_SIGNATURE = ("G",)
_SIGNATURE_MEANING = {
    "B": "a bad signature",
    "U": "a good signature by a key not trusted here (not an allowed signer)",
    "X": "a good signature that has expired",
    "Y": "a good signature by an expired key",
    "R": "a good signature by a revoked key",
    "E": "a signature that cannot be checked (key not available)",
}
_RECORD, _FIELD, _TRAILER = "\x1e", "\x1f", "\x1d"
FORMAT = "%x1e%H%x1f%G?%x1f%GS%x1f%GK%x1f%cI%x1f%(trailers:only,unfold,separator=%x1d)"


@dataclass(frozen=True)
class _Commit:
    sha: str
    signature: str  # %G?
    signer: str  # %GS: the signer's name/email (gpg uid or ssh principal)
    key: str  # %GK: the signing key (ssh: its SHA256 fingerprint; gpg: its key id)
    date: str
    trailers: list[tuple[str, str]]


# The decisions git records, oldest first, and the findings about them.
GitDecisions = tuple[list[Event], list[Finding]]


def read(root: Path) -> GitDecisions:
    """Every decision trailer on the history of HEAD (one ``git log``), oldest first."""
    per_commit: list[list[Event]] = []
    findings: list[Finding] = []
    for commit in _log(root):
        if not any(key.lower() in DECISION_KEYS for key, _ in commit.trailers):
            continue
        found, problems = _events(commit)
        per_commit.append(found)
        findings.extend(problems)
    return [event for found in reversed(per_commit) for event in found], findings


def _log(root: Path) -> Iterator[_Commit]:
    """The decision commits of HEAD's history, newest first, streamed."""
    try:
        proc = git.start(
            root, "log", "-i", "-E", f"--grep={DECISION_GREP}", f"--format={FORMAT}", "HEAD"
        )
    except git.GitError:
        return  # no git: no trailers
    assert proc.stdout is not None
    text = io.TextIOWrapper(proc.stdout, encoding="utf-8", errors="replace")
    buffer = ""
    try:
        for chunk in iter(lambda: text.read(1 << 16), ""):
            buffer += chunk
            *whole, buffer = buffer.split(_RECORD)
            yield from (_parse(record) for record in whole if record)
        if buffer:
            yield _parse(buffer)
    finally:
        text.close()
        proc.wait()  # a failure (no commits, not a repository) simply yields nothing


def _parse(record: str) -> _Commit:
    fields = [*record.rstrip("\n").split(_FIELD, 5), "", "", "", ""][:6]
    sha, signature, signer, key, date, text = fields
    trailers = []
    for line in text.strip("\n").split(_TRAILER):
        key, colon, value = line.partition(":")
        if colon:
            trailers.append((key.strip(), value.strip()))
    return _Commit(sha, signature, signer, key, date, trailers)


def _strength(commit: _Commit, by: Identity) -> tuple[Strength, Finding | None]:
    """``signed-commit`` only for a good signature by a trusted key of the person named."""
    sha, signature = commit.sha, commit.signature
    if signature in ("N", ""):
        return "trailer", None
    if signature in GOOD_SIGNATURE:
        named = parse_identity(commit.signer)  # gpg: "Name <email>"; ssh: the principal
        signer = named.email if named else commit.signer.strip()
        if by.email.casefold() == signer.casefold():
            return "signed-commit", None
        summary = (
            f"approval commit {sha[:12]} names {by} but is signed by "
            f"{commit.signer or 'someone else'}; counted as a bare trailer"
        )
        return "trailer", Finding("commit-signer-mismatch", summary, (sha,))
    meaning = _SIGNATURE_MEANING.get(signature, f"a signature git reports as {signature!r}")
    kind = "bad-commit-signature" if signature == "B" else "unchecked-commit-signature"
    summary = f"approval commit {sha[:12]} has {meaning}; counted as a bare trailer"
    return "trailer", Finding(kind, summary, (sha,))


def _events(commit: _Commit) -> tuple[list[Event], list[Finding]]:
    values = {key.lower(): value for key, value in commit.trailers}
    at = instant(commit.date)
    binding = None
    if any(f"seid-{name}" in values for name in ("evidence", "plan", "analysis")):
        binding = Binding(
            values.get("seid-evidence"),
            values.get("seid-plan"),
            values.get("seid-analysis"),
            values.get("seid-evidence-entry"),
        )
    events, findings = [], []
    for key, value in commit.trailers:
        decision = DECISION_KEYS.get(key.lower())
        if decision is None:
            continue
        who = parse_identity(value)
        if who is None or at is None:
            summary = f"commit {commit.sha[:12]}: unreadable {key}: trailer"
            findings.append(Finding("approval-broken", summary, (commit.sha,)))
            continue
        strength, problem = _strength(commit, who)
        findings += [problem] if problem else []
        events.append(
            Event(
                decision=decision,
                by=who,
                at=at,
                strength=strength,
                source=f"commit {commit.sha}",
                role=values.get("seid-role") or None,
                binding=binding,
                statement=values.get("seid-statement"),
                signing_key=(commit.key or None) if strength == "signed-commit" else None,
            )
        )
    return events, findings


def message(
    decision: Decision,
    by: Identity,
    binding: Binding,
    *,
    role: str | None,
    note: str | None,
    statement: str | None,
) -> str:
    """The commit message for a decision: a subject, the note, and the trailers."""
    subject = f"seid approve: {decision}" + (f" ({role})" if role else "")
    lines = [f"{WRITE_KEYS[decision]}: {by}"]
    pairs = (
        ("Seid-Role", role),
        ("Seid-Evidence", binding.evidence),
        ("Seid-Evidence-Entry", binding.evidence_entry),
        ("Seid-Plan", binding.plan),
        ("Seid-Analysis", binding.analysis),
        ("Seid-Statement", statement),
    )
    lines += [f"{key}: {value}" for key, value in pairs if value]
    body = f"\n\n{note.strip()}" if note and note.strip() else ""
    return f"{subject}{body}\n\n" + "\n".join(lines) + "\n"


def head(root: Path) -> str:
    """The commit HEAD names; checked before anything is signed, so --commit never fails
    half-way for want of a commit."""
    found = git.probe(root, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    if found is None:
        raise SeidError("--commit: the repository has no commit yet to approve on")
    return found


def commit(root: Path, text: str) -> str:
    """An empty commit on HEAD with ``text`` as its message; returns its id."""
    head_commit = head(root)
    # commit-tree ignores commit.gpgSign, so honour it here as `git commit` would
    sign = ["-S"] if git.probe(root, "config", "--type=bool", "commit.gpgSign") == "true" else []
    tree = f"{head_commit}^{{tree}}"
    try:
        new = git.run(root, "commit-tree", *sign, tree, "-p", head_commit, stdin=text.encode())
    except git.GitError as err:
        raise SeidError(f"--commit: {err} (is commit signing set up?)") from None
    if not git.succeeds(root, "update-ref", "-m", "seid approve", "HEAD", new, head_commit):
        raise SeidError("--commit: HEAD moved while committing; nothing was changed")
    return new
