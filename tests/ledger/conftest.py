"""Ledger fixtures: a real Ed25519 key in a temp dir, trusted in a temp repo."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from securesystemslib.signer import Signer

from seid import evidence, keys

EntryMaker = Callable[[int], bytes]


def make_key(tmp: Path, repo: Path | None = None, name: str = "seid") -> Signer:
    """A fresh key pair; trusted in ``repo`` when given."""
    made = keys.generate(tmp / f"keys-{name}", name)
    if repo is not None:
        trust = repo / ".sei" / "trust"
        trust.mkdir(parents=True, exist_ok=True)
        shutil.copy(made.public_path, trust / f"{made.key_id}.pub")
    return keys.load_signer(made.private_path)


def entry_maker(signer: Signer) -> EntryMaker:
    def make(i: int) -> bytes:
        statement = evidence.statement(
            [evidence.Subject(f"out/model-{i}.bin", f"{i:064x}")],
            evidence.EVIDENCE_PREDICATE,
            {"run": i},
        )
        return evidence.sign(statement, signer)

    return make


@pytest.fixture
def ledger_repo(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    return root


@pytest.fixture
def signer(tmp_path: Path, ledger_repo: Path) -> Signer:
    return make_key(tmp_path, ledger_repo)


@pytest.fixture
def make_entry(signer: Signer) -> EntryMaker:
    return entry_maker(signer)
