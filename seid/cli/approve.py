"""``seid approve``: request, grant or reject sign-off of what the ledger last evidenced.

Each decision is a signed statement in the decider's own ledger log, bound to the newest
evidence bundle, the compiled plan and the risk analysis; ``--commit`` also records it as
an empty commit with ``Sei-*`` trailers. A refused decision (see
:mod:`seid.approvals.decision`: self-approval, a key the policy does not let grant the
role, an ``--as`` that is not the key's registered holder, nothing to approve) is a user
error: one line, exit 2, nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from seid.approvals.lifecycle import Lifecycle
    from seid.approvals.statement import Decision


def _decision_options(func: Any) -> Any:
    options = (
        click.option("--note", help="Why: shown to reviewers and kept in the statement."),
        click.option(
            "--key",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Your private key (default: $SEID_SIGNING_KEY, then ~/.config/seid/keys/seid).",
        ),
        click.option("--as", "who", metavar="'NAME <EMAIL>'", help="Who you are (default: git)."),
        click.option("--commit", "make_commit", is_flag=True, help="Also write a trailer commit."),
    )
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
def approve() -> None:
    """Request, grant or reject sign-off of the evidenced version (signed, in the ledger).

    A decision binds to the newest evidence bundle, the compiled OSCAL plan and the risk
    analysis; if any of them changes afterwards the approval is superseded. Policy comes
    from `approval` in sei.yaml (roles_required, approvers, distinct_from_requester,
    distinct_approvers, expires); who holds a key comes from `seid trust add --as`.
    """


@approve.command()
@_decision_options
def request(note: str | None, key: Path | None, who: str | None, make_commit: bool) -> None:
    """Ask for sign-off of the current version."""
    _decide("request", None, note, key, who, make_commit)


@approve.command()
@click.option("--role", help="The role you grant in (one of approval.roles_required).")
@_decision_options
def grant(
    role: str | None, note: str | None, key: Path | None, who: str | None, make_commit: bool
) -> None:
    """Accept the residual risk of the requested version, in a role. Refuses (exit 2)
    self-approval, a key approval.approvers does not name for the role (or whose holder
    is registered for other roles), and under approval.distinct_approvers a second role
    granted by the same person."""
    _decide("grant", role, note, key, who, make_commit)


@approve.command()
@click.option("--role", help="The role you reject in.")
@_decision_options
def reject(
    role: str | None, note: str | None, key: Path | None, who: str | None, make_commit: bool
) -> None:
    """Refuse sign-off of the requested version."""
    _decide("reject", role, note, key, who, make_commit)


@approve.command()
@click.option("--json", "as_json", is_flag=True, help="Print the lifecycle as JSON.")
@click.option("--check", is_flag=True, help="Exit 1 unless the state is approved.")
@click.pass_context
def show(ctx: click.Context, as_json: bool, check: bool) -> None:
    """Show the lifecycle state, who decided and what the approval is bound to.

    States: draft, approval_requested, approved, rejected, review_due, superseded.
    Findings (untrusted or broken approvals, self-approvals) are listed last."""
    from seid.approvals.lifecycle import lifecycle
    from seid.config import find_root, load_manifest

    root = find_root(Path.cwd())
    state = lifecycle(root, load_manifest(root))
    if as_json:
        click.echo(json.dumps(state.to_dict(), indent=2, sort_keys=True))
    else:
        _print(state)
    if check and state.state != "approved":
        ctx.exit(1)


def _decide(
    decision: Decision,
    role: str | None,
    note: str | None,
    key: Path | None,
    who: str | None,
    make_commit: bool,
) -> None:
    from seid import keys
    from seid.approvals import decision as deciding
    from seid.approvals import trailers
    from seid.approvals.lifecycle import lifecycle
    from seid.config import find_root, load_manifest
    from seid.ledger.entries import entry_ref

    root = find_root(Path.cwd())
    manifest = load_manifest(root)
    signer = keys.load_signer(key)
    made = deciding.prepare(root, manifest, decision, role, signer, who)
    if make_commit:
        trailers.head(root)  # refuse before signing anything
    recorded = deciding.record(root, manifest, made, signer, note)
    where = entry_ref(recorded.log_id, recorded.index)
    click.echo(f"{decision} by {made.by} ({made.role or 'no role'}) signed: entry {where}")
    if make_commit:
        click.echo(f"commit {deciding.commit(root, made, recorded, note)}")
    if not made.trusted:
        click.echo(
            f"warning: key {recorded.log_id[:16]} is not in .sei/trust/: this decision will "
            "not count until the key is trusted (seid trust add)",
            err=True,
        )
    click.echo(f"lifecycle: {lifecycle(root, manifest).state}")


def _print(state: Lifecycle) -> None:
    data = state.to_dict()
    approval = data["approval"]
    click.echo(f"lifecycle: {state.state}")
    if state.request is not None:
        click.echo(f"requested by {_who(approval['requested_by'])}")
    for grant in approval["approved_by"]:
        stale = f"; changed since: {', '.join(grant['stale'])}" if grant["stale"] else ""
        click.echo(f"granted as {grant['role']} by {_who(grant)}{stale}")
    for rejection in approval["rejected_by"]:
        click.echo(f"rejected by {_who(rejection)}")
    if state.missing_roles and state.request is not None:
        click.echo(f"waiting for: {', '.join(state.missing_roles)}")
    if approval["expires"]:
        click.echo(f"expires {approval['expires']}")
    current = approval["current"]
    click.echo(
        f"current: evidence {current['evidence']} ({current['evidence_entry']}), "
        f"plan {current['plan']}, analysis {current['analysis']}"
    )
    for finding in data["findings"]:
        click.echo(f"finding [{finding['severity']}] {finding['kind']}: {finding['summary']}")


def _who(event: dict[str, Any]) -> str:
    key = f", key {event['keyid'][:16]}" if event.get("keyid") else ""
    return f"{event['name']} <{event['email']}> at {event['at']} [{event['strength']}{key}]"
