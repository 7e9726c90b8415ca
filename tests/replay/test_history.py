"""The history walk on real git repositories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from seid.errors import SeidError
from seid.replay.gitlog import LogProcess, parse_log, tokens
from seid.replay.history import WalkOptions, walk
from tests.replay.conftest import Repo, claim, manifest

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py, data/raw.csv]
    params: [lr]
    outs: [model.pkl]
"""


def kinds(history: object) -> list[str]:
    return [note.kind for note in history.notes]  # type: ignore[attr-defined]


def test_changes_are_classified_by_the_manifest_in_force(hist: Repo) -> None:
    first = hist.commit({"train.py": "v1", "README.md": "hi"})
    sei = hist.commit({"sei.yaml": manifest()})
    b = hist.commit({"train.py": "v2", "params.yaml": "lr: 1"})
    c = hist.commit({"data/raw.csv": "x\n1\n", "notes.txt": "n"})
    a = hist.commit({"claims/fair.prml.yaml": claim()})
    history = walk(hist.path)
    by_sha = {commit.sha: commit for commit in history.commits}
    assert [c.sha for c in history.commits] == [first, sei, b, c, a]
    assert by_sha[first].classes == {}
    assert by_sha[sei].classes == {"A": ["sei.yaml"]}
    assert by_sha[b].classes == {"B": ["params.yaml", "train.py"]}
    assert by_sha[c].classes == {"C": ["data/raw.csv"]}
    assert by_sha[a].classes == {"A": ["claims/fair.prml.yaml"]}
    assert by_sha[c].changed == 2
    assert "before-manifest" in kinds(history)
    assert history.regime_of(by_sha[first]).source == "none"
    assert history.regime_of(by_sha[b]).manifest is not None
    assert by_sha[b].author == "Ada Tester" and by_sha[b].date.startswith("2026-01-03")


def test_a_manifest_change_reclassifies_from_its_commit_on(hist: Repo) -> None:
    hist.commit({"sei.yaml": manifest()})
    before = hist.commit({"extra.py": "1"})
    moved = manifest().replace("[train.py, params.yaml]", "[train.py, params.yaml, extra.py]")
    change = hist.commit({"sei.yaml": moved})
    after = hist.commit({"extra.py": "2"})
    history = walk(hist.path)
    by_sha = {commit.sha: commit for commit in history.commits}
    assert by_sha[before].classes == {}
    assert by_sha[after].classes == {"B": ["extra.py"]}
    assert history.regime_of(by_sha[after]).commit == change
    assert by_sha[before].regime != by_sha[after].regime


def test_paths_with_spaces_newlines_and_odd_bytes_are_parsed(hist: Repo) -> None:
    hist.commit({"sei.yaml": manifest()})
    odd = "data/we ird\nname\t.csv"
    sha = hist.commit({odd: "1", "data/\u00e9t\u00e9.csv": "2", "train.py": "x"})
    raw = hist.path / "data" / "raw"
    raw.mkdir()
    with open(os.path.join(os.fsencode(raw), b"\xff.csv"), "w") as handle:
        handle.write("x")
    hist.run("add", "data/raw")
    hist.run("commit", "-q", "-m", "latin-1 name")
    history = walk(hist.path)
    last = history.commits[-2]
    assert last.sha == sha
    assert sorted(last.classes["C"]) == sorted([odd, "data/\u00e9t\u00e9.csv"])
    assert last.classes["B"] == ["train.py"]
    assert history.commits[-1].classes == {"C": ["data/raw/\\xff.csv"]}


def test_merge_keeps_the_manifest_of_the_side_branch(hist: Repo) -> None:
    hist.commit({"sei.yaml": manifest(), "train.py": "1"})
    hist.run("checkout", "-q", "-b", "side")
    relaxed = hist.commit({"sei.yaml": manifest(constraint="< 0.05")})
    hist.run("checkout", "-q", "main")
    hist.commit({"train.py": "2"})
    hist.run("merge", "-q", "--no-edit", "side", date="2026-01-09T00:00:00+00:00")
    merge_sha = hist.run("rev-parse", "HEAD")
    history = walk(hist.path)
    merge = history.commits[-1]
    assert merge.sha == merge_sha and merge.is_merge
    regime = history.regime_of(merge)
    assert regime.manifest is not None
    assert str(regime.manifest.risk.risks[0].measures[0].constraint) == "< 0.05"
    side = next(c for c in history.commits if c.sha == relaxed)
    assert history.regime_of(side) is regime


