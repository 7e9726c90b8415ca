"""The witness ref: publishing a witness's cosignatures, and pushing them whatever
happened to the remote's copy.

``refs/seid/witness/<witness-id>`` holds, per log, the note the witness cosigned last
(``<log-id>``) and, when this clone holds the very tree it cosigned, that log's blob
(``<log-id>.log``). The witness's state (``.sei/witness/<witness-id>/<log-id>``) is the
authority: each pass commits every state note its ref does not hold yet, whether it was
cosigned from a fetched log or over HTTP (``POST /add-checkpoint``, where no log may be
here at all; the ref then keeps whatever ``.log`` it had).

Pushing is never forced. When the remote's ref moved to a commit this clone did not
make (another clone of the same witness key, or someone forging cosignatures), the push
is refused; the witness fetches that commit and publishes a merge of both whose tree is
its own. The remote's history stays reachable (an auditor reads every version a witness
ref held, and only cosignatures that verify count), the witness's tree stays the tip,
and the push is a fast-forward again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from seid import git
from seid.errors import VerificationError
from seid.ledger import checkpoint
from seid.ledger.paths import is_log_id
from seid.ledger.publish import identity_env, ref_name

REF_PREFIX = "refs/seid/witness/"
REMOTE_COPY = "refs/seid/witness-remote/"  # the remote's copy of this witness's own ref
TRIES = 3  # pushes per pass; a clone that races every one is merged at the next pass
BLOB = "100644 blob "

log = logging.getLogger(__name__)


def witness_ref(witness_id: str) -> str:
    return REF_PREFIX + witness_id


def tip(repo: Path, witness_id: str) -> str | None:
    """The commit this clone's witness ref names; None before its first cosignature."""
    return git.probe(repo, "rev-parse", "--verify", "-q", witness_ref(witness_id)) or None


def publish_state(repo: Path, witness_id: str, state: Path) -> str | None:
    """Commit every note of the witness's ``state`` directory that its ref does not hold
    yet; the new commit, or None when the ref holds them all."""
    ref = witness_ref(witness_id)
    old = tip(repo, witness_id)
    entries = _listing(repo, old)
    held = _state_blobs(repo, state).items()
    notes = {log_id: oid for log_id, oid in held if entries.get(log_id) != BLOB + oid}
    if not notes:
        return None
    entries.update({log_id: BLOB + oid for log_id, oid in notes.items()})
    entries.update({f"{i}.log": BLOB + oid for i, oid in _checked_logs(repo, notes).items()})
    listing = "".join(f"{meta}\t{path}\n" for path, meta in sorted(entries.items()))
    tree = git.run(repo, "mktree", stdin=listing.encode())
    parent = ["-p", old] if old else []
    message = f"seid witness {witness_id[:16]}: {len(notes)} cosigned"
    commit = git.run(repo, "commit-tree", tree, *parent, "-m", message, env=identity_env(repo))
    git.run(repo, "update-ref", ref, commit, old or "0" * 40)
    return commit


def notes_at(repo: Path, ref: str) -> dict[str, bytes]:
    """The note per log that ``ref``'s tip holds (empty when there is no such ref)."""
    commit = git.probe(repo, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}") or None
    oids = {path: meta.split()[2] for path, meta in _listing(repo, commit).items()}
    notes = {path: oid for path, oid in oids.items() if is_log_id(path)}
    blobs = git.cat_blobs(repo, set(notes.values()), keep=True)
    return {log_id: blobs[oid] for log_id, oid in notes.items()}


def _listing(repo: Path, commit: str | None) -> dict[str, str]:
    """``path -> "mode type id"`` of a commit's tree (empty for no commit)."""
    if commit is None:
        return {}
    lines = git.run(repo, "ls-tree", commit).splitlines()
    return {path: meta for meta, _, path in (line.partition("\t") for line in lines)}


