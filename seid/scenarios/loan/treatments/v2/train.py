"""Stage 2a of the loan scenario: fit the credit model (V2: the treatment).

The treatment of the unfair-credit-exclusion risk: the model no longer sees the protected
attribute nor its proxy (``EXCLUDED``), so it cannot learn the historical bias back.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import yaml
from sklearn.linear_model import LogisticRegression

# Source columns the model may not see (one-hot columns are named "<column>=<value>").
EXCLUDED: tuple[str, ...] = ("sex", "personal_status")


def train(features: Path, model_out: Path, c: float, max_iter: int) -> None:
    """Fit on the allowed columns and pickle the model with the columns it uses."""
    data = np.load(features / "train.npz")
    columns = [str(c) for c in data["columns"]]
    keep = [i for i, name in enumerate(columns) if name.split("=")[0] not in EXCLUDED]
    model = LogisticRegression(C=c, max_iter=max_iter)
    model.fit(data["X"][:, keep], data["y"])
    model_out.parent.mkdir(parents=True, exist_ok=True)
    with model_out.open("wb") as fh:
        pickle.dump({"model": model, "columns": [columns[i] for i in keep]}, fh)


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())["train"]
    train(Path("features"), Path("model/model.pkl"), params["C"], params["max_iter"])


if __name__ == "__main__":
    main()
