"""Publishing logs to refs/seid/ledger/<id>: plumbing only, idempotent, forks refused.

The three-host test runs the real CLI and real git: three clones with their own keys
push their logs to one bare remote, and a fresh clone fetches and verifies them all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from securesystemslib.signer import Signer

from seid import attest, evidence, keys
from seid.errors import VerificationError
from seid.ledger import publish
from seid.ledger.log import Ledger, LedgerError
from seid.ledger.verify import verify_repo
from tests.conftest import SeidRunner, git
from tests.ledger.conftest import entry_maker, make_key

FETCH = "+refs/seid/ledger/*:refs/seid/ledger/*"


def append(repo: Path, signer: Signer, runs: range, tag: str = "") -> None:
    make = entry_maker(signer)
    with Ledger.open(repo, signer.public_key.keyid, create=True) as ledger:
        for run in runs:
            entry = make(run) if not tag else make(run + 10_000)
            ledger.append(entry, signer)


def replace_ledger(repo: Path, other: Path) -> None:
    shutil.rmtree(repo / ".sei" / "ledger")
    shutil.copytree(other / ".sei" / "ledger", repo / ".sei" / "ledger")


def state(repo: Path) -> tuple[str, str, str]:
    """HEAD, index and tracked work tree, to show publishing leaves them alone."""
    return (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "ls-files", "--stage"),
        git(repo, "status", "--porcelain", "--untracked-files=no"),
    )


@pytest.fixture
def committed(repo: Path) -> Path:
    (repo / "README").write_text("hello\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "init")
    return repo


def test_publish_is_plumbing_only_and_idempotent(committed: Path, tmp_path: Path) -> None:
    signer = make_key(tmp_path, committed)
    log_id = signer.public_key.keyid
    append(committed, signer, range(3))
    (committed / "README").write_text("edited, not staged\n")
    before = state(committed)
    first = publish.publish(committed, log_id)
    assert first.changed and first.size == 3 and first.ref == f"refs/seid/ledger/{log_id}"
    assert state(committed) == before
    again = publish.publish(committed, log_id)
    assert not again.changed and again.commit == first.commit
    assert git(committed, "ls-tree", "--name-only", first.ref).split() == ["checkpoint", "log"]
    append(committed, signer, range(3, 5))
    third = publish.publish(committed, log_id)
    assert third.changed and git(committed, "rev-parse", f"{third.commit}^") == first.commit + "\n"
    reports = verify_repo(committed)
    assert [(r.source.startswith("refs/"), r.ok, r.size) for r in reports] == [
        (False, True, 5),
        (True, True, 5),
    ]


def test_fork_is_refused_and_reported(committed: Path, tmp_path: Path) -> None:
    signer = make_key(tmp_path, committed)
    log_id = signer.public_key.keyid
    append(committed, signer, range(4))
    publish.publish(committed, log_id)
    # the same key writes a different history elsewhere (a stolen key, an old backup)
    elsewhere = tmp_path / "elsewhere"
    append(elsewhere, signer, range(2))
    append(elsewhere, signer, range(2, 5), tag="fork")
    replace_ledger(committed, elsewhere)
    with pytest.raises(VerificationError, match="forks from the local log at entry 2"):
        publish.publish(committed, log_id)
    reports = verify_repo(committed)
    published = next(r for r in reports if r.source.startswith("refs/"))
    assert published.first is not None and published.first.entry == 2
    assert "fork" in published.first.reason


def test_rollback_is_refused(committed: Path, tmp_path: Path) -> None:
    signer = make_key(tmp_path, committed)
    log_id = signer.public_key.keyid
    append(committed, signer, range(4))
    publish.publish(committed, log_id)
    elsewhere = tmp_path / "elsewhere"
    append(elsewhere, signer, range(2))
    replace_ledger(committed, elsewhere)
    with pytest.raises(LedgerError, match="not rolling it back"):
        publish.publish(committed, log_id)


@pytest.mark.slow
def test_three_hosts_one_remote(
    tmp_path: Path, seid: SeidRunner, env: dict[str, str], committed: Path
) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote), env=env)
    signers = [make_key(tmp_path, committed, name) for name in ("a", "b", "c")]
    git(committed, "add", ".sei/trust")
    git(committed, "commit", "-q", "-m", "trust three hosts")
    git(committed, "push", "-q", str(remote), "main", env=env)
    hosts = []
    for n, signer in enumerate(signers):
        host = tmp_path / f"host{n}"
        git(tmp_path, "clone", "-q", str(remote), str(host), env=env)
        append(host, signer, range(3 + n))
        before = state(host)
        result = seid("ledger", "publish", cwd=host)
        assert result.code == 0 and "(published)" in result.out, result.err
        assert seid("ledger", "publish", cwd=host).out.endswith("(unchanged)\n")
        assert state(host) == before
        git(host, "push", "-q", "origin", "refs/seid/ledger/*:refs/seid/ledger/*", env=env)
        hosts.append(host)

    auditor = tmp_path / "auditor"
    git(tmp_path, "clone", "-q", str(remote), str(auditor), env=env)
    git(auditor, "fetch", "-q", "origin", FETCH, env=env)
    result = seid("verify", cwd=auditor)
    assert result.code == 0, result.out + result.err
    for n, signer in enumerate(signers):
        assert f"log {signer.public_key.keyid} (published): {3 + n} entries" in result.out
    one = seid("verify", "--log", signers[1].public_key.keyid, "--json", cwd=auditor)
    assert one.code == 0 and '"size": 4' in one.out
    shown = seid("ledger", "--log", signers[2].public_key.keyid, "show", "4", cwd=auditor)
    assert shown.code == 0 and '"index": 4' in shown.out, shown.err

    # host 0's key writes a different history elsewhere and force-pushes it
    rogue = tmp_path / "rogue"
    git(tmp_path, "clone", "-q", str(remote), str(rogue), env=env)
    append(rogue, signers[0], range(1))
    append(rogue, signers[0], range(1, 3), tag="fork")
    assert seid("ledger", "publish", cwd=rogue).code == 0
    git(rogue, "push", "-q", "-f", "origin", "refs/seid/ledger/*:refs/seid/ledger/*", env=env)
    git(hosts[0], "fetch", "-q", "origin", FETCH, env=env)
    result = seid("verify", cwd=hosts[0])
    assert result.code == 1
    assert "entry 1: fork: entry 1 differs from the local log" in result.out
    refused = seid("ledger", "publish", cwd=hosts[0])
    assert refused.code == 1 and "forks from the local log at entry 1" in refused.err
    assert keys.trusted_keys(auditor).keys() == {s.public_key.keyid for s in signers}


def published_then_lost(committed: Path, tmp_path: Path) -> tuple[Signer, str]:
    """Three entries published, then the local ledger gone (a re-cloned host)."""
    signer = make_key(tmp_path, committed)
    log_id = signer.public_key.keyid
    append(committed, signer, range(3))
    publish.publish(committed, log_id)
    shutil.rmtree(committed / ".sei" / "ledger")
    return signer, log_id


def test_fresh_clone_continues_the_published_log(committed: Path, tmp_path: Path) -> None:
    """Same key, local ledger gone (a re-cloned host): append continues, never forks."""
    signer, log_id = published_then_lost(committed, tmp_path)
    with Ledger.open(committed, log_id, create=True, continue_published=True) as ledger:
        assert ledger.size == 3 and "continuing the published log" in ledger.notices[0]
    append(committed, signer, range(3, 5))
    assert publish.publish(committed, log_id).changed
    assert all(r.ok and r.size == 5 for r in verify_repo(committed))


def test_attest_append_continues_the_published_log(committed: Path, tmp_path: Path) -> None:
    """seid's own appends (bundles, detections, findings) continue a re-cloned host's log."""
    signer, log_id = published_then_lost(committed, tmp_path)
    subject = evidence.Subject("sei.yaml", "0" * 64)
    done = attest.append(committed, signer, [subject], {"drift": {}}, "https://x/detection/v1")
    assert (done.log_id, done.index) == (log_id, 3)
    with Ledger.open(committed, log_id) as ledger:
        statement = evidence.decode(ledger.entry(3))
    assert statement["predicateType"] == "https://x/detection/v1"
    assert statement["predicate"]["ledger"]["previous_size"] == 3
    assert publish.publish(committed, log_id).changed  # a fast-forward of the ref: no fork
    assert all(r.ok and r.size == 4 for r in verify_repo(committed))


def test_published_log_is_readable_without_a_local_copy(committed: Path, tmp_path: Path) -> None:
    signer = make_key(tmp_path, committed)
    log_id = signer.public_key.keyid
    append(committed, signer, range(5))
    with Ledger.open(committed, log_id) as local:
        entries, root = list(local.iter_entries()), local.root()
    publish.publish(committed, log_id)
    shutil.rmtree(committed / ".sei" / "ledger")
    with publish.open_published(committed, log_id) as ledger:
        assert list(ledger.iter_entries()) == entries and ledger.root() == root
        assert ledger.inclusion_proof(3)
    with pytest.raises(LedgerError, match="no log"):
        publish.open_published(committed, "cd" * 32).__enter__()
