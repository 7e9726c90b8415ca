"""Only trusted evidence is a baseline: signed by a trusted key, in its log's checkpoint,
on HEAD's branch, from a local or a fetched log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seid import evidence, keys
from seid.config import load_manifest
from seid.drift import detect, latest_evidence
from seid.ledger.log import Ledger
from seid.run import run
from seid.snapshot import watched_globs
from seid.statcache import StatCache
from tests.conftest import SeidRunner, git
from tests.ledger.conftest import make_key

REFS = "refs/seid/ledger/*"


def _runs(repo: Path) -> int:
    path = repo / "runs.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _current_inputs(repo: Path) -> dict[str, dict[str, str]]:
    with StatCache.open(repo) as cache:
        found = detect(repo, watched_globs(repo, load_manifest(repo)), cache)
    return {cls: dict(paths) for cls, paths in found.snapshot.inputs.items()}


def _forge(repo: Path, tmp: Path, inputs: dict[str, dict[str, str]]) -> str:
    """A well-formed bundle in its own log, signed by a key the repository never trusted."""
    signer = make_key(tmp, None, "stranger")
    predicate = {
        "inputs": inputs,
        "pipeline": {"tool": "command", "finished": "2999-01-01T00:00:00+00:00"},
    }
    statement = evidence.statement(
        [evidence.Subject("metrics.json", "0" * 64)], evidence.EVIDENCE_PREDICATE, predicate
    )
    with Ledger.open(repo, signer.public_key.keyid, create=True) as ledger:
        ledger.append(evidence.sign(statement, signer), signer)
    return str(signer.public_key.keyid)


def test_a_bundle_by_an_untrusted_key_is_never_the_baseline(
    command_project: tuple[Path, Path], tmp_path: Path, seid: SeidRunner
) -> None:
    repo, key = command_project
    signer = keys.load_signer(key)
    assert run(repo, signer, echo=False).attestation is not None  # the trusted baseline
    (repo / "params.json").write_text(json.dumps({"gap": 0.02}))
    git(repo, "commit", "-qam", "treatment v2")
    stranger = _forge(repo, tmp_path, _current_inputs(repo))  # claims v2 is evidenced
    r = seid("status", cwd=repo)
    assert r.code == 1, r.out
    assert "B model drift:\n  modified  params.json" in r.out
    assert f"warning: log {stranger[:16]} is signed by a key not in .sei/trust/" in r.out
    doc = json.loads(seid("status", "--json", cwd=repo).out)
    assert doc["untrusted_logs"] == [stranger] and doc["drift"]["classes"] == ["B"]
    runs = _runs(repo)
    report = run(repo, signer, echo=False)
    assert report.status == "attested" and _runs(repo) == runs + 1


def test_a_bundle_of_another_branch_is_not_this_branch_s_baseline(
    command_project: tuple[Path, Path],
) -> None:
    repo, key = command_project
    signer = keys.load_signer(key)
    run(repo, signer, echo=False)  # baseline on main
    git(repo, "checkout", "-qb", "experiment")
    (repo / "params.json").write_text(json.dumps({"gap": 0.02}))
    git(repo, "commit", "-qam", "experiment")
    run(repo, signer, echo=False)  # evidence of the experiment, newer
    git(repo, "checkout", "-q", "main")
    head = git(repo, "rev-parse", "HEAD").strip()
    found = latest_evidence(repo, head=head)
    assert found.predicate is not None
    assert found.predicate["git"]["commit"] == head  # main's own, not the newer one
    with StatCache.open(repo) as cache:
        assert not detect(repo, watched_globs(repo, load_manifest(repo)), cache).drift


@pytest.mark.slow
def test_two_hosts_share_evidence_through_the_remote(
    command_project: tuple[Path, Path], tmp_path: Path, seid: SeidRunner, env: dict[str, str]
) -> None:
    """Host A runs and publishes; host B clones, fetches the logs, commits a treatment
    change: B compares with A's evidence (class B drift), runs, publishes; an auditor's
    clone verifies and reconstructs from both logs."""
    origin, key_a = command_project
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote), env=env)
    key_b = keys.generate(tmp_path / "keys-b", "host-b")
    keys.add_trusted(origin, key_b.public_path)  # the team trusts both hosts' keys
    (origin / "params.json").write_text(json.dumps({"gap": 0.01}))
    git(origin, "add", ".sei/trust", "params.json")
    git(origin, "commit", "-qm", "trust host B")
    git(origin, "push", "-q", str(remote), "main", env=env)

    host_a = tmp_path / "host-a"
    git(tmp_path, "clone", "-q", str(remote), str(host_a), env=env)
    a_env = {"SEID_SIGNING_KEY": str(key_a)}
    assert seid("run", cwd=host_a, extra_env=a_env).code == 0  # A's baseline
    assert seid("ledger", "publish", cwd=host_a).code == 0
    git(host_a, "push", "-q", "origin", f"{REFS}:{REFS}", env=env)

    host_b = tmp_path / "host-b"
    git(tmp_path, "clone", "-q", str(remote), str(host_b), env=env)
    git(host_b, "fetch", "-q", "origin", f"{REFS}:{REFS}", env=env)
    assert seid("status", cwd=host_b).code == 0  # A's evidence covers B's checkout
    (host_b / "params.json").write_text(json.dumps({"gap": 0.02}))
    git(host_b, "commit", "-qam", "treatment v2 on host B")
    r = seid("status", cwd=host_b)
    assert r.code == 1 and "Compared with the newest trusted evidence bundle" in r.out, r.out
    assert "B model drift:\n  modified  params.json" in r.out
    b_env = {"SEID_SIGNING_KEY": str(key_b.private_path)}
    ran = seid("run", cwd=host_b, extra_env=b_env)
    assert ran.code == 0, ran.out + ran.err
    assert seid("status", cwd=host_b).code == 0
    assert seid("ledger", "publish", cwd=host_b).code == 0
    git(host_b, "push", "-q", "origin", "main", f"{REFS}:{REFS}", env=env)

    auditor = tmp_path / "auditor"
    git(tmp_path, "clone", "-q", str(remote), str(auditor), env=env)
    git(auditor, "fetch", "-q", "origin", f"{REFS}:{REFS}", env=env)
    verified = seid("verify", cwd=auditor)
    assert verified.code == 0, verified.out + verified.err
    report = seid("reconstruct", cwd=auditor)
    assert report.code == 0, report.err
    doc = json.loads(report.out)
    logs = {log["log_id"] for log in doc["ledger"]["logs"]}
    assert logs == {keys.load_signer(key_a).public_key.keyid, key_b.key_id}
