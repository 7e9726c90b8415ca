"""seid.oscal.plan: the risk program as an OSCAL assessment plan that trestle accepts."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seid.config import load_manifest, load_manifest_text
from seid.errors import SeidError
from seid.oscal.blocks import NAMESPACE
from seid.oscal.plan import EPOCH, CompileResult, SourceTime, build_plan, compile_plan
from seid.oscal.render import render
from tests.conftest import ROOT, git
from tests.oscal.trestle import same_as_trestle

LOAN = ROOT / "seid" / "scenarios" / "loan"
NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
MANIFEST_DATE = "2026-03-04T05:06:07+00:00"


def commit(repo: Path, env: dict[str, str], message: str, date: str = MANIFEST_DATE) -> None:
    git(repo, "add", "-A", env=env)
    dated = {**env, "GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date}
    git(repo, "commit", "-q", "-m", message, env=dated)


@pytest.fixture
def loan(repo: Path, env: dict[str, str]) -> Path:
    """The shipped loan manifest, committed in a fresh git repo."""
    shutil.copy(LOAN / "sei.yaml", repo / "sei.yaml")
    commit(repo, env, "risk program")
    return repo


def compiled(root: Path, out: Path | None = None) -> tuple[CompileResult, dict[str, Any]]:
    result = compile_plan(load_manifest(root), root, out)
    return result, yaml.safe_load(result.path.read_text("utf-8"))["assessment-plan"]


def props(node: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for prop in node.get("props", []):
        found.setdefault(prop["name"], []).append(prop["value"])
    return found


def tasks_by_measure(plan: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """measure id -> (market phase of its group, task)."""
    return {
        props(task)["measure-id"][0]: (props(group)["market-phase"][0], task)
        for group in plan["tasks"]
        for task in group["tasks"]
    }


def trestle_validate(plan_file: Path, workspace: Path) -> bool:
    """Load the file as trestle does and run every registered trestle validator."""
    import trestle.core.validator_factory as factory
    from trestle.common.model_utils import ModelUtils

    target = workspace / "assessment-plans" / "plan" / "assessment-plan.yaml"
    target.parent.mkdir(parents=True)
    shutil.copy(plan_file, target)
    _, _, model = ModelUtils.load_distributed(target, workspace)
    validator = factory.validator_factory.get(argparse.Namespace(mode="all"))
    return bool(validator.model_is_valid(model, True, workspace))


def test_plan_passes_trestle_validation(loan: Path, tmp_path: Path) -> None:
    result, _ = compiled(loan)
    assert result.path == loan / "assessment_plan.oscal.yaml"
    assert trestle_validate(result.path, tmp_path / "ws")


def test_trestle_validator_catches_a_broken_plan(loan: Path, tmp_path: Path) -> None:
    """The check above can fail: a duplicated uuid is refused by trestle."""
    result, plan = compiled(loan)
    text = result.path.read_text("utf-8")
    task_uuid = plan["tasks"][0]["tasks"][0]["uuid"]
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace(plan["uuid"], task_uuid), "utf-8")
    assert not trestle_validate(broken, tmp_path / "ws")


@pytest.mark.slow
def test_trestle_cli_validates_plan(loan: Path, tmp_path: Path) -> None:
    result, _ = compiled(loan)
    trestle = Path(sys.executable).with_name("trestle")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    subprocess.run([trestle, "init"], cwd=workspace, check=True, capture_output=True)
    target = workspace / "assessment-plans" / "loan" / "assessment-plan.yaml"
    target.parent.mkdir(parents=True)
    shutil.copy(result.path, target)
    proc = subprocess.run(
        [trestle, "validate", "-f", str(target.relative_to(workspace))],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "VALID: Model" in proc.stdout + proc.stderr


def test_same_manifest_gives_same_bytes(loan: Path) -> None:
    first, _ = compiled(loan)
    before = first.path.read_bytes()
    first.path.unlink()
    second, _ = compiled(loan)
    assert second.path.read_bytes() == before
    assert second.digest == first.digest
    assert second.timestamp == MANIFEST_DATE
    assert second.timestamp_source == "manifest-commit"
    assert not second.uncommitted


def test_uuids_are_uuid5_of_system_and_ids(loan: Path, env: dict[str, str]) -> None:
    first, plan = compiled(loan)
    space = uuid.uuid5(uuid.NAMESPACE_URL, NAMESPACE)
    assert plan["uuid"] == str(uuid.uuid5(space, "credit-scorer\x1fplan"))
    task = tasks_by_measure(plan)["dp-gap"][1]
    assert task["uuid"] == str(uuid.uuid5(space, "credit-scorer\x1fmeasure\x1fdp-gap"))
    # A moved threshold keeps every uuid but changes the plan; a renamed system moves all.
    manifest = loan / "sei.yaml"
    manifest.write_text(manifest.read_text("utf-8").replace('"< 0.03"', '"< 0.05"'), "utf-8")
    commit(loan, env, "loosen dp-gap")
    result, moved = compiled(loan)
    assert tasks_by_measure(moved)["dp-gap"][1]["uuid"] == task["uuid"]
    assert props(tasks_by_measure(moved)["dp-gap"][1])["threshold"] == ["0.05"]
    assert moved["uuid"] == plan["uuid"]
    assert result.digest != first.digest
    manifest.write_text(manifest.read_text("utf-8").replace("credit-scorer", "scorer-2"), "utf-8")
    _, renamed = compiled(loan)
    assert renamed["uuid"] != plan["uuid"]
    assert tasks_by_measure(renamed)["dp-gap"][1]["uuid"] != task["uuid"]


def test_measure_task_carries_its_criterion(loan: Path) -> None:
    result, plan = compiled(loan)
    assert result.tasks == 4
    phase, task = tasks_by_measure(plan)["dp-gap"]
    assert phase == "pre-market"
    assert task["type"] == "action"
    assert props(task) == {
        "risk-id": ["unfair-credit-exclusion"],
        "measure-id": ["dp-gap"],
        "metric": ["demographic_parity_diff"],
        "operator": ["<"],
        "threshold": ["0.03"],
        "severity": ["high"],
        "enforcement": ["gate"],
        "evaluation": ["automated"],
        "lifecycle-phase": ["validation"],
        "market-phase": ["pre-market"],
        "treatment-method": ["REDUCE"],
        "article": ["EU AI Act Art. 10(2)(f)"],
        "standard-clause": ["ISO/IEC 23894:2023 6.4.4"],
        "input": ["prediction=approved", "protected=sex"],
    }
    assert "associated-activities" not in task


def test_every_prop_is_namespaced_with_an_ncname(loan: Path) -> None:
    _, plan = compiled(loan)
    text = yaml.safe_dump(plan)
    found = list(_walk_props(plan))
    assert len(found) > 50
    for prop in found:
        assert NCNAME.fullmatch(prop["name"]), prop
        assert prop["ns"] == NAMESPACE
    assert "\n    value: ''" not in text


def _walk_props(node: Any) -> Any:
    if isinstance(node, dict):
        yield from node.get("props", [])
        for value in node.values():
            yield from _walk_props(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_props(item)


def test_manual_measure_is_a_declared_activity(loan: Path) -> None:
    result, plan = compiled(loan)
    activities = plan["local-definitions"]["activities"]
    assert result.activities == len(activities) == 1
    activity = activities[0]
    assert props(activity)["measure-id"] == ["decline-review-rate"]
    selected = activity["related-controls"]["control-selections"][0]["include-controls"]
    assert selected == [{"control-id": "automation-bias"}]
    by_measure = tasks_by_measure(plan)
    manual = by_measure["decline-review-rate"][1]
    assert [a["activity-uuid"] for a in manual["associated-activities"]] == [activity["uuid"]]
    assert props(manual)["evaluation"] == ["manual"]
    # Deployment + monitoring is not monitoring only: still a pre-market measure.
    assert by_measure["decline-review-rate"][0] == "pre-market"


def test_post_market_measures_are_listed_apart(loan: Path) -> None:
    result, plan = compiled(loan)
    groups = {props(group)["market-phase"][0]: group for group in plan["tasks"]}
    assert set(groups) == {"pre-market", "post-market"}
    post = [props(task)["measure-id"][0] for task in groups["post-market"]["tasks"]]
    pre = [props(task)["measure-id"][0] for task in groups["pre-market"]["tasks"]]
    assert post == ["population-stability"]
    assert pre == ["dp-gap", "accuracy-floor", "decline-review-rate"]
    assert (result.pre_market, result.post_market) == (3, 1)
    monthly = groups["post-market"]["tasks"][0]["timing"]["at-frequency"]
    assert monthly == {"period": 1, "unit": "months"}


def test_reviewed_controls_list_risks_with_their_analysis(loan: Path) -> None:
    _, plan = compiled(loan)
    reviewed = plan["reviewed-controls"]
    selected = reviewed["control-selections"][0]["include-controls"]
    assert [c["control-id"] for c in selected] == [
        "unfair-credit-exclusion",
        "performance-drift",
        "automation-bias",
    ]
    overall = props(reviewed)
    assert overall["overall-residual-criterion"] == ["MEDIUM"]
    assert overall["review-interval"] == ["P6M"]
    objectives = {o["control-id"]: o for o in plan["local-definitions"]["objectives-and-methods"]}
    unfair = objectives["unfair-credit-exclusion"]
    analysis = props(unfair)
    # LIKELY x HIGH = HIGH before treatment; UNLIKELY x HIGH = MEDIUM after.
    assert analysis["inherent-overall"] == ["HIGH"]
    assert analysis["residual-overall"] == ["MEDIUM"]
    assert analysis["requires-treatment"] == ["true"]
    assert analysis["misuse"] == ["fully-automated-decline"]
    society = {p["name"]: p["value"] for p in unfair["props"] if p.get("group") == "society"}
    assert society == {
        "impact": "HIGH",
        "appetite": "MEDIUM",
        "inherent-level": "HIGH",
        "inherent-evaluation": "exceeds",
        "residual-level": "MEDIUM",
        "residual-evaluation": "within",
    }
    treatment = next(part for part in unfair["parts"] if part["name"] == "treatment")
    assert "exclude sex and personal_status" in treatment["prose"]


def test_timestamp_is_the_manifests_last_commit(loan: Path, env: dict[str, str]) -> None:
    (loan / "train.py").write_text("print('later')\n", "utf-8")
    commit(loan, env, "unrelated", date="2026-09-09T09:09:09+02:00")
    result, plan = compiled(loan)
    assert plan["metadata"]["last-modified"] == MANIFEST_DATE
    manifest_commit = git(loan, "log", "-1", "--format=%H", "--", "sei.yaml").strip()
    assert result.commit == manifest_commit
    assert props(plan["metadata"])["source-commit"] == [manifest_commit]


def test_uncommitted_manifest_is_marked(loan: Path) -> None:
    manifest = loan / "sei.yaml"
    manifest.write_text(manifest.read_text("utf-8") + "# edited\n", "utf-8")
    result, plan = compiled(loan)
    assert (result.timestamp, result.uncommitted) == (MANIFEST_DATE, True)
    assert props(plan["metadata"])["manifest-uncommitted"] == ["true"]


def test_untracked_manifest_falls_back_to_head(repo: Path, env: dict[str, str]) -> None:
    (repo / "README").write_text("x\n", "utf-8")
    commit(repo, env, "first", date="2026-01-02T03:04:05+00:00")
    shutil.copy(LOAN / "sei.yaml", repo / "sei.yaml")
    result, _ = compiled(repo)
    assert result.timestamp_source == "head-commit"
    assert result.timestamp == "2026-01-02T03:04:05+00:00"


def test_no_history_uses_the_fixed_epoch(repo: Path) -> None:
    shutil.copy(LOAN / "sei.yaml", repo / "sei.yaml")
    result, plan = compiled(repo)
    assert (result.timestamp_source, result.commit) == ("epoch", None)
    assert plan["metadata"]["last-modified"] == EPOCH.isoformat()
    assert props(plan["metadata"])["timestamp-source"] == ["epoch"]


def test_out_path_and_json_form(loan: Path, tmp_path: Path) -> None:
    out = tmp_path / "plans" / "plan.json"
    result = compile_plan(load_manifest(loan), loan, out)
    assert result.path == out
    plan = json.loads(out.read_text("utf-8"))["assessment-plan"]
    href = plan["back-matter"]["resources"][0]["rlinks"][0]["href"]
    assert (out.parent / href).resolve() == (loan / "sei.yaml").resolve()
    assert not list(out.parent.glob(".*.tmp"))


def test_unwritable_target_is_one_error_and_no_litter(loan: Path) -> None:
    target = loan / "plans"
    target.mkdir()
    with pytest.raises(SeidError, match="cannot write"):
        compile_plan(load_manifest(loan), loan, target)
    assert list(target.iterdir()) == []
    assert [p.name for p in loan.iterdir() if p.name.endswith(".tmp")] == []


def test_program_without_risks_is_refused(repo: Path) -> None:
    (repo / "sei.yaml").write_text(
        "version: seid/1\nsystem: {name: empty}\npipeline: {tool: dvc}\n", "utf-8"
    )
    with pytest.raises(SeidError, match="no risks"):
        compile_plan(load_manifest(repo), repo)


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_ident = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,8}", fullmatch=True)
_level = st.sampled_from(["VERY_LOW", "LOW", "MEDIUM", "HIGH", "VERY_HIGH"])


@st.composite
def _programs(draw: st.DrawFn) -> dict[str, Any]:
    dims = draw(st.lists(_ident, min_size=1, max_size=2, unique=True))
    measure = {
        "id": draw(_ident),
        "metric": draw(_text),
        "constraint": draw(st.sampled_from(["< 0.03", ">= 1e-9", "== 2"])),
        "evaluation": draw(st.sampled_from(["automated", "manual"])),
        "lifecycle": draw(st.lists(_text, max_size=2)),
        "standard_clauses": draw(st.lists(_text, max_size=2)),
        "frequency": draw(st.sampled_from(["P1M", "P2W", "PT5M", "P1Y2M"])),
    }
    risk = {
        "id": draw(_ident),
        "title": draw(_text),
        "impact": {dim: draw(_level) for dim in dims},
        "likelihood": "LIKELY",
        "treat": [{"method": "REDUCE", "action": draw(_text), "measures": [measure]}],
    }
    return {
        "version": "seid/1",
        "system": {"name": draw(_text), "version": draw(_text)},
        "pipeline": {"tool": "dvc"},
        "risk": {
            "appetite": {dim: draw(_level) for dim in dims},
            "overall_residual_criterion": "MEDIUM",
            "risks": [risk],
        },
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_programs())
def test_any_loadable_program_compiles_to_what_trestle_writes(data: dict[str, Any]) -> None:
    """Whatever text a loadable manifest holds, the plan is valid OSCAL, and trestle's
    own models, given it, write the same bytes (fields, order and forms)."""
    try:
        manifest = load_manifest_text(yaml.safe_dump(data, allow_unicode=True), "sei.yaml")
    except SeidError:
        return
    plan = build_plan(manifest, SourceTime(EPOCH, "epoch", None), "sei.yaml")
    same_as_trestle(render(plan), "assessment-plan")
    assert yaml.safe_load(render(plan)) == plan == json.loads(render(plan, json_output=True))


def test_the_loan_plan_is_what_trestle_writes(loan: Path) -> None:
    result, _ = compiled(loan)
    same_as_trestle(result.path.read_bytes(), "assessment-plan")


def test_compile_builds_no_trestle_model(loan: Path) -> None:
    """The plan is plain data: compiling loads neither trestle nor its pydantic models
    (building those was most of the time and memory at 10,000 measures)."""
    probe = (
        "import sys; from pathlib import Path; from seid.config import load_manifest; "
        "from seid.oscal.plan import compile_plan; "
        "compile_plan(load_manifest(Path('.')), Path('.')); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'trestle'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=loan, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
    assert (loan / "assessment_plan.oscal.yaml").is_file()
