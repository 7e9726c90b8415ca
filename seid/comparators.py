"""The five comparators shared by PRML claims and sei.yaml measure constraints.

One definition, so a claim's ``>= 0.85`` and a measure's ``">= 0.85"`` can never be
judged differently. Equality is within a tolerance (PRML v0.1 section 5.1: strictly
less than it), because metrics are floats computed on different hardware.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

DEFAULT_TOLERANCE = 1e-9

_ORDERED: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}

COMPARATORS: tuple[str, ...] = (">=", ">", "==", "<=", "<")


def compare(
    observed: float, comparator: str, threshold: float, tolerance: float = DEFAULT_TOLERANCE
) -> bool:
    """Whether ``observed`` satisfies ``comparator threshold``; NaN satisfies nothing."""
    if comparator == "==":
        return abs(observed - threshold) < tolerance
    try:
        return _ORDERED[comparator](observed, threshold)
    except KeyError:
        raise ValueError(f"unknown comparator {comparator!r}") from None
