"""``seid status`` shows the approval lifecycle: real keys, a real ledger and repository."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from seid.approvals.standing import standing
from seid.ledger import publish
from seid.ledger.paths import log_dir
from seid.statcache import StatCache
from tests.approvals.conftest import Project, make_project
from tests.conftest import SeidRunner

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def status_json(seid: SeidRunner, project: Project) -> dict[str, object]:
    result = seid("status", "--json", cwd=project.root)
    assert result.code in (0, 1), result.err
    approval: dict[str, object] = json.loads(result.out)["approval"]
    return approval


def approve(project: Project, at: datetime | None = None) -> None:
    """Alice asks, Bob grants an hour later (by default, just now: the CLI's clock)."""
    start = at or datetime.now(UTC) - timedelta(hours=2)
    project.decide("alice", "request", at=start)
    project.decide("bob", "grant", role="risk-officer", at=start + timedelta(hours=1))


def test_draft_approved_then_superseded(seid: SeidRunner, tmp_path: Path) -> None:
    project = make_project(tmp_path, ["risk-officer"], expires=None)
    project.bundle("v1")
    assert status_json(seid, project)["state"] == "draft"
    assert "Approval: draft\n" in seid("status", cwd=project.root).out

    approve(project)
    approval = status_json(seid, project)
    assert approval["state"] == "approved"
    assert approval["requested_by"] == "Alice <alice@example.org>"
    assert approval["approved_by"] == ["Bob <bob@example.org>"]
    assert approval["strength"] == "signed-statement"
    bound, entry = approval["bound_to"], approval["bound_entry"]
    assert isinstance(bound, str) and bound.startswith("sha256:") and len(bound) == 19
    text = seid("status", cwd=project.root).out
    assert (
        "Approval: approved (requested by Alice <alice@example.org>; approved by "
        f"Bob <bob@example.org> (signed-statement); bound to evidence {bound} ({entry}); "
        "expires "  # risk.review_interval, as no approval.expires is written
    ) in text

    project.bundle("v2")  # a treatment change, evidenced: not what Bob approved
    assert status_json(seid, project)["state"] == "superseded"


def test_an_approval_only_published_by_another_host_is_seen(
    seid: SeidRunner, tmp_path: Path
) -> None:
    """The approvers' logs arrive as refs only (fetched); no local copy to probe."""
    project = make_project(tmp_path, ["risk-officer"])
    project.bundle("v1")
    assert status_json(seid, project)["state"] == "draft"  # the probe has read the ledger
    approve(project)
    for name in ("alice", "bob"):
        log_id = project.signers[name].public_key.keyid
        publish.publish(project.root, log_id)
        shutil.rmtree(log_dir(project.root, log_id))
    assert status_json(seid, project)["state"] == "approved"


def test_expiry_is_judged_at_the_clock_even_from_the_cache(tmp_path: Path) -> None:
    project = make_project(tmp_path, ["risk-officer"], expires="P30D")
    project.bundle("v1")
    approve(project, T0)
    head = project.git("rev-parse", "HEAD")
    with StatCache.open(project.root) as cache:
        first = standing(project.root, head, cache, now=T0 + timedelta(days=1))
        assert (first.state, first.expires) == ("approved", "2026-03-31T10:00:00+00:00")
        assert standing(project.root, head, cache, now=T0 + timedelta(days=2)) == first
        lapsed = standing(project.root, head, cache, now=T0 + timedelta(days=31))
    assert lapsed.state == "review_due"


def test_a_trailer_decision_is_found_without_any_statement(
    seid: SeidRunner, tmp_path: Path
) -> None:
    project = make_project(tmp_path, [])
    project.bundle("v1")
    assert status_json(seid, project)["state"] == "draft"
    message = "review\n\nSei-Approval-Requested-by: Alice <alice@example.org>\n"
    project.git("commit", "-q", "--allow-empty", "-m", message)
    approval = status_json(seid, project)
    assert approval["state"] == "approval_requested"
    assert approval["requested_by"] == "Alice <alice@example.org>"


def test_a_policy_without_approvers_works_with_a_warning(seid: SeidRunner, tmp_path: Path) -> None:
    project = make_project(tmp_path, ["risk-officer"])
    project.bundle("v1")
    warning = "  warning: approval.approvers is not set: any trusted key may approve"
    assert f"Approval: draft\n{warning}\n" in seid("status", cwd=project.root).out
    approve(project)
    assert status_json(seid, project)["state"] == "approved"  # as before
    assert warning in seid("status", cwd=project.root).out

    text = (project.root / "sei.yaml").read_text()
    bob = project.signers["bob"].public_key.keyid[:16]  # no holder recorded: by key id
    named = f"  approvers: {{risk-officer: ['{bob}']}}\n"
    (project.root / "sei.yaml").write_text(text.replace("approval:\n", f"approval:\n{named}"))
    named_bob = status_json(seid, project)
    # Bob's grant still counts (approval_requested if it did not); the edit changed the plan
    assert (named_bob["warning"], named_bob["state"]) == (None, "superseded")
    assert "warning" not in seid("status", cwd=project.root).out
