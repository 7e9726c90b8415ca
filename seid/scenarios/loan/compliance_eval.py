"""Stage 2b of the loan scenario: the tool-agnostic compliance evaluation.

Computes accuracy and the demographic parity difference (absolute gap in approval rate
between the protected groups) with percentile-bootstrap confidence intervals, and writes
``metrics.json`` keyed by measure id, each with its statistical power block, so the gate
can tell a pass from a point estimate that proves nothing.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import yaml


def parity_gap(pred: np.ndarray, group: np.ndarray) -> float:
    """|P(approve | group 0) - P(approve | group 1)|."""
    return float(abs(pred[group == 0].mean() - pred[group == 1].mean()))


def bootstrap(
    pred: np.ndarray, y: np.ndarray, group: np.ndarray, rounds: int, level: float, seed: int
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of both metrics over resamples of the test rows."""
    rng = np.random.default_rng(seed)
    gaps, accs = np.empty(rounds), np.empty(rounds)
    for r in range(rounds):
        idx = rng.integers(0, len(pred), size=len(pred))
        gaps[r] = parity_gap(pred[idx], group[idx])
        accs[r] = float((pred[idx] == y[idx]).mean())
    tail = (1 - level) / 2 * 100
    return {
        "demographic_parity_diff": tuple(np.percentile(gaps, [tail, 100 - tail])),
        "accuracy": tuple(np.percentile(accs, [tail, 100 - tail])),
    }


def evaluate(features: Path, model_path: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Metrics keyed by measure id: ``{"dp-gap": {"value": ..., "power": {...}}}``."""
    data = np.load(features / "test.npz")
    with model_path.open("rb") as fh:
        bundle = pickle.load(fh)  # noqa: S301 - the model this pipeline just wrote
    columns = [str(c) for c in data["columns"]]
    keep = [columns.index(name) for name in bundle["columns"]]
    X, y, group = data["X"][:, keep], data["y"], data["group"]
    if params.get("sample"):
        rows = np.random.default_rng(params["seed"]).permutation(len(y))[: params["sample"]]
        X, y, group = X[rows], y[rows], group[rows]
    pred = bundle["model"].predict(X)
    point = {
        "demographic_parity_diff": parity_gap(pred, group),
        "accuracy": float((pred == y).mean()),
    }
    intervals = bootstrap(pred, y, group, params["bootstrap"], params["ci_level"], params["seed"])
    metrics: dict[str, Any] = {}
    for metric, measure_id in params["measures"].items():
        low, high = intervals[metric]
        metrics[measure_id] = {
            "value": round(point[metric], 6),
            "power": {
                "n": len(y),
                "ci_low": round(float(low), 6),
                "ci_high": round(float(high), 6),
                "ci_level": params["ci_level"],
                "method": "bootstrap",
            },
        }
    return metrics


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())["evaluate"]
    metrics = evaluate(Path("features"), Path("model/model.pkl"), params)
    Path("metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
