"""``seid compile``: the risk program as an OSCAL assessment plan.

Prints where the plan went, its digest and how many measure tasks it holds, plus where
its timestamp came from (the manifest's last commit, HEAD, or the fixed epoch of a repo
with no commits), because that decides whether two compiles can match byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from seid.config import find_root, load_manifest
from seid.config.placeholders import warn_placeholders
from seid.fsutil import shown_path


@click.command("compile")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the plan here (default: oscal.assessment_plan in sei.yaml). "
    "A .json path writes JSON, anything else YAML.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def compile_(out: Path | None, as_json: bool) -> None:
    """Compile the risk program to an OSCAL assessment plan."""
    from seid.oscal.plan import compile_plan

    root = find_root(Path.cwd())
    result = compile_plan(load_manifest(root), root, out)
    for warning in warn_placeholders(root):
        click.echo(warning, err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return
    click.echo(f"wrote {shown_path(result.path)}")
    click.echo(f"digest sha256:{result.digest}")
    click.echo(
        f"tasks {result.tasks} (pre-market {result.pre_market}, post-market "
        f"{result.post_market}, manual {result.activities}) for {result.risks} risks"
    )
    source = result.timestamp_source
    origin = f"{source} {result.commit[:12]}" if result.commit else f"{source}: no git history"
    dirty = "; the manifest has uncommitted changes" if result.uncommitted and result.commit else ""
    click.echo(f"timestamp {result.timestamp} ({origin}{dirty})")
