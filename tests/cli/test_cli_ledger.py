"""``seid verify`` and ``seid ledger``: the real CLI in a subprocess, on real ledgers."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from securesystemslib.signer import Signer

from seid import container, evidence
from seid.container import records, store
from seid.ledger import checkpoint, merkle, publish
from seid.ledger.log import Ledger
from tests.conftest import SeidRunner, assert_one_line_error, git
from tests.ledger.conftest import entry_maker, make_key


@pytest.fixture
def signer(repo: Path, tmp_path: Path) -> Signer:
    return make_key(tmp_path, repo)


@pytest.fixture
def log_dir(repo: Path, signer: Signer) -> Path:
    make = entry_maker(signer)
    with Ledger.open(repo, signer.public_key.keyid, create=True) as ledger:
        for i in range(6):
            ledger.append(make(i), signer)
        return ledger.path


def test_verify_ok_then_tampered(seid: SeidRunner, repo: Path, log_dir: Path) -> None:
    result = seid("verify", cwd=repo)
    assert result.code == 0 and "6 entries" in result.out and ": ok" in result.out
    two = seid("verify", "--jobs", "2", "--json", cwd=repo)
    report = json.loads(two.out)
    assert two.code == 0 and report["ok"] and report["logs"][0]["size"] == 6
    data = bytearray((log_dir / "log").read_bytes())
    data[len(data) // 2] ^= 0x01  # somewhere in entry 2 or 3
    (log_dir / "log").write_bytes(bytes(data))
    bad = seid("verify", cwd=repo)
    assert bad.code == 1 and "Traceback" not in bad.err
    first, count = bad.out.splitlines()
    assert first.startswith(("entry 2: ", "entry 3: ")), first
    report = json.loads(seid("verify", "--json", cwd=repo).out)
    assert not report["ok"] and report["logs"][0]["first_bad"]["entry"] in (2, 3)
    n_bad, size = report["logs"][0]["bad_entries"], report["logs"][0]["size"]
    assert count.endswith(f": {n_bad} bad {'entry' if n_bad == 1 else 'entries'} of {size}")


def test_untrusted_key_fails(seid: SeidRunner, repo: Path, log_dir: Path) -> None:
    for pub in (repo / ".sei" / "trust").iterdir():
        pub.unlink()
    result = seid("verify", cwd=repo)
    assert result.code == 1 and "(local): signed by a key not in .sei/trust/" in result.out


def test_show_proof_checkpoint(seid: SeidRunner, repo: Path, log_dir: Path, signer: Signer) -> None:
    shown = json.loads(seid("ledger", "show", "4", cwd=repo).out)
    assert shown["index"] == 4 and shown["statement"]["predicate"] == {"run": 4}
    lines = seid("ledger", "show", cwd=repo).out.splitlines()
    assert [json.loads(line)["index"] for line in lines] == list(range(6))
    proof = json.loads(seid("ledger", "proof", "4", cwd=repo).out)
    root = base64.b64decode(proof["root"])
    path = [base64.b64decode(p) for p in proof["proof"]]
    leaf = merkle.leaf_hash(entry_maker(signer)(4))
    assert base64.b64decode(proof["leaf_hash"]) == leaf
    merkle.verify_inclusion(leaf, proof["index"], proof["size"], path, root)
    note = seid("ledger", "checkpoint", cwd=repo).out.encode()
    assert note == proof["checkpoint"].encode()
    cp = checkpoint.verify(note, signer.public_key.keyid, signer.public_key)
    assert (cp.size, cp.root) == (6, root)


def test_subjects_are_rehashed(seid: SeidRunner, repo: Path, signer: Signer) -> None:
    model = repo / "model.bin"
    model.write_bytes(b"weights")
    statement = evidence.statement(
        [evidence.subject_for_file(model, repo)], evidence.EVIDENCE_PREDICATE, {}
    )
    with Ledger.open(repo, signer.public_key.keyid, create=True) as ledger:
        ledger.append(evidence.sign(statement, signer), signer)
    assert seid("verify", "--subjects", cwd=repo).code == 0
    model.write_bytes(b"other weights")
    assert seid("verify", cwd=repo).code == 0
    result = seid("verify", "--subjects", cwd=repo)
    assert result.code == 1 and "entry 0: subject model.bin no longer matches" in result.out


def test_bad_input_is_one_line(seid: SeidRunner, repo: Path, log_dir: Path) -> None:
    assert_one_line_error(seid("ledger", "proof", "99", cwd=repo), "no entry 99")
    assert_one_line_error(seid("verify", "--log", "../x", cwd=repo), "bad log id")
    assert_one_line_error(seid("verify", "--log", "ab" * 32, cwd=repo), "no log")
    assert_one_line_error(seid("verify", "--sei", repo / "nope", cwd=repo), "not a directory")
    (log_dir / "log").write_bytes(b"garbage, not a ledger")
    result = seid("verify", cwd=repo)
    assert result.code == 1 and result.out.startswith("entry 0: ")
    assert_one_line_error(seid("ledger", "show", "0", cwd=repo), "shorter than its head")
    (log_dir / "log").unlink()
    (log_dir / "log").mkdir()  # unreadable as a file: like a permission error
    assert_one_line_error(seid("verify", cwd=repo), "cannot read")
    assert_one_line_error(seid("ledger", "checkpoint", cwd=repo), str(log_dir / "log"))


def test_no_ledger(seid: SeidRunner, repo: Path) -> None:
    assert_one_line_error(seid("verify", cwd=repo), "no ledger")
    assert_one_line_error(seid("ledger", "show", cwd=repo), "no ledger")


def test_empty_files(seid: SeidRunner, repo: Path, signer: Signer) -> None:
    path = repo / ".sei" / "ledger" / signer.public_key.keyid
    (path / "tree").mkdir(parents=True)
    for name in ("log", "head", "index"):
        (path / name).write_bytes(b"")
    assert seid("verify", cwd=repo).code == 0
    assert_one_line_error(seid("ledger", "checkpoint", cwd=repo), "is empty")


def _files(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("damage", ["torn tail", "index cut", "tree gone", "head gone"])
def test_read_only_commands_change_no_file(
    seid: SeidRunner, repo: Path, log_dir: Path, damage: str
) -> None:
    """status, verify, ledger show/proof/checkpoint and reconstruct read a log whose
    derived files a crash left behind through a private copy: not one byte or mtime of
    .sei/ledger changes (status once cut a 5,000-byte file in another log to nothing)."""
    if damage == "torn tail":
        with (log_dir / "log").open("ab") as f:
            f.write(b"\x00" * 5000)
    elif damage == "index cut":
        with (log_dir / "index").open("r+b") as f:
            f.truncate(8)
    elif damage == "tree gone":
        for level in (log_dir / "tree").iterdir():
            level.unlink()
    else:
        (log_dir / "head").unlink()
    (repo / "sei.yaml").write_text(
        "version: seid/1\nsystem: {name: t}\npipeline: {tool: command, command: [python, x.py]}\n"
    )
    before = _files(repo / ".sei" / "ledger")
    for args in (["status"], ["verify"], ["ledger", "show", "0"], ["ledger", "proof", "0"],
                 ["ledger", "checkpoint"], ["reconstruct"]):  # fmt: skip
        result = seid(*args, cwd=repo)
        assert "Traceback" not in result.err, (args, result.err)
    assert _files(repo / ".sei" / "ledger") == before
    shown = seid("ledger", "show", "0", cwd=repo)
    assert shown.code == 0 and '"index": 0' in shown.out, shown.err


def test_log_ids_by_prefix_and_log_after_the_subcommand(
    seid: SeidRunner, repo: Path, log_dir: Path, signer: Signer
) -> None:
    short = signer.public_key.keyid[:16]
    for args in (
        ["ledger", "show", "--log", short, "0"],
        ["ledger", "--log", short, "show", "0"],
        ["ledger", "show", "--log", f"{short}#1", "1"],  # as seid prints entry refs
        ["ledger", "proof", "2", "--log", short],
    ):
        result = seid(*args, cwd=repo)
        assert result.code == 0, (args, result.err)
    assert seid("verify", "--log", short, cwd=repo).code == 0
    assert_one_line_error(seid("verify", "--log", "ffff", cwd=repo), "no log 'ffff' here")
    other = make_key(repo.parent, repo, "other")  # a second log in the same repository
    with Ledger.open(repo, other.public_key.keyid, create=True) as second:
        second.append(entry_maker(other)(0), other)
    a, b = signer.public_key.keyid, other.public_key.keyid
    common = a[: next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)]
    if common:
        assert_one_line_error(seid("ledger", "show", "--log", common, cwd=repo), "ambiguous")


def test_a_published_log_of_an_untrusted_key_says_so(
    seid: SeidRunner, repo: Path, log_dir: Path, signer: Signer
) -> None:
    assert seid("ledger", "publish", cwd=repo).code == 0
    shutil.rmtree(log_dir)
    for pub in (repo / ".sei" / "trust").glob("*.pub"):
        pub.unlink()
    result = seid("verify", cwd=repo)
    assert result.code == 1
    assert "signed by a key not in .sei/trust/, so nothing in it was checked" in result.out
    assert "bad entry of 0" not in result.out


def test_a_log_cut_back_behind_its_ref_fails_verify_and_is_restored(
    seid: SeidRunner, repo: Path, log_dir: Path, signer: Signer
) -> None:
    assert seid("ledger", "publish", cwd=repo).code == 0
    shutil.rmtree(log_dir)  # the local log loses its last four entries
    make = entry_maker(signer)
    with Ledger.open(repo, signer.public_key.keyid, create=True) as ledger:
        for i in range(2):
            ledger.append(make(i), signer)
    result = seid("verify", cwd=repo)
    assert result.code == 1
    assert "the local log has 2 entries but its published refs/seid/ledger/" in result.out
    assert "has 6: the local log was cut back" in result.out
    restored = seid("ledger", "restore", cwd=repo)
    assert restored.code == 0 and "restored from 2 to 6 entries" in restored.out, restored.err
    assert seid("verify", cwd=repo).code == 0


def test_a_stored_artifact_is_checked_against_the_bundle_naming_it(
    seid: SeidRunner, repo: Path, signer: Signer, tmp_path: Path
) -> None:
    """A ``seid://`` subject: the container and its record rewritten for the place they
    sit at are caught by the digest the bundle gives, and with SEID_TRUST_DIR by the
    record's missing signature."""
    stored = tmp_path / "store" / "model.bin"
    stored.parent.mkdir()
    (tmp_path / "model.bin").write_bytes(b"weights" * 50)
    header = container.pack(tmp_path / "model.bin", stored)
    records.write_record(stored, header, "model.bin", None, signer)
    name = store.uri_of(stored)
    statement = evidence.statement(
        [evidence.Subject(name, header.hexdigest)], evidence.EVIDENCE_PREDICATE, {}
    )
    with Ledger.open(repo, signer.public_key.keyid, create=True) as ledger:
        ledger.append(evidence.sign(statement, signer), signer)
    assert seid("verify", "--subjects", cwd=repo).code == 0
    (tmp_path / "forged.bin").write_bytes(b"better weights" * 50)
    forged = container.pack(tmp_path / "forged.bin", stored)
    records.write_record(stored, forged, "model.bin", None, None)
    unchecked = seid("verify", "--subjects", cwd=repo)
    assert unchecked.code == 1 and f"subject {name} no longer matches" in unchecked.out
    trust = {records.TRUST_ENV: str(repo / ".sei" / "trust")}
    unsigned = seid("verify", "--subjects", cwd=repo, extra_env=trust)
    assert unsigned.code == 1 and "digest record is not signed by a trusted key" in unsigned.out


