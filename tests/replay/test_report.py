"""The report document: schema-valid, signed as evidence, rendered safely."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seid import evidence, keys
from seid.replay import page, report
from seid.replay.cycle import build
from seid.replay.findings import ALL_KINDS, find
from seid.replay.history import History, walk
from seid.replay.join import Bundle, Evidence
from seid.replay.schema import CONFORMANCE_FILE, SCHEMA_FILE, load_schema
from tests.replay.conftest import NOW, Repo, make_doc, manifest
from tests.replay.schema import problems


def test_the_document_matches_its_schema(doc: dict[str, Any]) -> None:
    assert problems(doc) == []
    assert doc["schema"] == load_schema()["$id"] == report.SCHEMA_ID
    assert doc["summary"]["findings"] == len(doc["findings"]) > 0
    unfair = next(r for r in doc["risks"] if r["risk_id"] == "unfair")
    assert unfair["identified_sha"] == doc["history"]["first"]
    assert unfair["provenance"] == "ledger"
    assert unfair["assessment"]["likelihood"] == "LIKELY"
    json.loads(report.to_json(doc))  # strict JSON: no NaN, UTF-8


def test_json_is_compact_sorted_utf8_and_takes_any_string_or_integer() -> None:
    assert report.to_json({"b": "é", "a": [1.5, None]}) == '{"a":[1.5,null],"b":"é"}\n'.encode()
    # What the fast encoder refuses (a lone surrogate, a 70-bit integer) is still written.
    for odd in ({"s": "\ud800 <- lone", "n": 1}, {"n": 2**70}):
        data = report.to_json(odd)
        assert data.endswith(b"\n") and json.loads(data) == odd


def test_the_schema_knows_every_kind_of_finding_and_no_other() -> None:
    defs = load_schema()["$defs"]
    assert defs["finding"]["properties"]["kind"]["enum"] == list(ALL_KINDS)
    by_kind = load_schema()["properties"]["summary"]["properties"]["by_kind"]["properties"]
    assert list(by_kind) == list(ALL_KINDS)


def test_an_empty_history_matches_the_schema(hist: Repo) -> None:
    hist.commit({"README.md": "x"})
    doc = make_doc(hist)
    assert problems(doc) == [] and doc["risks"] == [] and doc["findings"] == []


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.pop("ledger"), "'ledger' is a required property"),
        (lambda d: d["history"].update(commits="3"), "/history/commits: '3' is not of type"),
        (lambda d: d.update(extra=1), "('extra' was unexpected)"),
        (lambda d: d["findings"][0].update(kind="oops"), "/findings/0/kind"),
        (lambda d: d["findings"][0]["commits"].append("HEAD"), "does not match"),
        (lambda d: d["risks"][0].update(assessment=7), "not valid under any"),
        (lambda d: d["summary"].update(high=-1), "less than the minimum of 0"),
        (lambda d: d["history"].update(merges=True), "True is not of type 'integer'"),
    ],
)
def test_the_checker_refuses_what_the_schema_forbids(
    doc: dict[str, Any], mutate: Any, fragment: str
) -> None:
    broken = copy.deepcopy(doc)
    mutate(broken)
    found = problems(broken)
    assert found and any(fragment in p for p in found), found


def test_the_schemas_are_valid_draft_2020_12() -> None:
    from jsonschema import Draft202012Validator

    for name in (SCHEMA_FILE, CONFORMANCE_FILE):
        Draft202012Validator.check_schema(load_schema(name))


def test_every_reference_in_the_schema_resolves() -> None:
    schema = load_schema()
    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            refs.extend([node["$ref"]] if "$ref" in node else [])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema)
    assert refs and all(r.removeprefix("#/$defs/") in schema["$defs"] for r in refs)


def test_the_signed_report_is_a_verifiable_dsse_statement(
    doc: dict[str, Any], tmp_path: Path
) -> None:
    made = keys.generate(tmp_path / "k", "auditor")
    signer = keys.load_signer(made.private_path)
    data = report.to_json(doc)
    envelope = report.sign_report(data, signer)
    verified = evidence.verify(envelope, {signer.public_key.keyid: signer.public_key})
    statement = verified.statement
    assert statement["predicateType"] == report.PREDICATE_TYPE
    [subject] = statement["subject"]
    assert subject["digest"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert statement["predicate"]["summary"] == doc["summary"]


def test_markdown_has_findings_and_cycle_and_escapes_commit_text(doc: dict[str, Any]) -> None:
    text = report.markdown(doc)
    assert "## Findings" in text and "## Risk unfair" in text
    for kind in ("unevidenced-change", "moved-goalposts", "gate-bypass", "claim-amended"):
        assert kind in text
    assert "### 6.5 Treatment" in text and "relaxed" in text
    doc["risks"][0]["criteria"][0]["author"] = "Eve | <script>x</script>"
    text = report.markdown(doc)
    assert "<script>" not in text and "Eve \\| \\<script\\>" in text


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.integers()
    | st.text(max_size=8)
    | st.just("\ud800 <b>|"),  # a lone surrogate is valid in signed JSON (as an escape)
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> History:
    base = tmp_path_factory.mktemp("small")
    hist = Repo(base)
    hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    hist.commit({"train.py": "v2"})
    hist.run("tag", "v1")
    hist.commit({"sei.yaml": manifest(constraint="< 0.06", extra_risk=True)})
    return walk(base)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_whatever_a_signed_bundle_says_the_report_holds(
    small_history: History, data: st.DataObject
) -> None:
    """Signed is not sane: any JSON in a verified bundle still yields a schema-valid report."""
    shas = [c.sha for c in small_history.commits]
    verdict_entry = st.fixed_dictionaries(
        {},
        optional={
            "risk": st.sampled_from(["unfair", "drift"]) | JSON,
            "measure": st.just("dp-gap") | JSON,
            "metric": JSON,
            "observed": st.floats(allow_nan=False) | JSON,
            "verdict": st.sampled_from(["pass", "fail", "inconclusive"]) | JSON,
            "constraint": JSON,
            "enforcement": st.just("gate") | JSON,
        },
    )
    number = st.floats() | JSON  # NaN and infinities too
    power = st.fixed_dictionaries(
        {}, optional={"ci_low": number, "ci_high": number, "ci_level": number}
    )
    metrics = st.dictionaries(
        st.sampled_from(["dp-gap", "demographic_parity_diff"]),
        st.fixed_dictionaries({"value": number}, optional={"power": power | JSON}) | JSON,
        max_size=2,
    )
    claim_entry = st.fixed_dictionaries(
        {},
        optional={k: JSON for k in ("path", "verdict", "locked", "reason")} | {"observed": number},
    )
    predicate = st.fixed_dictionaries(
        {
            "git": st.fixed_dictionaries({"commit": st.sampled_from(shas) | JSON}) | JSON,
            "verdicts": st.lists(verdict_entry, max_size=3) | JSON,
            "gate": st.sampled_from(["pass", "fail"]) | JSON,
            "pipeline": st.fixed_dictionaries({"started": st.text(max_size=25)}) | JSON,
        },
        optional={"claims": st.lists(claim_entry, max_size=2) | JSON, "metrics": metrics},
    )
    bundles = [
        Bundle("ab" * 8, i, "0" * 64, p)
        for i, p in enumerate(data.draw(st.lists(predicate, max_size=4)))
    ]
    found = Evidence(bundles=bundles)
    cycles = build(small_history, found, NOW)
    scope = report.Scope(shas[-1], None, None, NOW)
    doc = report.document(scope, small_history, found, cycles, find(small_history, found, cycles))
    assert problems(doc) == []
    report.to_json(doc)
    report.markdown(doc).encode("utf-8", "backslashreplace")
    page.html(doc).encode("utf-8", "backslashreplace")
