"""The ``seid://`` MLflow artifact store: round trips, tamper refusal, traversal, memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from seid import container, evidence, keys
from seid.container import records
from seid.container.records import digest_path
from seid.container.store import uri_of as store_uri_of
from seid.evidence import EVIDENCE_PREDICATE, Subject
from seid.ledger.log import Ledger
from seid.mlflow_plugin.artifacts import SeidArtifactRepository, root_of
from tests.test_container import PEAK_RSS


@pytest.fixture
def store(tmp_path: Path) -> SeidArtifactRepository:
    repo = get_artifact_repository(f"seid://{tmp_path / 'store'}")
    assert isinstance(repo, SeidArtifactRepository)  # found through the entry point
    return repo


@pytest.fixture
def files(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "model.bin").write_bytes(os.urandom(3000))
    (src / "metrics.json").write_text('{"accuracy": 0.91, "auc": 0.95}\n' * 20)
    rows = "\n".join(f"{i},{i % 5},{i * 7 % 100}.5" for i in range(300))
    (src / "sub" / "data.csv").write_text(f"id,k,v\n{rows}\n")
    (src / "sub" / "deeper" / "notes.txt").write_text("hello\n")
    return src


def all_files(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_level_from_the_uri_query(tmp_path: Path, files: Path) -> None:
    repo = get_artifact_repository(f"seid://{tmp_path / 'store'}?level=max")
    assert isinstance(repo, SeidArtifactRepository) and repo.level == "max"
    repo.log_artifact(str(files / "metrics.json"))
    assert (tmp_path / "store" / "metrics.json").is_file()


def test_uri_forms(tmp_path: Path) -> None:
    assert root_of(f"seid://{tmp_path}/a") == tmp_path / "a"
    assert root_of(f"seid:{tmp_path}/a") == tmp_path / "a"  # as MLflow appends run paths
    assert root_of(f"seid://localhost{tmp_path}") == tmp_path
    for bad in (
        "seid://host/x",
        "seid:relative/x",
        "file:///x",
        f"seid://{tmp_path}?q=1",
        f"seid://{tmp_path}?level=fastest",
    ):
        with pytest.raises(MlflowException):
            root_of(bad)


def test_log_list_download_round_trip(
    store: SeidArtifactRepository, files: Path, tmp_path: Path
) -> None:
    store.log_artifacts(str(files), "run")
    store.log_artifact(str(files / "model.bin"))
    listing = {info.path: info for info in store.list_artifacts("run")}
    assert set(listing) == {"run/empty", "run/metrics.json", "run/model.bin", "run/sub"}
    assert listing["run/sub"].is_dir and listing["run/sub"].file_size is None
    assert listing["run/model.bin"].file_size == 3000  # the original size, not the container's
    assert [i.path for i in store.list_artifacts("run/sub")] == [
        "run/sub/data.csv",
        "run/sub/deeper",
    ]
    assert store.list_artifacts("run/model.bin") == []
    out = tmp_path / "out"
    out.mkdir()
    store.download_artifacts("run", str(out))
    assert all_files(out / "run") == all_files(files)
    assert (out / "run" / "empty").is_dir()
    stored = store.root / "run" / "sub" / "data.csv"
    assert container.verify(stored).codec is container.Codec.COLUMNS_XZ


def test_delete_removes_containers_and_digest_records(
    store: SeidArtifactRepository, files: Path
) -> None:
    store.log_artifacts(str(files), "run")
    store.delete_artifacts("run/model.bin")
    assert not (store.root / "run" / "model.bin").exists()
    assert not digest_path(store.root / "run" / "model.bin").exists()
    store.delete_artifacts("run/sub")
    assert [i.path for i in store.list_artifacts("run")] == ["run/empty", "run/metrics.json"]


def tamper_flip(path: Path, other: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 + 25] ^= 0x04
    path.write_bytes(bytes(raw))


def tamper_truncate(path: Path, other: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def tamper_swap(path: Path, other: Path) -> None:
    shutil.copyfile(other, path)  # a valid container of a different artifact


def tamper_plain(path: Path, other: Path) -> None:
    path.write_bytes(b"not a container at all")


def tamper_no_record(path: Path, other: Path) -> None:
    digest_path(path).unlink()


@pytest.mark.parametrize(
    "tamper",
    [tamper_flip, tamper_truncate, tamper_swap, tamper_plain, tamper_no_record],
    ids=["flipped-byte", "truncated", "swapped", "not-a-container", "no-digest-record"],
)
def test_tampered_artifacts_are_refused_and_leave_no_file(
    store: SeidArtifactRepository, files: Path, tmp_path: Path, tamper: object
) -> None:
    store.log_artifacts(str(files), "run")
    stored = store.root / "run" / "metrics.json"
    tamper(stored, store.root / "run" / "sub" / "deeper" / "notes.txt")  # type: ignore[operator]
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MlflowException, match=r"metrics\.json: "):
        store._download_file("run/metrics.json", str(out / "metrics.json"))
    assert list(out.iterdir()) == []
    with pytest.raises(MlflowException, match=r"metrics\.json"):
        store.download_artifacts("run/metrics.json", str(out))
    assert list(out.rglob("metrics.json")) == []


REFUSED = r"climbs out|outside"
TRAVERSALS = ["../outside", "run/../../outside", "/etc", "run/../..", "..\\outside"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_is_refused_everywhere(
    store: SeidArtifactRepository, files: Path, tmp_path: Path, path: str
) -> None:
    store.log_artifact(str(files / "model.bin"))
    with pytest.raises(MlflowException, match=REFUSED):
        store.log_artifact(str(files / "model.bin"), path)
    with pytest.raises(MlflowException, match=REFUSED):
        store.list_artifacts(path)
    with pytest.raises(MlflowException, match=REFUSED):
        store._download_file(path, str(tmp_path / "x"))
    with pytest.raises(MlflowException, match=REFUSED):
        store.delete_artifacts(path)
    assert not (tmp_path / "outside").exists() and not (tmp_path / "x").exists()


def test_symlinks_out_of_the_root_are_refused(
    store: SeidArtifactRepository, files: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    store.log_artifact(str(files / "model.bin"), "run")
    (store.root / "run" / "link").symlink_to(secret)
    with pytest.raises(MlflowException, match="outside"):
        store.log_artifact(str(files / "model.bin"), "run/link")
    with pytest.raises(MlflowException, match="outside"):
        store.list_artifacts("run/link")
    assert list(secret.iterdir()) == []


def test_reserved_names_cannot_be_logged(store: SeidArtifactRepository, tmp_path: Path) -> None:
    sneaky = tmp_path / ".model.bin.seid-digest"
    sneaky.write_text("0" * 64)
    with pytest.raises(MlflowException, match="reserved"):
        store.log_artifact(str(sneaky))


@pytest.mark.slow
def test_sklearn_model_round_trips_through_pyfunc(tracking: str, tmp_path: Path) -> None:
    _log_and_load_model(tmp_path)


@pytest.mark.slow
def test_sklearn_model_round_trips_with_a_tracking_server(
    server_tracking: str, tmp_path: Path
) -> None:
    _log_and_load_model(tmp_path)


def _log_and_load_model(tmp_path: Path) -> None:
    import mlflow.pyfunc
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    store = tmp_path / "artifacts"
    experiment = mlflow.create_experiment("seid-store", artifact_location=f"seid://{store}")
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    assert (loaded.predict(x) == model.predict(x)).all()
    stored = [p for p in store.rglob("MLmodel")]
    assert len(stored) == 1
    assert container.verify(stored[0]).size > 0  # kept as a container, not as plain text
    assert not stored[0].read_bytes().startswith(b"artifact_path")


RSS_SCRIPT = PEAK_RSS + textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from seid.mlflow_plugin.artifacts import SeidArtifactRepository

    work = Path(sys.argv[1])
    big = work / "big.bin"
    with open(big, "wb") as out:  # 200 MiB, incompressible, written in 1 MiB steps
        for _ in range(200):
            out.write(os.urandom(1 << 20))
    repo = SeidArtifactRepository(f"seid://{work / 'store'}")
    before = peak_mib()
    repo.log_artifact(str(big), "weights")
    (work / "out").mkdir()
    repo.download_artifacts("weights/big.bin", str(work / "out"))
    after = peak_mib()
    print(before, after)
    """
)


