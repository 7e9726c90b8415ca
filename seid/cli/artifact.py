"""``seid artifact``: pack, unpack and verify artifact containers, without MLflow.

The containers the ``seid://`` MLflow store writes are ordinary files; these commands
read and write them anywhere, so stored artifacts never depend on MLflow (or on seid:
the layout is documented and the payload is a stock xz or zstd stream).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import click

from seid import container
from seid.container import records, store
from seid.container.choice import LEVEL_ENV, LEVELS, Level, level_from_env
from seid.errors import SeidError, VerificationError

_IN = click.Path(exists=True, dir_okay=False, path_type=Path)
_ANY = click.Path(exists=True, path_type=Path)
_OUT = click.Path(dir_okay=False, writable=True, path_type=Path)
_CODEC_NAMES = {
    container.Codec.STORED: "stored",
    container.Codec.XZ: "xz",
    container.Codec.ZSTD: "zstd",
    container.Codec.COLUMNS_XZ: "columns+xz",
    container.Codec.SHUFFLE_ZSTD: "shuffle+zstd",
}


@click.group()
def artifact() -> None:
    """Pack, unpack and verify artifact containers."""


@artifact.command()
@click.argument("src", type=_IN)
@click.argument("dst", type=_OUT)
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    help=f"balanced (default; or ${LEVEL_ENV}): one codec chosen on samples, at a fast "
    "level; max: every codec tried, never larger than xz -9e.",
)
def pack(src: Path, dst: Path, level: Level | None) -> None:
    """Pack SRC into the container DST, choosing the codec on samples of SRC."""
    level = level or level_from_env()
    with _progress("packing", src.stat().st_size) as step:
        header = _io(partial(container.pack, src, dst, level=level, progress=step), dst)
    stored = dst.stat().st_size
    click.echo(
        f"{header.hexdigest}  {dst}  "
        f"({_CODEC_NAMES[header.codec]}, {header.size:,} -> {stored:,} bytes)"
    )


@artifact.command()
@click.argument("src", type=_IN)
@click.argument("dst", type=_OUT)
def unpack(src: Path, dst: Path) -> None:
    """Restore the original of SRC at DST; nothing is written unless it verifies."""
    size = _io(partial(container.header_of, src), src).size
    with _progress("unpacking", size) as step:
        header = _io(partial(container.unpack, src, dst, step), dst)
    click.echo(f"{header.hexdigest}  {dst}")


@artifact.command()
@click.argument("paths", nargs=-1, required=True, type=_ANY)
@click.pass_context
def verify(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check that each container decodes to its stated size and SHA-256.

    A directory is checked as a seid:// store: every artifact in it, each against the
    digest record beside it. A single file is checked against its record if it has one.
    Prints '<sha256>  <path>' for each good one (as sha256sum does, for the original)
    and one line on stderr for each bad one; exits 1 if any is bad.
    """
    bad = 0
    for path in paths:
        for item in store.iter_artifacts(path) if path.is_dir() else [path]:
            try:
                header = _io(partial(_verify_one, item), item)
            except VerificationError as err:
                click.echo(f"seid: {err}", err=True)
                bad += 1
            else:
                click.echo(f"{header.hexdigest}  {item}")
    if bad:
        ctx.exit(1)


def _verify_one(path: Path) -> container.Header:
    if records.digest_path(path).exists():
        return store.decode_recorded(path, str(path), None)
    return container.verify(path)


@contextmanager
def _progress(what: str, total: int) -> Iterator[container.Progress | None]:
    """A progress bar on a terminal's stderr; nothing at all when output is piped."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(what, *columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n: bar.advance(task, n)


def _io(action: Callable[[], container.Header], path: Path) -> container.Header:
    """File system errors as one line naming the file, not a traceback."""
    try:
        return action()
    except OSError as exc:
        raise SeidError(f"{exc.filename or path}: {exc.strerror}") from None
