"""A witness reads only what a log appended since it last cosigned, and when that
shortcut does not hold (no kept range, a damaged one, a rewritten log) the whole log
decides, exactly as before. Real git, real keys, the logs published by plumbing."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from securesystemslib.signer import Key, Signer

from seid.ledger import checkpoint, publish, witnessed
from seid.ledger.verify import verify_repo
from seid.ledger.witness import Range, Witness, equivocations
from tests.conftest import git
from tests.ledger.conftest import make_key
from tests.ledger.test_publish import append
from tests.ledger.test_witness import MANIFEST


def kept(repo: Path, witness: Witness, log_id: str) -> Range | None:
    return Range.parse((witness.state / f"{log_id}.range").read_bytes())


def published_bytes(repo: Path, log_id: str) -> int:
    return int(git(repo, "cat-file", "-s", f"{publish.ref_name(log_id)}:log"))


def grow(repo: Path, host: Signer, runs: range, tag: str = "") -> None:
    append(repo, host, runs, tag)
    publish.publish(repo, host.public_key.keyid)


def setup(repo: Path, tmp: Path) -> tuple[Signer, Witness, dict[str, Key]]:
    host = make_key(tmp, repo, "host")
    witness = Witness(repo, make_key(tmp, None, "witness"))
    grow(repo, host, range(3))
    return host, witness, {host.public_key.keyid: host.public_key}


def test_the_witness_keeps_where_it_stopped_reading(repo: Path, tmp_path: Path) -> None:
    host, witness, trusted = setup(repo, tmp_path)
    log_id = host.public_key.keyid
    assert [o.action for o in witness.cosign_all(trusted)] == ["cosigned"]
    first = kept(repo, witness, log_id)
    assert first is not None and first.size == 3
    assert first.length == published_bytes(repo, log_id)
    note = git(repo, "cat-file", "blob", f"{publish.ref_name(log_id)}:checkpoint").encode()
    assert first.root() == checkpoint.parse(note)[0].root

    grow(repo, host, range(3, 7))
    outcomes = witness.cosign_all(trusted)
    assert [(o.action, o.size) for o in outcomes] == [("cosigned", 7)]
    second = kept(repo, witness, log_id)
    assert second is not None and second.size == 7
    assert second.length == published_bytes(repo, log_id)
    previous = witness.previous(log_id)
    assert previous is not None and previous.root == second.root()


def test_a_damaged_range_falls_back_to_the_whole_log(repo: Path, tmp_path: Path) -> None:
    host, witness, trusted = setup(repo, tmp_path)
    log_id = host.public_key.keyid
    witness.cosign_all(trusted)
    for damage in (b'{"size": 3, "length": 10, "peaks": ["AAAA"]}', b'{"size": 2, "peaks": []}'):
        assert Range.parse(damage) is None  # a short hash; peaks that do not fit the size
    (witness.state / f"{log_id}.range").write_bytes(b"not json")
    grow(repo, host, range(3, 5))
    assert [o.action for o in witness.cosign_all(trusted)] == ["cosigned"]
    again = kept(repo, witness, log_id)
    assert again is not None and (again.size, again.length) == (5, published_bytes(repo, log_id))


def test_a_rewrite_that_misaligns_the_records_is_an_equivocation(
    repo: Path, tmp_path: Path
) -> None:
    """Where the witness stopped reading is mid-record in the rewritten log: that is not
    a corrupt log but another history, and it is recorded as one."""
    host, witness, trusted = setup(repo, tmp_path)
    log_id = host.public_key.keyid
    witness.cosign_all(trusted)
    shutil.rmtree(repo / ".sei" / "ledger")
    git(repo, "update-ref", "-d", publish.ref_name(log_id))
    grow(repo, host, range(5), tag="rewritten")  # longer entries: other record bounds
    outcomes = witness.cosign_all(trusted)
    assert [(o.action, o.size) for o in outcomes] == [("refused", 5)]
    assert "not consistent with the tree of size 3 cosigned before" in outcomes[0].reason
    (record,) = equivocations(repo, witness.witness_id)
    assert record["log_id"] == log_id and "size 3" in str(record["reason"])
    previous = witness.previous(log_id)
    assert previous is not None and previous.size == 3  # nothing cosigned past the rewrite


def test_a_decision_waits_for_one_in_progress_on_the_same_log(repo: Path, tmp_path: Path) -> None:
    """The daemon's HTTP endpoint, its git pass and the CLI share the witness's state: a
    pass must not decide on a log while another decision on it is under way."""
    host, witness, trusted = setup(repo, tmp_path)
    done: list[list[str]] = []
    with witness.deciding(host.public_key.keyid):
        worker = threading.Thread(
            target=lambda: done.append([o.action for o in witness.cosign_all(trusted)])
        )
        worker.start()
        worker.join(1.0)
        assert worker.is_alive() and not done  # waiting on the lock
    worker.join(30)
    assert done == [["cosigned"]]


def test_a_caller_that_did_not_ask_verify_for_roots_is_judged_alike(
    repo: Path, tmp_path: Path
) -> None:
    """verify keeps the roots at cosigned sizes when asked (one read per log); a caller
    that did not ask gets the same judgement from one more read, never a false rewrite."""
    host, witness, trusted = setup(repo, tmp_path)
    witness.cosign_all(trusted)
    grow(repo, host, range(3, 5))  # 3 witnessed, 2 not yet
    trust = repo / ".sei" / "trust" / "witnesses"
    trust.mkdir(parents=True)
    (trust / f"{witness.witness_id}.pub").write_text(
        (tmp_path / "keys-witness" / "witness.pub").read_text()
    )
    (repo / "sei.yaml").write_text(MANIFEST.replace("QUORUM", "1"))
    log_id = host.public_key.keyid
    for asked in (witnessed.wanted_roots(repo), None):
        reports = verify_repo(repo, log_id, roots_at=asked)
        witnessed.apply(repo, reports)
        (published,) = [r for r in reports if r.source.startswith("refs/")]
        assert (published.size, published.witnessed, published.ok) == (5, 3, True)
        assert published.roots.keys() == ({3} if asked else set())
