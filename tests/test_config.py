"""sei.yaml: the issue's example and the loan manifest load; every bad input is placed."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from seid.config import (
    Constraint,
    InputClasses,
    Level,
    Likelihood,
    Manifest,
    find_root,
    load_manifest,
    load_manifest_text,
)
from seid.errors import InputError, SeidError
from tests.conftest import ROOT, SeidRunner, assert_one_line_error

LOAN = ROOT / "seid" / "scenarios" / "loan"

# The example of issue 2, item 2, verbatim.
EXAMPLE = """\
version: seid/1
system: {name: credit-scorer, intended_purpose: consumer loan pre-screening}
pipeline: {tool: dvc, metrics: metrics.json, params: params.yaml}
claims: [claims/*.prml.yaml]
risk:
  appetite: {individual: MEDIUM, society: MEDIUM, organization: HIGH}
  criteria: {scale: 5x5}
  overall_residual_criterion: MEDIUM
  review_interval: P6M
  risks:
    - id: unfair-credit-exclusion
      title: Applicants excluded by protected attribute
      impact: {individual: HIGH, society: HIGH}
      likelihood: LIKELY
      treat:
        - method: REDUCE
          action: remove protected attribute and proxies from the model
          residual_likelihood: UNLIKELY
          measures:
            - {id: dp-gap, metric: demographic_parity_diff, constraint: "< 0.03", severity: high, enforcement: gate, lifecycle: [validation]}
            - {id: accuracy-floor, metric: accuracy, constraint: ">= 0.70", severity: medium, enforcement: audit}
"""  # noqa: E501


def edit(old: str, new: str, text: str = EXAMPLE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_issue_example_loads(tmp_path: Path) -> None:
    (tmp_path / "sei.yaml").write_text(EXAMPLE)
    manifest = load_manifest(tmp_path)
    assert manifest.path == tmp_path / "sei.yaml"
    assert manifest.manifest_digest == hashlib.sha256(EXAMPLE.encode()).hexdigest()
    assert manifest.system.name == "credit-scorer"
    assert manifest.pipeline.tool == "dvc" and manifest.pipeline.params == "params.yaml"
    (risk,) = manifest.risk.risks
    assert risk.likelihood is Likelihood.LIKELY
    assert risk.residual_likelihood is Likelihood.UNLIKELY
    assert risk.impact == {"individual": Level.HIGH, "society": Level.HIGH}
    gate, audit = risk.measures
    assert gate.constraint == Constraint("<", 0.03)
    assert gate.enforcement == "gate" and audit.enforcement == "audit"
    assert audit.constraint.holds(0.70) and not audit.constraint.holds(0.6999)
    assert [m.id for _, m in manifest.iter_measures()] == ["dp-gap", "accuracy-floor"]
    assert manifest.approval.distinct_from_requester is True
    assert manifest.evidence.dir == ".sei/"


def test_loan_manifest_loads() -> None:
    manifest = load_manifest(LOAN)
    assert manifest.system.name == "credit-scorer"
    assert [r.id for r in manifest.risk.risks] == [
        "unfair-credit-exclusion",
        "performance-drift",
        "automation-bias",
    ]
    measures = {m.id: m for _, m in manifest.iter_measures()}
    assert measures["dp-gap"].constraint == Constraint("<", 0.03)
    assert measures["dp-gap"].enforcement == "gate"
    assert measures["dp-gap"].lifecycle == ["validation"]
    assert measures["accuracy-floor"].constraint == Constraint(">=", 0.70)
    assert measures["population-stability"].post_market
    assert measures["population-stability"].frequency == "P1M"
    assert measures["decline-review-rate"].evaluation == "manual"
    assert manifest.risk.review_interval == "P6M"
    assert manifest.approval.roles_required and manifest.approval.expires == "P30D"
    assert manifest.claims == ["claims/*.prml.yaml"]


def test_loan_manifest_inputs_from_its_dvc_yaml() -> None:
    inputs = load_manifest(LOAN).resolved_inputs(LOAN)
    assert "sei.yaml" in inputs.criteria and "claims/*.prml.yaml" in inputs.criteria
    assert {"featurize.py", "train.py", "compliance_eval.py", "params.yaml"} <= set(
        inputs.treatment
    )
    assert "data/credit.csv" in inputs.data
    # features/ is written by featurize: an output is never a watched input
    assert not any(g.startswith("features") for g in inputs.data + inputs.treatment)


def test_venth_yaml_is_read_when_there_is_no_sei_yaml(tmp_path: Path) -> None:
    venth = edit("version: seid/1\n", "apiVersion: venturalitica.ai/v1alpha1\nkind: AISystem\n")
    (tmp_path / "venth.yaml").write_text(venth)
    manifest = load_manifest(tmp_path)
    assert manifest.path.name == "venth.yaml" and manifest.api_version is not None
    assert "venth.yaml" in manifest.resolved_inputs(tmp_path).criteria
    (tmp_path / "sei.yaml").write_text(EXAMPLE)
    assert load_manifest(tmp_path).path.name == "sei.yaml"


def test_find_root_walks_up_and_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "sei.yaml").write_text(EXAMPLE)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_root(deep) == tmp_path.resolve()
    bare = tmp_path.parent / f"{tmp_path.name}-bare"
    bare.mkdir()
    with pytest.raises(SeidError, match=r"no sei\.yaml or venth\.yaml"):
        find_root(bare)


# One case per reject category: (edit old, edit new, line, col, message fragment).
REJECTS = {
    "unknown key": (
        "name: credit",
        "nmae: credit",
        2,
        10,
        "unknown key 'nmae' (did you mean 'name'?)",
    ),
    "unknown top key": ("claims:", "claim:", 4, 1, "unknown key 'claim' (did you mean 'claims'?)"),
    "wrong type": (
        "title: Applicants excluded by protected attribute",
        "title: [a]",
        12,
        14,
        "risk.risks[0].title: expected a string, got a list",
    ),
    "key not a string": ("system: {", "system: {1: x, ", 2, 10, "system[1]: keys must be strings"),
    "wrong type bool": (
        "claims: [claims/*.prml.yaml]",
        "claims: [claims/*.prml.yaml]\napproval: {distinct_from_requester: 'no'}",
        5,
        37,
        "expected true or false",
    ),
    "duplicate risk id": (
        "  risks:\n",
        "  risks:\n    - {id: unfair-credit-exclusion, impact: {society: LOW}, likelihood: RARE}\n",
        12,
        11,
        "duplicate risk id 'unfair-credit-exclusion'",
    ),
    "duplicate measure id": (
        "{id: accuracy-floor",
        "{id: dp-gap",
        21,
        20,
        "duplicate measure id 'dp-gap'",
    ),
    "constraint does not parse": ('"< 0.03"', '"<< 0.03"', 20, 73, "'<< 0.03' does not parse"),
    "constraint not a string": (
        'constraint: ">= 0.70"',
        "constraint: 0.7",
        21,
        66,
        "constraint must be a string",
    ),
    "unknown level": (
        "individual: HIGH",
        "individual: HIHG",
        13,
        28,
        "unknown value 'HIHG'; expected one of VERY_LOW",
    ),
    "unknown likelihood": (
        "likelihood: LIKELY",
        "likelihood: likely",
        14,
        19,
        "(did you mean 'LIKELY'?)",
    ),
    "non-finite threshold": ('"< 0.03"', '"< 1e999"', 20, 73, "not finite"),
    "non-finite number": (
        "enforcement: gate,",
        "enforcement: gate, metric_threshold: .nan,",
        20,
        136,
        "finite number",
    ),
    "addressed_by unknown risk": (
        "system: {",
        "system: {potential_misuses: [{id: m1, addressed_by: [unfair-exclusion]}], ",
        2,
        54,
        "no risk with id 'unfair-exclusion' (did you mean 'unfair-credit-exclusion'?)",
    ),
    "absolute path": ("metrics: metrics.json", "metrics: /etc/passwd", 3, 32, "is absolute"),
    "path traversal": (
        "claims/*.prml.yaml",
        "../claims/*.prml.yaml",
        4,
        10,
        "leaves the repository",
    ),
    "no appetite for dimension": (
        "society: HIGH}",
        "sociey: HIGH}",
        13,
        34,
        "no appetite for dimension 'sociey'",
    ),
    "residual above inherent": (
        "residual_likelihood: UNLIKELY",
        "residual_likelihood: ALMOST_CERTAIN",
        18,
        32,
        "is above the risk's likelihood",
    ),
    "bad duration": (
        "review_interval: P6M",
        "review_interval: 6 months",
        9,
        20,
        "not an ISO 8601 duration",
    ),
    "command without argv": ("tool: dvc", "tool: command", 3, 18, "tool 'command' needs 'command'"),
    "missing header": ("version: seid/1\n", "", 1, 1, "missing header"),
    "duplicate yaml key": (
        "  review_interval: P6M\n",
        "  review_interval: P6M\n  review_interval: P1Y\n",
        10,
        3,
        "duplicate key 'review_interval'",
    ),
    "anchor": ("appetite: {", "appetite: &a {", 6, 13, "anchors are not allowed"),
    "tag": ("name: credit-scorer", "name: !!str credit-scorer", 2, 16, "tags are not allowed"),
    "not a mapping": (EXAMPLE, "- a\n- b\n", 1, 1, "a manifest is a mapping"),
    "not an identifier": (
        "id: unfair-credit-exclusion",
        "id: unfair credit exclusion",
        11,
        11,
        "'unfair credit exclusion' is not an identifier",
    ),
    "escaped control character": (
        "tool: dvc",
        'tool: command, command: [python, "train.py\\0"]',
        3,
        45,
        "pipeline.command[1]: forbidden control character U+0000",
    ),
    "control character": ("credit-scorer", "credit\x07scorer", 2, 22, "U+0007"),
}


@pytest.mark.parametrize("case", sorted(REJECTS))
def test_reject_is_placed(case: str) -> None:
    old, new, line, col, fragment = REJECTS[case]
    with pytest.raises(InputError) as caught:
        load_manifest_text(edit(old, new), "sei.yaml")
    assert str(caught.value).startswith(f"sei.yaml:{line}:{col}: "), str(caught.value)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("case", ["unknown key", "duplicate measure id", "anchor"])
def test_reject_through_the_cli(case: str, seid: SeidRunner, tmp_path: Path) -> None:
    old, new, line, col, fragment = REJECTS[case]
    (tmp_path / "sei.yaml").write_text(edit(old, new))
    result = seid("analyze", cwd=tmp_path)
    assert_one_line_error(result, f"sei.yaml:{line}:{col}: ", fragment)


def test_oversized_and_non_utf8_files_through_the_cli(seid: SeidRunner, tmp_path: Path) -> None:
    (tmp_path / "sei.yaml").write_text(EXAMPLE + "#" * (1 << 20))
    assert_one_line_error(seid("analyze", cwd=tmp_path), "sei.yaml: file is larger than")
    (tmp_path / "sei.yaml").write_bytes(EXAMPLE.encode().replace(b"credit-scorer", b"cr\xe9dit"))
    assert_one_line_error(seid("analyze", cwd=tmp_path), "sei.yaml:2:18: not valid UTF-8")


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n", "\n\n", "42\n"])
def test_an_empty_or_scalar_document_is_placed(text: str) -> None:
    with pytest.raises(InputError, match=r"^sei\.yaml:1:1: a manifest is a mapping"):
        load_manifest_text(text, "sei.yaml")


def test_the_earliest_error_is_the_one_reported() -> None:
    text = edit("likelihood: LIKELY", "likelihood: NEVER", edit("name: credit", "nam: credit"))
    with pytest.raises(InputError, match=r"^sei\.yaml:2:10: system\.nam: unknown key"):
        load_manifest_text(text, "sei.yaml")


def test_header_forms() -> None:
    both = edit("version: seid/1\n", "version: seid/1\napiVersion: venturalitica.ai/v1alpha1\n")
    with pytest.raises(InputError, match=r"^sei\.yaml:2:1: .*not both"):
        load_manifest_text(both, "sei.yaml")
    no_kind = edit("version: seid/1\n", "apiVersion: venturalitica.ai/v1alpha1\n")
    with pytest.raises(InputError, match=r"^sei\.yaml:1:1: .*needs 'kind: AISystem'"):
        load_manifest_text(no_kind, "sei.yaml")
    bad = edit("version: seid/1", "version: seid/2")
    with pytest.raises(InputError, match=r"^sei\.yaml:1:10: version: unknown value 'seid/2'"):
        load_manifest_text(bad, "sei.yaml")


def test_manifest_built_in_memory_gets_the_same_checks() -> None:
    data = yaml.safe_load(edit("{id: accuracy-floor", "{id: dp-gap"))
    with pytest.raises(ValidationError, match="duplicate measure id 'dp-gap'"):
        Manifest.model_validate(data)
    manifest = Manifest.model_validate(yaml.safe_load(EXAMPLE))
    with pytest.raises(ValidationError):
        manifest.system = manifest.system  # type: ignore[misc]  # frozen


def test_own_criteria_matrix_and_bands_are_validated() -> None:
    matrix = edit("{scale: 5x5}", "{scale: 5x5, matrix: {LIKELY: {HIGH: MEDIUM}}}")
    criteria = load_manifest_text(matrix, "sei.yaml").risk.criteria
    assert criteria.matrix == {Likelihood.LIKELY: {Level.HIGH: Level.MEDIUM}}
    bands = edit("{scale: 5x5}", "{scale: 5x5, bands: {LOW: 6, HIGH: 4, VERY_HIGH: 25}}")
    with pytest.raises(InputError, match=r"^sei\.yaml:7:48: .*band HIGH ends at 4"):
        load_manifest_text(bands, "sei.yaml")
    short = edit("{scale: 5x5}", "{scale: 5x5, bands: {LOW: 6, HIGH: 20}}")
    with pytest.raises(InputError, match="highest band must end at score 25"):
        load_manifest_text(short, "sei.yaml")
    with pytest.raises(
        InputError, match=r"sei\.yaml:7:21: risk\.criteria\.scale: unknown value '3x3'"
    ):
        load_manifest_text(edit("{scale: 5x5}", "{scale: 3x3}"), "sei.yaml")


@pytest.mark.parametrize(
    ("text", "comparator", "threshold"),
    [("< 0.03", "<", 0.03), (">=0.7", ">=", 0.7), ("== 1.0", "==", 1.0), (" > 0 ", ">", 0.0),
     ("<= -1e-3", "<=", -0.001)],
)  # fmt: skip
def test_constraint_parses(text: str, comparator: str, threshold: float) -> None:
    assert Constraint.parse(text) == Constraint(comparator, threshold)


@pytest.mark.parametrize("text", ["< nan", "<", "0.03", "=> 1", "< 1 2", "!= 1", "< inf", "<٣"])
def test_constraint_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="constraint"):
        Constraint.parse(text)


def test_constraint_equality_has_a_tolerance_and_nan_never_holds() -> None:
    assert Constraint.parse("== 1.0").holds(1.0 + 1e-12)
    assert not Constraint.parse("== 1.0").holds(1.001)
    assert not Constraint.parse("< 0.03").holds(math.nan)
    assert str(Constraint.parse(">= 0.70")) == ">= 0.7"


DVC_YAML = """\
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [data/raw, src/prepare.py, ext.csv, data/train/x.csv, code]
    params: [prepare]
    outs: [data/prepared]
  train:
    foreach: [a, b]
    do:
      cmd: python train.py ${item}
      deps:
        - data/prepared
        - train.py
        - conf/${item}.csv
        - notebooks/explore.ipynb
      params:
        - conf/train.yaml: [lr]
      outs:
        - model/${item}.pkl
      metrics:
        - metrics.json: {cache: false}
"""


def test_inputs_derived_from_a_real_dvc_yaml(tmp_path: Path) -> None:
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "sei.yaml").write_text(EXAMPLE)
    inputs = load_manifest(tmp_path).resolved_inputs(tmp_path)
    assert inputs.criteria[:2] == ["sei.yaml", "claims/*.prml.yaml"]
    assert "**/*.prml.yaml" in inputs.criteria
    assert inputs.treatment == [
        "params.yaml",
        "dvc.yaml",
        "src/prepare.py",
        "code",
        "conf/train.yaml",
        "train.py",
        "notebooks/explore.ipynb",
    ]
    assert inputs.data == [
        "**/*.dvc",
        "**/*.croissant.json",
        "data/raw/**",
        "ext.csv",
        "data/train/x.csv",  # a data folder named train is still data
        "conf/*.csv",  # ${item} templates become globs
    ]


def test_inputs_for_the_other_tools(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print(1)\n")
    mlflow = edit("tool: dvc", "tool: mlflow, entry: train.py")
    got = load_manifest_text(mlflow, "sei.yaml").resolved_inputs(tmp_path)
    assert got.treatment == ["params.yaml", "MLproject", "train.py"]
    dagster = edit("tool: dvc", "tool: dagster, definitions: defs/definitions.py")
    got = load_manifest_text(dagster, "sei.yaml").resolved_inputs(tmp_path)
    assert got.treatment == ["params.yaml", "defs/definitions.py"]
    command = edit("tool: dvc", "tool: command, command: [python, train.py, --out, x.py]")
    manifest = load_manifest_text(command, "sei.yaml")
    assert manifest.pipeline.command == ["python", "train.py", "--out", "x.py"]
    assert manifest.resolved_inputs(tmp_path).treatment == ["params.yaml", "train.py"]


def test_given_inputs_win_but_the_manifest_stays_criteria(tmp_path: Path) -> None:
    text = EXAMPLE + "inputs: {treatment: [src/**], data: [data/**]}\n"
    inputs = load_manifest_text(text, "sei.yaml").resolved_inputs(tmp_path)
    assert inputs == InputClasses(
        criteria=["sei.yaml", "claims/*.prml.yaml", "**/*.prml.yaml", "**/prml.yaml"],
        treatment=["src/**"],
        data=["data/**"],
    )
    with pytest.raises(InputError, match=r"sei\.yaml:22:17: inputs\.data\[0\]: .*absolute"):
        load_manifest_text(EXAMPLE + "inputs: {data: [/data]}\n", "sei.yaml")


def test_a_broken_dvc_yaml_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages:\n  a: [\n")
    manifest = load_manifest_text(EXAMPLE, "sei.yaml")
    with pytest.raises(InputError, match=r"^dvc\.yaml:3:1: invalid YAML"):
        manifest.resolved_inputs(tmp_path)


def test_copied_loan_scenario_loads_from_a_subdirectory(tmp_path: Path) -> None:
    shutil.copytree(LOAN, tmp_path / "loan")
    (tmp_path / "loan" / "claims" / "deep").mkdir()
    root = find_root(tmp_path / "loan" / "claims" / "deep")
    assert (
        load_manifest(root).manifest_digest
        == hashlib.sha256((LOAN / "sei.yaml").read_bytes()).hexdigest()
    )


# --- fuzz: every input loads or is an InputError placed at path:line -----------------

_VOCABULARY = [
    "id",
    "risk",
    "risks",
    "impact",
    "likelihood",
    "constraint",
    "treat",
    "measures",
    "pipeline",
    "tool",
    "appetite",
    "system",
    "name",
    "HIGH",
    "LIKELY",
    "x",
    "",
    "addressed_by",
    "inputs",
    "claims",
    "version",
    "criteria",
    "matrix",
    "bands",
]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.sampled_from([*_VOCABULARY, "< 0.03", "P6M", "/abs", "../up", "MEDIUM", "seid/1"]),
    st.text(max_size=8),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_VOCABULARY) | st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_BASE = yaml.safe_load(EXAMPLE)


def _paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


_TREE_PATHS = _paths(_BASE)


@st.composite
def _structural(draw: st.DrawFn) -> str:
    document = copy.deepcopy(_BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_TREE_PATHS))
        parent: object = document
        for part in path[:-1]:
            try:
                parent = parent[part]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                break
        action = draw(st.sampled_from(["set", "delete", "add"]))
        if not path:
            continue
        last = path[-1]
        if isinstance(parent, dict):
            if action == "delete":
                parent.pop(last, None)
            elif action == "add":
                parent[draw(st.sampled_from(_VOCABULARY))] = draw(_VALUES)
            else:
                parent[last] = draw(_VALUES)
        elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
            if action == "delete":
                del parent[last]
            else:
                parent[last] = draw(_VALUES)
    style = draw(st.sampled_from(["block", "flow", "json"]))
    if style == "json":  # JSON is YAML too, and cheap to write
        return json.dumps(document, default=str)
    flow = style == "flow"
    return yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True, sort_keys=False)


