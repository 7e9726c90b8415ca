"""The approval state ``seid status`` shows: cached, and nearly free when nobody asked.

Status must stay fast (a warm run imports no pydantic and reads no ledger entry), so the
lifecycle (:func:`seid.approvals.lifecycle.lifecycle`) is recomputed only when something
it depends on changed (the local logs, the published refs, the trusted keys, HEAD for
the trailers, the manifest) or when time alone may have changed it (an expiry passed, a
future-dated decision came due). Before that, a probe looks for any decision at all: an
approval statement among the entries appended since it last looked, a decision trailer
on HEAD's history. With none the state is ``draft``, and neither the manifest model nor
the ledger's crypto is loaded.

A policy that names no approvers carries a warning (any trusted key may approve), worked
out again only when the manifest's bytes change.

The probe is a hint, never a trust decision: whatever it finds, the lifecycle decides.
A published log whose local copy is at least as long is taken to be its prefix (a fork is
``seid verify``'s business) and not read again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from seid import git
from seid.approvals.names import APPROVAL_PREDICATE, DECISION_GREP, open_policy
from seid.errors import SeidError, VerificationError
from seid.fsutil import LEDGER_DIR, TRUST_DIR
from seid.isotime import instant
from seid.ledger.paths import REF_PREFIX
from seid.locate import manifest_path

if TYPE_CHECKING:
    from seid.approvals.lifecycle import Lifecycle
    from seid.statcache import StatCache

_KEY = "approval/v2"


class Standing(NamedTuple):
    """The lifecycle state and who decided, as ``seid status`` prints it (a named tuple,
    not a dataclass: defining a dataclass costs a warm status milliseconds)."""

    state: str = "draft"
    requested_by: str | None = None
    approved_by: tuple[str, ...] = ()
    bound_to: str | None = None  # sha256:<12 hex> of the approved bundle
    bound_entry: str | None = None  # <log id prefix>#<index>
    strength: str | None = None
    expires: str | None = None
    warning: str | None = None  # e.g. a policy that names no approvers

    def to_json(self) -> dict[str, Any]:
        return {**self._asdict(), "approved_by": list(self.approved_by)}

    def describe(self) -> str:
        """One line: the state, then who asked, who granted and what they approved."""
        parts = [f"requested by {self.requested_by}"] if self.requested_by else []
        if self.approved_by:
            parts.append(f"approved by {', '.join(self.approved_by)} ({self.strength})")
        if self.bound_to:
            parts.append(f"bound to evidence {self.bound_to} ({self.bound_entry})")
        if self.expires:
            parts.append(f"expires {self.expires}")
        line = f"Approval: {self.state}" + (f" ({'; '.join(parts)})" if parts else "")
        return line + (f"\n  warning: {self.warning}" if self.warning else "")


def standing(
    root: Path, head: str | None, cache: StatCache, now: datetime | None = None
) -> Standing:
    """The approval state of the project at ``root`` (HEAD ``head``), as of ``now``."""
    moment = now or datetime.now(UTC)
    raw = cache.get_meta(_KEY)
    doc: dict[str, Any] = json.loads(raw) if raw is not None else {}
    trailers_seen = bool(doc.get("probe", {}).get("trailers", [None, False])[1])
    key = fingerprint(root, head, signing=trailers_seen)
    until = doc.get("until")
    expires = instant(until) if until is not None else None
    if doc.get("key") == key and (until is None or (expires is not None and moment < expires)):
        cached = doc["standing"]
        return Standing(**{**cached, "approved_by": tuple(cached["approved_by"])})
    probe = _Probe(root, head, doc.get("probe", {}))
    policy_seen = doc.get("policy", [None, None])
    if probe.any_decision():
        result, valid_until, warning = _decide(root, moment)
        policy_seen = [_manifest_digest(root), warning]
    else:
        policy_seen = _policy_warning(root, policy_seen)
        result, valid_until = Standing(warning=policy_seen[1]), None
    cache.put_meta(
        _KEY,
        json.dumps(
            {
                "key": key,
                "until": valid_until.isoformat() if valid_until else None,
                "standing": result.to_json(),
                "probe": probe.state,
                "policy": policy_seen,
            }
        ),
    )
    return result


def _manifest_digest(root: Path) -> str | None:
    try:
        return hashlib.sha256(manifest_path(root).read_bytes()).hexdigest()
    except (SeidError, OSError):
        return None


def _policy_warning(root: Path, seen: list[Any]) -> list[Any]:
    """[manifest digest, the policy's warning]: the manifest is loaded (pydantic) only
    when its bytes changed since the warning was last worked out."""
    digest = _manifest_digest(root)
    if digest is None or seen[0] == digest:
        return [digest, seen[1] if digest else None]
    from seid.config import load_manifest

    try:
        return [digest, open_policy(load_manifest(root))]
    except SeidError:
        return [digest, None]  # the manifest's own errors are reported where it is used


def fingerprint(root: Path, head: str | None, *, signing: bool = False) -> str:
    """What the lifecycle depends on, cheaply: the stats of the local logs and trusted
    keys, the published refs as one ``git for-each-ref`` prints them, and the manifest's
    digest (its bytes, not its stat: an edit may keep size and mtime). With ``signing``
    (HEAD's history has decision trailers), also what git's verdict on their commit
    signatures depends on. The registry sidecar keys its ledger reads on it too."""
    stats = [
        [str(path.relative_to(root)), st.st_ino, st.st_size, st.st_mtime_ns]
        for path in sorted([*_logs(root), *_files(root / TRUST_DIR)])
        for st in (path.stat(),)
    ]
    manifest = _manifest_digest(root)  # none (yet): the lifecycle's reader says so
    published = git.probe(root, "for-each-ref", "--format=%(refname) %(objectname)", REF_PREFIX)
    facts = [head, manifest, stats, published or ""]
    if signing:
        facts.append(_signing_facts(root))
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()


_KEYRINGS = ("pubring.kbx", "pubring.gpg", "trustdb.gpg")


def _signing_facts(root: Path) -> list[Any]:
    """git's ``gpg.*`` settings and the stat of the files they make it trust (the ssh
    allowed-signers file, the GnuPG keyrings): a signature's standing follows them."""
    config = git.probe(root, "config", "--get-regexp", r"^gpg\.") or ""
    home = Path(os.environ.get("GNUPGHOME") or Path.home() / ".gnupg")
    files = [home / name for name in _KEYRINGS]
    for line in config.splitlines():
        name, _, value = line.partition(" ")
        if name == "gpg.ssh.allowedsignersfile" and value:
            files.append(root / Path(value).expanduser())  # an absolute value stays itself
    stats = []
    for path in files:
        try:
            st = path.stat()
        except OSError:
            continue
        stats.append([str(path), st.st_ino, st.st_size, st.st_mtime_ns])
    return [config, stats]


def _logs(root: Path) -> list[Path]:
    base = root / LEDGER_DIR
    return sorted(base.glob("*/log")) if base.is_dir() else []


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.is_file()] if directory.is_dir() else []


