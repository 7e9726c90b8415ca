"""The report document: schema-valid, signed as evidence, rendered safely."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from seid import evidence, keys
from seid.replay import report
from seid.replay.cycle import build
from seid.replay.findings import find
from seid.replay.history import walk
from seid.replay.join import join
from seid.replay.schema import SchemaError, load_schema, problems
from tests.replay.conftest import Repo, every_finding

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def make_doc(hist: Repo) -> dict[str, Any]:
    history = walk(hist.path)
    found = join(hist.path)
    cycles = build(history, found, NOW)
    scope = report.Scope(history.commits[-1].sha, None, None, NOW)
    return report.document(scope, history, found, cycles, find(history, found, cycles))


@pytest.fixture
def doc(hist: Repo, tmp_path: Path) -> dict[str, Any]:
    every_finding(hist, tmp_path)
    return make_doc(hist)


def test_the_document_matches_its_schema(doc: dict[str, Any]) -> None:
    assert problems(doc) == []
    assert doc["schema"] == load_schema()["$id"] == report.SCHEMA_ID
    assert doc["summary"]["findings"] == len(doc["findings"]) > 0
    unfair = next(r for r in doc["risks"] if r["risk_id"] == "unfair")
    assert unfair["identified_sha"] == doc["history"]["first"]
    assert unfair["provenance"] == "ledger"
    assert unfair["assessment"]["likelihood"] == "LIKELY"
    json.loads(report.to_json(doc))  # strict JSON: no NaN, UTF-8


def test_an_empty_history_matches_the_schema(hist: Repo) -> None:
    hist.commit({"README.md": "x"})
    doc = make_doc(hist)
    assert problems(doc) == [] and doc["risks"] == [] and doc["findings"] == []


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.pop("ledger"), "missing required 'ledger'"),
        (lambda d: d["history"].update(commits="3"), "/history/commits: expected integer"),
        (lambda d: d.update(extra=1), "/extra: not allowed"),
        (lambda d: d["findings"][0].update(kind="oops"), "/findings/0/kind"),
        (lambda d: d["findings"][0]["commits"].append("HEAD"), "does not match"),
        (lambda d: d["risks"][0].update(assessment=7), "oneOf"),
        (lambda d: d["summary"].update(high=-1), "below 0"),
        (lambda d: d["history"].update(merges=True), "expected integer"),
    ],
)
def test_the_checker_refuses_what_the_schema_forbids(
    doc: dict[str, Any], mutate: Any, fragment: str
) -> None:
    broken = copy.deepcopy(doc)
    mutate(broken)
    found = problems(broken)
    assert found and any(fragment in p for p in found), found


def test_the_checker_refuses_keywords_it_does_not_implement() -> None:
    with pytest.raises(SchemaError, match="unsupported"):
        problems({}, {"type": "object", "patternProperties": {}})
    with pytest.raises(SchemaError, match="local"):
        problems({}, {"$ref": "https://example.org/x"})


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


def test_write_atomic_replaces_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "out" / "r.json"
    report.write_atomic(target, b"one")
    report.write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]
