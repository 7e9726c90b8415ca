"""``seid init``: write a commented starter sei.yaml and say what was detected."""

from __future__ import annotations

import json
from pathlib import Path

import click

from seid.scaffold import TOOLS, Tool, write_starter


@click.command()
@click.option("--force", is_flag=True, help="Overwrite an existing manifest.")
@click.option(
    "--tool",
    type=click.Choice(TOOLS),
    help="Use this pipeline tool instead of detecting it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def init(force: bool, tool: Tool | None, as_json: bool) -> None:
    """Write a commented starter sei.yaml for the project in this directory."""
    result = write_starter(Path.cwd(), force=force, tool=tool)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return
    verb = "overwrote" if result.overwritten else "wrote"
    click.echo(f"{verb} {result.path.name}")
    found = result.detection.found
    how = f"found {found}" if found else ("as asked, no files found" if tool else "no tool found")
    click.echo(f"pipeline tool: {result.detection.tool} ({how})")
    for name in ("criteria", "treatment", "data"):
        globs = getattr(result.inputs, name)
        click.echo(f"inputs {name}: {', '.join(globs) if globs else '-'}")
    click.echo(
        "next: replace every EDIT placeholder (seid run refuses to attest one), "
        "then run 'seid analyze' and 'seid compile'"
    )