class _Probe:
    """Whether any decision may exist, reading only what is new since the last probe.

    ``state`` (kept in the cache): HEAD and whether its history names a decision; per
    local log its inode, the bytes read and whether an approval was among them; per
    published log its commit and the same answer.
    """

    def __init__(self, root: Path, head: str | None, state: dict[str, Any]) -> None:
        self.root, self.head = root, head
        self.state: dict[str, Any] = {
            "trailers": state.get("trailers", [None, False]),
            "logs": state.get("logs", {}),
            "refs": state.get("refs", {}),
        }

    def any_decision(self) -> bool:
        found = [self._trailers(), *self._local(), *self._published()]  # all: state is kept
        return any(found)

    def _trailers(self) -> bool:
        seen_head, found = self.state["trailers"]
        if seen_head != self.head:
            found = self.head is not None and _decision_commit(self.root)
            self.state["trailers"] = [self.head, found]
        return bool(found)

    def _local(self) -> Iterator[bool]:
        logs: dict[str, list[Any]] = {}
        for path in _logs(self.root):
            ino, offset, found = self.state["logs"].get(path.parent.name, [None, 0, False])
            st = path.stat()
            if ino != st.st_ino or st.st_size < offset:
                offset, found = 0, False  # replaced or cut back: read it all again
            with path.open("rb") as stream:
                stream.seek(offset)
                found = found or _holds_approval(stream, offset)
            logs[path.parent.name] = [st.st_ino, st.st_size, found]
            yield found
        self.state["logs"] = logs

    def _published(self) -> Iterator[bool]:
        from seid.ledger import refs  # the probe only

        try:
            published = refs.ref_logs(self.root)
        except (SeidError, OSError):
            published = {}  # not a git repository, or no git: nothing published
        known: dict[str, list[Any]] = {}
        local = self.state["logs"]
        for log_id, commit in published.items():
            seen = self.state["refs"].get(log_id)
            if seen is not None and seen[0] == commit:
                found = bool(seen[1])
            elif log_id in local and 0 <= _ref_size(self.root, log_id) <= local[log_id][1]:
                found = bool(local[log_id][2])  # a prefix of the local log, read already
            else:
                found = _ref_holds_approval(self.root, log_id)
            known[log_id] = [commit, found]
            yield found
        self.state["refs"] = known


