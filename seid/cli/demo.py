"""``seid demo``: the loan scenario end to end, offline, in a fresh directory."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--tool",
    type=click.Choice(["dvc", "mlflow", "dagster"]),
    default="dvc",
    show_default=True,
    help="The pipeline tool the scenario runs through.",
)
@click.option(
    "--data",
    type=click.Choice(["csv", "delta"]),
    default="csv",
    show_default=True,
    help="Where the applications live: a DVC-tracked CSV, or a Delta table (with dvc).",
)
@click.pass_context
def demo(ctx: click.Context, directory: Path | None, tool: str, data: str) -> None:
    """Run the loan scenario: V1 fails the fairness gate, the V2 treatment passes it.

    Creates DIRECTORY (default ./seid-demo) as a fresh git repository with the scenario,
    a signing key, the compiled plan and a locked claim; runs V1 (gate red, attested);
    commits the treatment; runs again (class B drift, featurization cached, gate green,
    model promoted where the tool has a registry); verifies the ledger. With --data
    delta the applications are a Delta table: V1 runs, an OPTIMIZE re-runs nothing,
    appended applications re-run and are attested with the new table version, and
    re-executing that bundle reproduces its metrics by time travel.
    """
    from seid.demo import Step, next_steps, walkthrough

    target = (directory or Path("seid-demo")).resolve()

    def say(step: Step) -> None:
        click.echo(f"{step.title:>9}  {step.detail}")

    code = walkthrough(target, tool, say, data=data)
    click.echo(f"\nevidence: {target}/.sei/ledger/ (seid -C {target} ledger show)")
    click.echo("\n".join(["", *next_steps(target)]))
    ctx.exit(code)