@st.composite
def _textual(draw: st.DrawFn) -> str:
    text = EXAMPLE
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        end = at + draw(st.integers(0, 6) | st.integers(0, len(text)))
        piece = draw(st.text(alphabet=":-[]{}\n #&*!|>'\",.0123456789abcXYZ\t\\é", max_size=6))
        text = text[:at] + piece + text[end:]
    return text


def _loads_or_is_placed(text: str) -> None:
    try:
        load_manifest_text(text, "sei.yaml")
    except InputError as exc:
        message = str(exc)
        assert message.startswith("sei.yaml:"), message
        assert message.split(":")[1].isdigit(), message
        assert "\n" not in message


# 1,000 examples in all, split in two so that pytest-xdist runs the halves side by side.
_FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))


@_FUZZ
@given(_structural())
def test_fuzz_structural_edits_load_or_are_placed(text: str) -> None:
    _loads_or_is_placed(text)


@_FUZZ
@given(_textual())
def test_fuzz_text_edits_load_or_are_placed(text: str) -> None:
    _loads_or_is_placed(text)


def test_odd_keys_and_values_stay_on_one_line() -> None:
    for old, new in [
        ("system: {", 'system: {"a\\nb": 1, '),
        ("review_interval: P6M", 'review_interval: "6\\nmonths"'),
        ("id: dp-gap", 'id: "dp\\ngap"'),
    ]:
        with pytest.raises(InputError) as caught:
            load_manifest_text(edit(old, new), "sei.yaml")
        assert "\n" not in str(caught.value), str(caught.value)


