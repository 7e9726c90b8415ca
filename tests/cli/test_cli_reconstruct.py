"""``seid reconstruct`` through the real CLI, in a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from seid import evidence, keys
from seid.errors import InputError, SeidError
from tests.approvals.conftest import make_project
from tests.conftest import SeidRunner, assert_one_line_error
from tests.replay.conftest import Repo, every_finding, manifest
from tests.replay.schema import problems

NOW = ("--now", "2027-01-01T00:00:00Z")


@pytest.fixture
def hist(tmp_path: Path) -> Repo:
    path = tmp_path / "repo"
    path.mkdir()
    return Repo(path)


def test_json_on_stdout_matches_the_schema(seid: SeidRunner, hist: Repo, tmp_path: Path) -> None:
    every_finding(hist, tmp_path)
    r = seid("reconstruct", *NOW, cwd=hist.path)
    assert r.code == 0, r.err
    assert r.err == ""  # piped: no progress bar, nothing extra
    doc = json.loads(r.out)
    assert problems(doc) == []
    assert set(doc["summary"]["by_kind"].values()) != {0}
    assert doc["generated"].startswith("2027-01-01")


SKIPS_TEARDOWN = """\
import atexit, sys
from seid.cli.main import main
atexit.register(lambda: print("TEARDOWN", file=sys.stderr))
main(sys.argv[1:])
"""


def test_the_process_ends_without_teardown_and_loses_no_output(
    hist: Repo, tmp_path: Path, env: dict[str, str]
) -> None:
    every_finding(hist, tmp_path)
    argv = [sys.executable, "-c", SKIPS_TEARDOWN, "reconstruct", *NOW]
    proc = subprocess.run(argv, cwd=hist.path, env=env, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert b"TEARDOWN" not in proc.stderr  # exit handlers (and heap teardown) skipped
    assert problems(json.loads(proc.stdout)) == []  # yet every byte was flushed


def test_approval_trailers_reach_the_report_through_the_cli(
    seid: SeidRunner, tmp_path: Path
) -> None:
    """The trailers are read beside the ledger check, in its process: they must arrive."""
    project = make_project(tmp_path, [])
    project.bundle("v1")
    for trailer in ("Sei-Approval-Requested-by: Alice <alice@example.org>",
                    "Sei-Approved-by: Bob <bob@example.org>"):  # fmt: skip
        project.git("commit", "-q", "--allow-empty", "-m", f"review\n\n{trailer}\n")
    r = seid("reconstruct", *NOW, cwd=project.root)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["approval"]["strength"] == "trailer"
    assert [g["email"] for g in doc["approval"]["approved_by"]] == ["bob@example.org"]


def test_out_dir_writes_a_signed_report_and_markdown(
    seid: SeidRunner, hist: Repo, tmp_path: Path
) -> None:
    every_finding(hist, tmp_path)
    made = keys.generate(tmp_path / "auditor", "auditor")
    out = tmp_path / "report"
    r = seid(
        "reconstruct",
        "--format",
        "md",
        "--out",
        out,
        "--key",
        made.private_path,
        *NOW,
        cwd=hist.path,
    )
    assert r.code == 0, r.err
    assert "signed by" in r.out and "finding(s)" in r.out
    data = (out / "reconstruct.json").read_bytes()
    public = keys.load_public_key(made.public_path)
    verified = evidence.verify((out / "reconstruct.json.sig").read_bytes(), {public.keyid: public})
    digest = verified.statement["subject"][0]["digest"]["sha256"]
    assert digest == hashlib.sha256(data).hexdigest()
    assert "## Findings" in (out / "reconstruct.md").read_text()


def test_without_a_key_the_report_is_written_unsigned(
    seid: SeidRunner, hist: Repo, tmp_path: Path
) -> None:
    hist.commit({"sei.yaml": manifest(), "train.py": "1"})
    out = tmp_path / "report"
    r = seid("reconstruct", "--format", "html", "--out", out, "--now", "2026-02-01", cwd=hist.path)
    assert r.code == 0, r.err
    assert "unsigned" in r.out
    assert sorted(p.name for p in out.iterdir()) == [
        "conformance",
        "reconstruct.html",
        "reconstruct.json",
    ]
    assert [p.name for p in (out / "conformance").iterdir()] == ["iso-iec-23894.json"]
    page = (out / "reconstruct.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "unsigned: no signing key was found" in page and "SEID_SIGNING_KEY" in page
    doc = json.loads((out / "reconstruct.json").read_text())
    assert [f["kind"] for f in doc["findings"]] == ["unevidenced-change"]
    assert doc["risks"][0]["provenance"] == "git-history"


def test_since_and_until_limit_the_replay(seid: SeidRunner, hist: Repo) -> None:
    base = hist.commit({"sei.yaml": manifest()})
    hist.commit({"train.py": "1"})
    hist.commit({"train.py": "2"})
    r = seid("reconstruct", "--since", base, "--until", "HEAD~1", cwd=hist.path)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["history"]["commits"] == 1 and doc["repository"]["since"] == base


def test_user_errors_are_one_line(seid: SeidRunner, hist: Repo, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert_one_line_error(seid("reconstruct", cwd=plain), "not inside a git work tree")
    hist.commit({"sei.yaml": manifest()})
    assert_one_line_error(seid("reconstruct", "--since", "nope", cwd=hist.path), "git log")
    assert_one_line_error(seid("reconstruct", "--key", "k", cwd=hist.path), "--out")
    assert_one_line_error(seid("reconstruct", "--now", "soon", cwd=hist.path), "--now")


def test_a_progress_line_only_on_a_terminal(hist: Repo, env: dict[str, str]) -> None:
    hist.commit({"sei.yaml": manifest()})
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "seid", "reconstruct", "--now", "2026-02-01"],
            cwd=hist.path,
            env={**env, "TERM": "xterm"},
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=120,
            check=False,
        )
        os.close(slave)
        seen = b""
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert b"replaying history" in seen
    assert json.loads(proc.stdout)["history"]["commits"] == 1  # stdout stays clean JSON


def test_infer_on_a_repository_with_only_dvc_yaml(seid: SeidRunner, hist: Repo) -> None:
    stages = "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py, data.csv]\n"
    hist.commit({"dvc.yaml": stages, "train.py": "1", "data.csv": "x"})
    hist.commit({"data.csv": "y"})
    r = seid("reconstruct", "--infer", cwd=hist.path)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["repository"]["inferred_classes"] is True
    assert doc["history"]["classified"] == {"A": 0, "B": 1, "C": 2}
    assert [f["kind"] for f in doc["findings"]] == ["unevidenced-change"] * 2


TRAIN = 'import json\njson.dump({{"dp-gap": {{"value": {value}}}}}, open("metrics.json", "w"))\n'


@pytest.mark.slow
def test_end_to_end_with_real_seid_run(seid: SeidRunner, hist: Repo, tmp_path: Path) -> None:
    """Bundles written by ``seid run`` (one on uncommitted changes) replay as the cycle."""
    made = keys.generate(tmp_path / "keys", "host")
    keys.add_trusted(hist.path, made.public_path)
    argv = f"[{sys.executable}, train.py]"
    ignore = "metrics.json\n.sei/ledger/\n.sei/logs/\n.sei/cache/\n"
    today = datetime.now(UTC).isoformat(timespec="seconds")  # runs are dated now, too
    first = hist.commit(
        {
            "sei.yaml": manifest().replace("[python, train.py]", argv),
            "train.py": TRAIN.format(value=0.05),
            ".gitignore": ignore,
            ".sei/trust/.keep": "",
        },
        date=today,
    )
    run_env = {"SEID_SIGNING_KEY": str(made.private_path)}
    assert seid("run", "--force", cwd=hist.path, extra_env=run_env).code == 1  # gate fails
    (hist.path / "train.py").write_text(TRAIN.format(value=0.01))
    assert seid("run", cwd=hist.path, extra_env=run_env).code == 0  # on uncommitted changes
    treated = hist.commit({"train.py": TRAIN.format(value=0.01)}, "drop proxy", date=today)
    data = hist.commit({"data/x.csv": "1"}, date=today)
    r = seid("reconstruct", cwd=hist.path)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert problems(doc) == []
    assert [(j["recorded"], j["joined"]) for j in doc["ledger"]["dirty_joined"]] == [
        (first, treated)
    ]
    [risk] = doc["risks"]
    assert [t["effective"] for t in risk["treatments"] if t["commit"] == treated] == [True]
    assert [(f["kind"], f["commits"]) for f in doc["findings"]] == [("unevidenced-change", [data])]


def _refuse(path: str) -> None:
    raise InputError(path, "no such thing", 3, 7)


def _die() -> None:
    os._exit(9)


def _bug() -> None:
    raise ZeroDivisionError("a bug")


def _nap() -> None:
    time.sleep(30)


def test_the_forked_ledger_check_returns_errors_and_deaths_as_one_line() -> None:
    """The child's SeidError (which does not survive pickling as itself) comes back as its
    line and exit status; a child that dies is an error, not a hang."""
    from seid.replay.forked import Forked

    with Forked("pid", os.getpid) as child:
        assert child.result() != os.getpid()  # it did run elsewhere
    with Forked("refusal", _refuse, "ledger/x") as child, pytest.raises(SeidError) as caught:
        child.result()
    assert str(caught.value) == "ledger/x:3:7: no such thing" and caught.value.exit_code == 2
    with Forked("the check", _die) as child, pytest.raises(SeidError, match=r"^the check stopped"):
        child.result()


def test_a_bug_in_the_forked_child_is_an_error_with_its_traceback(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from seid.replay.forked import Forked

    with Forked("the check", _bug) as child, pytest.raises(SeidError, match="stopped"):
        child.result()
    assert "ZeroDivisionError: a bug" in capfd.readouterr().err


def test_leaving_early_kills_the_forked_child() -> None:
    """Ctrl-C (or any error) in the parent must not wait for the child's work."""
    from seid.replay.forked import Forked

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt), Forked("nap", _nap) as child:
        pid = child._pid
        raise KeyboardInterrupt
    assert time.monotonic() - start < 5
    assert pid is not None and not Path(f"/proc/{pid}").exists()  # killed and reaped


