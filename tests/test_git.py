"""seid.git helpers against a real repository."""

from __future__ import annotations

from pathlib import Path

from seid import git as seid_git
from tests.conftest import git


def test_object_ids_names_each_object_and_none_for_the_missing(repo: Path) -> None:
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "one")
    names = ["HEAD:a.txt", "HEAD:nope", "HEAD^{tree}", "refs/heads/none:a.txt"]
    found = seid_git.object_ids(repo, names)
    assert found == {
        "HEAD:a.txt": git(repo, "hash-object", "a.txt").strip(),
        "HEAD:nope": None,
        "HEAD^{tree}": git(repo, "rev-parse", "HEAD^{tree}").strip(),
        "refs/heads/none:a.txt": None,
    }
    assert seid_git.object_ids(repo, []) == {}