def test_one_set_of_workers_checks_every_log_with_its_own_key(
    seid: SeidRunner, repo: Path, log_dir: Path, tmp_path: Path
) -> None:
    """``--jobs 2`` forks its workers once for all logs; each log is still checked
    against its own key only (a worker never keeps the last log's key)."""
    other = make_key(tmp_path / "second", repo, "second")
    make = entry_maker(other)
    with Ledger.open(repo, other.public_key.keyid, create=True) as ledger:
        for i in range(600):  # more than one chunk of work
            ledger.append(make(i), other)
        second = ledger.path
    ok = json.loads(seid("verify", "--jobs", "2", "--json", cwd=repo).out)
    assert ok["ok"] and sorted(r["size"] for r in ok["logs"]) == [6, 600]
    data = bytearray((second / "log").read_bytes())
    data[len(data) // 2] ^= 0x01
    (second / "log").write_bytes(bytes(data))
    report = json.loads(seid("verify", "--jobs", "2", "--json", cwd=repo).out)
    bad = {r["log_id"]: r for r in report["logs"]}
    assert not bad[other.public_key.keyid]["ok"] and bad[log_dir.name]["ok"]


def test_a_broken_manifest_does_not_stop_a_host_verifying_its_own_log(
    seid: SeidRunner, repo: Path, log_dir: Path
) -> None:
    """The witness policy lives in sei.yaml and only published logs are judged by it: a
    local log verifies whatever the manifest holds; a published one needs the policy,
    and an unreadable one is an error that names the manifest, not a silent pass."""
    (repo / "sei.yaml").write_text("version: seid/1\nsystem: [\n")
    local = seid("verify", cwd=repo)
    assert local.code == 0 and ": ok" in local.out, local.out + local.err
    git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    publish.publish(repo, log_dir.name)
    published = seid("verify", cwd=repo)
    assert published.code != 0 and "sei.yaml:" in published.err and "Traceback" not in published.err
