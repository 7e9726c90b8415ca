"""The loan scenario as Dagster assets: features -> credit_model -> compliance_metrics.

Each asset's ``code_version`` is the digest of the code and params it depends on, so
Dagster's own staleness matches seid's drift classes: a treatment change moves the
versions of ``credit_model`` and ``compliance_metrics`` and leaves ``features`` current.
The asset check mirrors the release gate inside Dagster (read from ``sei.yaml``, never
restated here); the verdict of record is seid's, in the signed bundle.
"""

from __future__ import annotations

import hashlib
import json
import operator
import sys
from pathlib import Path

import yaml
from dagster import (
    AssetCheckResult,
    Definitions,
    MaterializeResult,
    asset,
    asset_check,
)

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from compliance_eval import evaluate  # noqa: E402
from featurize import applications, featurize  # noqa: E402
from train import train  # noqa: E402


def _params() -> dict[str, dict[str, object]]:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def code_version(files: tuple[str, ...], sections: tuple[str, ...]) -> str:
    """SHA-256 (first 16 hex) of the files' bytes and the named params sections."""
    h = hashlib.sha256()
    for name in files:
        h.update(hashlib.sha256((ROOT / name).read_bytes()).digest())
    params = _params()
    h.update(json.dumps({s: params[s] for s in sections}, sort_keys=True).encode())
    return h.hexdigest()[:16]


FEATURES_VERSION = code_version(("featurize.py",), ("featurize",))
MODEL_VERSION = code_version(("train.py",), ("train",))
METRICS_VERSION = code_version(("train.py", "compliance_eval.py"), ("train", "evaluate"))


@asset(code_version=FEATURES_VERSION)
def features() -> MaterializeResult:
    """Encoded applicants, split into train and test."""
    p = _params()["featurize"]
    featurize(
        applications(ROOT / "data/credit.csv")[0],
        ROOT / "features",
        float(p["test_fraction"]),
        int(p["split_seed"]),
        str(p["protected"]),
    )
    return MaterializeResult(metadata={"rows_file": str(ROOT / "data/credit.csv")})


@asset(deps=[features], code_version=MODEL_VERSION)
def credit_model() -> MaterializeResult:
    """The credit model, pickled with the columns it may use."""
    p = _params()["train"]
    train(ROOT / "features", ROOT / "model/model.pkl", float(p["C"]), int(p["max_iter"]))
    return MaterializeResult(metadata={"path": str(ROOT / "model/model.pkl")})


@asset(deps=[credit_model], code_version=METRICS_VERSION)
def compliance_metrics() -> MaterializeResult:
    """metrics.json, and every value and interval bound as materialisation metadata."""
    metrics = evaluate(ROOT / "features", ROOT / "model/model.pkl", _params()["evaluate"])
    (ROOT / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    flat: dict[str, float | str] = {}
    for measure_id, entry in metrics.items():
        flat[measure_id] = float(entry["value"])
        for key in ("ci_low", "ci_high", "ci_level", "n"):
            flat[f"{measure_id}.{key}"] = float(entry["power"][key])
        flat[f"{measure_id}.method"] = str(entry["power"]["method"])
    return MaterializeResult(metadata=flat)


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@asset_check(asset=compliance_metrics)
def release_gate() -> AssetCheckResult:
    """Every gate measure of sei.yaml holds over its whole confidence interval."""
    manifest = yaml.safe_load((ROOT / "sei.yaml").read_text())
    metrics = json.loads((ROOT / "metrics.json").read_text())
    results: dict[str, bool] = {}
    for risk in manifest["risk"]["risks"]:
        for treatment in risk.get("treat", []):
            for measure in treatment.get("measures", []):
                if measure.get("enforcement") != "gate" or measure["id"] not in metrics:
                    continue
                op, threshold = measure["constraint"].split()
                power = metrics[measure["id"]]["power"]
                holds = _OPS.get(op, operator.eq)
                results[measure["id"]] = holds(power["ci_low"], float(threshold)) and holds(
                    power["ci_high"], float(threshold)
                )
    return AssetCheckResult(passed=bool(results) and all(results.values()), metadata=results)


defs = Definitions(assets=[features, credit_model, compliance_metrics], asset_checks=[release_gate])