# A manifest as teams write it for the sei engine: a post-market measure with the
# engine's monitoring fields, and fields of the engine's that seid has no use for.
SEI_ENGINE = """\
apiVersion: venturalitica.ai/v1alpha1
kind: AISystem
system: {name: credit-scorer, owner_team: risk-analytics}
pipeline: {tool: dvc, metrics: metrics.json}
risk:
  appetite: {individual: MEDIUM}
  overall_residual_criterion: MEDIUM
  risks:
    - id: drift-harm
      impact: {individual: HIGH}
      likelihood: LIKELY
      dpia_reference: DPIA-2024-07
      treat:
        - method: REDUCE
          controls: [monitoring-dashboard]
          measures:
            - id: psi
              metric: population_stability
              constraint: "< 0.25"
              lifecycle: [monitoring]
              trigger: scheduled
              frequency: P1M
              metric_threshold: "< 0.03"
              art72_citation: "Art. 72(2)"
              article: "72"
              standard_clauses: ["ISO/IEC 23894:2023 6.6"]
              inputs: {reference: data/reference.csv}
              dashboard_url: https://grafana.example/d/psi
"""


def test_a_sei_engine_manifest_reads_every_field_and_warns_on_the_rest(tmp_path: Path) -> None:
    (tmp_path / "venth.yaml").write_text(SEI_ENGINE)
    manifest = load_manifest(tmp_path)
    (_, measure), *_ = manifest.iter_measures()
    assert measure.metric_threshold == Constraint("<", 0.03)
    assert measure.frequency == "P1M" and measure.trigger == "scheduled"
    assert measure.art72_citation == "Art. 72(2)" and measure.post_market
    assert [w.split(": warning: ")[0] for w in manifest.warnings] == [
        f"{tmp_path}/venth.yaml:3:31",
        f"{tmp_path}/venth.yaml:12:7",
        f"{tmp_path}/venth.yaml:28:15",
    ]
    assert manifest.warnings[0].endswith("system.owner_team: not a field seid uses; ignored")


