"""``seid analyze``: the risk analysis of the project's manifest (ISO/IEC 23894 6.4).

One row per risk and impact dimension, inherent and residual level against the
appetite, then the overall residual risk against its criterion. ``--json`` prints the
same analysis as it goes into evidence bundles.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seid import risk
from seid.config import find_root, load_manifest
from seid.config.placeholders import warn_placeholders
from seid.risk import Analysis, Evaluation

_STYLE: dict[Evaluation, str] = {"within": "green", "exceeds": "bold red"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON.")
def analyze(as_json: bool) -> None:
    """Print the risk analysis: inherent and residual levels against the appetite."""
    root = find_root(Path.cwd())
    manifest = load_manifest(root)
    for warning in warn_placeholders(root):
        click.echo(warning, err=True)
    analysis = risk.analyze(manifest.risk)
    if as_json:
        document = {
            "manifest": manifest.path.name,
            "manifest_digest": manifest.manifest_digest,
            **analysis.to_dict(),
        }
        click.echo(json.dumps(document, indent=2, sort_keys=True))
        return
    console = Console(highlight=False)
    if console.is_terminal:
        console.print(_table(analysis, fancy=True))
        console.print(_overall_line(analysis))
        return
    # Piped: plain aligned text, no colour, no box, no padding at line ends.
    plain = Console(highlight=False, width=1000, no_color=True, force_terminal=False)
    with plain.capture() as captured:
        plain.print(_table(analysis, fancy=False))
        plain.print(_overall_line(analysis))
    for line in captured.get().splitlines():
        click.echo(line.rstrip())


def _table(analysis: Analysis, *, fancy: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD if fancy else None, pad_edge=False)
    table.add_column("risk", no_wrap=True)
    for column in ("likelihood", "dimension", "impact", "appetite", "inherent", "residual"):
        table.add_column(column)
    table.add_column("treatment")
    for item in analysis.risks:
        likelihood = f"{item.likelihood.value} -> {item.residual_likelihood.value}"
        treatment = "required" if item.requires_treatment else "-"
        for index, dim in enumerate(item.dimensions):
            first = index == 0
            table.add_row(
                escape(item.risk_id) if first else "",
                likelihood if first else "",
                escape(dim.dimension),
                dim.impact.value,
                dim.appetite.value,
                _judged(dim.inherent_level.value, dim.inherent_eval),
                _judged(dim.residual_level.value, dim.residual_eval),
                treatment if first else "",
            )
    return table


def _judged(level: str, evaluation: Evaluation) -> str:
    return f"[{_STYLE[evaluation]}]{level} ({evaluation})[/]"


def _overall_line(analysis: Analysis) -> str:
    overall = analysis.overall_residual
    if overall.level is None:
        return "overall residual risk: no risks declared"
    criterion = overall.criterion.value if overall.criterion else "none"
    line = (
        f"overall residual risk: {_judged(overall.level.value, overall.evaluation)}"
        f" against criterion {criterion}"
    )
    if overall.contributing:
        line += f"; contributing: {escape(', '.join(overall.contributing))}"
    return line
