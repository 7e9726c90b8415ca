"""``seid claim``: hash, lock and check PRML v0.1 pre-registered claims.

A rejected claim is a user error (one line naming file, place and field; exit 2).
A verdict other than PASS is a finding, not an error: it is printed on stdout and the
command exits 1, so ``seid claim check`` can gate a CI job as it is.
"""

from __future__ import annotations

from pathlib import Path

import click

from seid import claims
from seid.claims import SEED_MAX
from seid.comparators import COMPARATORS
from seid.errors import SeidError
from seid.metrics_file import load_metrics

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group()
def claim() -> None:
    """Write, hash, lock and check PRML v0.1 pre-registered claims."""


@claim.command()
@click.option("--metric", required=True, help="The metric the claim is about (a metrics key).")
@click.option(
    "--comparator", required=True, type=click.Choice(COMPARATORS), help="How it is compared."
)
@click.option("--threshold", required=True, type=float, help="The bar, a finite number.")
@click.option(
    "--dataset",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The data file (or its .dvc pointer) the claim is about; its SHA-256 is recorded.",
)
@click.option("--seed", type=click.IntRange(0, SEED_MAX), default=0, show_default=True)
@click.option("--dataset-id", help="The dataset's name (default: its path in the project).")
@click.option("--producer", help="Who registers the claim (default: git user.email).")
@click.option("--notes", help="Free text kept in the claim.")
@click.option("--out", type=_FILE, help="Where to write it (default: claims/<metric>.prml.yaml).")
def new(
    metric: str,
    comparator: str,
    threshold: float,
    dataset: Path,
    seed: int,
    dataset_id: str | None,
    producer: str | None,
    notes: str | None,
    out: Path | None,
) -> None:
    """Write a new claim: a fresh UUIDv7, the time, the producer and the dataset's hash."""
    from seid.fsutil import shown_path
    from seid.locate import find_root
    from seid.newclaim import Draft, default_path, new_claim

    try:
        root = find_root(Path.cwd())
    except SeidError:
        root = Path.cwd().resolve()
    draft = Draft(metric, comparator, threshold, dataset, seed, dataset_id, producer, notes)
    path = out or default_path(root, metric)
    item = new_claim(root, draft, path)
    name = shown_path(item.path)
    click.echo(f"wrote {name}  (claim_id {item.claim_id})")
    click.echo(f"hash {item.hash}")
    click.echo(f"next: review it, commit it, then seal it with 'seid claim lock {name}'")


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
