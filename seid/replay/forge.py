"""Where a commit can be seen on the web: the ``origin`` remote, when it is a known forge.

GitHub, GitLab and Gitea (and Forgejo, Codeberg) each have one commit URL form. The
remote may be written as HTTPS, ``ssh://`` or scp-like ``git@host:owner/repo.git``;
credentials in it are dropped, never copied into a report. Any other remote gives no
link, and the report shows plain short hashes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from seid import git

_SCP = re.compile(r"(?:[^@/]+@)?(?P<host>[A-Za-z0-9.-]+):(?!//)(?P<path>[^\s]+)")
_URL = re.compile(
    r"(?:https?|ssh|git)://(?:[^@/]+@)?(?P<host>[A-Za-z0-9.-]+)(?::\d+)?/(?P<path>\S+)"
)
_PATH = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)+")
COMMIT_PATH = {"github": "/commit/", "gitlab": "/-/commit/", "gitea": "/commit/"}


def forge(host: str) -> str | None:
    """The forge a host name says it is (by the public hosts' names and the usual
    self-hosted names)."""
    name = host.lower()
    if name == "github.com" or name.startswith("github."):
        return "github"
    if "gitlab" in name:
        return "gitlab"
    if "gitea" in name or "forgejo" in name or name == "codeberg.org":
        return "gitea"
    return None


def web(remote: str | None) -> dict[str, Any] | None:
    """``{forge, url}`` of the repository's web view; None for an unknown remote."""
    text = (remote or "").strip()
    found = _URL.fullmatch(text) or _SCP.fullmatch(text)
    if found is None:
        return None
    kind = forge(found["host"])
    path = found["path"].removesuffix("/").removesuffix(".git")
    if kind is None or not _PATH.fullmatch(path):
        return None
    return {"forge": kind, "url": f"https://{found['host'].lower()}/{path}"}


def commit_url(site: dict[str, Any] | None, sha: str) -> str | None:
    return f"{site['url']}{COMMIT_PATH[site['forge']]}{sha}" if site else None


def origin(root: Path) -> str | None:
    """``remote.origin.url`` of the repository, if it has one."""
    return git.config(root, "remote.origin.url")
