"""``seid reconstruct``: replay git history and the ledger into the ISO/IEC 23894 cycle.

Without ``--out`` the report (JSON by default) goes to stdout. With ``--out DIR`` the
JSON record is always written, signed as a DSSE envelope beside it
(``reconstruct.json.sig``) when a signing key is available, plus the Markdown or HTML
rendering when asked for. A progress line is shown only on a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from seid.cli.main import NO_TEARDOWN, NoTeardown
from seid.errors import SeidError
from seid.isotime import instant

if TYPE_CHECKING:
    pass

FORMATS = ("json", "md", "html", "pdf")


@click.command()
@click.option("--since", metavar="REV", help="Replay only commits after REV.")
@click.option("--until", metavar="REV", help="Replay up to REV (default: HEAD).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="Report format.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write reconstruct.json (+ .sig) and the chosen format into DIR.",
)
@click.option("--infer", is_flag=True, help="Without sei.yaml, take classes from dvc.yaml.")
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sign the JSON report with this private key (default: the usual key, if any).",
)
@click.option("--no-sign", is_flag=True, help="Do not sign the JSON report.")
@click.option(
    "--reexecute",
    type=click.IntRange(min=1),
    metavar="N",
    help="Re-run the pipeline at the N newest evidenced commits (temporary worktrees).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=1e-6,
    show_default=True,
    help="Relative and absolute tolerance for --reexecute metric comparisons.",
)
@click.option("--now", "now_text", hidden=True, help="ISO 8601 time findings are judged at.")
def reconstruct(
    since: str | None,
    until: str | None,
    fmt: str,
    out: Path | None,
    infer: bool,
    key: Path | None,
    no_sign: bool,
    reexecute: int | None,
    tolerance: float,
    now_text: str | None,
) -> NoTeardown:
    """Replay history and the ledger: the ISO 23894 cycle per risk, and its findings."""
    from seid import git
    from seid.replay import pipeline

    if out is None and key is not None:
        raise SeidError("--key signs the report file: give --out DIR as well")
    root = git.toplevel(Path.cwd())
    if root is None:
        raise SeidError(f"{Path.cwd()} is not inside a git work tree")
    request = pipeline.Request(since, until, _parse_now(now_text), infer, reexecute, tolerance)
    doc = pipeline.reconstruct(root, request, _progress)
    if out is None:
        _stdout(pipeline.render(fmt, doc, None, None))
        return NO_TEARDOWN
    signer = None if no_sign else _signer(key)
    why = "written with --no-sign" if no_sign else "unsigned: no signing key was found"
    written = pipeline.write_files(out, pipeline.report_files(doc, fmt, signer, why))
    summary = doc["summary"]
    signed = f"signed by {signer.public_key.keyid[:16]}" if signer else "unsigned"
    click.echo(
        f"{summary['risks']} risk(s), {summary['findings']} finding(s) "
        f"({summary['high']} high); {signed}: " + ", ".join(str(p) for p in written)
    )
    return NO_TEARDOWN


def _parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    moment = instant(text)
    if moment is None:
        raise SeidError(f"--now {text!r} is not an ISO 8601 time")
    return moment


def _signer(explicit: Path | None) -> Any:
    from seid import keys

    if explicit is None:
        try:
            keys.find_private_key(None)
        except SeidError:
            return None  # no key anywhere: the report is written unsigned, and says so
    return keys.load_signer(explicit)


@contextmanager
def _progress() -> Iterator[Callable[[Any], None] | None]:
    """A live commit counter on a terminal; nothing at all when stderr is piped."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    columns = (SpinnerColumn(), TextColumn("replaying history: {task.completed} commits"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("walk", total=None)
        yield lambda _commit: bar.advance(task)


def _stdout(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
