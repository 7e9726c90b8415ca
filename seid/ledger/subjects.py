"""What the ledger says a stored artifact holds: the digest a download is checked against.

An evidence bundle names each artifact of a ``seid://`` store it binds by the artifact's
``seid://`` URI (:func:`seid.reproducers.mlflow.stored_subjects`). When a repository's
ledger holds such a bundle, the store cannot be rewritten into a consistent lie without
also forging a signed, append-only log entry: a download compares the container's
content digest with the newest bundle naming it in each log whose key the repository
trusts. Bundles in logs it does not trust are not a basis and are skipped.

The logs are read once per process for their ``seid:`` subjects (an index by name,
rebuilt when a log grows); only the entry a name leads to is verified, when it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seid import evidence, keys
from seid.errors import VerificationError
from seid.fsutil import SEI_DIR
from seid.ledger.entries import entry_ref
from seid.ledger.log import Ledger
from seid.ledger.paths import list_logs

STORE_SCHEME = "seid:"
_Index = dict[str, dict[str, int]]  # artifact URI -> log id -> newest entry naming it
_indexes: dict[Path, tuple[tuple[tuple[str, int], ...], _Index]] = {}


@dataclass(frozen=True)
class Named:
    """A verified ledger entry that names an artifact, and the digest it gives."""

    ref: str  # ``<log id prefix>#<index>``
    sha256: str


def repo_of(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that keeps ledger logs, or None."""
    here = start.resolve()
    for directory in (here, *here.parents):
        if (directory / SEI_DIR).is_dir() and list_logs(directory):
            return directory
    return None


def naming(repo: Path, name: str) -> list[Named]:
    """The newest bundle naming ``name`` in each trusted log of ``repo``, verified."""
    trusted = keys.trusted_keys(repo)
    found = []
    for log_id, index in sorted(_index(repo).get(name, {}).items()):
        key = trusted.get(log_id)
        if key is None:
            continue
        with Ledger.open(repo, log_id) as ledger:
            entry = ledger.entry(index)
        try:
            statement = evidence.verify(entry, {log_id: key}).statement
        except VerificationError as exc:
            raise VerificationError(f"ledger entry {entry_ref(log_id, index)}: {exc}") from None
        for subject in statement["subject"]:
            if subject.get("name") == name and isinstance(subject["digest"].get("sha256"), str):
                found.append(Named(entry_ref(log_id, index), subject["digest"]["sha256"]))
    return found


def _index(repo: Path) -> _Index:
    """Every ``seid:`` subject of the repository's logs, to the newest entry per log."""
    sizes = []
    for log_id in list_logs(repo):
        with Ledger.open(repo, log_id) as ledger:
            sizes.append((log_id, ledger.size))
    stamp = tuple(sizes)
    cached = _indexes.get(repo)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    index: _Index = {}
    for log_id, _ in stamp:
        with Ledger.open(repo, log_id) as ledger:
            for i, entry in enumerate(ledger.iter_entries()):
                for name in _stored_names(entry):
                    index.setdefault(name, {})[log_id] = i
    _indexes[repo] = (stamp, index)
    return index


def _stored_names(entry: bytes) -> list[str]:
    """The ``seid:`` subject names of an entry (not verified: an index, not a finding)."""
    try:
        subjects = evidence.decode(entry)["subject"]
    except VerificationError:
        return []
    return [
        s["name"]
        for s in subjects
        if isinstance(s.get("name"), str) and s["name"].startswith(STORE_SCHEME)
    ]
