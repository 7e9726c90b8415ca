"""The daemon's counters, in the Prometheus text exposition format (no dependency).

Few series, all labelled by repo: events seen, settled batches, runs by result, run
duration, last success, ledger size, rescans. Written from worker threads, read by the
HTTP thread; one lock keeps a scrape consistent.
"""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, float("inf"))
Labels = tuple[tuple[str, str], ...]

_HELP = {
    "seid_events_total": ("counter", "File-system events seen in watched directories."),
    "seid_batches_total": ("counter", "Settled change batches handed to the run chain."),
    "seid_runs_total": ("counter", "Runs of the chain by result."),
    "seid_rescans_total": ("counter", "Full reconciling rescans (overflow, limits, schedule)."),
    "seid_run_duration_seconds": ("histogram", "Wall time of one pass of the chain."),
    "seid_last_success_timestamp_seconds": ("gauge", "When a run last ended without error."),
    "seid_ledger_entries": ("gauge", "Entries in the repository's ledger (all local logs)."),
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._hist: dict[Labels, list[float]] = {}

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[name][tuple(sorted(labels.items()))] = value

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values[name].get(tuple(sorted(labels.items())), 0.0)

    def observe(self, seconds: float, **labels: str) -> None:
        """One run's duration into the histogram (counts per bucket, then sum)."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            row = self._hist.setdefault(key, [0.0] * (len(BUCKETS) + 1))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    row[i] += 1
            row[-1] += seconds

    def render(self) -> str:
        out: list[str] = []
        with self._lock:
            for name, (kind, text) in _HELP.items():
                out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                if kind == "histogram":
                    out += _histogram(name, self._hist)
                    continue
                for labels, value in sorted(self._values.get(name, {}).items()):
                    out.append(f"{name}{_labels(labels)} {_number(value)}")
        return "\n".join(out) + "\n"


def _histogram(name: str, hist: dict[Labels, list[float]]) -> list[str]:
    out = []
    for labels, row in sorted(hist.items()):
        for bound, count in zip(BUCKETS, row, strict=False):
            le = "+Inf" if bound == float("inf") else _number(bound)
            out.append(f"{name}_bucket{_labels((*labels, ('le', le)))} {_number(count)}")
        out.append(f"{name}_sum{_labels(labels)} {_number(row[-1])}")
        out.append(f"{name}_count{_labels(labels)} {_number(row[len(BUCKETS) - 1])}")
    return out


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)
