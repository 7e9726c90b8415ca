"""The ``seid`` command: a lazy group, so ``seid --help`` and a clean ``seid status``
import only what they use (never DVC, MLflow or Dagster, nor the other commands).

Each command group lives in its own module under ``seid.cli``; this table is the only
place that lists them, with the one-line help shown by ``seid --help``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from seid import __version__
from seid.errors import InputError, SeidError

# name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("seid.cli.init", "init", "Write a commented starter sei.yaml for this repo."),
    "analyze": ("seid.cli.analyze", "analyze", "Print the risk analysis (ISO/IEC 23894 6.4)."),
    "compile": ("seid.cli.compile", "compile_", "Compile the risk program to an OSCAL plan."),
    "claim": ("seid.cli.claim", "claim", "Hash, lock and check PRML v0.1 claims."),
    "key": ("seid.cli.key", "key", "Generate and inspect Ed25519 signing keys."),
    "trust": ("seid.cli.key", "trust", "Manage the trusted public keys in .sei/trust/."),
    "verify": ("seid.cli.ledger", "verify", "Verify the ledger: signatures, tree, checkpoints."),
    "ledger": ("seid.cli.ledger", "ledger", "Show entries, proofs, checkpoints; publish to git."),
    "witness": ("seid.cli.witness", "witness", "Cosign other hosts' logs: witnessed ledgers."),
    "status": ("seid.cli.status", "status", "Show typed drift (A/B/C) and what went stale."),
    "run": ("seid.cli.run", "run", "Re-run what drifted, assess it and attest the result."),
    "demo": ("seid.cli.demo", "demo", "Run the loan scenario end to end in a fresh repo."),
    "daemon": ("seid.cli.daemon", "daemon", "Watch repositories and attest every change."),
    "reconstruct": ("seid.cli.reconstruct", "reconstruct", "Replay history: the ISO 23894 cycle."),
    "approve": ("seid.cli.approve", "approve", "Request, grant or reject sign-off of a version."),
    "promote": ("seid.cli.promote", "promote", "Promote what the newest passing bundle names."),
    "artifact": ("seid.cli.artifact", "artifact", "Pack, unpack and verify artifact containers."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="seid")
@click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run as if seid was started in this directory.",
)
def cli(directory: Path | None) -> None:
    """seid: typed drift, selective reproduction and signed evidence for ML risk management.

    Watches a project's risk manifest (sei.yaml, PRML claims), its treatment and its
    data, re-runs what a change made stale, checks results against pre-registered
    criteria and appends signed evidence to an append-only Merkle ledger.
    """
    if directory is not None:
        try:
            os.chdir(directory)
        except OSError as exc:
            raise SeidError(f"cannot change to {directory}: {exc.strerror}") from None


class NoTeardown:
    """What a command returns when its process may end without freeing its heap.

    ``reconstruct`` builds a large, short-lived heap; freeing it object by object at
    exit was a tenth of the command's run. Standard streams are flushed first, and no
    exit handler of seid's own has work left by then (temporary files and helper
    processes are closed by the command itself).
    """


NO_TEARDOWN = NoTeardown()


def report(err: SeidError) -> None:
    """Print a user error as one line on stderr."""
    text = str(err).replace("\n", " ")
    if not isinstance(err, InputError):
        text = f"seid: {text}"
    click.echo(text, err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line and an exit status, never a traceback.

    A process that read a Delta table leaves without interpreter teardown: delta-rs's
    runtime threads can abort a short-lived process as it finalizes ("terminate called
    without an active exception", delta-rs issue 2184), which would turn a clean
    ``seid status`` into exit 134.
    """
    try:
        _main(argv)
    except SystemExit as exc:
        if "deltalake" not in sys.modules:
            raise
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        with contextlib.suppress(OSError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _main(argv: list[str] | None) -> None:
    try:
        result: Any = cli.main(args=argv, prog_name="seid", standalone_mode=False)
    except SeidError as err:
        report(err)
        sys.exit(err.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("seid: aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("seid: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except OSError as exc:  # I/O no command named, such as standard output on a full disk
        _output_failed(exc)
    if result is NO_TEARDOWN:
        _leave_now()
    # Without standalone mode click hands back ``ctx.exit(code)`` as the return value.
    sys.exit(result if isinstance(result, int) else 0)


def _leave_now() -> NoReturn:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        os._exit(1)  # the reader left: as for any other command
    except OSError as exc:
        _output_failed(exc)
    os._exit(0)


def _output_failed(exc: OSError) -> NoReturn:
    """One line, and no second failure when Python flushes standard output at exit."""
    where = f": {exc.filename}" if exc.filename else ""
    with contextlib.suppress(OSError):
        os.write(2, f"seid: {exc.strerror or exc}{where}\n".encode())
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
    sys.exit(1)
