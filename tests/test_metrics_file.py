"""The metrics reader: both shapes, flattening, power blocks, refusals with places."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seid.errors import InputError
from seid.metrics_file import Metric, load_metrics, lookup


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("metrics")


def write_json(tmp_path: Path, data: Any, name: str = "metrics.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2))
    return path


def test_flat_and_nested_names_are_flattened_with_dots(tmp_path: Path) -> None:
    path = write_json(tmp_path, {"accuracy": 0.8, "test": {"f1": 0.7, "deep": {"auc": 1}}})
    assert load_metrics(path) == {
        "accuracy": Metric(0.8),
        "test.f1": Metric(0.7),
        "test.deep.auc": Metric(1.0),
    }


def test_measure_entries_keep_their_power_block(tmp_path: Path) -> None:
    power = {"n": 200, "ci_low": 0.003, "ci_high": 0.174, "ci_level": 0.95, "method": "bootstrap"}
    path = write_json(tmp_path, {"dp-gap": {"value": 0.046, "power": power}, "acc": {"value": 1}})
    metrics = load_metrics(path)
    assert metrics["dp-gap"] == Metric(0.046, 0.003, 0.174, 0.95, 200, "bootstrap")
    assert metrics["acc"] == Metric(1.0)


def test_yaml_metrics_by_extension(tmp_path: Path) -> None:
    path = tmp_path / "metrics.yml"
    path.write_text("dp-gap:\n  value: 0.02\n  power: {n: 10}\nloss: 0.5\n")
    assert load_metrics(path) == {"dp-gap": Metric(0.02, n=10), "loss": Metric(0.5)}


def test_lookup_prefers_the_first_name_present() -> None:
    metrics = {"accuracy": Metric(0.7), "accuracy-floor": Metric(0.9)}
    assert lookup(metrics, "accuracy-floor", "accuracy") == Metric(0.9)
    assert lookup(metrics, "absent", "accuracy") == Metric(0.7)
    assert lookup(metrics, "absent") is None


@pytest.mark.parametrize(
    ("data", "fragment", "line"),
    [
        ({"acc": "high"}, "metric 'acc': 'high' is not a number", 2),
        ({"acc": True}, "metric 'acc': True is not a number", 2),
        ({"acc": None}, "is not a number", 2),
        ({"acc": [0.1]}, "is not a number", 2),
        ({"g": {"acc": "x"}}, "metric 'g.acc'", 3),
        ({"m": {"value": 0.1, "powr": {}}}, "unknown key 'powr'", 4),
        ({"m": {"value": 0.1, "power": {"n": -1}}}, "n must be a non-negative integer", 5),
        ({"m": {"value": 0.1, "power": {"ci_level": 95}}}, "ci_level must be in (0, 1)", 5),
        ({"m": {"value": 0.1, "power": {"ci_low": 2, "ci_high": 1}}}, "ci_low is above", 5),
        ({"m": {"value": 0.1, "power": [1]}}, "power must be a mapping", 4),
        ({"m": {"value": 0.9, "power": {"ci_low": 0.0, "ci_high": 0.01}}}, "outside its own", 3),
        ({"m": {"value": -1, "power": {"ci_low": 0.0}}}, "outside its own interval [0.0, None]", 3),
        ({"a.b": 1, "a": {"b": 2}}, "metric 'a.b' is given twice", 4),
        ([1, 2], "must be a mapping", 1),
    ],
)
def test_bad_values_are_refused_with_their_place(
    tmp_path: Path, data: Any, fragment: str, line: int
) -> None:
    path = write_json(tmp_path, data)
    with pytest.raises(InputError) as info:
        load_metrics(path)
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}:")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_json_numbers_are_refused(tmp_path: Path, token: str) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(f'{{\n  "acc": {token}\n}}\n')
    with pytest.raises(InputError, match=r"metrics.json:2:10: acc: ") as info:
        load_metrics(path)
    assert "finite" in str(info.value) or "NaN" in str(info.value)


@pytest.mark.parametrize("token", [".nan", ".inf", "-.inf"])
def test_non_finite_yaml_numbers_are_refused(tmp_path: Path, token: str) -> None:
    path = tmp_path / "metrics.yaml"
    path.write_text(f"acc: {token}\n")
    with pytest.raises(InputError, match=r"metrics.yaml:1:6: metric 'acc': .* not a finite"):
        load_metrics(path)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_metrics(tmp_path / "absent.json")


json_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["value", "power", "n", "ci_low", "a", "b.c"]) | st.text(max_size=4),
            inner,
            max_size=4,
        )
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(document=json_documents, suffix=st.sampled_from(["json", "yaml"]))
def test_fuzz_metrics_load_or_fail_with_a_place(
    metrics_dir: Path, document: Any, suffix: str
) -> None:
    path = metrics_dir / f"metrics.{suffix}"
    path.write_text(json.dumps(document))  # JSON text is also (flow) YAML
    try:
        metrics = load_metrics(path)
    except InputError as exc:
        assert re.match(rf"{re.escape(str(path))}:\d+:\d+: \S", str(exc)), str(exc)
    else:
        assert all(math.isfinite(metric.value) for metric in metrics.values())
