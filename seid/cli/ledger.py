"""``seid verify`` and ``seid ledger``: audit, inspect and publish the evidence ledger.

Hashes in JSON output are standard base64, as in checkpoints and the RFC 9162 test
vectors. ``seid verify`` exits 0 when everything holds, 1 with ``entry N: reason`` for
the first bad entry of each bad log (and a count), 2 on usage or I/O errors.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from seid import evidence, git, keys
from seid.errors import SeidError, VerificationError
from seid.ledger import publish as publishing
from seid.ledger import witnessed
from seid.ledger.log import Ledger
from seid.ledger.paths import list_logs
from seid.ledger.verify import LogReport, verify_repo


def _root() -> Path:
    """The git work tree containing the current directory, else the directory itself (a
    copied ledger can still be verified without git)."""
    return git.toplevel(Path.cwd()) or Path.cwd()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


@click.command()
@click.option("--log", "log_id", metavar="ID", help="Verify only this log (key id).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--subjects", is_flag=True, help="Re-hash subject files that still exist.")
@click.option(
    "--sei",
    "sei_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also verify evidence the sei engine signed in this .venth directory.",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Rebuild the derived files (head, index, tree/) of local logs that disagree.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes checking signatures.",
)
@click.option(
    "--require-witnessed",
    is_flag=True,
    help="Fail on published entries a witness quorum has not cosigned yet.",
)
def verify(
    log_id: str | None,
    as_json: bool,
    subjects: bool,
    sei_dir: Path | None,
    repair: bool,
    jobs: int,
    require_witnessed: bool,
) -> None:
    """Verify the ledger: signatures, the Merkle tree, every checkpoint.

    Checks the local logs in .sei/ledger/ and the published ones in refs/seid/ledger/*
    (fetch them with: git fetch REMOTE 'refs/seid/ledger/*:refs/seid/ledger/*').
    Subjects are compared with the newest entry that names them.
    """
    root = _root()
    if log_id is not None:
        log_id = resolve_log_id(root, log_id)
    wanted = witnessed.wanted_roots(root)  # one read of each log serves the witnesses too
    reports = verify_repo(root, log_id, jobs=jobs, subjects=subjects, roots_at=wanted)
    if repair:
        reports = _repair(root, reports, log_id, jobs, subjects, wanted)
    witnessed.apply(root, reports, require=require_witnessed)  # under sei.yaml's policy
    venth = _verify_sei(root, sei_dir) if sei_dir is not None else None
    if not reports and venth is None:
        raise SeidError(f"no ledger in {root / '.sei' / 'ledger'} and no refs/seid/ledger/*")
    ok = all(r.ok for r in reports) and (venth is None or not venth.bad)
    if as_json:
        out: dict[str, Any] = {"ok": ok, "logs": [r.to_json() for r in reports]}
        if venth is not None:
            out["sei"] = {
                "checked": venth.checked,
                "bad": [list(b) for b in venth.bad],
            }
        _echo_json(out)
    else:
        for report in reports:
            _print_report(report)
        if venth is not None:
            for name, reason in venth.bad:
                click.echo(f"{name}: {reason}")
            click.echo(f"{sei_dir}: {len(venth.bad)} bad of {venth.checked} signed files")
    if not ok:
        raise SystemExit(1)


def _repair(
    root: Path,
    reports: list[LogReport],
    log_id: str | None,
    jobs: int,
    subjects: bool,
    wanted: dict[str, set[int]],
) -> list[LogReport]:
    """Rebuild the derived files of each local log that needs it, then verify again."""
    damaged = [r.log_id for r in reports if r.derived and not r.source.startswith("refs/")]
    for lid in damaged:
        with Ledger.open(root, lid, write=True) as log:
            log.rebuild()
        click.echo(f"log {lid}: derived files rebuilt from its {log.size} records", err=True)
    if not damaged:
        return reports
    return verify_repo(root, log_id, jobs=jobs, subjects=subjects, roots_at=wanted)


def _print_report(report: LogReport) -> None:
    for notice in report.notices:
        click.echo(f"note: {notice}", err=True)
    where = "published" if report.source.startswith("refs/") else "local"
    if not report.trusted:
        click.echo(
            f"log {report.log_id} ({where}): signed by a key not in .sei/trust/, so nothing "
            "in it was checked (`seid trust add KEY.pub` if the key is one of yours)"
        )
        return
    for what in report.derived:
        click.echo(f"log {report.log_id} ({where}): derived file {what}")
    if report.derived:
        click.echo(f"log {report.log_id}: rebuild its derived files with `seid verify --repair`")
    first = report.first
    if first is not None:
        click.echo(f"entry {first.entry}: {first.reason}")
        click.echo(
            f"log {report.log_id} ({report.source}): {report.bad_entries} bad "
            f"{'entry' if report.bad_entries == 1 else 'entries'} of {report.size}"
        )
    elif not report.derived:
        seen = "" if report.witnessed is None else f", {report.witnessed} witnessed"
        click.echo(
            f"log {report.log_id} ({where}): {report.size} entries{seen}, "
            f"root {_b64(report.root)}: ok"
        )


def _verify_sei(root: Path, sei_dir: Path) -> Any:
    from seid import sei_evidence

    return sei_evidence.verify_sei_dir(sei_dir, trusted_ids=set(keys.trusted_keys(root)))


_LOG_HELP = "The log: its key id, or a unique prefix of it; needed if there are several."


def resolve_log_id(root: Path, given: str) -> str:
    """A log id from what a person typed: the whole id, or a unique prefix of one (the
    16 hex digits seid prints, ``2cdd31d0e660eee5`` of ``2cdd31d0e660eee5#1``)."""
    wanted = given.split("#", 1)[0].lower()
    if not wanted or wanted.strip("0123456789abcdef"):
        raise SeidError(f"bad log id {given!r}: expected a key id (hex), or a prefix of one")
    try:
        published = set(publishing.ref_logs(root))
    except (SeidError, OSError):
        published = set()
    known = set(list_logs(root)) | published
    if wanted in known:
        return wanted
    matches = sorted(k for k in known if wanted and k.startswith(wanted))
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(m[:20] for m in matches)
        raise SeidError(f"log {given!r} is ambiguous: it begins {shown}")
    raise SeidError(f"no log {given!r} here (neither .sei/ledger/ nor refs/seid/ledger/)")


def _log_option(command: Any) -> Any:
    """``--log`` after the subcommand as well as before it (``seid ledger show --log ID``)."""
    return click.option("--log", "sub_log", metavar="ID", help=_LOG_HELP)(command)


def _choose(ctx: click.Context, sub_log: str | None) -> None:
    if sub_log is not None:
        ctx.obj = sub_log


@click.group()
@click.option("--log", "log_id", metavar="ID", help=_LOG_HELP)
@click.pass_context
def ledger(ctx: click.Context, log_id: str | None) -> None:
    """Show entries, proofs and checkpoints of the ledger; publish and restore it."""
    ctx.obj = log_id


@contextlib.contextmanager
def _open(ctx: click.Context) -> Iterator[Ledger]:
    """The chosen log: the local copy, else the published one (refs/seid/ledger/<id>)."""
    root = _root()
    log_id: str | None = resolve_log_id(root, ctx.obj) if ctx.obj else None
    local = list_logs(root)
    if log_id is None:
        candidates = local or sorted(publishing.ref_logs(root))
        if len(candidates) != 1:
            what = "no ledger" if not candidates else f"{len(candidates)} logs"
            raise SeidError(
                f"{what} in {root / '.sei' / 'ledger'} or refs/seid/ledger/; pass --log ID"
            )
        log_id = candidates[0]
    if log_id in local:
        with Ledger.open(root, log_id) as log:
            yield log
    else:
        with publishing.open_published(root, log_id) as log:
            yield log


@ledger.command()
@click.argument("index", type=int, required=False)
@_log_option
@click.pass_context
def show(ctx: click.Context, sub_log: str | None, index: int | None) -> None:
    """Print entry INDEX's statement as JSON (unverified: run seid verify), or all as JSON lines."""
    _choose(ctx, sub_log)
    with _open(ctx) as log:
        if index is not None:
            _echo_json({"index": index, "statement": _decoded(log.entry(index))})
            return
        for i, entry in enumerate(log.iter_entries()):
            click.echo(json.dumps({"index": i, "statement": _decoded(entry)}, sort_keys=True))


def _decoded(entry: bytes) -> Any:
    try:
        return evidence.decode(entry)
    except VerificationError as err:
        return {"error": str(err)}


@ledger.command()
@click.argument("index", type=int)
@_log_option
@click.pass_context
def proof(ctx: click.Context, sub_log: str | None, index: int) -> None:
    """Print the inclusion proof of entry INDEX in the latest checkpoint, as JSON."""
    _choose(ctx, sub_log)
    with _open(ctx) as log:
        size = log.size
        _echo_json(
            {
                "log_id": log.log_id,
                "index": index,
                "size": size,
                "leaf_hash": _b64(log.leaf(index)),
                "proof": [_b64(h) for h in log.inclusion_proof(index, size)],
                "root": _b64(log.root(size)),
                "checkpoint": log.latest_checkpoint().decode(),
                "encoding": "base64",
            }
        )


@ledger.command("checkpoint")
@_log_option
@click.pass_context
def checkpoint_(ctx: click.Context, sub_log: str | None) -> None:
    """Print the latest signed checkpoint (signed-note text)."""
    _choose(ctx, sub_log)
    with _open(ctx) as log:
        click.echo(log.latest_checkpoint().decode(), nl=False)


@ledger.command()
@_log_option
@click.pass_context
def publish(ctx: click.Context, sub_log: str | None) -> None:
    """Write the local log(s) to refs/seid/ledger/<id>; HEAD and the work tree stay as they are.

    Push them with: git push REMOTE 'refs/seid/ledger/*:refs/seid/ledger/*'.
    """
    _choose(ctx, sub_log)
    root = _root()
    log_ids = [resolve_log_id(root, ctx.obj)] if ctx.obj else list_logs(root)
    if not log_ids:
        raise SeidError(f"no ledger in {root / '.sei' / 'ledger'}")
    for log_id in log_ids:
        done = publishing.publish(root, log_id)
        state = "published" if done.changed else "unchanged"
        click.echo(f"{done.ref}: {done.size} entries, commit {done.commit[:12]} ({state})")


@ledger.command()
@_log_option
@click.pass_context
def restore(ctx: click.Context, sub_log: str | None) -> None:
    """Restore a local log cut back behind its published ref (refs/seid/ledger/<id>).

    Only when the local log is a prefix of the published one; a log that differs from
    it is refused, never overwritten.
    """
    _choose(ctx, sub_log)
    root = _root()
    log_ids = [resolve_log_id(root, ctx.obj)] if ctx.obj else list_logs(root)
    if not log_ids:
        raise SeidError(f"no ledger in {root / '.sei' / 'ledger'}")
    for log_id in log_ids:
        before, after = publishing.restore(root, log_id)
        state = f"restored from {before} to {after} entries" if after > before else "up to date"
        click.echo(f"log {log_id}: {state}")
