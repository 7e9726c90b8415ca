"""The C2SP tlog-witness ``add-checkpoint`` call on the daemon's loopback port: a host
witnessed over HTTP, every refusal with the status the protocol names, and what it
cosigned published by the witness job for auditors."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path

from securesystemslib.signer import Signer

from seid import keys
from seid.daemon import scheduler
from seid.daemon.config import DaemonConfig, RepoConfig, Schedules
from seid.daemon.http import serve_http
from seid.daemon.service import Service
from seid.ledger import cosignature, witness
from seid.ledger.log import Ledger
from seid.ledger.witness import equivocations
from seid.ledger.witness_ref import witness_ref
from tests.conftest import SeidRunner, git
from tests.ledger.conftest import entry_maker, make_key
from tests.ledger.test_publish import FETCH
from tests.ledger.test_witness import WITNESS_FETCH, Party, host_publishes, network

WITNESSING = Schedules(reconcile=0, verify=0, review=0, tables=0, witness=300)


def post(address: tuple[str, int], body: bytes) -> tuple[int, str, bytes]:
    url = f"http://{address[0]}:{address[1]}/add-checkpoint"
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def request(old: int, proof: list[bytes], note: bytes) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(node).decode() for node in proof)]
    return ("\n".join(lines) + "\n\n").encode() + note


def grow(root: Path, signer: Signer, runs: range, tag: int = 0) -> bytes:
    """Append to the log ``signer`` keeps under ``root``; its newest checkpoint."""
    make = entry_maker(signer)
    with Ledger.open(root, signer.public_key.keyid, create=True) as ledger:
        for run in runs:
            ledger.append(make(run + tag), signer)
        return ledger.latest_checkpoint()


def proof(root: Path, signer: Signer, old: int, new: int) -> list[bytes]:
    with Ledger.open(root, signer.public_key.keyid) as ledger:
        return ledger.consistency_proof(old, new)


def test_add_checkpoint_over_loopback(repo: Path, tmp_path: Path) -> None:
    host = make_key(tmp_path, repo, "host")  # trusted in the witness's repository
    stranger = make_key(tmp_path, None, "stranger")
    me = make_key(tmp_path, None, "witness")
    wid = me.public_key.keyid
    service = Service(DaemonConfig(repos=(RepoConfig(repo),), schedules=WITNESSING), me)
    server = serve_http(service, "127.0.0.1", 0)
    address = server.server_address[:2]
    try:
        log = tmp_path / "host-log"
        three = grow(log, host, range(3))
        code, _, line = post(address, request(0, [], three))
        assert code == 200 and line.startswith(f"\u2014 seid-witness/{wid} ".encode())
        assert cosignature.verify(three + line, wid, me.public_key) > 0

        code, kind, body = post(address, request(0, [], three))  # not what it cosigned last
        assert (code, kind, body) == (409, "text/x.tlog.size", b"3\n")

        five = grow(log, host, range(3, 5))
        assert post(address, request(3, proof(log, host, 3, 5), five))[0] == 200
        assert post(address, request(5, [], five))[0] == 200  # the same tree, again

        forked = tmp_path / "forked-log"
        grow(forked, host, range(2))
        six = grow(forked, host, range(2, 6), tag=100)
        code, _, body = post(address, request(5, proof(forked, host, 5, 6), six))
        assert code == 422 and b"not consistent with the tree of size 5" in body
        assert [r["conflicting"] for r in equivocations(repo, wid)] == [six.decode()]

        theirs = grow(tmp_path / "stranger-log", stranger, range(1))
        assert post(address, request(0, [], theirs))[0] == 404
        forged = five.replace(b"\n5\n", b"\n6\n", 1)
        assert post(address, request(5, [], forged))[0] == 403
        assert post(address, request(6, [], five))[0] == 400  # old size past the tree
        assert post(address, b"old 05\n\n" + five)[0] == 400
        assert post(address, b"no blank line")[0] == 400
    finally:
        server.shutdown()


def test_http_cosignatures_reach_the_auditor(
    tmp_path: Path, env: dict[str, str], seid: SeidRunner
) -> None:
    """A host witnessed over HTTP by one witness and over git by another: the first's
    witness job publishes and pushes what its daemon cosigned, and an auditor's verify
    counts it towards the quorum of two."""
    net = network(tmp_path, env, quorum=2, witnesses=2)
    host, me, other = net.hosts[0], net.witnesses[1], net.witnesses[0]
    ref = witness_ref(me.key_id)
    service = Service(DaemonConfig(repos=(RepoConfig(me.path),), schedules=WITNESSING), me.signer)
    server = serve_http(service, "127.0.0.1", 0)
    address = server.server_address[:2]
    try:
        three = grow(host.path, host.signer, range(3))  # not published: no ledger ref anywhere
        assert post(address, request(0, [], three))[0] == 200
        scheduler.witness(service)
        assert service.metrics.get("seid_witness_runs_total", repo=str(me.path), result="ok") == 1
        assert git(net.remote, "ls-tree", "--name-only", ref).split() == [host.key_id]

        host_publishes(net, host, [])
        git_pass(other)
        auditor = net.clone("auditor")
        seen = seid("verify", "--log", host.key_id, "--require-witnessed", cwd=auditor)
        assert seen.code == 0, seen.out + seen.err
        assert f"log {host.key_id} (published): 3 entries, 3 witnessed" in seen.out

        five = grow(host.path, host.signer, range(3, 5))
        host_publishes(net, host, [])  # published, then cosigned over HTTP before the job
        assert post(address, request(3, proof(host.path, host.signer, 3, 5), five))[0] == 200
        scheduler.witness(service)  # the log is unchanged for it; the note is not published yet
        log_blob = git(net.remote, "rev-parse", f"refs/seid/ledger/{host.key_id}:log")
        assert git(net.remote, "rev-parse", f"{ref}:{host.key_id}.log") == log_blob
        git_pass(other)
        git(auditor, "fetch", "-q", "origin", FETCH, WITNESS_FETCH, env=env)
        seen = seid("verify", "--log", host.key_id, "--require-witnessed", cwd=auditor)
        assert f"log {host.key_id} (published): 5 entries, 5 witnessed" in seen.out, seen.err
    finally:
        server.shutdown()


def git_pass(who: Party) -> None:
    """A witnessing pass over git, as ``seid witness cosign`` runs it."""
    outcomes = witness.run(who.path, who.signer, "origin", keys.trusted_keys(who.path))
    assert [o.action for o in outcomes] == ["cosigned"]