def _state_blobs(repo: Path, state: Path) -> dict[str, str]:
    """Each state note's blob id, written to git's store (one ``hash-object`` for all)."""
    if not state.is_dir():
        return {}
    paths = sorted(p for p in state.iterdir() if is_log_id(p.name) and p.is_file())
    if not paths:
        return {}
    feed = "".join(f"{path}\n" for path in paths).encode()
    out = git.run(repo, "hash-object", "-w", "--no-filters", "--stdin-paths", stdin=feed)
    return dict(zip((path.name for path in paths), out.splitlines(), strict=True))


def _checked_logs(repo: Path, notes: dict[str, str]) -> dict[str, str]:
    """The published log blob for each note (by blob id) whose log's
    ``refs/seid/ledger/<id>`` here holds the very tree the note cosigns: the witnessed
    history an auditor falls back on after a rewrite (it checks the blob itself)."""
    names = [f"{ref_name(i)}:{part}" for i in notes for part in ("checkpoint", "log")]
    found = git.object_ids(repo, names)
    heads = {i: found[f"{ref_name(i)}:checkpoint"] for i in notes}
    wanted = {oid for oid in heads.values() if oid} | set(notes.values())
    blobs = git.cat_blobs(repo, wanted, keep=True)
    logs = {}
    for log_id, note in notes.items():
        head, blob = heads[log_id], found[f"{ref_name(log_id)}:log"]
        if head is not None and blob is not None and _same_tree(blobs[note], blobs[head]):
            logs[log_id] = blob
    return logs


def _same_tree(cosigned: bytes, published: bytes) -> bool:
    try:
        ours, theirs = checkpoint.parse(cosigned)[0], checkpoint.parse(published)[0]
    except VerificationError:
        return False  # a published checkpoint that does not parse holds no cosigned tree
    return (ours.origin, ours.size, ours.root) == (theirs.origin, theirs.size, theirs.root)


def push(repo: Path, remote: str, witness_id: str) -> None:
    """Push the witness ref, never forced; a commit someone else pushed onto the remote's
    ref is merged (see the module doc) and the push tried again."""
    ref = witness_ref(witness_id)
    for attempt in range(TRIES):
        ours = tip(repo, witness_id)
        if ours is None:
            return  # nothing cosigned here yet
        try:
            git.run(repo, "push", "-q", remote, f"{ref}:{ref}")
            return
        except git.GitError:
            theirs = _fetch(repo, remote, ref)
            if theirs is None or _holds(repo, ours, theirs) or attempt == TRIES - 1:
                raise  # no foreign commit (the remote is unreachable or refuses), or a race
        if _holds(repo, theirs, ours):
            return  # the remote holds all this clone published; merged at its next commit
        merge(repo, witness_id, ours, theirs)


def _fetch(repo: Path, remote: str, ref: str) -> str | None:
    """The commit ``remote``'s ``ref`` names, fetched into the remote copy of this
    witness's ref (not ``FETCH_HEAD``, which any other fetch in the clone rewrites);
    None when it cannot be."""
    copy = REMOTE_COPY + ref.removeprefix(REF_PREFIX)
    try:
        git.run(repo, "fetch", "-q", "--no-tags", remote, f"+{ref}:{copy}")
        return git.run(repo, "rev-parse", "--verify", f"{copy}^{{commit}}")
    except git.GitError:
        return None


def _holds(repo: Path, descendant: str, ancestor: str) -> bool:
    return git.succeeds(repo, "merge-base", "--is-ancestor", ancestor, descendant)


def merge(repo: Path, witness_id: str, ours: str, theirs: str) -> str:
    """Merge ``theirs`` (a commit this clone did not make) into the witness ref with the
    witness's own tree: their history stays reachable, their files do not become ours."""
    message = (
        f"seid witness {witness_id[:16]}: merge {theirs}, pushed by someone else onto this "
        "witness's ref; the tree is this witness's own"
    )
    env = identity_env(repo)
    commit = git.run(
        repo, "commit-tree", f"{ours}^{{tree}}", "-p", ours, "-p", theirs, "-m", message, env=env
    )
    git.run(repo, "update-ref", witness_ref(witness_id), commit, ours)
    log.warning(
        "witness %s: the remote's ref holds commit %s, which this clone did not make; "
        "merged it as %s keeping this witness's own cosignatures",
        witness_id[:16],
        theirs,
        commit,
    )
    return commit
