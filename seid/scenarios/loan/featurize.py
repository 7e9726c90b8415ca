"""Stage 1 of the loan scenario: encode the applicants and split train/test.

Kept apart from training so a treatment change (class B) leaves it cached: its inputs are
only the data and this file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

CATEGORICAL = [
    "checking_status",
    "purpose",
    "savings",
    "housing",
    "job",
    "sex",
    "personal_status",
]
NUMERIC = [
    "duration_months",
    "credit_amount",
    "employment_years",
    "installment_rate",
    "age",
    "existing_credits",
    "dependents",
]


def applications(data: Path) -> tuple[pd.DataFrame, bool]:
    """The applicants, and whether they came from a Delta table.

    In the ``--data delta`` story seid pins the ``applications`` table: ``SEID_TABLES``
    names the JSON file with its URI and version, and exactly that version is read, in
    ``application_id`` order (a compaction may have put the rows in other files).
    """
    pins = os.environ.get("SEID_TABLES")
    pin = json.loads(Path(pins).read_text()).get("applications") if pins else None
    if pin is None:
        return pd.read_csv(data), False
    from deltalake import DeltaTable

    frame = DeltaTable(pin["uri"], version=pin["version"]).to_pandas()
    frame = frame.sort_values("application_id").drop(columns="application_id")
    return frame.reset_index(drop=True), True


def featurize(
    frame: pd.DataFrame, out: Path, test_fraction: float, split_seed: int, protected: str
) -> None:
    """Write ``train.npz`` and ``test.npz``: X, y, the protected group and column names."""
    numeric = frame[NUMERIC].astype(float)
    numeric = (numeric - numeric.mean()) / numeric.std(ddof=0)
    encoded = pd.get_dummies(frame[CATEGORICAL], prefix_sep="=", dtype=float)
    features = pd.concat([numeric, encoded], axis=1)
    group = (frame[protected] != frame[protected].mode().iloc[0]).to_numpy(dtype=np.int8)
    order = np.random.default_rng(split_seed).permutation(len(frame))
    cut = int(len(frame) * (1 - test_fraction))
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", order[:cut]), ("test", order[cut:])):
        np.savez_compressed(
            out / f"{name}.npz",
            X=features.to_numpy()[rows],
            y=frame["approved"].to_numpy()[rows],
            group=group[rows],
            columns=np.array(features.columns, dtype=str),
        )


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    frame, from_table = applications(Path("data/credit.csv"))
    featurize(
        frame,
        Path("features"),
        params["featurize"]["test_fraction"],
        params["featurize"]["split_seed"],
        params["featurize"]["protected"],
    )
    if from_table:
        os._exit(0)  # no interpreter teardown after delta-rs (delta-rs issue 2184)


if __name__ == "__main__":
    main()
