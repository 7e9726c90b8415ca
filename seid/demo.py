"""The loan scenario end to end: what ``seid demo`` (and ``make demo``) shows.

A fresh git repository gets the scenario, a key, a compiled plan and a locked claim; V1
runs and fails the fairness gate (attested); the V2 treatment is committed; the second
run sees class B drift, leaves featurization cached and passes the gate; the scenario's
approval policy holds the promotion (``seid approve``, then ``seid promote``), and the
ledger verifies. Also used by the end-to-end
tests, so the demo and the tests exercise the same scenario.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from securesystemslib.signer import Signer  # type: ignore[attr-defined]  # re-exported

from seid import git
from seid.errors import SeidError
from seid.scenarios import scenario_dir

TOOLS = ("dvc", "mlflow", "dagster")
DATA = ("csv", "delta")
DEMO_KEY = Path(".sei", "demo-key", "demo")  # the demo's private key, in its repository
# The scenario's sei.yaml carries the DVC pipeline and its comments; for another tool
# both blocks are replaced, so every manifest describes its own pipeline.
_PIPELINE_DVC = """\
# The DVC pipeline in dvc.yaml: featurize -> evaluate. compliance_eval.py writes
# metrics.json keyed by measure id ({"dp-gap": {"value": ..., "power": {...}}}).
pipeline:
  tool: dvc
  metrics: metrics.json
  params: params.yaml
"""
_INPUTS_DVC = """\
# No `inputs:` section: seid derives the watched paths from dvc.yaml. Code and params
# (featurize.py, train.py, compliance_eval.py, params.yaml) are treatment (class B);
# data/credit.csv, *.dvc pointers and *.croissant.json are data (class C).
"""
_PIPELINES = {
    "dvc": _PIPELINE_DVC,
    "mlflow": """\
# The MLflow pipeline in eval/mlflow_entry.py: seid opens a run in the credit-scorer
# experiment and the entry resumes it: featurize (reused when its inputs are unchanged),
# train, evaluate. It writes and logs metrics.json keyed by measure id ({"dp-gap":
# {"value": ..., "power": {...}}}); a passing model is registered as credit-scorer.
pipeline:
  tool: mlflow
  metrics: metrics.json
  params: params.yaml
  entry: eval/mlflow_entry.py
  registered_model: credit-scorer
  experiment: credit-scorer
  artifact_location: mlartifacts
""",
    "dagster": """\
# The Dagster assets in dagster_defs.py: features -> credit_model -> compliance_metrics,
# each versioned by the code and params it depends on. compliance_metrics writes
# metrics.json keyed by measure id and records every value as materialisation metadata,
# which is what seid reads.
pipeline:
  tool: dagster
  metrics: metrics.json
  params: params.yaml
  definitions: dagster_defs.py
