"""A pipeline's metrics file, read once for claims and measures alike.

Two shapes occur and may be mixed in one file: DVC style, keyed by metric name, nested
groups flattened with dots (``{"test": {"acc": 0.8}}`` gives ``test.acc``); and seid's
measure style, keyed by measure id with a value and an optional statistical power block
(``{"dp-gap": {"value": 0.046, "power": {"n": 200, "ci_low": 0.003, ...}}}``). A
mapping with a ``value`` key is a measure entry. Anything that is not a finite number is
refused with its place: a verdict must never be judged against a string or a NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seid.jsonsafe import load_json
from seid.yamlsafe import Located, PathKey, load_yaml

_ENTRY_KEYS = ("value", "power")
_POWER_KEYS = ("n", "ci_low", "ci_high", "ci_level", "method")


@dataclass(frozen=True)
class Metric:
    """One observed value, with its confidence interval when the pipeline gave one."""

    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = None
    n: int | None = None
    method: str | None = None


def load_metrics(path: Path, *, display: str | None = None) -> dict[str, Metric]:
    """Read a metrics file: YAML when it ends in .yaml/.yml, JSON otherwise."""
    name = display or str(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        return read_metrics(load_yaml(path, display=name))
    return read_metrics(load_json(path, display=name))


def read_metrics(located: Located) -> dict[str, Metric]:
    """Every metric in a loaded document, by dotted name or measure id."""
    if not isinstance(located.data, dict):
        raise located.error((), "a metrics file must be a mapping of names to numbers")
    found: dict[str, Metric] = {}
    _collect(located, located.data, (), found)
    return found


def read_flat_metrics(values: Mapping[str, Any], where: str) -> dict[str, Metric]:
    """Metrics a tracker stores flat (MLflow run metrics, Dagster metadata), as entries.

    Trackers hold flat key-value pairs, so a measure's power block travels as sibling
    keys: ``dp-gap`` with ``dp-gap.ci_low``, ``.ci_high``, ``.ci_level``, ``.n`` and
    ``.method``. Those are folded back into the measure-style entry and read by the same
    rules as a metrics file (a NaN or a reversed interval is refused alike); a dotted key
    with no number beside it stays a metric of its own. Entries that are not numbers
    (paths, notes a tracker keeps with its metrics) are not metrics. ``where`` names the
    source in errors.
    """
    doc: dict[str, Any] = {}
    for name, value in sorted(values.items()):
        base, _, key = name.rpartition(".")
        if key in _POWER_KEYS and is_number(values.get(base)):
            continue
        if not is_number(value):
            continue
        power = {k: values[f"{name}.{k}"] for k in _POWER_KEYS if f"{name}.{k}" in values}
        if isinstance(power.get("n"), float) and power["n"].is_integer():
            power["n"] = int(power["n"])  # trackers keep every number as a float
        doc[name] = {"value": value, "power": power} if power else value
    return read_metrics(Located(where, doc))


def is_number(value: Any) -> bool:
    """A real number (bool is an int to Python, never a metric)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def lookup(metrics: Mapping[str, Metric], *names: str) -> Metric | None:
    """The first of ``names`` present (callers pass the measure id before the metric)."""
    for name in names:
        if name in metrics:
            return metrics[name]
    return None


def _collect(
    located: Located, mapping: dict[Any, Any], loc: PathKey, found: dict[str, Metric]
) -> None:
    for key, value in mapping.items():
        here = (*loc, key)
        name = ".".join(str(part) for part in here)
        if isinstance(value, dict) and "value" not in value:
            _collect(located, value, here, found)
            continue
        if isinstance(value, dict):
            metric = _entry(located, value, here, name)
        else:
            metric = Metric(_number(located, value, here, name))
        if name in found:
            raise located.error(here, f"metric {name!r} is given twice", key=True)
        found[name] = metric


def _entry(located: Located, entry: dict[Any, Any], loc: PathKey, name: str) -> Metric:
    _known_keys(located, entry, loc, _ENTRY_KEYS, name)
    value = _number(located, entry["value"], (*loc, "value"), name)
    power = entry.get("power")
    if power is None:
        return Metric(value)
    if not isinstance(power, dict):
        raise located.error((*loc, "power"), f"metric {name!r}: power must be a mapping")
    _known_keys(located, power, (*loc, "power"), _POWER_KEYS, f"{name}.power")
    ploc = (*loc, "power")
    bounds = {
        key: _number(located, power[key], (*ploc, key), f"{name}.power.{key}")
        for key in ("ci_low", "ci_high", "ci_level")
        if power.get(key) is not None
    }
    level = bounds.get("ci_level")
    if level is not None and not 0 < level < 1:
        raise located.error((*ploc, "ci_level"), f"metric {name!r}: ci_level must be in (0, 1)")
    low, high = bounds.get("ci_low"), bounds.get("ci_high")
    if low is not None and high is not None and low > high:
        raise located.error((*ploc, "ci_low"), f"metric {name!r}: ci_low is above ci_high")
    if not _within(value, low, high):
        raise located.error(
            (*loc, "value"),
            f"metric {name!r}: value {value!r} lies outside its own interval "
            f"[{low!r}, {high!r}]; the metrics are inconsistent",
        )
    n = power.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise located.error((*ploc, "n"), f"metric {name!r}: n must be a non-negative integer")
    method = power.get("method")
    if method is not None and not isinstance(method, str):
        raise located.error((*ploc, "method"), f"metric {name!r}: method must be a string")
    return Metric(value, low, high, level, n, method)


def _within(value: float, low: float | None, high: float | None) -> bool:
    """A point estimate inside its confidence interval (rounding aside): one outside it
    (0.9 with [0.0, 0.01]) would let the interval pass a gate the value fails."""
    slack = 1e-9 * max(1.0, abs(value))
    return (low is None or value >= low - slack) and (high is None or value <= high + slack)


def _known_keys(
    located: Located, mapping: dict[Any, Any], loc: PathKey, allowed: tuple[str, ...], name: str
) -> None:
    for key in mapping:
        if key not in allowed:
            raise located.error(
                (*loc, key),
                f"metric {name!r}: unknown key {key!r} (expected {', '.join(allowed)})",
                key=True,
            )


def _number(located: Located, value: Any, loc: PathKey, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise located.error(loc, f"metric {name!r}: {value!r} is not a number")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise located.error(loc, f"metric {name!r}: {value!r} is not a finite number")
    return result
