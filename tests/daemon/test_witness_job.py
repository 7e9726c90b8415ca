"""The daemon's ``witness`` job: a pass per repository with the host's key, counted on
/metrics; a refusal and a failure are counted too and retried at the next interval; a
commit someone else pushed onto the witness ref is merged, not a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from seid.daemon import scheduler
from seid.daemon.config import DaemonConfig, RepoConfig, Schedules
from seid.daemon.service import Service
from seid.errors import SeidError
from seid.ledger.witness_ref import witness_ref
from tests.conftest import git
from tests.ledger.test_witness import host_publishes, network, rewrite
from tests.ledger.test_witness_ref import forge

OFF = Schedules(reconcile=0, verify=0, review=0, tables=0)


@pytest.mark.slow
def test_witness_job_cosigns_refuses_and_fails_visibly(tmp_path: Path, env: dict[str, str]) -> None:
    net = network(tmp_path, env, quorum=1, witnesses=1)
    host, me = net.hosts[0], net.witnesses[0]
    host_publishes(net, host, [0, 1])
    config = DaemonConfig(repos=(RepoConfig(me.path),), schedules=Schedules(witness=300))
    assert ("witness", 300) in [
        (name, every) for name, every, _ in scheduler.jobs(Service(config, me.signer))
    ]
    service = Service(DaemonConfig(repos=(RepoConfig(me.path),), schedules=OFF), me.signer)
    repo = str(me.path)

    scheduler.witness(service)
    assert service.metrics.get("seid_witness_runs_total", repo=repo, result="ok") == 1
    assert service.metrics.get("seid_witness_cosigned_total", repo=repo) == 1
    pushed = git(net.remote, "for-each-ref", "--format=%(refname)", "refs/seid/witness/")
    assert pushed.strip() == f"refs/seid/witness/{me.key_id}"

    rewrite(net, host, [0, 7])
    scheduler.witness(service)
    assert service.metrics.get("seid_witness_runs_total", repo=repo, result="refused") == 1
    assert service.metrics.get("seid_witness_cosigned_total", repo=repo) == 1

    git(me.path, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    with pytest.raises(SeidError, match="git fetch failed"):
        scheduler.witness(service)
    assert service.metrics.get("seid_witness_runs_total", repo=repo, result="error") == 1
    assert "seid_witness_runs_total" in service.metrics.render()


def test_a_foreign_push_onto_the_witness_ref_ends_ok(tmp_path: Path, env: dict[str, str]) -> None:
    net = network(tmp_path, env, quorum=1, witnesses=1)
    host, me = net.hosts[0], net.witnesses[0]
    service = Service(DaemonConfig(repos=(RepoConfig(me.path),), schedules=OFF), me.signer)
    repo = str(me.path)
    host_publishes(net, host, [0])
    scheduler.witness(service)
    foreign = forge(net, {"README": b"not a cosignature\n"})
    host_publishes(net, host, [1])
    scheduler.witness(service)  # refused by the remote, merged, pushed again
    assert service.metrics.get("seid_witness_runs_total", repo=repo, result="ok") == 2
    assert service.metrics.get("seid_witness_runs_total", repo=repo, result="error") == 0
    assert service.metrics.get("seid_witness_cosigned_total", repo=repo) == 2
    tip = git(net.remote, "rev-parse", witness_ref(me.key_id)).strip()
    assert git(net.remote, "rev-parse", f"{tip}^2").strip() == foreign
