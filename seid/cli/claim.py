"""``seid claim``: hash, lock and check PRML v0.1 pre-registered claims.

A rejected claim is a user error (one line naming file, place and field; exit 2).
A verdict other than PASS is a finding, not an error: it is printed on stdout and the
command exits 1, so ``seid claim check`` can gate a CI job as it is.
"""

from __future__ import annotations

from pathlib import Path

import click

from seid import claims
from seid.metrics import load_metrics

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group()
def claim() -> None:
    """Hash, lock and check PRML v0.1 pre-registered claims."""


@claim.command("hash")
@click.argument("files", nargs=-1, required=True, type=_FILE)
def hash_(files: tuple[Path, ...]) -> None:
    """Print the canonical SHA-256 of each claim.

    One '<sha256-hex>  <path>' line per file, as sha256sum prints; every file is
    validated before anything is printed.
    """
    loaded = [claims.load_claim(path) for path in files]
    for path, item in zip(files, loaded, strict=True):
        click.echo(f"{item.hash}  {path}")


@claim.command()
@click.argument("file", type=_FILE)
def lock(file: Path) -> None:
    """Write the <claim_id>.prml.sha256 sidecar next to FILE."""
    item = claims.load_claim(file)
    sidecar = claims.lock(item)
    click.echo(f"locked {item.hash}  {file} in {sidecar}")


@claim.command()
@click.argument("file", type=_FILE)
@click.option(
    "--metrics",
    "metrics_path",
    required=True,
    type=_FILE,
    help="Metrics file (JSON, or YAML by extension) with the observed values.",
)
@click.pass_context
def check(ctx: click.Context, file: Path, metrics_path: Path) -> None:
    """Check a claim against observed metrics.

    Prints PASS, FAIL, UNVERIFIED (metric absent) or TAMPERED (the file no longer
    matches its sidecar) and why; exits 0 only for PASS.
    """
    item = claims.load_claim(file)
    verdict = claims.evaluate(item, load_metrics(metrics_path))
    click.echo(f"{verdict.verdict}: {verdict.reason}")
    if verdict.verdict != "PASS":
        ctx.exit(1)
