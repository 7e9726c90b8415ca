"""``seid promote``: move the registry's champion to what the newest passing bundle
evidenced, once the approval policy (if the manifest writes one) is satisfied."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click


@click.command()
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signing key for the promotion statement (default: the usual key).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the promotion as JSON.")
def promote(key: Path | None, as_json: bool) -> None:
    """Promote the model version the newest trusted, passing bundle records.

    Under an ``approval:`` policy the approval must be granted and bound to that very
    bundle; ``seid run`` then leaves promotion to this command. The promotion is
    recorded in the ledger (https://seid.dev/promotion/v1), where replay judges it.
    Exit 0 promoted, 2 refused (the reason is printed).
    """
    from seid.config import find_root
    from seid.keys import load_signer
    from seid.promote import promote as promote_bundle

    root = find_root(Path.cwd())
    done = promote_bundle(root, load_signer(key))
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(done), indent=2, sort_keys=True))
        return
    relied = f", approval {done.approval}" if done.approval else ""
    click.echo(f"promoted: {done.promoted} (evidence {done.bundle}{relied})")
