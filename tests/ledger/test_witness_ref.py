"""The witness ref keeps working: a commit someone else pushed onto it is merged (the
witness's tree kept, their history reachable, never a forced push), and two clones of
one witness key take turns. Real clones of one bare remote; the auditor runs the CLI."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest

from seid import keys
from seid.git import GitError
from seid.ledger import cosignature, witness
from seid.ledger.witness_ref import witness_ref
from tests.conftest import SeidRunner, git
from tests.ledger.test_witness import Network, host_publishes, network, party, plant, rewrite

FUTURE = "2031-01-01T00:00:00+0000"


def witness_pass(net: Network, clone: Path) -> list[witness.Outcome]:
    """One pass of the (first) witness's key in ``clone``, as the CLI and daemon run it."""
    return witness.run(clone, net.witnesses[0].signer, "origin", keys.trusted_keys(clone))


def remote_tip(net: Network, witness_id: str) -> str:
    return git(net.remote, "rev-parse", witness_ref(witness_id)).strip()


def forge(net: Network, files: dict[str, bytes], merging: str | None = None) -> str:
    """Someone else's clone commits ``files`` onto the witness's ref, dated ahead, and
    pushes it (a fast-forward: they build on what the remote holds). With ``merging``,
    as a merge of that branch whose tree brings ``files`` in (no parent holds them)."""
    forger = net.tmp / "forger"
    if not forger.exists():
        git(net.tmp, "clone", "-q", str(net.remote), str(forger), env=net.env)
    ref = witness_ref(net.witnesses[0].key_id)
    git(forger, "fetch", "-q", "origin", f"+{ref}:{ref}", env=net.env)
    dated = {**net.env, "GIT_COMMITTER_DATE": FUTURE, "GIT_AUTHOR_DATE": FUTURE}
    commit = plant(forger, ref, files, dated)
    if merging is not None:
        tree, parents = f"{commit}^{{tree}}", ["-p", ref, "-p", merging]
        commit = git(forger, "commit-tree", tree, *parents, "-m", "forged", env=dated).strip()
    git(forger, "push", "-q", "origin", f"{commit}:{ref}", env=net.env)
    return commit


def test_a_foreign_commit_on_the_witness_ref_is_merged_and_ignored(
    tmp_path: Path, env: dict[str, str], seid: SeidRunner, caplog: pytest.LogCaptureFixture
) -> None:
    net = network(tmp_path, env, quorum=1, witnesses=1)
    host, me = net.hosts[0], net.witnesses[0]
    ref = witness_ref(me.key_id)
    host_publishes(net, host, [0])
    witness_pass(net, me.path)
    one = git(me.path, "cat-file", "blob", f"{ref}:{host.key_id}").encode()
    host_publishes(net, host, [1])
    witness_pass(net, me.path)
    two = git(me.path, "cat-file", "blob", f"{ref}:{host.key_id}").encode()

    # a cosignature in this witness's name by another key (brought in by a merge, which
    # plain ``git log --raw`` does not diff), then the old one replayed
    stranger = party(tmp_path, env, None, "stranger")
    forged = cosignature.cosign(cosignature.split(two)[0], stranger.signer, me.key_id)
    forge(net, {host.key_id: forged}, merging=git(me.path, "rev-parse", "origin/main").strip())
    foreign = forge(net, {host.key_id: one})

    host_publishes(net, host, [2])
    caplog.set_level(logging.WARNING, "seid.ledger.witness_ref")
    ours = git(me.path, "rev-parse", ref).strip()
    outcomes = witness_pass(net, me.path)  # would fail at every pass without reconciling
    assert [(o.action, o.size) for o in outcomes] == [("cosigned", 3)]
    merged = remote_tip(net, me.key_id)
    assert git(me.path, "rev-parse", ref).strip() == merged
    parents = git(me.path, "rev-list", "--parents", "-n", "1", merged).split()[1:]
    assert parents[1] == foreign and git(me.path, "rev-parse", f"{parents[0]}^").strip() == ours
    trees = git(me.path, "rev-parse", f"{merged}^{{tree}}", f"{parents[0]}^{{tree}}").split()
    assert trees[0] == trees[1]  # the witness's own tree, not the forger's
    assert b"\n3\n" in git(me.path, "cat-file", "blob", f"{ref}:{host.key_id}").encode()
    assert any(foreign in r.getMessage() for r in caplog.records), caplog.text

    auditor = net.clone("auditor")
    result = seid("verify", "--log", host.key_id, "--require-witnessed", cwd=auditor)
    assert result.code == 0, result.out + result.err
    assert f"log {host.key_id} (published): 3 entries, 3 witnessed" in result.out
    assert f"cosignature for log {host.key_id[:16]} refused: no cosignature by witness" in (
        result.err
    )
    assert "is older than one its ref held before" not in result.err  # the replay is no tip

    assert witness_pass(net, me.path)[0].action == "unchanged"  # the next pass: nothing to do
    assert remote_tip(net, me.key_id) == merged


