"""The tracking-server deployment: clients log over HTTP, the server keeps the store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from seid import container
from seid.container import records, store
from seid.reproducers.mlflow import DESTINATION_ENV, stored_subjects
from tests.mlflow_plugin.conftest import _use_tracking_uri

pytestmark = pytest.mark.slow


@pytest.fixture
def proxied(
    proxied_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    url, dest = proxied_server
    for _ in _use_tracking_uri(url, monkeypatch):
        yield url, dest


def _log(tmp_path: Path, name: str, text: str) -> tuple[str, str]:
    import mlflow

    (tmp_path / name).write_text(text)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / name))
    return run.info.run_id, run.info.artifact_uri


def test_bundles_name_the_containers_the_server_stored(
    proxied: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, dest = proxied
    _, artifact_uri = _log(tmp_path, "model.json", '{"coef": [0.1, 0.2]}\n')
    assert artifact_uri.startswith("mlflow-artifacts:")
    assert stored_subjects([artifact_uri]) == ()  # without the destination: unbound
    monkeypatch.setenv(DESTINATION_ENV, f"seid://{dest}")
    subjects = stored_subjects([artifact_uri])
    assert [s.name.rsplit("/", 1)[-1] for s in subjects] == ["model.json"]
    path = store.path_of(subjects[0].name)
    assert container.header_of(path).hexdigest == subjects[0].sha256


def test_a_refused_download_says_why_and_is_not_retried(
    proxied: tuple[str, Path], tmp_path: Path
) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    _, dest = proxied
    run_a, _ = _log(tmp_path, "metrics.json", '{"auc": 0.91}\n')
    run_b, _ = _log(tmp_path, "metrics.json", '{"auc": 0.55}\n')
    a = next(p for p in dest.rglob("metrics.json") if run_a in p.parts)
    b = next(p for p in dest.rglob("metrics.json") if run_b in p.parts)
    shutil.copyfile(a, b)  # container and record of run A's artifact over run B's
    shutil.copyfile(records.digest_path(a), records.digest_path(b))
    with pytest.raises(MlflowException) as err:
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"mlflow-artifacts:/{b.relative_to(dest).as_posix()}",
            dst_path=str(tmp_path / "out"),
        )
    assert "container of another artifact" in str(err.value)
    # the server answered 400 (a 5xx is retried by clients for minutes)
    assert '"error_class":"INVALID_PARAMETER_VALUE"' in str(err.value)
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_the_server_records_each_digest_in_the_run_and_checks_it(
    proxied: tuple[str, Path], tmp_path: Path
) -> None:
    """Behind the proxy the server keeps the run tag too: the store rewritten
    consistently at the artifact's own place (container and record) is refused."""
    import mlflow
    from mlflow.exceptions import MlflowException

    _, dest = proxied
    run_id, _ = _log(tmp_path, "scores.json", '{"auc": 0.91}\n')
    stored = next(p for p in dest.rglob("scores.json") if run_id in p.parts)
    recorded = mlflow.get_run(run_id).data.tags["seid.sha256.scores.json"]
    assert recorded == container.header_of(stored).hexdigest
    (tmp_path / "forged.json").write_text('{"auc": 0.99}\n')
    header = container.pack(tmp_path / "forged.json", stored)
    record = records.read_record(stored, "x", {})
    records.write_record(stored, header, record.path or "", record.run, None)
    with pytest.raises(MlflowException) as err:
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"mlflow-artifacts:/{stored.relative_to(dest).as_posix()}",
            dst_path=str(tmp_path / "out"),
        )
    assert f"run {run_id} recorded {recorded}" in str(err.value)
    assert not (tmp_path / "out" / "scores.json").exists()