def test_a_dvc_project_without_a_manifest_is_pointed_at_infer(seid: SeidRunner, hist: Repo) -> None:
    """A DVC repository seid has never seen: the note says --infer would classify it,
    and each unevidenced change says what changed after it, or that nothing did."""
    dvc_yaml = "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py, params.yaml]\n"
    first = hist.commit({"dvc.yaml": dvc_yaml, "train.py": "v1", "params.yaml": "a: 1\n"})
    last = hist.commit({"params.yaml": "a: 2\n"})
    plain = json.loads(seid("reconstruct", cwd=hist.path).out)
    notes = " ".join(n["message"] for n in plain["history"]["notes"])
    assert "2 commit(s) had no usable manifest" in notes
    assert "`seid reconstruct --infer` classifies them from it" in notes
    inferred = json.loads(seid("reconstruct", "--infer", cwd=hist.path).out)
    said = {f["commits"][0]: f["summary"] for f in inferred["findings"]}
    assert said[first].endswith("with no evidence bundle before params.yaml changed again")
    assert said[last].endswith("with no evidence bundle at it or at any later commit")


def test_with_infer_a_dvc_pointer_is_data_before_dvc_yaml_exists(
    seid: SeidRunner, hist: Repo
) -> None:
    pointer = "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: data.xml\n"
    added = hist.commit({"data/data.xml.dvc": pointer, "README.md": "a tutorial\n"})
    doc = json.loads(seid("reconstruct", "--infer", cwd=hist.path).out)
    assert doc["history"]["classified"]["C"] == 1
    [finding] = [f for f in doc["findings"] if f["kind"] == "unevidenced-change"]
    assert (
        finding["commits"] == [added] and "class C change (data/data.xml.dvc)" in finding["summary"]
    )