def test_two_clones_of_one_witness_key_take_turns(
    tmp_path: Path, env: dict[str, str], seid: SeidRunner
) -> None:
    net = network(tmp_path, env, quorum=1, witnesses=1)
    host, me = net.hosts[0], net.witnesses[0]
    other = tmp_path / "witness-elsewhere"  # the same key, another clone, its own state
    git(tmp_path, "clone", "-q", str(net.remote), str(other), env=env)
    host_publishes(net, host, [0])
    tips = []
    for run, clone in enumerate((me.path, other, me.path, other), start=1):
        host_publishes(net, host, [run])
        assert [(o.action, o.size) for o in witness_pass(net, clone)] == [("cosigned", run + 1)]
        tips.append(remote_tip(net, me.key_id))
        assert git(clone, "rev-parse", witness_ref(me.key_id)).strip() == tips[-1]
    for older, newer in itertools.pairwise(tips):  # each pass built on the last
        git(net.remote, "merge-base", "--is-ancestor", older, newer)
    # the other clone cosigned size 5: this one takes that as its own (never a smaller
    # tree published back over it)
    assert witness_pass(net, me.path)[0].action == "unchanged"
    taken = witness.Witness(me.path, me.signer).previous(host.key_id)
    assert taken is not None and taken.size == 5
    settled = remote_tip(net, me.key_id)
    for clone in (other, me.path, other):  # nothing new: no merges back and forth
        assert witness_pass(net, clone)[0].action == "unchanged"
        assert remote_tip(net, me.key_id) == settled

    auditor = net.clone("auditor")
    result = seid("verify", "--log", host.key_id, "--require-witnessed", cwd=auditor)
    assert result.code == 0, result.out + result.err
    assert f"log {host.key_id} (published): 5 entries, 5 witnessed" in result.out
    assert "refused" not in result.err and "older than" not in result.err


def test_a_clone_of_the_witness_key_never_cosigns_what_another_refused(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A second clone of the witness key with no state of its own starts from what the
    key cosigned anywhere (the remote's copy of its ref), so a host cannot get its
    rewrite cosigned by finding the clone that has not seen the first history."""
    net = network(tmp_path, env, quorum=1, witnesses=1)
    host, me = net.hosts[0], net.witnesses[0]
    host_publishes(net, host, [0, 1, 2])
    assert [(o.action, o.size) for o in witness_pass(net, me.path)] == [("cosigned", 3)]
    rewrite(net, host, [0, 9, 2, 3])  # four entries, not an extension of the three
    fresh = tmp_path / "witness-new-machine"
    git(tmp_path, "clone", "-q", str(net.remote), str(fresh), env=env)
    (outcome,) = witness_pass(net, fresh)
    assert (outcome.action, outcome.size) == ("refused", 4), outcome
    assert "not consistent with the tree of size 3 cosigned before" in outcome.reason
    (record,) = witness.equivocations(fresh, me.key_id)
    assert record["log_id"] == host.key_id


HOOK = """#!/bin/sh
while read old new ref; do
  case "$ref" in refs/seid/witness/*) echo "witness refs are closed here" >&2; exit 1;; esac
done
"""


def test_a_push_refused_for_another_reason_stays_an_error(
    tmp_path: Path, env: dict[str, str]
) -> None:
    net = network(tmp_path, env, quorum=1, witnesses=1)
    host, me = net.hosts[0], net.witnesses[0]
    host_publishes(net, host, [0])
    witness_pass(net, me.path)
    pushed = remote_tip(net, me.key_id)
    hook = net.remote / "hooks" / "pre-receive"
    hook.write_text(HOOK)
    hook.chmod(0o755)
    host_publishes(net, host, [1])
    with pytest.raises(GitError, match="git push failed"):
        witness_pass(net, me.path)  # nothing foreign to merge: no merge commit either
    ours = git(me.path, "rev-parse", witness_ref(me.key_id)).strip()
    assert git(me.path, "rev-list", "--parents", "-n", "1", ours).split()[1:] == [pushed]
    assert remote_tip(net, me.key_id) == pushed
    hook.unlink()
    assert witness_pass(net, me.path)[0].action == "unchanged"  # pushed at the next pass
    assert remote_tip(net, me.key_id) == ours


def test_a_pass_with_nothing_new_does_not_push(tmp_path: Path, env: dict[str, str]) -> None:
    """The daemon passes every few minutes: one that cosigned nothing, and whose ref the
    remote already holds, costs a fetch and no push (here a push could not even reach
    the remote: its push URL leads nowhere)."""
    net = network(tmp_path, env, quorum=1, witnesses=1)
    host, me = net.hosts[0], net.witnesses[0]
    host_publishes(net, host, [0])
    assert witness_pass(net, me.path)[0].action == "cosigned"
    git(me.path, "config", "remote.origin.pushurl", str(tmp_path / "nowhere.git"))
    assert witness_pass(net, me.path)[0].action == "unchanged"
    host_publishes(net, host, [1])
    with pytest.raises(GitError, match="git push failed"):  # something new: it does push
        witness_pass(net, me.path)
