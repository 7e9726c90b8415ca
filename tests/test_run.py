"""The chain end to end with a plain command pipeline: real git, real subprocesses,
real keys and ledger."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from seid import evidence, keys
from seid.ledger.log import Ledger
from seid.ledger.newest import latest_statement
from seid.run import run
from tests.conftest import SeidRunner, assert_one_line_error, git


def _params(repo: Path, **values: object) -> None:
    (repo / "params.json").write_text(json.dumps(values))


def _runs(repo: Path) -> int:
    path = repo / "runs.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _statements(repo: Path, log_id: str) -> list[dict[str, object]]:
    with Ledger.open(repo, log_id) as ledger:
        return [evidence.decode(entry) for entry in ledger.iter_entries()]


def test_the_first_run_is_the_baseline_then_nothing_drifted_nothing_runs(
    command_project: tuple[Path, Path],
) -> None:
    """No evidence yet: nothing is up to date, so a run without --force runs the whole
    pipeline and attests the baseline; after it, an unchanged tree runs nothing."""
    repo, key = command_project
    first = run(repo, keys.load_signer(key), echo=False)
    assert first.status == "attested" and first.attestation is not None
    assert first.attestation.index == 0 and _runs(repo) == 1
    again = run(repo, keys.load_signer(key), echo=False)
    assert again.status == "up-to-date" and again.exit_code == 0
    assert _runs(repo) == 1


def test_treatment_change_runs_assesses_and_attests(command_project: tuple[Path, Path]) -> None:
    repo, key = command_project
    signer = keys.load_signer(key)
    _params(repo, gap=0.05)  # same value, new bytes: still a B change
    (repo / "params.json").write_text('{"gap": 0.05, "note": 1}')
    report = run(repo, signer, echo=False)
    assert report.gate == "fail" and report.exit_code == 1
    assert _runs(repo) == 1
    assert report.attestation is not None
    (statement,) = _statements(repo, report.attestation.log_id)
    predicate = statement["predicate"]
    assert isinstance(predicate, dict)
    assert predicate["drift"] == {"classes": ["B"], "paths": {"B": ["params.json"]}}
    assert predicate["gate"] == "fail"
    assert predicate["git"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert predicate["git"]["dirty"] is True
    assert set(predicate["inputs"]["B"]) == {"eval.py", "params.json"}
    assert predicate["pipeline"]["tool"] == "command"
    assert predicate["pipeline"]["stages_run"] == ["python eval.py"]
    assert predicate["metrics"]["gap"] == {"value": 0.05}
    verdicts = {v["measure"]: v["verdict"] for v in predicate["verdicts"]}
    assert verdicts == {"gap": "fail", "acc": "pass"}
    (risk,) = predicate["risk_analysis"]
    assert risk["control_confirmed"] is False and risk["cycle"] == "open"
    assert predicate["ledger"]["previous_root"] is None
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    log = predicate["pipeline"]["log"]
    assert set(subjects) == {"metrics.json", "sei.yaml", log}
    assert subjects["metrics.json"] == evidence.file_sha256(repo / "metrics.json")
    assert subjects["sei.yaml"] == predicate["manifest_digest"]
    # the next status is clean: the bundle is the new baseline
    assert run(repo, signer, echo=False).status == "up-to-date"


def test_criteria_only_change_reassesses_without_running(
    command_project: tuple[Path, Path],
) -> None:
    repo, key = command_project
    signer = keys.load_signer(key)
    _params(repo, gap=0.02)
    first = run(repo, signer, echo=False)
    assert first.gate == "pass" and _runs(repo) == 1
    manifest = (repo / "sei.yaml").read_text().replace("< 0.03", "< 0.01")
    (repo / "sei.yaml").write_text(manifest)
    second = run(repo, signer, echo=False)
    assert _runs(repo) == 1  # nothing re-ran
    assert second.gate == "fail"
    assert second.detection.drift.classes == {"A"}
    assert second.attestation is not None and second.attestation.index == 1
    statement = _statements(repo, second.attestation.log_id)[1]
    assert statement["predicate"]["pipeline"]["reassessed"] is True  # type: ignore[index]
    assert statement["predicate"]["metrics"]["gap"]["value"] == 0.02  # type: ignore[index]


def test_failing_pipeline_is_attested_as_error(command_project: tuple[Path, Path]) -> None:
    repo, key = command_project
    _params(repo, gap=0.01, exit=3)
    report = run(repo, keys.load_signer(key), echo=False)
    assert report.gate == "error" and report.exit_code == 2
    assert report.result is not None and report.result.error == "python exited with status 3"
    assert report.attestation is not None
    runs = _runs(repo)
    again = run(repo, keys.load_signer(key), echo=False)  # a failed run is not done...
    assert again.status == "failed-before" and again.exit_code == 2
    assert _runs(repo) == runs  # ...but not retried on its own either
    _params(repo, gap=0.01)  # fixed without a change to watch? --force retries
    retried = run(repo, keys.load_signer(key), force=True, echo=False)
    assert retried.gate == "pass" and _runs(repo) == runs + 1


def test_missing_metrics_file_is_attested_as_error(command_project: tuple[Path, Path]) -> None:
    repo, key = command_project
    _params(repo, gap=0.01, no_metrics=True)
    report = run(repo, keys.load_signer(key), echo=False)
    assert report.gate == "error"
    assert report.result is not None and report.result.error is not None
    assert "metrics.json: no such file" in report.result.error


def test_input_changed_during_the_run_asks_for_a_follow_up(
    command_project: tuple[Path, Path],
) -> None:
    repo, key = command_project
    signer = keys.load_signer(key)
    _params(repo, gap=0.01, touch=True)
    report = run(repo, signer, echo=False)
    assert report.follow_up == ("data/d.csv",)
    assert report.attestation is not None
    statement = _statements(repo, report.attestation.log_id)[0]
    assert statement["predicate"]["follow_up"] == ["data/d.csv"]  # type: ignore[index]
    # the bundle stands on the inputs as they were, so the next run sees the change
    again = run(repo, signer, echo=False)
    assert again.detection.drift.paths == {"C": ["data/d.csv"]}


def test_cli_exit_codes_and_verify(command_project: tuple[Path, Path], seid: SeidRunner) -> None:
    repo, key = command_project
    env = {"SEID_SIGNING_KEY": str(key)}
    _params(repo, gap=0.01)
    passing = seid("run", cwd=repo, extra_env=env)
    assert passing.code == 0, passing.err
    assert "gate: pass" in passing.out and "gap" in passing.out
    assert seid("run", cwd=repo, extra_env=env).out.startswith("up to date")
    _params(repo, gap=0.5)
    failing = seid("run", "--json", cwd=repo, extra_env=env)
    assert failing.code == 1
    doc = json.loads(failing.out)
    assert doc["gate"] == "fail" and doc["ledger"]["index"] == 1
    verified = seid("verify", cwd=repo)
    assert verified.code == 0, verified.out + verified.err


def test_without_a_key_run_says_so(command_project: tuple[Path, Path], seid: SeidRunner) -> None:
    repo, _ = command_project
    _params(repo, gap=0.01)
    result = seid("run", cwd=repo)
    assert result.code == 2
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert _runs(repo) == 0  # nothing ran without a way to attest it


pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process groups, inotify")


def test_a_value_outside_its_own_interval_is_an_error_not_a_pass(
    command_project: tuple[Path, Path],
) -> None:
    """0.9 with the interval [0.0, 0.01] would pass a `< 0.03` gate on its interval alone."""
    repo, key = command_project
    _params(repo, gap=0.9, power={"ci_low": 0.0, "ci_high": 0.01})
    report = run(repo, keys.load_signer(key), echo=False)
    assert report.gate == "error"
    assert report.result is not None and report.result.error is not None
    assert "value 0.9 lies outside its own interval [0.0, 0.01]" in report.result.error


def test_a_failed_tool_shows_and_records_its_last_error_lines(
    command_project: tuple[Path, Path], seid: SeidRunner
) -> None:
    repo, key = command_project
    reason = "ValueError: column 'income' is missing from data/d.csv"
    _params(repo, gap=0.01, exit=reason)  # the tool prints it on stderr and exits 1
    failed = seid("run", "--force", cwd=repo, extra_env={"SEID_SIGNING_KEY": str(key)})
    assert failed.code == 2, failed.err
    assert "error: python exited with status 1" in failed.out
    assert f"  {reason}" in failed.out  # not only in .sei/logs/
    statement = latest_statement(repo, evidence.EVIDENCE_PREDICATE)
    assert statement is not None
    pipeline = statement["predicate"]["pipeline"]
    assert pipeline["error"] == "python exited with status 1"
    assert pipeline["error_lines"] == [reason]


def test_a_second_run_is_refused_while_one_runs_naming_it(
    command_project: tuple[Path, Path], seid: SeidRunner
) -> None:
    """Two `seid run` in one repository: the second refuses at once and says who holds
    the run lock; the first completes and attests alone."""
    import subprocess
    import sys
    import time

    repo, key = command_project
    (repo / "eval.py").write_text((repo / "eval.py").read_text() + "import time; time.sleep(3)\n")
    env = {**os.environ, "SEID_SIGNING_KEY": str(key)}
    first = subprocess.Popen(
        [sys.executable, "-m", "seid", "run"], cwd=repo, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while _runs(repo) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    second = seid("run", cwd=repo, extra_env={"SEID_SIGNING_KEY": str(key)})
    assert_one_line_error(second, "another run of this repository is in progress", "pid ")
    assert f"pid {first.pid} " in second.err
    first.communicate(timeout=60)
    assert first.returncode == 1 and _runs(repo) == 1  # gate fail (gap 0.05), attested
    from seid.ledger.paths import list_logs

    (log_id,) = list_logs(repo)
    assert len(_statements(repo, log_id)) == 1


def test_the_daemon_s_run_waits_for_the_cli_s(command_project: tuple[Path, Path]) -> None:
    """With a stop event (the daemon) a held lock is waited for, and stopping ends the wait."""
    import threading

    from seid.reproducers.execute import Interrupted
    from seid.runlock import run_lock

    repo, key = command_project
    stop = threading.Event()
    with run_lock(repo):
        threading.Timer(0.5, stop.set).start()
        with pytest.raises(Interrupted, match="waiting for another run"):
            run(repo, keys.load_signer(key), echo=False, stop=stop)
    assert _runs(repo) == 0
    assert run(repo, keys.load_signer(key), echo=False).attestation is not None
