"""Sidecar registry audit against a real `mlflow server` (SQLite store) on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from securesystemslib.signer import Signer  # type: ignore[attr-defined]

from seid import attest, evidence, keys
from seid.daemon import sidecar as sidecar_module
from seid.daemon.config import DaemonConfig, Sidecar
from seid.daemon.runner import ledger_size
from seid.daemon.scheduler import jobs
from seid.daemon.service import Service
from seid.daemon.sidecar import Auditor, ledger_statements
from seid.errors import InputError
from seid.registry_statements import FINDING_PREDICATE, WITHOUT_APPROVAL, WITHOUT_EVIDENCE
from tests.conftest import SeidRunner, decide, git, stop_group
from tests.daemon.conftest import Daemon, bundles, wait_until
from tests.replay.schema import problems

pytestmark = pytest.mark.slow
Start = Callable[..., Daemon]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _start_mlflow(tmp_path: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """A real `mlflow server` (SQLite store) on 127.0.0.1:``port``, once it answers."""
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "mlflow.log").open("a")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--default-artifact-root",
            (tmp_path / "artifacts").as_uri(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_until(lambda: _up(url) or proc.poll() is not None, timeout=120, what="mlflow server")
    assert proc.poll() is None, (tmp_path / "mlflow.log").read_text()
    return proc


@pytest.fixture
def mlflow_server(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    proc = _start_mlflow(tmp_path, env, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(proc)


def _bundle(repo: Path, signer: Signer, **pipeline: str) -> None:
    """A passing evidence bundle whose pipeline names a model version (as the mlflow tool's do)."""
    subject = evidence.subject_for_file(repo / "sei.yaml", repo)
    attest.append(repo, signer, [subject], {"gate": "pass", "pipeline": pipeline})


def test_champion_without_passing_bundle_is_a_finding(
    mlflow_server: str,
    project: tuple[Path, Path],
    seid: SeidRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow import MlflowClient

    repo, key = project
    signer = keys.load_signer(key)
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    experiment = client.create_experiment("credit")
    runs = [client.create_run(experiment).info.run_id for _ in range(3)]
    client.create_registered_model("credit-scorer")
    for run_id in runs:
        client.create_model_version("credit-scorer", f"runs:/{run_id}/model", run_id=run_id)
    client.create_registered_model("unaliased")  # no champion: nothing to audit
    auditor = Auditor(Sidecar(mlflow_server, repo))
    reads: list[Path] = []
    real_read = sidecar_module.read_facts
    monkeypatch.setattr(
        sidecar_module, "read_facts", lambda root: reads.append(root) or real_read(root)
    )

    client.set_registered_model_alias("credit-scorer", "champion", "1")
    ((found, kind),) = auditor.audit(signer)
    assert (found.model, found.version, found.run_id) == ("credit-scorer", "1", runs[0])
    assert kind == "promoted-without-passing-evidence"
    (finding,) = ledger_statements(repo, FINDING_PREDICATE)
    assert finding["predicate"]["kind"] == "promoted-without-passing-evidence"
    assert finding["subject"][0]["name"] == "models:/credit-scorer/1"
    assert len(auditor.audit(signer)) == 1 and ledger_size(repo) == 1  # attested once
    assert len(reads) == 2  # the finding changed the log: read again
    assert len(auditor.audit(signer)) == 1 and len(reads) == 2  # nothing changed: not read
    r = seid("reconstruct", cwd=repo)  # the auditor's report carries what the sidecar saw
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert problems(doc) == [] and doc["ledger"]["other_statements"] == 0
    [seen] = [f for f in doc["findings"] if f["kind"] == "promoted-without-passing-evidence"]
    assert seen["summary"].startswith("models:/credit-scorer/1 held the alias champion")

    _bundle(repo, signer, registered_model="credit-scorer", model_version="2")
    client.set_registered_model_alias("credit-scorer", "champion", "2")
    assert auditor.audit(signer) == []  # matched by registered model + version
    assert len(reads) == 3

    _bundle(repo, signer, run_id=runs[2])
    client.set_registered_model_alias("credit-scorer", "champion", "3")
    assert auditor.audit(signer) == [] and len(reads) == 4  # matched by run id
    assert ledger_size(repo) == 3  # one finding, two bundles
    with (repo / "sei.yaml").open("a") as manifest:
        manifest.write("approval:\n  expires: P30D\n")
    ((found, kind),) = auditor.audit(signer)  # a new policy, no new entry: judged anew
    assert (found.version, kind) == ("3", WITHOUT_APPROVAL) and len(reads) == 5


def test_under_a_policy_a_champion_needs_approved_evidence(
    mlflow_server: str, project: tuple[Path, Path], tmp_path: Path
) -> None:
    """Moving the alias in the registry past the approval is a finding; a newer bundle
    (which supersedes the lifecycle) does not make the approved champion unapproved."""
    from mlflow import MlflowClient

    repo, key = project
    with (repo / "sei.yaml").open("a") as manifest:
        manifest.write("approval:\n  expires: P30D\n")
    git(repo, "commit", "-qam", "approval policy")
    signer = keys.load_signer(key)
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    run_id = client.create_run(client.create_experiment("credit")).info.run_id
    client.create_registered_model("credit-scorer")
    for _ in range(2):
        client.create_model_version("credit-scorer", f"runs:/{run_id}/model", run_id=run_id)
    auditor = Auditor(Sidecar(mlflow_server, repo))  # one, as the daemon keeps it

    _bundle(repo, signer, registered_model="credit-scorer", model_version="1")
    client.set_registered_model_alias("credit-scorer", "champion", "1")
    ((found, kind),) = auditor.audit(signer)
    assert (found.version, kind) == ("1", WITHOUT_APPROVAL)
    (finding,) = ledger_statements(repo, FINDING_PREDICATE)
    assert finding["predicate"]["kind"] == WITHOUT_APPROVAL

    decide(repo, tmp_path, "alice", "request")
    decide(repo, tmp_path, "bob", "grant")
    assert auditor.audit(signer) == []
    _bundle(repo, signer, registered_model="credit-scorer", model_version="2")
    assert auditor.audit(signer) == []  # version 1 was approved; superseded is not undone
    client.set_registered_model_alias("credit-scorer", "champion", "2")
    ((found, kind),) = auditor.audit(signer)
    assert (found.version, kind) == ("2", WITHOUT_APPROVAL)


def test_the_daemon_job_keeps_its_auditor_between_runs(
    mlflow_server: str, project: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    repo, key = project
    config = DaemonConfig(sidecar=Sidecar(mlflow_server, repo))
    service = Service(config, keys.load_signer(key))
    [job] = [run for name, _, run in jobs(service) if name == "registry-audit"]
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    run_id = client.create_run(client.create_experiment("credit")).info.run_id
    client.create_registered_model("credit-scorer")
    client.create_model_version("credit-scorer", f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias("credit-scorer", "champion", "1")
    reads: list[Path] = []
    real_read = sidecar_module.read_facts
    monkeypatch.setattr(
        sidecar_module, "read_facts", lambda root: reads.append(root) or real_read(root)
    )
    for _ in range(3):
        job()
    assert len(list(ledger_statements(repo, FINDING_PREDICATE))) == 1  # attested once
    assert len(reads) == 2  # at the first run, and after its finding changed the log


def test_a_version_no_bundle_names_is_without_evidence_whatever_the_approvals(
    mlflow_server: str, project: tuple[Path, Path], tmp_path: Path
) -> None:
    """Registered from an unrelated run and moved to champion by hand: no bundle names
    it, so its finding is promoted-without-passing-evidence, before an approval of other
    evidence and after it."""
    from mlflow import MlflowClient

    repo, key = project
    with (repo / "sei.yaml").open("a") as manifest:
        manifest.write("approval:\n  expires: P30D\n")
    git(repo, "commit", "-qam", "approval policy")
    signer = keys.load_signer(key)
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    experiment = client.create_experiment("credit")
    evidenced, unrelated = (client.create_run(experiment).info.run_id for _ in range(2))
    client.create_registered_model("credit-scorer")
    client.create_model_version("credit-scorer", f"runs:/{evidenced}/model", run_id=evidenced)
    client.create_model_version("credit-scorer", f"runs:/{unrelated}/model", run_id=unrelated)
    _bundle(repo, signer, registered_model="credit-scorer", model_version="1")
    client.set_registered_model_alias("credit-scorer", "champion", "2")
    auditor = Auditor(Sidecar(mlflow_server, repo))
    assert [(p.version, kind) for p, kind in auditor.audit(signer)] == [("2", WITHOUT_EVIDENCE)]
    decide(repo, tmp_path, "alice", "request")
    decide(repo, tmp_path, "bob", "grant")  # version 1's evidence is approved now
    assert [(p.version, kind) for p, kind in auditor.audit(signer)] == [("2", WITHOUT_EVIDENCE)]
    kinds = [f["predicate"]["kind"] for f in ledger_statements(repo, FINDING_PREDICATE)]
    assert kinds == [WITHOUT_EVIDENCE]


def _health(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _sidecar_config(registry: str, http_port: int) -> str:
    """Audits every second; the sidecar names no repo: the one watched takes the findings."""
    return (
        f"registry_audit = 1\n[http]\naddress = '127.0.0.1:{http_port}'\n"
        f"[sidecar]\ntracking_uri = '{registry}'\n"
    )


def test_a_registry_that_goes_down_degrades_health_and_is_logged_once(
    project: tuple[Path, Path], start_daemon: Start, tmp_path: Path, env: dict[str, str]
) -> None:
    """A real tracking server, stopped under the running daemon and started again: health
    says degraded with the reason while runs go on, the failure is logged once, the
    recovery once, and /metrics counts the audits of both kinds."""
    repo, key = project
    port, http_port = _free_port(), _free_port()
    registry = f"http://127.0.0.1:{port}"
    server = _start_mlflow(tmp_path, env, port)
    try:
        daemon = start_daemon(repo, key, extra_config=_sidecar_config(registry, http_port))
        wait_until(lambda: _audits(http_port, repo, "ok") >= 1, timeout=90, what="an audit")
        assert _health(http_port) == (200, {"status": "ok"})
        stop_group(server)  # the tracking server goes down
        wait_until(lambda: _health(http_port)[0] == 503, timeout=90, what="a degraded health")
        _, body = _health(http_port)
        assert body["status"] == "degraded"
        assert registry in str(body["degraded"]["registry"])  # type: ignore[index]
        wait_until(lambda: _audits(http_port, repo, "failed") >= 3, timeout=90, what="failures")
        failures = [
            x
            for x in daemon.lines()
            if x.get("event") == "registry audit failed; retrying at each audit"
        ]
        assert len(failures) == 1, failures  # logged when it began, not at every audit
        runs_before = bundles(repo)
        (repo / "params.json").write_text(json.dumps({"gap": 0.021}))  # runs carry on
        wait_until(lambda: bundles(repo) > runs_before, what="a run while degraded")
        server = _start_mlflow(tmp_path, env, port)  # back
        wait_until(lambda: _health(http_port)[0] == 200, timeout=90, what="health back")
        back = [x for x in daemon.lines() if x.get("event") == "registry answers again"]
        assert len(back) == 1
        assert daemon.stop() == 0
    finally:
        stop_group(server)


def _audits(http_port: int, repo: Path, result: str) -> float:
    """``seid_registry_audits_total{result}`` for ``repo``, read back with the client's
    own parser."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "seid_registry_audits_total"
        and sample.labels == {"repo": str(repo), "result": result}
    )


def test_sigterm_ends_the_daemon_while_an_audit_hangs(
    project: tuple[Path, Path], start_daemon: Start
) -> None:
    """A registry that accepts connections and never answers: the audit is stuck in its
    call when SIGTERM arrives; the daemon still exits at once, and its query with it."""
    repo, key = project
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # the kernel completes handshakes; nothing ever replies
    try:
        registry = f"http://127.0.0.1:{silent.getsockname()[1]}"
        daemon = start_daemon(repo, key, extra_config=_sidecar_config(registry, _free_port()))
        wait_until(lambda: _queries(registry), timeout=30, what="the audit's query to start")
        started = time.monotonic()
        assert daemon.stop(signal.SIGTERM, timeout=60) == 0
        took = time.monotonic() - started
        assert took < 15, f"exit took {took:.1f} s"  # systemd's stop timeout is 90 s
        wait_until(lambda: not _queries(registry), timeout=10, what="the query to die too")
    finally:
        silent.close()


def _queries(registry: str) -> list[int]:
    """Live registry_query processes asking ``registry``."""
    out = subprocess.run(["pgrep", "-f", f"seid.daemon.registry_query {registry}"],
                         capture_output=True, text=True)  # fmt: skip
    return [int(pid) for pid in out.stdout.split()]


def test_the_readme_sidecar_table_alone_starts(tmp_path: Path) -> None:
    from seid.daemon.config import RepoConfig, load

    path = tmp_path / "seid.toml"
    path.write_text("[sidecar]\ntracking_uri = 'http://127.0.0.1:5000'\n[[repos]]\npath = 'r'\n")
    assert load(path).sidecar == Sidecar("http://127.0.0.1:5000", tmp_path / "r")
    bare = tmp_path / "bare.toml"
    bare.write_text("[sidecar]\ntracking_uri = 'http://127.0.0.1:5000'\n")
    given = load(bare).with_repos([RepoConfig(tmp_path / "cli")])
    assert given.sidecar is not None and given.sidecar.root == tmp_path / "cli"
    path.write_text(path.read_text() + "[[repos]]\npath = 's'\n")
    with pytest.raises(InputError, match=r"seid\.toml:1: sidecar\.repo is required"):
        load(path)