def _decision_commit(root: Path) -> bool:
    """Whether HEAD's history has a commit whose message names a decision."""
    found = git.probe(root, "log", "-i", "-E", f"--grep={DECISION_GREP}", "--format=%H", "-1")
    return bool(found)


def _ref_size(root: Path, log_id: str) -> int:
    """The byte size of a published log, -1 when it cannot be read."""
    from seid.ledger import refs

    try:
        return int(git.run(root, "cat-file", "-s", f"{refs.ref_name(log_id)}:log"))
    except (SeidError, ValueError):
        return -1


def _ref_holds_approval(root: Path, log_id: str) -> bool:
    """Whether a published log holds an approval; an unreadable one may (the lifecycle
    then says what is wrong with it)."""
    from seid.ledger import refs

    try:
        with refs.open_ref_log(root, log_id) as stream:
            return _holds_approval(stream, 0)
    except SeidError:
        return True


def _holds_approval(stream: BinaryIO, offset: int) -> bool:
    """Whether a record from ``offset`` on (to the end of ``stream``) is an approval."""
    from seid.ledger import records  # the probe only: a warm status reads no record

    try:
        for data in records.iterate(stream, offset):
            entry, _ = records.unpack_pair(data, offset)
            if _predicate_type(entry) == APPROVAL_PREDICATE:
                return True
    except records.RecordError:
        pass  # a torn tail: recovery and verify deal with it
    return False


def _predicate_type(entry: bytes) -> str | None:
    """The predicate type of a DSSE-wrapped statement, unverified (this only decides
    whether the lifecycle must look); None if it is not one."""
    from seid import evidence  # the probe only: a warm status reads no record

    try:
        found = evidence.decode(entry).get("predicateType")
    except VerificationError:
        return None
    return found if isinstance(found, str) else None


def _decide(root: Path, now: datetime) -> tuple[Standing, datetime | None, str | None]:
    """The lifecycle, the moment time alone could change it (None: never), and the
    policy's warning."""
    from seid.approvals.lifecycle import SKEW, lifecycle
    from seid.config import load_manifest

    manifest = load_manifest(root)
    state = lifecycle(root, manifest, now, lazy_plan=True)
    moments = [e.at - SKEW for e in state.events if e.at > now + SKEW]
    if state.state == "approved" and state.expires is not None:
        moments.append(state.expires)
    warning = open_policy(manifest)
    return _standing(state, warning), min(moments, default=None), warning


def _standing(state: Lifecycle, warning: str | None) -> Standing:
    bound = state.bound_to
    return Standing(
        state=state.state,
        requested_by=str(state.request.by) if state.request else None,
        approved_by=tuple(str(g.by) for g in state.grants),
        bound_to=bound.evidence[:19] if bound and bound.evidence else None,
        bound_entry=bound.evidence_entry if bound else None,
        strength=state.strength,
        expires=state.expires.isoformat() if state.expires else None,
        warning=warning,
    )
