"""The daemon's series, exposed by the Prometheus client library on ``/metrics``.

Few series, all labelled by repo: events seen, settled batches, runs by result, run
duration, last success, ledger size, rescans, and in sidecar mode registry audits by
result and findings by kind. Each daemon keeps its own registry (not
the client's global one), so two services in one process, as in the tests, never share
a count; the library handles the locking and the exposition format.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BUCKETS = (1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, float("inf"))

_COUNTERS = {
    "seid_events_total": ("File-system events seen in watched directories.", ("repo",)),
    "seid_batches_total": ("Settled change batches handed to the run chain.", ("repo",)),
    "seid_runs_total": ("Runs of the chain by result.", ("repo", "result")),
    "seid_rescans_total": ("Full reconciling rescans (overflow, limits, schedule).", ("repo",)),
    "seid_registry_audits_total": ("Registry audits (sidecar) by result.", ("repo", "result")),
    "seid_witness_runs_total": (
        "Witnessing passes by result (ok, refused, error).",
        ("repo", "result"),
    ),
    "seid_witness_cosigned_total": ("Checkpoints this host cosigned as a witness.", ("repo",)),
    "seid_registry_findings_total": (
        "Aliased model versions found without passing or approved evidence, by kind.",
        ("repo", "kind"),
    ),
}
_GAUGES = {
    "seid_last_success_timestamp_seconds": ("When a run last ended without error.", ("repo",)),
    "seid_ledger_entries": ("Entries in the repository's ledger (all local logs).", ("repo",)),
}
_DURATION = "seid_run_duration_seconds"


class Metrics:
    """Named series with ``inc``/``set``/``observe``, so callers need no client objects."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters = {
            name: Counter(name, text, labels, registry=self.registry)
            for name, (text, labels) in _COUNTERS.items()
        }
        self._gauges = {
            name: Gauge(name, text, labels, registry=self.registry)
            for name, (text, labels) in _GAUGES.items()
        }
        self._duration = Histogram(
            _DURATION,
            "Wall time of one pass of the chain.",
            ("repo",),
            buckets=BUCKETS,
            registry=self.registry,
        )

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self._counters[name].labels(**labels).inc(amount)

    def set(self, name: str, value: float, **labels: str) -> None:
        self._gauges[name].labels(**labels).set(value)

    def get(self, name: str, **labels: str) -> float:
        """A sample's current value (0 when never written)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def observe(self, seconds: float, **labels: str) -> None:
        """One run's duration into the histogram."""
        self._duration.labels(**labels).observe(seconds)

    def render(self) -> str:
        return generate_latest(self.registry).decode()