def test_metric_threshold_is_a_number_or_a_constraint() -> None:
    number = load_manifest_text(SEI_ENGINE.replace('"< 0.03"', "0.03"), "sei.yaml")
    (_, measure), *_ = number.iter_measures()
    assert measure.metric_threshold == 0.03
    with pytest.raises(InputError, match=r"sei\.yaml:23:33: .*metric_threshold.*finite number"):
        load_manifest_text(SEI_ENGINE.replace('"< 0.03"', "[0.03]"), "sei.yaml")


def test_a_field_seid_uses_with_a_wrong_value_stays_an_error_in_sei_vocabulary() -> None:
    with pytest.raises(InputError, match=r"sei\.yaml:22:26: .*frequency"):
        load_manifest_text(SEI_ENGINE.replace("P1M", "monthly"), "sei.yaml")


def test_a_seid_1_manifest_still_refuses_an_unknown_key() -> None:
    text = SEI_ENGINE.replace("apiVersion: venturalitica.ai/v1alpha1\nkind: AISystem\n", "")
    with pytest.raises(
        InputError, match=r"sei\.yaml:2:31: system\.owner_team: unknown key 'owner_team'"
    ):
        load_manifest_text("version: seid/1\n" + text, "sei.yaml")


def test_the_cli_prints_each_warning_once_and_succeeds(seid: SeidRunner, tmp_path: Path) -> None:
    (tmp_path / "venth.yaml").write_text(SEI_ENGINE)
    result = seid("analyze", cwd=tmp_path)
    assert result.code == 0, result.err
    lines = result.err.splitlines()
    assert sum("not a field seid uses" in line for line in lines) == 3
    assert "venth.yaml:28:15: warning: risk.risks[0].treat[0].measures[0].dashboard_url" in (
        result.err
    )