def test_deleted_and_invalid_manifests_are_notes_not_crashes(hist: Repo) -> None:
    hist.commit({"sei.yaml": manifest()})
    bad = hist.commit({"sei.yaml": "version: seid/1\nsystem: [\n"})
    during = hist.commit({"train.py": "1"})
    gone = hist.commit({"sei.yaml": None})
    after = hist.commit({"train.py": "2"})
    history = walk(hist.path)
    by_sha = {commit.sha: commit for commit in history.commits}
    assert {"manifest-invalid", "manifest-deleted", "before-manifest"} <= set(kinds(history))
    invalid = history.regime_of(by_sha[bad])
    assert invalid.error and "sei.yaml" in invalid.error
    assert by_sha[during].classes == {"B": ["train.py"]}  # last usable manifest
    assert next(n for n in history.notes if n.kind == "manifest-deleted").commit == gone
    assert by_sha[after].classes == {}
    assert history.regime_of(by_sha[after]).source == "none"


def test_infer_classifies_a_repo_with_only_dvc_yaml(hist: Repo) -> None:
    hist.commit({"dvc.yaml": DVC_YAML, "train.py": "1", "params.yaml": "lr: 1"})
    sha = hist.commit({"train.py": "2", "data/raw.csv": "x", "params.yaml": "lr: 2"})
    plain = walk(hist.path)
    assert plain.commits[-1].classes == {}
    inferred = walk(hist.path, WalkOptions(infer=True))
    last = inferred.commits[-1]
    assert last.sha == sha
    assert last.classes == {"B": ["params.yaml", "train.py"], "C": ["data/raw.csv"]}
    assert inferred.regime_of(last).source == "inferred"


def test_dvc_tool_manifest_takes_inputs_from_dvc_yaml_at_each_commit(hist: Repo) -> None:
    text = manifest().replace(
        "pipeline: {tool: command, command: [python, train.py]}", "pipeline: {tool: dvc}"
    )
    text = text.replace("inputs:\n  treatment: [train.py, params.yaml]\n  data: [data/**]\n", "")
    hist.commit({"sei.yaml": text, "dvc.yaml": DVC_YAML})
    first = hist.commit({"data/other.csv": "1"})
    hist.commit({"dvc.yaml": DVC_YAML.replace("data/raw.csv", "data/other.csv")})
    second = hist.commit({"data/other.csv": "2"})
    by_sha = {c.sha: c for c in walk(hist.path).commits}
    assert by_sha[first].classes == {}
    assert by_sha[second].classes == {"C": ["data/other.csv"]}


def test_since_and_until_walk_a_range_with_the_manifest_in_force(hist: Repo) -> None:
    base = hist.commit({"sei.yaml": manifest()})
    middle = hist.commit({"train.py": "1"})
    end = hist.commit({"data/x.csv": "1"})
    hist.commit({"train.py": "2"})
    history = walk(hist.path, WalkOptions(since=base, until=end))
    assert [c.sha for c in history.commits] == [middle, end]
    assert history.commits[0].classes == {"B": ["train.py"]}
    with pytest.raises(SeidError, match="git log failed"):
        walk(hist.path, WalkOptions(since="no-such-rev"))
    with pytest.raises(SeidError, match="bad revision"):
        walk(hist.path, WalkOptions(until="--output=/tmp/x"))


def test_empty_repository_and_non_repository(hist: Repo, tmp_path: Path) -> None:
    history = walk(hist.path)
    assert history.commits == [] and kinds(history) == ["empty"]
    elsewhere = tmp_path / "plain"
    elsewhere.mkdir()
    with pytest.raises(SeidError, match="not a git repository"):
        walk(elsewhere)