@pytest.mark.slow
def test_200_mib_file_round_trips_in_bounded_memory(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    before_mib, after_mib = map(int, proc.stdout.split())
    assert after_mib - before_mib < 150, (before_mib, after_mib)
    assert _same_file(tmp_path / "big.bin", tmp_path / "out" / "weights" / "big.bin")
    assert container.header_of(tmp_path / "store" / "weights" / "big.bin").size == 200 << 20


def _same_file(a: Path, b: Path) -> bool:
    return subprocess.run(["cmp", "-s", str(a), str(b)], check=False).returncode == 0


def _swap(store_root: Path, src: str, dst: str) -> None:
    """What an attacker with write access to the store alone can do: copy another
    artifact's container *and* its digest record over this one's."""
    shutil.copyfile(store_root / src, store_root / dst)
    shutil.copyfile(digest_path(store_root / src), digest_path(store_root / dst))


@pytest.mark.parametrize(
    ("src", "dst"),
    [("run/model.bin", "run/metrics.json"), ("other/metrics.json", "run/metrics.json")],
    ids=["another-name", "another-run-dir"],
)
def test_a_container_copied_with_its_record_is_refused(
    store: SeidArtifactRepository,
    files: Path,
    tmp_path: Path,
    src: str,
    dst: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store.log_artifacts(str(files), "run")
    (files / "metrics.json").write_text('{"accuracy": 0.5}\n')
    store.log_artifacts(str(files), "other")
    _swap(store.root, src, dst)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MlflowException, match="container of another artifact") as err:
        store.download_artifacts(dst, str(out))
    assert src in str(err.value)  # names where the container came from
    assert list(out.rglob("metrics.json")) == []
    assert any("refused" in r.message and "another artifact" in r.message for r in caplog.records)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tracking", "server_tracking"], ids=["sqlite", "server"])
def test_a_store_rewritten_consistently_is_caught_by_the_run_record(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Container and record rewritten for the place they sit at: only the digest the
    run recorded at upload (a tag in the tracking store: SQLite, or a real ``mlflow
    server`` whose clients write the store) can tell."""
    import mlflow

    request.getfixturevalue(backend)

    store = tmp_path / "artifacts"
    experiment = mlflow.create_experiment("seid-swap", artifact_location=f"seid://{store}")
    (tmp_path / "metrics.json").write_text('{"auc": 0.91}\n')
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifact(str(tmp_path / "metrics.json"))
    tags = mlflow.get_run(run.info.run_id).data.tags
    stored = next(store.rglob("metrics.json"))
    assert tags["seid.sha256.metrics.json"] == container.header_of(stored).hexdigest
    # the attacker packs a better-looking file with a record naming this very place
    (tmp_path / "forged.json").write_text('{"auc": 0.99}\n')
    header = container.pack(tmp_path / "forged.json", stored)
    record = records.read_record(stored, "x")
    records.write_record(stored, header, record.path or "", record.run, None)
    with pytest.raises(MlflowException):
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="metrics.json", dst_path=str(tmp_path / "d")
        )
    assert any(f"run {run.info.run_id} recorded" in r.message for r in caplog.records)
    assert not (tmp_path / "d" / "metrics.json").exists()


def test_each_stored_file_logs_its_throughput_once(
    store: SeidArtifactRepository, files: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="mlflow")
    store.log_artifacts(str(files), "run")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("mlflow")]
    stored = [line for line in lines if line.startswith("seid: stored ")]
    assert len(stored) == 4 and all("MB/s" in line for line in stored)
    assert any("run/sub/data.csv" in line for line in stored)


def test_a_record_rewritten_without_the_host_key_is_refused(
    store: SeidArtifactRepository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With a host key the records are signed: container and record rewritten for the
    place they sit at, without the key, are refused on download."""
    generated = keys.generate(tmp_path / "keys", "host")
    keys.add_trusted(tmp_path / "repo", generated.public_path)
    monkeypatch.setenv(keys.KEY_ENV, str(generated.private_path))
    monkeypatch.setenv(records.TRUST_ENV, str(tmp_path / "repo" / ".sei" / "trust"))
    (tmp_path / "metrics.json").write_text('{"auc": 0.91}\n')
    store.log_artifact(str(tmp_path / "metrics.json"), "run")
    stored = store.root / "run" / "metrics.json"
    (tmp_path / "forged.json").write_text('{"auc": 0.99}\n')
    header = container.pack(tmp_path / "forged.json", stored)
    records.write_record(stored, header, "run/metrics.json", None, None)
    (tmp_path / "out").mkdir()
    with pytest.raises(MlflowException, match="not signed by a trusted key"):
        store.download_artifacts("run/metrics.json", str(tmp_path / "out"))
    assert any("refused" in r.message and "not signed" in r.message for r in caplog.records)
    assert not (tmp_path / "out" / "run" / "metrics.json").exists()


def test_an_unusable_host_key_stores_nothing(
    store: SeidArtifactRepository, files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated = keys.generate(tmp_path / "keys", "host")
    generated.private_path.chmod(0o640)
    monkeypatch.setenv(keys.KEY_ENV, str(generated.private_path))
    with pytest.raises(MlflowException, match=r"cannot sign digest records: .*too open"):
        store.log_artifact(str(files / "metrics.json"))
    assert not store.root.exists() or list(store.root.iterdir()) == []


def _bundle_naming(repo: Path, tmp_path: Path, subjects: list[Subject]) -> None:
    """A trusted log in ``repo`` whose one evidence bundle names ``subjects``."""
    generated = keys.generate(tmp_path / "keys", "ledger")
    keys.add_trusted(repo, generated.public_path)
    signer = keys.load_signer(generated.private_path)
    bundle = evidence.sign(evidence.statement(subjects, EVIDENCE_PREDICATE, {}), signer)
    with Ledger.open(repo, signer.public_key.keyid, create=True) as ledger:
        ledger.append(bundle, signer)


def test_a_download_is_checked_against_the_ledger_bundle_naming_it(
    store: SeidArtifactRepository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Container and record rewritten consistently (records unsigned, no run tag): the
    bundle the ledger holds for the artifact still tells."""
    (tmp_path / "metrics.json").write_text('{"auc": 0.91}\n')
    store.log_artifact(str(tmp_path / "metrics.json"), "run")
    stored = store.root / "run" / "metrics.json"
    repo = tmp_path / "repo"
    named = Subject(store_uri_of(stored), container.header_of(stored).hexdigest)
    _bundle_naming(repo, tmp_path, [named])
    monkeypatch.chdir(repo)
    monkeypatch.setenv(records.TRUST_ENV, "")  # records themselves are not checked here
    (tmp_path / "out").mkdir()
    store.download_artifacts("run/metrics.json", str(tmp_path / "out"))
    assert (tmp_path / "out" / "run" / "metrics.json").read_text() == '{"auc": 0.91}\n'
    (tmp_path / "forged.json").write_text('{"auc": 0.99}\n')
    header = container.pack(tmp_path / "forged.json", stored)
    records.write_record(stored, header, "run/metrics.json", None, None)
    (tmp_path / "again").mkdir()
    with pytest.raises(MlflowException, match=r"not the one ledger bundle [0-9a-f]{16}#0"):
        store.download_artifacts("run/metrics.json", str(tmp_path / "again"))
    assert any("refused" in r.message and "ledger bundle" in r.message for r in caplog.records)
    assert not (tmp_path / "again" / "run" / "metrics.json").exists()
