"""The reconstruct pipeline: history, ledger and approvals joined into the report.

Three things at once: git walks the history (into a file) while the replay modules
load; then a forked child, which inherits them, verifies the ledger (and reads the
approval trailers) while this process walks what git wrote. The CLI only parses its
options, finds the signing key and says what was written.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seid.errors import SeidError
from seid.replay.forked import Forked

if TYPE_CHECKING:
    from securesystemslib.signer import Signer  # type: ignore[attr-defined]

    from seid.approvals.trailers import GitDecisions
    from seid.replay.join import Evidence

Tick = Callable[[Any], None] | None
SUFFIX = {"json": ".json", "md": ".md", "html": ".html", "pdf": ".pdf"}


@dataclass(frozen=True)
class Request:
    """What to replay: the commit range, the moment findings are judged at, and how."""

    since: str | None
    until: str | None
    now: datetime
    infer: bool = False
    reexecute: int | None = None  # how many bundles to run again, newest first
    tolerance: float = 0.0


def reconstruct(
    root: Path, request: Request, progress: Callable[[], AbstractContextManager[Tick]]
) -> dict[str, Any]:
    """The report document. ``progress`` is entered after the fork (it may start a
    thread, and a fork copies only the forking one)."""
    from seid.replay.gitlog import LogProcess

    with _no_cyclic_gc(), LogProcess(root, request.since, request.until) as log:
        import seid.replay.report  # noqa: F401  (loads while git walks; the child inherits it)

        with Forked("the ledger check", _read_sources, root) as reading:
            return _build(root, request, log, reading, progress)


def report_files(
    doc: dict[str, Any], fmt: str, signer: Signer | None, unsigned_why: str
) -> dict[str, bytes]:
    """The files of ``--out``: the JSON record (signed beside it when a key is given),
    the conformance files, and the rendering asked for."""
    from seid.replay import conformance, report

    data = report.to_json(doc)
    files = {report.JSON_NAME: data}
    if signer is not None:
        files[report.JSON_NAME + report.SIG_SUFFIX] = report.sign_report(data, signer)
    files |= conformance.files(doc, data, signer)
    if fmt != "json":
        keyid = signer.public_key.keyid if signer else None
        files[f"reconstruct{SUFFIX[fmt]}"] = render(fmt, doc, keyid, unsigned_why)
    return files


def render(fmt: str, doc: dict[str, Any], signed_by: str | None, unsigned: str | None) -> bytes:
    """The report in ``fmt``; the page says whether, and by whom, it is signed."""
    from seid.replay import page, pdf, report

    if fmt == "json":
        return report.to_json(doc)
    if fmt == "md":
        return report.markdown(doc).encode("utf-8", "backslashreplace")
    text = page.html(doc, signed_by, unsigned)
    return pdf.print_pdf(text) if fmt == "pdf" else text.encode("utf-8", "backslashreplace")


def write_files(out: Path, files: dict[str, bytes]) -> list[Path]:
    """Each file atomically (a reader never sees half a report), in order."""
    from seid.fsutil import write_atomic

    written: list[Path] = []
    target = out
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            target = out / name
            target.parent.mkdir(exist_ok=True)  # conformance/
            write_atomic(target, data)
            written.append(target)
    except OSError as exc:
        raise SeidError(f"cannot write {target}: {exc.strerror}") from None
    return written


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
    root: Path,
    request: Request,
    log: Any,
    reading: Forked,
    progress: Callable[[], AbstractContextManager[Tick]],
) -> dict[str, Any]:
    from seid.replay import forge, report
    from seid.replay.approval import review
    from seid.replay.cycle import build
    from seid.replay.findings import find
    from seid.replay.history import WalkOptions, walk
    from seid.replay.join import attribute_dirty
    from seid.replay.tables import replay_head_tables

    with progress() as tick:
        options = WalkOptions(request.since, request.until, request.infer, tick)
        history = walk(root, options, log)
    found, decisions = reading.result()
    attribute_dirty(root, history, found)
    cycles = build(history, found, request.now)
    approvals = review(root, history, found, request.now, decisions)
    tables = replay_head_tables(root, history, found)
    reproductions = None
    also = [*approvals.findings, *tables.findings]
    if request.reexecute is not None:
        from seid.replay.reexecute import reexecute, unreproducible

        reproductions = reexecute(root, history, found, request.reexecute, request.tolerance)
        also += unreproducible(reproductions)
    findings = find(history, found, cycles, also)
    head = history.commits[-1].sha if history.commits else None
    site = forge.web(forge.origin(root))
    scope = report.Scope(head, request.since, request.until, request.now, request.infer, site)
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
