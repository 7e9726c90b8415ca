"""Witnessed ledgers: three hosts, two witnesses and an auditor as real git clones of one
bare remote, driving the real CLI. Host A rewrites its log without a failing bundle and
force-pushes it; the witnesses refuse and the auditor's verify names the rewrite."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from securesystemslib.signer import Signer

from seid import keys
from seid.ledger import cosignature, publish
from seid.ledger.witness import equivocations
from seid.replay import join
from tests.conftest import SeidRunner, git
from tests.ledger.test_publish import FETCH, append

WITNESS_FETCH = "+refs/seid/witness/*:refs/seid/witness/*"
MANIFEST = """\
version: seid/1
system: {name: credit-scorer, intended_purpose: consumer loan pre-screening}
pipeline: {tool: dvc, metrics: metrics.json}
evidence:
  witnesses:
    keys: [.sei/trust/witnesses/*.pub]
    quorum: QUORUM
"""


@dataclass
class Party:
    path: Path
    signer: Signer
    private: Path
    public: Path

    @property
    def key_id(self) -> str:
        return str(self.signer.public_key.keyid)


@dataclass
class Network:
    remote: Path
    hosts: list[Party]
    witnesses: list[Party]
    env: dict[str, str]
    tmp: Path

    def clone(self, name: str) -> Path:
        path = self.tmp / name
        git(self.tmp, "clone", "-q", str(self.remote), str(path), env=self.env)
        git(path, "fetch", "-q", "origin", FETCH, WITNESS_FETCH, env=self.env)
        return path


def party(tmp: Path, env: dict[str, str], remote: Path | None, name: str) -> Party:
    made = keys.generate(tmp / f"keys-{name}", name)
    path = tmp / name
    if remote is not None:
        git(tmp, "clone", "-q", str(remote), str(path), env=env)
    return Party(path, keys.load_signer(made.private_path), made.private_path, made.public_path)


def network(tmp: Path, env: dict[str, str], quorum: int = 2, witnesses: int = 2) -> Network:
    """A bare remote whose main commit trusts three hosts and ``witnesses`` witnesses."""
    remote = tmp / "remote.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote), env=env)
    seed = tmp / "seed"
    git(tmp, "init", "-q", "-b", "main", str(seed), env=env)
    hosts = [party(tmp, env, None, f"host-{n}") for n in "abc"]
    wits = [party(tmp, env, None, f"witness-{n}") for n in range(1, witnesses + 1)]
    (seed / ".sei" / "trust" / "witnesses").mkdir(parents=True)
    for who in hosts:
        shutil.copy(who.public, seed / ".sei" / "trust" / f"{who.key_id}.pub")
    for who in wits:
        target = seed / ".sei" / "trust" / "witnesses" / f"{who.key_id}.pub"
        shutil.copy(who.public, target)
    (seed / "sei.yaml").write_text(MANIFEST.replace("QUORUM", str(quorum)))
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "trust hosts and witnesses", env=env)
    git(seed, "push", "-q", str(remote), "main", env=env)
    for who in [*hosts, *wits]:
        git(tmp, "clone", "-q", str(remote), str(who.path), env=env)
    return Network(remote, hosts, wits, env, tmp)


def host_publishes(net: Network, host: Party, runs: list[int], force: bool = False) -> None:
    for run in runs:
        append(host.path, host.signer, range(run, run + 1))
    publish.publish(host.path, host.key_id)
    flag = ["-f"] if force else []
    git(host.path, "push", "-q", *flag, "origin", FETCH.lstrip("+"), env=net.env)


def cosign(seid: SeidRunner, net: Network, who: Party) -> tuple[int, str]:
    result = seid("witness", "cosign", "--key", who.private, cwd=who.path)
    return result.code, result.out + result.err


def rewrite(net: Network, host: Party, runs: list[int]) -> None:
    """Host A's owner builds a fresh log with the same key and force-pushes it."""
    shutil.rmtree(host.path / ".sei" / "ledger")
    git(host.path, "update-ref", "-d", publish.ref_name(host.key_id))
    host_publishes(net, host, runs, force=True)


@pytest.mark.slow
def test_witnesses_catch_a_rewritten_log(
    tmp_path: Path, env: dict[str, str], seid: SeidRunner
) -> None:
    net = network(tmp_path, env)
    a = net.hosts[0]
    for n, host in enumerate(net.hosts):
        host_publishes(net, host, list(range(3 + n)))
    for who in net.witnesses:
        code, out = cosign(seid, net, who)
        assert code == 0, out
        for host in net.hosts:
            assert f"log {host.key_id} ({3 + net.hosts.index(host)} entries): cosigned" in out
        assert (who.path / ".sei" / "witness" / who.key_id / a.key_id).is_file()
    auditor = net.clone("auditor")
    clean = seid("verify", "--require-witnessed", cwd=auditor)
    assert clean.code == 0, clean.out + clean.err
    assert f"log {a.key_id} (published): 3 entries, 3 witnessed" in clean.out

    host_publishes(net, a, [3, 4])  # the log grows: cosigned again, consistently
    for who in net.witnesses:
        code, out = cosign(seid, net, who)
        assert code == 0 and f"log {a.key_id} (5 entries): cosigned" in out, out
        assert f"log {net.hosts[1].key_id} (4 entries): unchanged" in out

    rewrite(net, a, [0, 1, 3, 4])  # entry 2, the failing bundle, is gone
    for who in net.witnesses:
        code, out = cosign(seid, net, who)
        assert code == 1, out
        assert f"log {a.key_id} (4 entries): refused: tree size 4 is smaller than the 5" in out
        state = (who.path / ".sei" / "witness" / who.key_id / a.key_id).read_bytes()
        assert b"\n5\n" in state  # what it cosigned stays what it remembers
    host_publishes(net, a, [5, 6])  # grown past the witnessed size: still not consistent
    for who in net.witnesses:
        code, out = cosign(seid, net, who)
        assert code == 1 and "not consistent with the tree of size 5 cosigned before" in out, out
        records = equivocations(who.path, who.key_id)
        assert [r["first_differing_entry"] for r in records] == [2, 2]
        assert all(b"\n5\n" in str(r["cosigned"]).encode() for r in records)
        assert "\n6\n" in str(records[1]["conflicting"])

    git(auditor, "fetch", "-q", "origin", FETCH, WITNESS_FETCH, env=env)
    failed = seid("verify", cwd=auditor)
    assert failed.code == 1, failed.out + failed.err
    assert "entry 2: rewritten: witness" in failed.out
    assert "cosigned size 5 root" in failed.out and "part at entry 2" in failed.out
    report = json.loads(seid("verify", "--json", "--log", a.key_id, cwd=auditor).out)
    assert report["logs"][0]["ok"] is False and report["logs"][0]["first_bad"]["entry"] == 2

    replayed = seid("reconstruct", "--no-sign", cwd=auditor)
    findings = json.loads(replayed.out)["findings"]
    rewritten = [f for f in findings if f["kind"] == "rewritten-log"]
    assert len(rewritten) == 2 and {f["severity"] for f in rewritten} == {"high"}, findings
    assert "cosigned size 5" in rewritten[0]["summary"]
    found = join.collect(auditor)  # the witnessed history is the evidence, the rewrite not
    runs = {b.index: b.predicate["run"] for b in found.bundles if b.log_id == a.key_id}
    assert runs == {0: 0, 1: 1, 2: 2, 3: 3, 4: 4}
    assert {b.index for b in found.broken if b.log_id == a.key_id} == {2, 3, 4, 5}


@pytest.mark.slow
def test_an_offline_witness_is_a_warning_unless_required(
    tmp_path: Path, env: dict[str, str], seid: SeidRunner
) -> None:
    net = network(tmp_path, env)
    host = net.hosts[0]
    host_publishes(net, host, [0, 1])
    assert cosign(seid, net, net.witnesses[0])[0] == 0  # witness 2 is offline
    auditor = net.clone("auditor")
    warned = seid("verify", "--log", host.key_id, cwd=auditor)
    assert warned.code == 0, warned.out + warned.err
    assert "entries 0 to 1 are not yet witnessed (a quorum is 2 witnesses; 1 cosigned" in warned.err
    assert f"log {host.key_id} (published): 2 entries, 0 witnessed" in warned.out
    required = seid("verify", "--log", host.key_id, "--require-witnessed", cwd=auditor)
    assert required.code == 1 and "entry 0: entries 0 to 1 are not yet witnessed" in required.out


@pytest.mark.slow
def test_untrusted_witness_wrong_origin_and_replayed_cosignature_do_not_count(
    tmp_path: Path, env: dict[str, str], seid: SeidRunner
) -> None:
    net = network(tmp_path, env, quorum=1, witnesses=1)
    a, b = net.hosts[0], net.hosts[1]
    host_publishes(net, a, [0, 1])
    host_publishes(net, b, [0])
    stranger = party(tmp_path, env, net.remote, "stranger")  # a key sei.yaml does not name
    assert cosign(seid, net, stranger)[0] == 0
    git(stranger.path, "push", "-q", "origin", WITNESS_FETCH.lstrip("+"), env=env)
    auditor = net.clone("auditor")
    result = seid("verify", "--log", a.key_id, cwd=auditor)
    assert f"witness {stranger.key_id[:16]} is not a trusted witness" in result.err
    assert f"log {a.key_id} (published): 2 entries, 0 witnessed" in result.out

    me = net.witnesses[0]
    assert cosign(seid, net, me)[0] == 0  # A at 2 entries, B at 1
    ref = f"refs/seid/witness/{me.key_id}"
    old_a = git(me.path, "cat-file", "blob", f"{ref}:{a.key_id}").encode()
    host_publishes(net, a, [2, 3])
    assert cosign(seid, net, me)[0] == 0  # A at 4
    four = git(me.path, "cat-file", "blob", f"{ref}:{a.key_id}").encode()
    rewrite(net, a, [0, 1, 9])  # consistent with the size 2 cosigned, not with 4

    # the cosignature line of A's size-4 checkpoint carried onto the rewritten one
    rewritten = git(a.path, "cat-file", "blob", f"{publish.ref_name(a.key_id)}:checkpoint")
    carried = rewritten.encode() + four.splitlines(keepends=True)[-1]
    assert cosignature.split(carried)[1][0][0] == cosignature.name(me.key_id)
    tip = plant(me.path, ref, {a.key_id: carried}, env)
    git(me.path, "push", "-q", "origin", f"{tip}:{ref}", env=env)
    git(auditor, "fetch", "-q", "origin", FETCH, WITNESS_FETCH, env=env)
    result = seid("verify", "--log", a.key_id, cwd=auditor)
    assert f"cosignature by witness {me.key_id[:16]} does not verify" in result.err
    assert result.code == 1 and "cosigned size 4 root" in result.out  # its history holds

    # then A's old size-2 cosignature replayed on top, to hide the rewrite
    tip = plant(me.path, tip, {a.key_id: old_a}, env)
    git(me.path, "push", "-q", "origin", f"{tip}:{ref}", env=env)
    git(auditor, "fetch", "-q", "origin", FETCH, WITNESS_FETCH, env=env)
    result = seid("verify", "--log", a.key_id, cwd=auditor)
    assert result.code == 1 and "entry 2: rewritten: witness" in result.out, result.out
    assert "cosigned size 4 root" in result.out and "part at entry 2" in result.out
    assert f"newest cosignature for log {a.key_id[:16]} (size 2) is older than one its ref " in (
        result.err
    )

    # wrong origin: host B's cosigned checkpoint filed as host C's, never cosigned
    c = net.hosts[2]
    host_publishes(net, c, [0, 1, 2])
    cosigned_b = git(me.path, "cat-file", "blob", f"{ref}:{b.key_id}").encode()
    tip = plant(me.path, tip, {c.key_id: cosigned_b}, env)
    git(me.path, "push", "-q", "origin", f"{tip}:{ref}", env=env)
    git(auditor, "fetch", "-q", "origin", FETCH, WITNESS_FETCH, env=env)
    result = seid("verify", "--log", c.key_id, cwd=auditor)
    assert f"cosignature for log {c.key_id[:16]} refused: checkpoint is for 'seid/{b.key_id}'" in (
        result.err
    )
    assert f"log {c.key_id} (published): 3 entries, 0 witnessed" in result.out


def plant(repo: Path, parent: str, files: dict[str, bytes], env: dict[str, str]) -> str:
    """A commit on ``parent`` with ``files`` replaced: what a forger can push."""
    listing = dict(
        (line.partition("\t")[2], line.partition("\t")[0])
        for line in git(repo, "ls-tree", parent).splitlines()
    )
    for path, data in files.items():
        blob = git_in(repo, data)
        listing[path] = f"100644 blob {blob}"
    text = "".join(f"{meta}\t{path}\n" for path, meta in sorted(listing.items()))
    tree = git_in(repo, text.encode(), "mktree")
    return git(repo, "commit-tree", tree, "-p", parent, "-m", "forged", env=env).strip()


def git_in(repo: Path, data: bytes, *command: str) -> str:
    args = list(command) or ["hash-object", "-w", "--stdin"]
    return (
        subprocess.run(["git", *args], cwd=repo, input=data, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )
