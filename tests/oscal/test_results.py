"""``seid run --oscal-results``: the attested run as OSCAL assessment results, read back
with compliance-trestle's own models."""

from __future__ import annotations

import json
from pathlib import Path

from trestle.oscal.assessment_results import AssessmentResults

from seid import keys
from seid.config import load_manifest
from seid.oscal.results import RunOutcome, write_results
from seid.run import run
from tests.conftest import SeidRunner, git
from tests.oscal.trestle import same_as_trestle


def _read(path: Path) -> AssessmentResults:
    same_as_trestle(path.read_bytes(), "assessment-results")
    doc = AssessmentResults.oscal_read(path)
    assert isinstance(doc, AssessmentResults)
    return doc


def test_failing_run_is_a_not_satisfied_finding(command_project: tuple[Path, Path]) -> None:
    repo, key = command_project
    report = run(repo, keys.load_signer(key), force=True, echo=False, oscal_results=True)
    assert report.gate == "fail" and report.oscal_results is not None
    path = report.oscal_results
    assert path == repo / "assessment_results.oscal.yaml"
    assert (repo / "assessment_plan.oscal.yaml").is_file()  # compiled so the link holds
    doc = _read(path)
    assert doc.import_ap.href == "assessment_plan.oscal.yaml"
    (result,) = doc.results
    assert result.findings is not None and result.observations is not None
    (finding,) = result.findings
    assert finding.target.target_id == "r1"
    assert finding.target.status is not None
    assert finding.target.status.state.value == "not-satisfied"
    props = {p.name: p.value for p in doc.metadata.props or []}
    assert report.attestation is not None
    assert props["ledger-index"] == str(report.attestation.index)
    assert props["entry-sha256"] == report.attestation.entry_sha256
    by_measure = {
        next(p.value for p in o.props or [] if p.name == "measure-id"): o
        for o in result.observations
    }
    assert set(by_measure) == {"gap", "acc"}
    gap = {p.name: p.value for p in by_measure["gap"].props or []}
    assert (gap["verdict"], gap["observed"]) == ("fail", "0.05")
    related = {r.observation_uuid for r in finding.related_observations or []}
    assert related == {o.uuid for o in result.observations}


def test_passing_run_satisfies_and_rewrites_deterministically(
    command_project: tuple[Path, Path],
) -> None:
    repo, key = command_project
    (repo / "params.json").write_text('{"gap": 0.01}')
    git(repo, "commit", "-qam", "treat")
    report = run(repo, keys.load_signer(key), force=True, echo=False, oscal_results=True)
    assert report.gate == "pass" and report.oscal_results is not None
    first = report.oscal_results.read_bytes()
    (finding,) = _read(report.oscal_results).results[0].findings or []
    assert finding.target.status is not None
    assert finding.target.status.state.value == "satisfied"
    assert report.result is not None and report.assessment is not None
    assert report.attestation is not None
    outcome = RunOutcome(
        report.assessment,
        "pass",
        report.result.started,
        report.result.finished,
        report.attestation.log_id,
        report.attestation.index,
        report.attestation.entry_sha256,
    )
    assert write_results(repo, load_manifest(repo), outcome).read_bytes() == first


def test_cli_flag_reports_the_document(
    command_project: tuple[Path, Path], seid: SeidRunner
) -> None:
    repo, key = command_project
    out = seid("run", "--force", "--json", "--oscal-results", "--key", key, cwd=repo)
    assert out.code == 1, out.err
    doc = json.loads(out.out)
    assert Path(doc["oscal_results"]).name == "assessment_results.oscal.yaml"
    without = seid("run", "--force", "--json", "--key", key, cwd=repo)
    assert "oscal_results" not in json.loads(without.out)