""",
}
# Without dvc.yaml to derive them from, the watched inputs are written out.
_INPUTS = """\
# The watched paths by drift class, written out: only a dvc.yaml would let seid derive
# them. Code and params ({entry}, featurize.py, train.py, compliance_eval.py,
# params.yaml) are treatment (class B); data/credit.csv and its Croissant description
# are data (class C).
inputs:
  criteria: [sei.yaml, claims/*.prml.yaml]
  treatment: [featurize.py, train.py, compliance_eval.py, params.yaml, {entry}]
  data: [data/credit.csv, credit.croissant.json]
"""
_SCRIPTS = (
    "generate_data.py",
    "describe_data.py",
    "featurize.py",
    "train.py",
    "compliance_eval.py",
    "params.yaml",
    "claims",
)
_TOOL_FILES = {"dvc": ("dvc.yaml",), "mlflow": ("eval",), "dagster": ("dagster_defs.py",)}
# --data delta: the applications live in a Delta table outside git, and the featurize
# stage depends on the pin file, so DVC re-runs it exactly when the pinned version moves.
_INPUTS_DELTA = """\
# seid derives the watched paths from dvc.yaml (code and params are treatment, class B).
# The applications are a Delta table (class C): seid reads its version, pins it for the
# run in .sei/tables.json (featurize's dep in dvc.yaml) and records it in the bundle.
inputs:
  tables:
    - {name: applications, format: delta, uri: data/applications}
"""
_DATA_DEP = "      - data/credit.csv\n"
_PIN_DEP = "      - .sei/tables.json\n"
_IGNORED = ("features/", "model/", "metrics.json", "mlflow.db", "mlruns/", "mlartifacts/")


def _python(repo: Path, *args: str) -> None:
    proc = subprocess.run([sys.executable, *args], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SeidError(f"{args[0]} failed: {proc.stderr.strip().splitlines()[-1:]}")


def manifest_for(tool: str, data: str = "csv") -> str:
    """The scenario's sei.yaml with the pipeline of ``tool``, its comments included."""
    text = (scenario_dir("loan") / "sei.yaml").read_text()
    if _PIPELINE_DVC not in text or _INPUTS_DVC not in text:
        raise SeidError("the loan scenario's sei.yaml lost its pipeline or inputs block")
    if data == "delta":
        return text.replace(_INPUTS_DVC, _INPUTS_DELTA)
    text = text.replace(_PIPELINE_DVC, _PIPELINES[tool])
    if tool != "dvc":
        entry = {"mlflow": "eval/mlflow_entry.py", "dagster": "dagster_defs.py"}[tool]
        text = text.replace(_INPUTS_DVC, _INPUTS.format(entry=entry))
    return text


def create(dest: Path, tool: str = "dvc", rows: int | None = None, data: str = "csv") -> Path:
    """The scenario as a fresh git repository at ``dest`` (which must not exist or be empty).

    ``data="delta"`` (DVC only) keeps the applications in a Delta table, ``data/
    applications``, written by the scenario's ``applications_table.py`` and not in git.
    """
    if tool not in TOOLS:
        raise SeidError(f"unknown tool {tool!r}; choose one of {', '.join(TOOLS)}")
    if data not in DATA or (data == "delta" and tool != "dvc"):
        raise SeidError(f"--data {data} runs with --tool dvc; choose one of {', '.join(DATA)}")
    if dest.exists() and any(dest.iterdir()):
        raise SeidError(f"{dest} is not empty; give a new directory")
    source = scenario_dir("loan")
    dest.mkdir(parents=True, exist_ok=True)
    for name in (*_SCRIPTS, *_TOOL_FILES[tool]):
        item = source / name
        if item.is_dir():
            shutil.copytree(item, dest / name)
        else:
            shutil.copy2(item, dest / name)
    (dest / "sei.yaml").write_text(manifest_for(tool, data))
    ignored = (*_IGNORED, "data/credit.csv", "data/applications/") if data == "delta" else _IGNORED
    (dest / ".gitignore").write_text("".join(f"/{p}\n" for p in ignored))
    git.run(dest, "init", "-q", "-b", "main")
    for key, value in (("user.name", "seid demo"), ("user.email", "demo@seid.invalid")):
        if not _has(dest, key):  # keep the user's own identity when git has one
            git.run(dest, "config", key, value)
    git.run(dest, "config", "commit.gpgsign", "false")
    _python(dest, "generate_data.py", *(["--rows", str(rows)] if rows else []))
    _python(dest, "describe_data.py")
    if data == "delta":
        shutil.copy2(source / "applications_table.py", dest / "applications_table.py")
        stages = (dest / "dvc.yaml").read_text()
        (dest / "dvc.yaml").write_text(stages.replace(_DATA_DEP, _PIN_DEP))
        _python(dest, "applications_table.py", "--create")
        _dvc(dest, "init", "-q")
    elif tool == "dvc":
        _dvc(dest, "init", "-q")
        _dvc(dest, "add", "-q", "data/credit.csv")
    git.run(dest, "add", "-A")
    git.run(dest, "commit", "-qm", "Loan scenario: data, V1 pipeline, risk program, claim")
    return dest


def _has(repo: Path, key: str) -> bool:
    return git.config(repo, key) is not None


def _dvc(repo: Path, *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SeidError(f"dvc {args[0]} failed: {proc.stderr.strip()}")


def apply_treatment(repo: Path) -> None:
    """Commit the V2 treatment: the model no longer sees sex nor its proxy."""
    shutil.copy2(scenario_dir("loan") / "treatments" / "v2" / "train.py", repo / "train.py")
    git.run(repo, "add", "train.py")
    git.run(repo, "commit", "-qm", "Treatment: exclude sex and personal_status from the model")


@dataclass(frozen=True)
class Step:
    title: str
    detail: str


def walkthrough(
    repo: Path,
    tool: str,
    say: Callable[[Step], None],
    rows: int | None = None,
    data: str = "csv",
) -> int:
    """The whole demo; returns 0 when it told the story it should (V1 red, V2 green;
    with ``data="delta"``: V1, an OPTIMIZE that re-runs nothing, appended applications
    re-run and attested with the new version, reproduced by time travel)."""
    from seid import keys
    from seid.config import load_manifest
    from seid.oscal.plan import compile_plan
    from seid.run import run

    create(repo, tool, rows, data)
    say(Step("scenario", f"loan scenario with {tool} in {repo}"))
    key = keys.generate(repo / DEMO_KEY.parent, name=DEMO_KEY.name)
    keys.add_trusted(repo, key.public_path)
    plan = compile_plan(load_manifest(repo), repo)
    from seid.claims import load_claim, lock

    for claim_file in sorted((repo / "claims").glob("*.prml.yaml")):
        lock(load_claim(claim_file))
    git.run(repo, "add", "-A")
    git.run(repo, "commit", "-qm", "Trust the demo key; compiled plan; locked claim")
    say(Step("key", f"{key.key_id[:16]} (trusted in .sei/trust/); plan {plan.path.name}"))
    signer = keys.load_signer(key.private_path)
    first = run(repo, signer, force=True, echo=False)
    say(Step("V1", _summary(first)))
    if data == "delta":
        told = _table_story(repo, signer, say)
        return 0 if told and first.gate == "fail" and _verified(repo, say) else 1
    apply_treatment(repo)
    second = run(repo, signer, echo=False)
    say(Step("V2", _summary(second)))
    return 0 if first.gate == "fail" and second.gate == "pass" and _verified(repo, say) else 1


def _verified(repo: Path, say: Callable[[Step], None]) -> bool:
    from seid.ledger.verify import verify_repo

    reports = verify_repo(repo, subjects=True)
    entries = sum(r.size for r in reports)
    verdict = "ok" if all(r.ok for r in reports) else "FAILED"
    say(
        Step(
            "verify",
            f"{entries} entries in {len(reports)} log(s), signatures, tree, "
            f"checkpoints and subjects: {verdict}",
        )
    )
    return verdict == "ok"


def _table_story(repo: Path, signer: Signer, say: Callable[[Step], None]) -> bool:
    """The Delta half of the loan story, after V1: an OPTIMIZE is reported and re-runs
    nothing; appended applications are class C, re-run and attested with the new
    version; re-executing that bundle time-travels to it and gives the same metrics."""
    from seid.replay.history import walk
    from seid.replay.join import join
    from seid.replay.reexecute import reexecute
    from seid.run import run

    _python(repo, "applications_table.py", "--optimize")
    quiet = run(repo, signer, echo=False)
    changes = quiet.detection.tables.changes if quiet.detection.tables else ()
    lines = "; ".join(change.describe() for change in changes)
    say(Step("OPTIMIZE", f"{lines}; {quiet.status}, nothing re-ran"))
    _python(repo, "applications_table.py", "--append")
    appended = run(repo, signer, echo=False)
    say(Step("append", _summary(appended)))
    (again,) = reexecute(repo, walk(repo), join(repo), 1)
    say(Step("reexecute", f"the newest bundle by time travel: {again.status}"))
    return (
        quiet.status == "up-to-date"
        and appended.status == "attested"
        and appended.detection.drift.paths.get("C") == ["table:applications"]
        and again.status == "reproduced"
    )


def next_steps(repo: Path) -> list[str]:
    """What to try after the demo: sign with its key, and read the auditor's report."""
    where = shlex.quote(str(repo))
    key = shlex.quote(str(repo / DEMO_KEY))
    return [
        "next steps:",
        f"  cd {where}",
        f"  export SEID_SIGNING_KEY={key}  # the demo key; never sign real evidence with it",
        "  seid status                  # what changed since the last evidence",
        "  seid run                     # after an edit: re-run what it touches, judge, attest",
        "  seid reconstruct --format html --out audit/  # the auditor's report: "
        "audit/reconstruct.html",
    ]


def _summary(report: object) -> str:
    from seid.run import RunReport

    assert isinstance(report, RunReport)
    parts = [f"drift {','.join(sorted(report.detection.drift.classes)) or '-'}"]
    tables = report.detection.tables
    if tables is not None:
        parts += [change.describe() for change in tables.drifted]
        parts.append(", ".join(f"pinned {s.name} {s.label()}" for s in tables.states.values()))
    if report.result is not None:
        parts.append(f"ran {', '.join(report.result.stages_run) or '-'}")
        if report.result.stages_skipped:
            parts.append(f"cached {', '.join(report.result.stages_skipped)}")
    gates = [
        v
        for v in (report.assessment.verdicts if report.assessment else ())
        if v.enforcement == "gate" and v.observed is not None
    ]
    for v in gates:
        parts.append(f"{v.measure} {v.observed.value:.4f} {v.constraint} -> {v.verdict}")  # type: ignore[union-attr]
    parts.append(f"gate {report.gate}")
    if report.promoted:
        parts.append(f"promoted {report.promoted}")
    elif report.awaiting_approval:
        parts.append("promotion held for approval")
    if report.attestation:
        parts.append(f"ledger entry {report.attestation.index}")
    return "; ".join(parts)
