"""/metrics and /healthz on a loopback port, from an in-process daemon."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from seid import keys
from seid.daemon.config import DaemonConfig, RepoConfig, Schedules
from seid.daemon.service import Service
from tests.daemon.conftest import bundles, wait_until

OFF = Schedules(reconcile=0, verify=0, review=0)


def _get(address: tuple[str, int], path: str) -> tuple[int, str, str]:
    url = f"http://{address[0]}:{address[1]}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The exposition read back by the Prometheus client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_and_health(project: tuple[Path, Path]) -> None:
    repo, key = project
    config = DaemonConfig(
        repos=(RepoConfig(repo),), quiet=0.2, schedules=OFF, http=("127.0.0.1", 0)
    )
    service = Service(config, keys.load_signer(key))
    service.start()
    try:
        address = service.http_address
        assert address is not None and address[0] == "127.0.0.1"
        assert _get(address, "/healthz")[:1] == (200,)
        (repo / "params.json").write_text(json.dumps({"gap": 0.02}))
        wait_until(lambda: bundles(repo) == 1, what="a bundle")
        wait_until(lambda: "gate-pass" in _get(address, "/metrics")[2], what="the run's series")
        code, kind, text = _get(address, "/metrics")
        assert code == 200 and kind.startswith("text/plain; version=0.0.4")
        samples = _samples(text)
        here = (("repo", str(repo)),)
        assert samples["seid_runs_total", (*here, ("result", "gate-pass"))] == 1
        assert samples["seid_ledger_entries", here] == 1
        ran = sum(v for (name, labels), v in samples.items() if name == "seid_runs_total")
        assert ran >= 1 and samples["seid_run_duration_seconds_count", here] == ran
        assert samples["seid_run_duration_seconds_bucket", (("le", "+Inf"), *here)] == ran
        assert samples["seid_events_total", here] >= 1
        assert samples["seid_last_success_timestamp_seconds", here] > 0
        kinds = {family.name: family.type for family in text_string_to_metric_families(text)}
        assert kinds["seid_last_success_timestamp_seconds"] == "gauge"
        assert kinds["seid_run_duration_seconds"] == "histogram"
        assert _get(address, "/nope")[0] == 404
        service.repos[repo].watcher.stop()  # a dead watcher: unhealthy
        assert _get(address, "/healthz")[0] == 503
    finally:
        service.shutdown()


def test_http_is_off_by_default(project: tuple[Path, Path]) -> None:
    repo, key = project
    service = Service(DaemonConfig(repos=(RepoConfig(repo),), schedules=OFF), keys.load_signer(key))
    service.start()
    try:
        assert service.http_address is None
    finally:
        service.shutdown()
