"""Joining verified ledger entries to commits."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from seid import keys
from seid.ledger import publish
from seid.ledger.paths import log_dir
from seid.replay.cycle import build
from seid.replay.findings import find
from seid.replay.history import walk
from seid.replay.join import join
from tests.replay.conftest import Repo, manifest, tamper_signature, verdict
from tests.test_sei_evidence import _sign_like_sei


def test_bundles_from_every_log_are_joined_by_commit(hist: Repo, tmp_path: Path) -> None:
    first = hist.commit({"sei.yaml": manifest()})
    second = hist.commit({"train.py": "1"})
    laptop = hist.key(tmp_path, "laptop")
    server = hist.key(tmp_path, "server")
    hist.bundle(first, [verdict(0.05, "fail")], signer=laptop)
    hist.bundle(second, [verdict(0.01, "pass")], signer=server)
    hist.bundle(second, [verdict(0.02, "pass")], signer=laptop)
    found = join(hist.path)
    assert not found.broken
    assert len(found.logs) == 2 and all(log.ok for log in found.logs)
    by_commit = found.by_commit()
    assert [b.gate for b in by_commit[first]] == ["fail"]
    assert sorted(b.verdicts[0]["observed"] for b in by_commit[second]) == [0.01, 0.02]
    assert {b.log_id for b in by_commit[second]} == {
        laptop.public_key.keyid,
        server.public_key.keyid,
    }


def test_a_tampered_entry_is_broken_evidence_not_evidence(hist: Repo, tmp_path: Path) -> None:
    sha = hist.commit({"sei.yaml": manifest()})
    signer = hist.key(tmp_path)
    for value in (0.01, 0.02, 0.03):
        hist.bundle(sha, [verdict(value, "pass")])
    tamper_signature(hist.path, signer.public_key.keyid, 1)
    found = join(hist.path)
    # Entry 2 is signed, but its inclusion no longer holds: the tree under its
    # checkpoint was built over the original entry 1.
    assert [b.index for b in found.bundles] == [0]
    assert [(b.index, b.commit) for b in found.broken] == [(1, sha), (2, sha)]
    assert "signature" in found.broken[0].reason
    assert "root does not match" in found.broken[1].reason
    assert not found.logs[0].ok


def test_an_untrusted_log_is_broken_evidence(hist: Repo, tmp_path: Path) -> None:
    sha = hist.commit({"sei.yaml": manifest()})
    stranger = hist.key(tmp_path, "stranger", trust=False)
    hist.bundle(sha, [verdict(0.01, "pass")], signer=stranger)
    hist.bundle(sha, [verdict(0.01, "pass")], signer=stranger)
    found = join(hist.path)
    assert found.bundles == []
    assert len(found.broken) == 2 and all("not trusted" in b.reason for b in found.broken)


def test_published_copy_counts_once_and_a_fork_taints_both_sides(
    hist: Repo, tmp_path: Path
) -> None:
    sha = hist.commit({"sei.yaml": manifest()})
    signer = hist.key(tmp_path)
    log_id = signer.public_key.keyid
    hist.bundle(sha, [verdict(0.01, "pass")])
    backup = tmp_path / "backup"
    shutil.copytree(log_dir(hist.path, log_id), backup)
    hist.bundle(sha, [verdict(0.02, "pass")])
    publish.publish(hist.path, log_id)
    found = join(hist.path)
    assert len(found.bundles) == 2 and not found.broken
    assert len(found.logs[0].sources) == 2
    # The same key tells a different story from entry 1 on: equivocation.
    shutil.rmtree(log_dir(hist.path, log_id))
    shutil.copytree(backup, log_dir(hist.path, log_id))
    hist.bundle(sha, [verdict(0.09, "fail")])
    forked = join(hist.path)
    assert [b.index for b in forked.bundles] == [0]
    assert sorted(b.index for b in forked.broken) == [1, 1]
    assert all(b.reason.startswith("fork") for b in forked.broken)


def test_a_repository_without_ledger_has_no_evidence(hist: Repo) -> None:
    hist.commit({"sei.yaml": manifest()})
    found = join(hist.path)
    assert found.bundles == [] and found.broken == [] and found.logs == []


def sei_engine_dir(root: Path, commit: str, results: list[dict[str, object]]) -> Path:
    """A ``.venth`` directory as the sei engine writes it: bundle.json, its .sig, PUBKEY.txt."""
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    directory = root / ".venth"
    directory.mkdir()
    (directory / "PUBKEY.txt").write_text(point.hex() + "\n")
    data = json.dumps({"triple": {"code": commit}, "control_results": results}).encode()
    (directory / "bundle.json").write_bytes(data)
    keyid = hashlib.sha256(point).hexdigest()
    (directory / "bundle.json.sig").write_bytes(_sign_like_sei(key, keyid, "bundle.json", data))
    return directory


def test_sei_engine_evidence_is_verified_and_joined_to_its_commit(hist: Repo) -> None:
    sha = hist.commit({"sei.yaml": manifest(), "train.py": "1"})
    result = {
        "risk_id": "unfair",
        "control_id": "dp-gap",
        "metric": "demographic_parity_diff",
        "value": 0.01,
        "passed": True,
    }
    directory = sei_engine_dir(hist.path, sha, [result])
    untrusted = join(hist.path)
    assert untrusted.bundles == [] and "not trusted" in untrusted.broken[0].reason
    keys.add_trusted(hist.path, directory / "PUBKEY.txt")
    [bundle] = join(hist.path).bundles
    assert bundle.commit == sha and bundle.gate == "pass"
    assert bundle.verdicts[0]["measure"] == "dp-gap" and bundle.verdicts[0]["observed"] == 0.01
    (directory / "bundle.json").write_text(json.dumps({"triple": {"code": sha}}))
    [broken] = join(hist.path).broken
    assert broken.commit == sha and "digest" in broken.reason


def test_a_dirty_run_evidences_the_commit_of_its_inputs(hist: Repo, tmp_path: Path) -> None:
    hist.key(tmp_path)
    base = hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    hist.bundle(base, [verdict(0.05, "fail")])

    def dirty_run(text: str) -> None:
        digest = hashlib.sha256(text.encode()).hexdigest()
        head = hist.run("rev-parse", "HEAD")
        hist.bundle(
            head,
            [verdict(0.01, "pass")],
            git={"commit": head, "branch": "main", "dirty": True},
            inputs={"A": {}, "B": {"train.py": digest}, "C": {}},
        )

    dirty_run("v2")  # run on the edited, not yet committed train.py
    docs = hist.commit({"README.md": "unwatched"})
    committed = hist.commit({"train.py": "v2"})
    dirty_run("v3-never-committed")
    last = hist.commit({"train.py": "v4"})
    history = walk(hist.path)
    found = join(hist.path, history)
    joined = [(b.recorded_commit, b.commit) for b in found.bundles]
    assert joined == [(base, base), (base, committed), (committed, committed)]
    assert docs != committed
    cycles = build(history, found, datetime(2026, 2, 1, tzinfo=UTC))
    assert [f.commits for f in find(history, found, cycles)] == [[last]]
    assert join(hist.path).bundles[1].commit == base  # without history: as recorded


def test_a_changed_subject_file_is_reported_but_the_bundle_stands(
    hist: Repo, tmp_path: Path
) -> None:
    sha = hist.commit({"sei.yaml": manifest()})
    hist.key(tmp_path)
    hist.bundle(sha, [verdict(0.01, "pass")])  # its subject: metrics.json, digest b...b
    (hist.path / "metrics.json").write_text("{}")  # re-run since, without evidence
    history = walk(hist.path)
    found = join(hist.path, history)
    assert [b.commit for b in found.bundles] == [sha] and found.broken == []
    [stale] = found.stale_subjects
    assert "metrics.json" in stale.reason
    cycles = build(history, found, datetime(2026, 2, 1, tzinfo=UTC))
    [finding] = find(history, found, cycles)
    assert finding.kind == "broken-evidence" and finding.entries == [stale.ref]
