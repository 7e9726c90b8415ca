"""The loan scenario as an MLflow run: featurize (cached by its inputs), train, evaluate.

Run from the repository root. The tracking URI comes from ``MLFLOW_TRACKING_URI``
(MLflow >= 3.13 refuses the plain file store, so the default is a local SQLite store).
When seid starts it, seid has opened the run and passes its id in ``MLFLOW_RUN_ID``,
which ``mlflow.start_run()`` resumes, so seid reads back exactly this run. Featurization
is skipped when the data, ``featurize.py`` and its params are byte-for-byte those of the
features on disk; the run records what it re-ran and what it reused in its
``seid.stage.<step>`` tags (``ran`` or ``cached``): MLflow's own record of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

import yaml

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))

from compliance_eval import evaluate  # noqa: E402
from featurize import applications, featurize  # noqa: E402
from train import train  # noqa: E402

STAMP = Path("features/.inputs.sha256")


def featurize_inputs_digest(params: dict[str, object]) -> str:
    """Digest of everything featurization depends on: data, code and its params."""
    h = hashlib.sha256()
    for path in (Path("data/credit.csv"), Path("featurize.py")):
        h.update(hashlib.sha256(path.read_bytes()).digest())
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()


def main() -> None:
    import mlflow

    params = yaml.safe_load(Path("params.yaml").read_text())
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))
    mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "credit-scorer"))
    model_name = os.environ.get("SEID_REGISTERED_MODEL", "credit-scorer")
    with mlflow.start_run() as run:
        fz = params["featurize"]
        digest = featurize_inputs_digest(fz)
        cached = STAMP.exists() and STAMP.read_text().strip() == digest
        if not cached:
            featurize(
                applications(Path("data/credit.csv"))[0],
                Path("features"),
                fz["test_fraction"],
                fz["split_seed"],
                fz["protected"],
            )
            STAMP.write_text(digest + "\n")
        mlflow.set_tags(
            {
                "seid.stage.featurize": "cached" if cached else "ran",
                "seid.stage.train": "ran",
                "seid.stage.evaluate": "ran",
            }
        )
        mlflow.log_params({f"train.{k}": v for k, v in params["train"].items()})
        train(
            Path("features"),
            Path("model/model.pkl"),
            params["train"]["C"],
            params["train"]["max_iter"],
        )
        metrics = evaluate(Path("features"), Path("model/model.pkl"), params["evaluate"])
        Path("metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        for measure_id, entry in metrics.items():
            mlflow.log_metric(measure_id, entry["value"])
            for key in ("ci_low", "ci_high", "ci_level", "n"):
                mlflow.log_metric(f"{measure_id}.{key}", entry["power"][key])
            mlflow.set_tag(f"{measure_id}.method", entry["power"]["method"])
        mlflow.log_artifact("metrics.json")
        with Path("model/model.pkl").open("rb") as fh:
            model = pickle.load(fh)["model"]  # noqa: S301 - written by train() above
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=model_name)
        print(
            json.dumps(
                {
                    "run_id": run.info.run_id,
                    "registered_model": model_name,
                    "version": info.registered_model_version,
                }
            )
        )


if __name__ == "__main__":
    main()