def test_shallow_clone_is_reported(hist: Repo, tmp_path: Path) -> None:
    hist.commit({"sei.yaml": manifest()})
    for i in range(3):
        hist.commit({"train.py": str(i)})
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "2", f"file://{hist.path}", str(clone)], check=True
    )
    history = walk(clone)
    assert history.shallow and "shallow" in kinds(history)
    assert len(history.commits) == 2
    assert history.commits[-1].classes == {"B": ["train.py"]}


def test_claim_versions_carry_the_hash_they_replace(hist: Repo) -> None:
    hist.commit({"sei.yaml": manifest()})
    hist.commit({"claims/fair.prml.yaml": claim()})
    hist.commit({"claims/fair.prml.yaml": claim(threshold=0.05)})
    hist.commit({"claims/fair.prml.yaml": "version: prml/0.1\n"})
    versions = walk(hist.path).claims
    assert len(versions) == 3
    first, second, broken = versions
    assert first.previous_hash is None and first.hash
    assert second.previous_hash == first.hash and second.prior_hash is None
    assert broken.error and broken.claim_id is None


def test_progress_callback_sees_every_commit(hist: Repo) -> None:
    for i in range(3):
        hist.commit({"f": str(i)})
    seen: list[str] = []
    walk(hist.path, WalkOptions(on_commit=lambda commit: seen.append(commit.sha)))
    assert len(seen) == 3


def test_the_parser_is_positional_so_odd_paths_and_subjects_cannot_confuse_it() -> None:
    oid = "a" * 40
    stream = [
        b"\x01" + b"1" * 40,
        b"",
        b"Eve",
        b"eve@x",
        b"2026-01-01T00:00:00+00:00",
        b"\x01:odd",
        b"\n:000000 100644 " + b"0" * 40 + b" " + oid.encode() + b" A",
        b":\x01weird",
        b":100644 000000 " + oid.encode() + b" " + b"0" * 40 + b" D",
        b"gone.txt",
        b"\x01" + b"2" * 40,
        b"1" * 40,
        b"Ada",
        b"ada@x",
        b"2026-01-02T00:00:00+00:00",
        b"",
    ]
    first, second = parse_log(iter(stream))
    assert first.subject == "\x01:odd" and first.parents == ()
    assert [(c.path, c.status, c.old, c.new) for c in first.changes] == [
        (":\x01weird", "A", None, oid),
        ("gone.txt", "D", oid, None),
    ]
    assert second.parents == ("1" * 40,) and second.changes == ()


def test_tokens_survive_block_boundaries() -> None:
    expected = [b"%d:" % i + b"x" * (i % 997) for i in range(5000)]  # > 2 MiB
    data = b"\0".join(expected)
    for size in (1, 4093, 1 << 20):  # blocks cut anywhere, even inside a NUL run
        blocks = (data[i : i + size] for i in range(0, len(data), size))
        assert list(tokens(blocks)) == expected


def test_a_log_process_left_unread_is_stopped(repo: Path) -> None:
    """A walk that fails early must not leave git, or its output file, behind."""
    log = LogProcess(repo)
    log.close()  # git reaped (not a zombie), its files closed
    assert log._proc.returncode is not None and log._out.closed and log._errors.closed


def test_a_log_process_streams_a_long_history(tmp_path: Path) -> None:
    repo = tmp_path / "long"
    stream = bytearray()
    for i in range(3000):
        stream += b"commit refs/heads/main\ncommitter A <a@x> %d +0000\n" % (1e9 + i)
        stream += b"data 2\nc\nM 100644 inline f%d.txt\ndata 1\nx\n\n" % i
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=bytes(stream), check=True)
    with LogProcess(repo) as log:
        commits = list(parse_log(tokens(log.chunks())))
        assert log.finish() == (0, "")
    assert len(commits) == 3000 and commits[-1].changes[0].path == "f2999.txt"
    with LogProcess(repo, until="no-such-rev") as log:
        assert list(log.chunks()) == []
        code, stderr = log.finish()
    assert code != 0 and "no-such-rev" in stderr
