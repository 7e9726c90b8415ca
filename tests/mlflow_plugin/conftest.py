"""Real MLflow for the plugin tests: a local SQLite store, and one real ``mlflow server``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import stop_group

SERVER_START_TIMEOUT = 180


@pytest.fixture(autouse=True)
def no_host_key(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugins run in this process: with the machine's own key (``~/.config/seid``,
    ``SEID_SIGNING_KEY``, a systemd credential) they would sign, so a test's outcome
    would depend on the machine. Each test starts keyless; one that wants a key sets it."""
    for name in [n for n in os.environ if n.startswith("SEID_")] + ["CREDENTIALS_DIRECTORY"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


@pytest.fixture(scope="module")
def sqlite_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite tracking store per module (creating the schema takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def tracking(sqlite_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fluent MLflow API pointed at the module's SQLite store."""
    yield from _use_tracking_uri(sqlite_uri, monkeypatch)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 with a SQLite backend; clients write the
    ``seid://`` store themselves. Always terminated."""
    base = tmp_path_factory.mktemp("mlflow-server")
    store = ("--default-artifact-root", f"seid://{base / 'artifacts'}", "--no-serve-artifacts")
    yield from _serve(base, store)


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The README's sidecar layout: the server keeps the ``seid://`` store and clients
    log over HTTP (proxied artifacts). Yields the URL and the store's directory."""
    base = tmp_path_factory.mktemp("mlflow-proxy")
    store = ("--artifacts-destination", f"seid://{base / 'dest'}", "--serve-artifacts")
    for url in _serve(base, store):
        yield url, base / "dest"


def _serve(base: Path, store: tuple[str, ...]) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(base / "server.log", "wb") as log:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "mlflow", "server"),
                *("--backend-store-uri", f"sqlite:///{base / 'server.db'}"),
                *store,
                *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(url, proc, base / "server.log")
        yield url
    finally:
        stop_group(proc)


@pytest.fixture
def server_tracking(mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fluent MLflow API pointed at the real server."""
    yield from _use_tracking_uri(mlflow_server, monkeypatch)


def _use_tracking_uri(uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    _forget_experiment()
    try:
        yield uri
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri("")
        _forget_experiment()


def _forget_experiment() -> None:
    """``mlflow.set_experiment`` keeps the id in a module global and in the process
    environment; a test on another server would otherwise log to an experiment id that
    server never had."""
    from mlflow.tracking import fluent

    fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"mlflow server did not answer in {SERVER_START_TIMEOUT}s: {log.read_text()[-2000:]}"
    )
