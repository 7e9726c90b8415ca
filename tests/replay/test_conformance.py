"""Conformance per standard clause: counts follow the manifest's citations, ISO/IEC 23894
is always there, and each file is schema-valid and signed like the report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from seid import evidence, keys
from seid.replay import conformance, report
from seid.replay.schema import CONFORMANCE_FILE, load_schema
from tests.conftest import SeidRunner
from tests.replay.conftest import Repo, make_doc, manifest, verdict
from tests.replay.schema import problems

CITED = """\
version: seid/1
system: {name: demo}
pipeline: {tool: command, command: [python, train.py]}
inputs:
  treatment: [train.py]
  data: [data/**]
risk:
  appetite: {individual: MEDIUM}
  overall_residual_criterion: HIGH
  review_interval: P6M
  risks:
    - id: unfair
      impact: {individual: HIGH}
      likelihood: LIKELY
      treat:
        - method: REDUCE
          residual_likelihood: UNLIKELY
          controls: ["iso/42001@2023#A.6.2.4", four-eyes review of declines]
          measures:
            - id: dp-gap
              metric: demographic_parity_diff
              constraint: "< 0.03"
              enforcement: gate
              article: "EU AI Act Art. 10(2)(f)"
              standard_clauses: ["iso/23894@2023#6.4.4", "eu/ai-act@2024#art-72"]
            - id: reviewed
              metric: reviewed_fraction
              constraint: ">= 1.0"
              evaluation: manual
              standard_clauses: ["ISO/IEC 23894:2023 6.5"]
"""


@pytest.mark.parametrize(
    ("text", "standard", "clause"),
    [
        ("iso/23894@2023#6.4.4", "iso-iec-23894", "6.4.4"),
        ("ISO/IEC 23894:2023 6.4.4", "iso-iec-23894", "6.4.4"),
        ("ISO/IEC 42001:2023 clause A.6.2.4", "iso-iec-42001", "A.6.2.4"),
        ("eu/ai-act@2024#art-72", "eu-ai-act", "Art. 72"),
        ("EU AI Act Art. 10(2)(f)", "eu-ai-act", "Art. 10(2)(f)"),
        ("EU AI Act Article 14", "eu-ai-act", "Art. 14"),
        ("nist/ai-rmf@1.0#MAP-1.1", "nist-ai-rmf", "MAP-1.1"),
    ],
)
def test_a_citation_names_its_standard_and_clause(text: str, standard: str, clause: str) -> None:
    found = conformance.cite(text)
    assert found is not None and (found.standard, found.clause) == (standard, clause)


@pytest.mark.parametrize("text", ["four-eyes review of declines", "retrain every 3", ""])
def test_free_text_is_no_citation(text: str) -> None:
    assert conformance.cite(text) is None


def _tables(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tables = conformance.build(doc, "0" * 64)
    for table in tables.values():
        assert problems(table, load_schema(CONFORMANCE_FILE)) == []
    return tables


def _status(table: dict[str, Any]) -> dict[str, str]:
    return {c["clause"]: c["status"] for c in table["clauses"]}


def test_counts_follow_the_cited_clauses(hist: Repo, tmp_path: Path) -> None:
    hist.key(tmp_path)
    first = hist.commit({"sei.yaml": CITED, "train.py": "v1"})
    hist.bundle(first, [verdict(0.01, "pass")])
    tables = _tables(make_doc(hist))
    assert sorted(tables) == ["eu-ai-act", "iso-iec-23894", "iso-iec-42001"]
    iso = tables["iso-iec-23894"]
    assert [c["clause"] for c in iso["clauses"]] == list(conformance.CYCLE)
    by_clause = {c["clause"]: c for c in iso["clauses"]}
    assert [m["measure"] for m in by_clause["6.4.4"]["measures"]] == ["dp-gap"]
    assert by_clause["6.4.4"]["status"] == "evidenced"  # dp-gap passes in a verified bundle
    assert [m["measure"] for m in by_clause["6.5"]["measures"]] == ["reviewed"]
    assert sum(len(c["measures"]) for c in iso["clauses"]) == 2  # two citations of 23894
    eu = tables["eu-ai-act"]
    assert _status(eu) == {"Art. 10(2)(f)": "evidenced", "Art. 72": "evidenced"}
    assert eu["summary"] == {
        "clauses": 2,
        "evidenced": 2,
        "declared": 0,
        "failing": 0,
        "not-addressed": 0,
    }
    # A control citing a clause: each measure of its treatment addresses it.
    [control] = tables["iso-iec-42001"]["clauses"]
    assert control["clause"] == "A.6.2.4" and len(control["measures"]) == 2
    assert control["status"] == "evidenced"


def test_a_failing_verdict_or_a_finding_fails_the_clause(hist: Repo, tmp_path: Path) -> None:
    hist.key(tmp_path)
    first = hist.commit({"sei.yaml": CITED, "train.py": "v1"})
    hist.bundle(first, [verdict(0.05, "fail")])
    relaxed = CITED.replace('"< 0.03"', '"< 0.06"')
    hist.commit({"sei.yaml": relaxed}, "relax after a failing verdict")
    doc = make_doc(hist)
    tables = _tables(doc)
    iso = _status(tables["iso-iec-23894"])
    assert iso["6.3"] == "failing"  # moved goalposts
    assert "moved-goalposts" in {f["kind"] for f in doc["findings"]}
    # dp-gap's only verdict fails, judged by the criteria in force at its commit
    assert _status(tables["eu-ai-act"]) == {"Art. 10(2)(f)": "failing", "Art. 72": "failing"}
    assert iso["6.4.4"] == "failing" and tables["eu-ai-act"]["summary"]["failing"] == 2


def test_a_manifest_citing_nothing_still_gets_the_23894_table(hist: Repo) -> None:
    hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    tables = _tables(make_doc(hist))
    assert list(tables) == ["iso-iec-23894"]
    table = tables["iso-iec-23894"]
    assert [c["clause"] for c in table["clauses"]] == list(conformance.CYCLE)
    assert all(c["measures"] == [] for c in table["clauses"])
    status = _status(table)
    assert status["6.4.2"] == "declared"  # the manifest names the risk: git history only
    assert status["6.4.3"] == "not-addressed"  # no bundle measured anything
    assert table["summary"]["clauses"] == 8


def test_reconstruct_writes_each_standard_signed_beside_the_report(
    hist: Repo, seid: SeidRunner, tmp_path: Path
) -> None:
    hist.key(tmp_path)
    first = hist.commit({"sei.yaml": CITED, "train.py": "v1"})
    hist.bundle(first, [verdict(0.01, "pass")])
    made = keys.generate(tmp_path / "auditor", "auditor")
    out = tmp_path / "audit"
    result = seid("reconstruct", "--out", out, "--key", made.private_path, cwd=hist.path)
    assert result.code == 0, result.err
    data = (out / "reconstruct.json").read_bytes()
    signer = keys.load_signer(made.private_path)
    trusted = {signer.public_key.keyid: signer.public_key}
    written = sorted(p.name for p in (out / "conformance").iterdir())
    assert written == [
        f"{slug}.json{suffix}"
        for slug in ("eu-ai-act", "iso-iec-23894", "iso-iec-42001")
        for suffix in ("", ".sig")
    ]
    for slug in ("eu-ai-act", "iso-iec-23894", "iso-iec-42001"):
        raw = (out / "conformance" / f"{slug}.json").read_bytes()
        table = json.loads(raw)
        assert problems(table, load_schema(CONFORMANCE_FILE)) == []
        assert table["report"]["reconstruct_sha256"] == hashlib.sha256(data).hexdigest()
        envelope = (out / "conformance" / f"{slug}.json.sig").read_bytes()
        statement = evidence.verify(envelope, trusted).statement
        assert statement["predicateType"] == conformance.SCHEMA_ID
        [subject] = statement["subject"]
        assert subject["name"] == f"conformance/{slug}.json"
        assert subject["digest"]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert json.loads(data)["schema"] == report.SCHEMA_ID
