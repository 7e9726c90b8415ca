"""Write the synthetic consumer-credit dataset of the loan scenario (deterministic).

The data are synthetic: no real applicant is in them. Columns follow the shape of the
German credit data (Statlog), with ``sex`` as the protected attribute and
``personal_status`` as its proxy (it encodes sex with marital status, as in the original).
Creditworthiness is drawn from the legitimate columns only; the historical decision
(``approved``) then carries a penalty against one group, which a model trained with the
protected attribute learns back. Same ``--rows`` and ``--seed`` -> same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

PURPOSES = ["car_new", "car_used", "furniture", "radio_tv", "education", "business", "repairs"]
CHECKING = ["none", "lt_0", "0_200", "ge_200"]
SAVINGS = ["unknown", "lt_100", "100_500", "500_1000", "ge_1000"]
HOUSING = ["rent", "own", "free"]
JOBS = ["unskilled", "skilled", "management"]


def generate(rows: int, seed: int) -> pd.DataFrame:
    """The applicants; only ``approved`` depends on ``sex`` (the historical bias)."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["male", "female"], size=rows, p=[0.6, 0.4])
    married = rng.random(rows) < 0.5
    personal_status = np.where(
        sex == "male",
        np.where(married, "male_married", "male_single"),
        np.where(married, "female_married", "female_single"),
    )
    frame = pd.DataFrame(
        {
            "checking_status": rng.choice(CHECKING, size=rows, p=[0.4, 0.27, 0.27, 0.06]),
            "duration_months": rng.integers(4, 72, size=rows),
            "credit_amount": np.round(rng.lognormal(7.9, 0.75, size=rows)).astype(int),
            "purpose": rng.choice(PURPOSES, size=rows),
            "savings": rng.choice(SAVINGS, size=rows, p=[0.18, 0.6, 0.1, 0.06, 0.06]),
            "employment_years": rng.integers(0, 30, size=rows),
            "installment_rate": rng.integers(1, 5, size=rows),
            "age": rng.integers(19, 75, size=rows),
            "housing": rng.choice(HOUSING, size=rows, p=[0.18, 0.71, 0.11]),
            "existing_credits": rng.integers(1, 5, size=rows),
            "job": rng.choice(JOBS, size=rows, p=[0.22, 0.63, 0.15]),
            "dependents": rng.integers(1, 3, size=rows),
            "sex": sex,
            "personal_status": personal_status,
        }
    )
    merit = (
        frame["checking_status"].map({"none": 0.9, "lt_0": -0.9, "0_200": 0.0, "ge_200": 0.6})
        + frame["savings"].map(
            {"unknown": 0.1, "lt_100": -0.3, "100_500": 0.1, "500_1000": 0.4, "ge_1000": 0.7}
        )
        - 0.03 * (frame["duration_months"] - 24)
        - 0.00012 * (frame["credit_amount"] - 3000)
        + 0.04 * np.minimum(frame["employment_years"], 15)
        - 0.25 * (frame["installment_rate"] - 2.5)
        + 0.015 * (np.minimum(frame["age"], 60) - 35)
        + frame["housing"].map({"rent": -0.2, "own": 0.25, "free": 0.0})
        + frame["job"].map({"unskilled": -0.2, "skilled": 0.0, "management": 0.25})
    )
    bias = np.where(frame["sex"] == "female", -0.9, 0.0)
    noise = rng.normal(0.0, 0.6, size=rows)
    frame["approved"] = (merit + bias + noise > -0.1).astype(int)
    frame.insert(0, "applicant_id", np.arange(1, rows + 1))
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=20_260_501)
    parser.add_argument("--out", type=Path, default=Path("data/credit.csv"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    generate(args.rows, args.seed).to_csv(args.out, index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
