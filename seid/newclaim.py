"""``seid claim new``: a valid PRML v0.1 claim from the four things a person decides.

Writing a claim by hand means knowing the required fields, making a UUIDv7 (Python 3.11
cannot), the shape of ``producer`` and how to quote ``dataset.hash``. seid fills in what
it can know: a fresh id, the time, the producer from git, the dataset's SHA-256 (the
digest seid's snapshot records for a data input, so the bundle can match the claim to
the data). The file is written in canonical form and only after the claim loader
(:func:`seid.claims.load_claim`) accepts it.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from seid import git
from seid.claims import VERSION, Claim, load_claim
from seid.errors import SeidError
from seid.evidence import file_sha256
from seid.fsutil import shown_path, write_atomic
from seid.uuid7 import uuid7

CLAIMS_DIR = "claims"
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Draft:
    """What the person decides; the rest of the claim is filled in."""

    metric: str
    comparator: str
    threshold: float
    dataset: Path
    seed: int = 0
    dataset_id: str | None = None
    producer: str | None = None
    notes: str | None = None


def default_path(root: Path, metric: str) -> Path:
    """``claims/<metric>.prml.yaml``: where the starter manifest's claim glob looks."""
    slug = _SLUG.sub("-", metric).strip("-.") or "claim"
    return root / CLAIMS_DIR / f"{slug}.prml.yaml"


def new_claim(root: Path, draft: Draft, out: Path) -> Claim:
    """Write ``out`` (never over an existing file) and return the claim as loaded."""
    text = claim_text(claim_data(root, draft))
    display = shown_path(out)
    with tempfile.TemporaryDirectory(prefix="seid-claim-") as scratch:
        trial = Path(scratch) / out.name
        trial.write_bytes(text)
        load_claim(trial, display=display)  # a claim seid cannot read is never written
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, text, replace=False)
    except FileExistsError:
        raise SeidError(f"{display} already exists; a claim is never overwritten") from None
    except OSError as exc:
        raise SeidError(f"cannot write {display}: {exc.strerror or exc}") from None
    return load_claim(out, display=display)


def claim_data(root: Path, draft: Draft) -> dict[str, Any]:
    """The claim's fields: the draft's, a fresh UUIDv7, now, the producer, the data hash."""
    data: dict[str, Any] = {
        "version": VERSION,
        "claim_id": str(uuid7()),
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metric": draft.metric,
        "comparator": draft.comparator,
        "threshold": draft.threshold,
        "dataset": {
            "id": draft.dataset_id or _dataset_id(root, draft.dataset),
            "hash": _dataset_hash(draft.dataset),
        },
        "seed": draft.seed,
        "producer": {"id": draft.producer or _producer(root)},
    }
    if draft.notes:
        data["notes"] = draft.notes
    return data


def _dataset_hash(path: Path) -> str:
    if path.is_dir():
        raise SeidError(
            f"--dataset {path}: a directory has no single digest; name a file "
            "(for DVC-tracked data, its .dvc pointer)"
        )
    if not path.is_file():
        raise SeidError(f"--dataset {path}: no such file")
    return file_sha256(path)


def _dataset_id(root: Path, path: Path) -> str:
    """The dataset's path in the project, as every clone spells it."""
    resolved = path.resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else path.name


def _producer(root: Path) -> str:
    """Who registers the claim: git's ``user.email``, else ``user.name``."""
    found = git.config(root, "user.email") or git.config(root, "user.name")
    if not found:
        raise SeidError("who registers this claim? pass --producer ID or set git user.email")
    return found


class _Dumper(yaml.SafeDumper):
    """Block YAML as the canonical form writes it, with number-like text quoted."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """Quote text a YAML 1.2 reader would take for a number (``1e5``, ``0x1F``).

    PyYAML (YAML 1.1) leaves such strings plain, which the claim loader rightly refuses.
    """
    style = "'" if _is_number(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _is_number(text: str) -> bool:
    for parse in (float, lambda t: int(t, 0)):
        try:
            parse(text)
            return True
        except ValueError:
            continue
    return False


def claim_text(data: dict[str, Any]) -> bytes:
    """The claim as block YAML, keys sorted: its canonical form, but for quoting."""
    text = yaml.dump(
        data,
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=True,
        allow_unicode=True,
        width=sys.maxsize,
    )
    return text.encode("utf-8")
