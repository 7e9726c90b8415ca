"""``seid daemon``: watch repositories and attest every change (see seid.daemon.service)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from securesystemslib.signer import Signer  # type: ignore[attr-defined]

    from seid.daemon.config import DaemonConfig


@click.command()
@click.argument("repos", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Daemon config (TOML). Default /etc/seid/seid.toml, optional when REPOs are given.",
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signing key (default: config 'key', $SEID_SIGNING_KEY, the systemd credential).",
)
@click.option(
    "--mode",
    type=click.Choice(["run", "detect"]),
    default="run",
    show_default=True,
    help="For the REPOs given here: re-run and attest, or attest drift only.",
)
@click.option("--polling", is_flag=True, help="Poll the REPOs given here instead of inotify.")
@click.option(
    "--http",
    "http_address",
    metavar="HOST:PORT",
    help="Serve /metrics and /healthz (off by default; use a loopback address).",
)
@click.option(
    "--json-logs/--console-logs",
    "json_logs",
    default=None,
    help="Log format (default: JSON lines unless stdout is a terminal).",
)
def daemon(
    repos: tuple[Path, ...],
    config_path: Path | None,
    key: Path | None,
    mode: str,
    polling: bool,
    http_address: str | None,
    json_logs: bool | None,
) -> None:
    """Watch repositories; re-run what drifted, assess it, and attest it, until SIGTERM.

    REPOs given here replace the config's [[repos]] list; its other options apply.

    Changes are debounced into settled batches; one run at a time per repository, with
    one queued follow-up. SIGHUP reloads the config; systemd's notify protocol is spoken
    when $NOTIFY_SOCKET is set.
    """
    from seid.daemon import logging as dlog
    from seid.daemon.service import Service

    dlog.setup(json=json_logs)

    def configure() -> tuple[DaemonConfig, Signer]:
        return _configure(config_path, repos, key, mode, polling, http_address)

    config, signer = configure()
    code = Service(config, signer, reload=configure).serve()
    _leave(code)


def _leave(code: int) -> NoReturn:
    """Exit now that the service has stopped, without joining the scheduler's threads.

    Runs are stopped and appends finished by then; a scheduled job still in a call that
    hangs (a registry or remote that does not answer) must not hold the exit past
    systemd's stop timeout, as interpreter shutdown would, waiting for its thread.
    """
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _configure(
    config_path: Path | None,
    repos: tuple[Path, ...],
    key: Path | None,
    mode: str,
    polling: bool,
    http_address: str | None,
) -> tuple[DaemonConfig, Signer]:
    """The config file plus the command line; re-run on SIGHUP."""
    from dataclasses import replace

    from seid.daemon.config import DEFAULT_PATH, RepoConfig, load, parse_address
    from seid.errors import SeidError
    from seid.keys import load_signer

    path = config_path or DEFAULT_PATH
    config = load(path, required=config_path is not None or not repos)
    extra = [
        RepoConfig(r.resolve(), "detect" if mode == "detect" else "run", polling) for r in repos
    ]
    config = config.with_repos(extra)
    if http_address is not None:
        try:
            config = replace(config, http=parse_address(http_address))
        except ValueError as err:
            raise SeidError(f"--http: {err}") from None
    if not config.repos:
        raise SeidError(f"no repositories to watch (none in {path}, none given)")
    if config.sidecar is not None:
        config.sidecar.root  # noqa: B018 - refuses an audit with no ledger to write to
    return config, load_signer(key or config.key)
