"""``seid reconstruct``: replay git history and the ledger into the ISO/IEC 23894 cycle.

Without ``--out`` the report (JSON by default) goes to stdout. With ``--out DIR`` the
JSON record is always written, signed as a DSSE envelope beside it
(``reconstruct.json.sig``) when a signing key is available, plus the Markdown or HTML
rendering when asked for. A progress line is shown only on a terminal.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from seid.cli.main import NO_TEARDOWN, NoTeardown
from seid.errors import SeidError

if TYPE_CHECKING:
    from seid.approvals.trailers import GitDecisions
    from seid.replay.join import Evidence

FORMATS = ("json", "md", "html")
SUFFIX = {"json": ".json", "md": ".md", "html": ".html"}


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
    from seid.replay.gitlog import LogProcess, repo_root

    if out is None and key is not None:
        raise SeidError("--key signs the report file: give --out DIR as well")
    root = repo_root(Path.cwd())
    now = _parse_now(now_text)
    # Three things at once: git walks the history (into a file) while the replay modules
    # load; then a forked child, which inherits them, verifies the ledger (and reads the
    # approval trailers) while this process walks what git wrote.
    with _no_cyclic_gc(), LogProcess(root, since, until) as log:
        from seid.replay import report

        scope = report.Scope(None, since, until, now, infer)
        with _Forked("the ledger check", _read_sources, root) as reading:
            doc = _build(root, scope, (reexecute, tolerance), log, reading)
    data = report.to_json(doc)
    if out is None:
        _stdout(data if fmt == "json" else _render(fmt, doc).encode("utf-8", "backslashreplace"))
        return NO_TEARDOWN
    signer = None if no_sign else _signer(key)
    files = {report.JSON_NAME: data}
    if signer is not None:
        files[report.JSON_NAME + report.SIG_SUFFIX] = report.sign_report(data, signer)
    if fmt != "json":
        files[f"reconstruct{SUFFIX[fmt]}"] = _render(fmt, doc).encode("utf-8", "backslashreplace")
    written = _write(out, files)
    summary = doc["summary"]
    signed = f"signed by {signer.public_key.keyid[:16]}" if signer else "unsigned"
    click.echo(
        f"{summary['risks']} risk(s), {summary['findings']} finding(s) "
        f"({summary['high']} high); {signed}: " + ", ".join(str(p) for p in written)
    )
    return NO_TEARDOWN


def _read_sources(root: Path) -> tuple[Evidence, GitDecisions]:
    """The verified ledger, and git's approval trailers: git greps the history for them
    (a thread waits on it) while this process checks the ledger."""
    from concurrent.futures import ThreadPoolExecutor

    from seid.approvals import trailers
    from seid.replay.join import collect

    with ThreadPoolExecutor(1) as pool:
        decisions = pool.submit(trailers.read, root)
        return collect(root), decisions.result()


def _build(
    root: Path, scope: Any, rerun: tuple[int | None, float], log: Any, reading: _Forked
) -> dict[str, Any]:
    from seid.replay import report
    from seid.replay.approval import review
    from seid.replay.cycle import build
    from seid.replay.findings import find
    from seid.replay.history import WalkOptions, walk
    from seid.replay.join import attribute_dirty
    from seid.replay.tables import replay_head_tables

    with _progress() as tick:
        options = WalkOptions(scope.since, scope.until, scope.infer, tick)
        history = walk(root, options, log)
    found, decisions = reading.result()
    attribute_dirty(root, history, found)
    cycles = build(history, found, scope.now)
    approvals = review(root, history, found, scope.now, decisions)
    tables = replay_head_tables(root, history, found)
    findings = find(history, found, cycles, [*approvals.findings, *tables.findings])
    head = history.commits[-1].sha if history.commits else None
    scope = report.Scope(head, scope.since, scope.until, scope.now, scope.infer)
    reproductions = None
    if rerun[0] is not None:
        from seid.replay.reexecute import reexecute

        reproductions = reexecute(root, history, found, rerun[0], rerun[1])
    doc = report.document(scope, history, found, cycles, findings, reproductions, approvals)
    return doc | ({"tables": tables.section} if tables.section else {})


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A bounded batch whose objects live to its end: the cyclic collector would only
    re-scan them, a fifth of the run on a long history."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _outcome(fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    """``fn(*args)``, or a SeidError's message and exit status (an exception object may
    not survive pickling; its one line does)."""
    try:
        return True, fn(*args)
    except SeidError as err:
        return False, (str(err), err.exit_code)


class _Forked:
    """``fn(*args)`` in a forked child process, on the other core while this one works.

    The child inherits every module loaded so far; fork before starting any thread here
    (a fork copies only the forking thread). Ctrl-C is the parent's: the child ignores
    it and is killed when the parent leaves early. The outcome comes back pickled
    through a pipe; a child that dies, or hits a bug (its traceback on stderr), is an
    error here, never a hang.
    """

    def __init__(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        self.what = what
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            _child(write, fn, args)
        os.close(write)
        self._pid: int | None = pid
        self._read: int | None = read

    def result(self) -> Any:
        assert self._read is not None and self._pid is not None
        with os.fdopen(self._read, "rb") as stream:
            self._read = None
            data = stream.read()
        os.waitpid(self._pid, 0)
        self._pid = None
        if not data:
            raise SeidError(f"{self.what} stopped unexpectedly (its process died)")
        ok, value = pickle.loads(data)  # noqa: S301 (our own child, over a private pipe)
        if ok:
            return value
        err = SeidError(value[0])
        err.exit_code = value[1]
        raise err

    def __enter__(self) -> _Forked:
        return self

    def __exit__(self, *_: object) -> None:
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
        if self._read is not None:
            os.close(self._read)


def _child(write: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> NoReturn:
    """The forked side of :class:`_Forked`: never returns into the parent's code."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = 1
    try:
        data = pickle.dumps(_outcome(fn, *args), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write, "wb") as out:
            out.write(data)
        code = 0
    except Exception:
        traceback.print_exc()  # a bug: say where, the parent reports the death
    finally:
        os._exit(code)


def _write(out: Path, files: dict[str, bytes]) -> list[Path]:
    """Each file atomically (a reader never sees half a report), in order."""
    from seid.fsutil import write_atomic

    written: list[Path] = []
    target = out
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            target = out / name
            write_atomic(target, data)
            written.append(target)
    except OSError as exc:
        raise SeidError(f"cannot write {target}: {exc.strerror}") from None
    return written


def _render(fmt: str, doc: dict[str, Any]) -> str:
    from seid.replay import page, report

    renderers: dict[str, Callable[[dict[str, Any]], str]] = {
        "md": report.markdown,
        "html": page.html,
    }
    return renderers[fmt](doc)


def _parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SeidError(f"--now {text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