def test_a_huge_integer_in_the_manifest_is_one_line(seid: SeidRunner, tmp_path: Path) -> None:
    huge = EXAMPLE.replace("system: {", "system: {x: " + "9" * 5000 + ", ", 1)
    (tmp_path / "sei.yaml").write_text(huge)
    result = seid("status", cwd=tmp_path)
    assert_one_line_error(result, "sei.yaml:2:13: integer too long: 5000 characters")


@pytest.mark.parametrize(
    "text", ["< " + "1" * 40_000 + "x", "<" + " " * 24_000 + "1", "< 1." + "0" * 70]
)
def test_a_long_constraint_is_refused_with_its_value_cut(text: str) -> None:
    """A 40,000-digit constraint took 46 s to refuse (and held the daemon): the length is
    bounded before the pattern runs, and the error quotes only the value's start."""
    with pytest.raises(ValueError, match="longer than 64 characters") as err:
        Constraint.parse(text)
    assert len(str(err.value)) < 120


def test_a_long_constraint_in_the_manifest_is_one_short_line(
    seid: SeidRunner, tmp_path: Path
) -> None:
    (tmp_path / "sei.yaml").write_text(EXAMPLE.replace('"< 0.03"', '"< ' + "3" * 40_000 + '"'))
    result = seid("analyze", cwd=tmp_path)
    assert_one_line_error(result, "sei.yaml:", "longer than 64 characters")
    assert len(result.err) < 300


