"""``seid witness``: cosign other hosts' published logs, so none can rewrite its own.

``seid witness cosign`` exits 0 when every trusted log was cosigned or unchanged, 1
when one was refused (an inconsistent or smaller tree: an equivocation record is kept
under ``.sei/witness/<witness-id>/equivocations/``), 2 on usage or I/O errors.
"""

from __future__ import annotations

from pathlib import Path

import click

from seid import git, keys
from seid.errors import SeidError
from seid.ledger import witness as witnessing


@click.group()
def witness() -> None:
    """Witness published logs: cosign checkpoints consistent with all cosigned before."""


@click.command()
@click.option("--remote", metavar="R", help="Fetch logs from and push cosignatures to R.")
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The witness's private key (default: the seid key).",
)
def cosign(remote: str | None, key_path: Path | None) -> None:
    """Fetch refs/seid/ledger/*, cosign each trusted log that grew consistently, push
    refs/seid/witness/<witness-id> with every cosignature made here (over HTTP too)."""
    root = git.toplevel(Path.cwd())
    if root is None:
        raise SeidError("seid witness cosign runs in a git clone of the published logs")
    signer = keys.load_signer(key_path)
    where = remote if remote is not None else witnessing.default_remote(root)
    outcomes = witnessing.run(root, signer, where, keys.trusted_keys(root))
    for outcome in outcomes:
        detail = f": {outcome.reason}" if outcome.reason else ""
        click.echo(f"log {outcome.log_id} ({outcome.size} entries): {outcome.action}{detail}")
    if not outcomes:
        click.echo("no trusted published logs to witness (refs/seid/ledger/*)")
    if any(o.action == "refused" for o in outcomes):
        raise SystemExit(1)


witness.add_command(cosign)