@pytest.mark.parametrize(
    ("plan", "fragment"),
    [
        (".sei/ledger/0123456789abcdef/log", "inside .sei/"),
        (".git/HEAD", "inside .git/"),
        ("out/plan.yaml", "leads out of the repository"),  # out/ is a symlink to outside
        ("sei.yaml", "would replace the manifest"),
    ],
)
def test_a_plan_path_that_would_overwrite_what_seid_guards_is_placed(
    seid: SeidRunner, tmp_path: Path, plan: str, fragment: str
) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    repo.mkdir()
    outside.mkdir()
    (repo / "out").symlink_to(outside)
    (repo / ".git").mkdir()
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    text = EXAMPLE.replace("claims:", f"oscal: {{assessment_plan: {plan}}}\nclaims:")
    (repo / "sei.yaml").write_text(text)
    result = seid("compile", cwd=repo)
    assert_one_line_error(result, "sei.yaml:4:26: oscal.assessment_plan: ", fragment)
    assert (repo / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert list(outside.iterdir()) == [] and (repo / "sei.yaml").read_text() == text


def test_another_evidence_dir_is_refused_at_its_place() -> None:
    text = EXAMPLE.replace("claims:", "evidence: {dir: evidence/}\nclaims:")
    with pytest.raises(
        InputError,
        match=r"sei\.yaml:4:17: evidence\.dir: unknown value .evidence/.; expected one of \.sei/",
    ):
        load_manifest_text(text, "sei.yaml")
