"""C2SP cosignature/v1 lines on seid checkpoints: the exact bytes, and what is refused."""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from securesystemslib.signer import Signer

from seid.config import load_manifest_text
from seid.errors import InputError, VerificationError
from seid.ledger import checkpoint, cosignature, merkle
from seid.ledger.witness import consistent
from tests.ledger.conftest import make_key

ROOT = hashlib.sha256(b"root").digest()
STAMP = 1_700_000_000


@pytest.fixture
def witness(tmp_path: Path) -> Signer:
    return make_key(tmp_path, name="witness")


def test_cosignature_is_the_c2sp_v1_form(signer: Signer, witness: Signer) -> None:
    log_id, wid = signer.public_key.keyid, witness.public_key.keyid
    note = checkpoint.sign(log_id, 7, ROOT, signer)
    cosigned = cosignature.cosign(note, witness, wid, STAMP)
    assert cosigned.startswith(note)
    dash, name, blob = cosigned[len(note) :].decode().rstrip("\n").split(" ")
    assert dash == "\u2014" and name == f"seid-witness/{wid}"
    raw = base64.b64decode(blob)
    public = bytes.fromhex(witness.public_key.keyval["public"])
    # key id SHA-256(name || "\n" || 0x04 || key)[:4], u64 big-endian time, Ed25519
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    assert struct.unpack(">Q", raw[4:12]) == (STAMP,)
    body = f"seid/{log_id}\n7\n{base64.b64encode(ROOT).decode()}\n"
    signed = f"cosignature/v1\ntime {STAMP}\n{body}".encode()
    Ed25519PublicKey.from_public_bytes(public).verify(raw[12:], signed)
    assert cosignature.verify(cosigned, wid, witness.public_key) == STAMP
    own, others = cosignature.split(cosigned)
    assert own == note and [n for n, _ in others] == [name]
    assert checkpoint.verify(own, log_id, signer.public_key).size == 7


def test_cosignature_refusals(signer: Signer, witness: Signer, tmp_path: Path) -> None:
    log_id, wid = signer.public_key.keyid, witness.public_key.keyid
    note = checkpoint.sign(log_id, 7, ROOT, signer)
    other = make_key(tmp_path, name="other")
    with pytest.raises(VerificationError, match="no cosignature by witness"):
        cosignature.verify(note, wid, witness.public_key)
    by_other = cosignature.cosign(note, other, wid, STAMP)  # right name, wrong key
    with pytest.raises(VerificationError, match="no cosignature by witness"):
        cosignature.verify(by_other, wid, witness.public_key)
    ahead = cosignature.cosign(note, witness, wid, STAMP)
    with pytest.raises(VerificationError, match="dated ahead"):
        cosignature.verify(ahead, wid, witness.public_key, now=STAMP - 3600)
    moved = checkpoint.sign(log_id, 8, ROOT, signer)  # the line carried to another tree
    line = ahead[len(note) :]
    with pytest.raises(VerificationError, match="does not verify"):
        cosignature.verify(moved + line, wid, witness.public_key)


def test_consistency_refuses_smaller_and_forked_trees(signer: Signer) -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(7)]
    forked = [*leaves[:2], merkle.leaf_hash(b"x"), *leaves[3:]]
    log_id = signer.public_key.keyid

    def at(hashes: list[bytes], size: int) -> checkpoint.Checkpoint:
        root = merkle.root_of(hashes[:size])
        return checkpoint.parse(checkpoint.sign(log_id, size, root, signer))[0]

    def proof(hashes: list[bytes], old: int, new: int) -> list[bytes]:
        return merkle.consistency_path(old, new, lambda a, b: merkle.root_of(hashes[a:b]))

    assert consistent(at(leaves, 3), at(leaves, 7), proof(leaves, 3, 7)) == ""
    assert "smaller" in consistent(at(leaves, 5), at(leaves, 4), [])
    assert "not consistent" in consistent(at(leaves, 3), at(forked, 7), proof(forked, 3, 7))
    assert "not consistent" in consistent(at(leaves, 7), at(forked, 7), [])


POLICY = """\
version: seid/1
system: {name: s, intended_purpose: p}
pipeline: {tool: dvc, metrics: metrics.json}
evidence:
  witnesses:
    keys: [KEYS]
    quorum: QUORUM
"""


@pytest.mark.parametrize(
    ("keys", "quorum", "place", "fragment"),
    [
        (".sei/trust/other/*.pub", "1", "6:12", "a witness key lives under .sei/trust/witnesses/"),
        (".sei/trust/witnesses/*.pub", "0", "7:13", "greater than or equal to 1"),
        (".sei/trust/witnesses/*.pub", "two", "7:13", "two"),
        ("../w.pub", "1", "6:12", ".."),
    ],
)
def test_witness_policy_errors_are_placed(
    keys: str, quorum: str, place: str, fragment: str
) -> None:
    text = POLICY.replace("KEYS", keys).replace("QUORUM", quorum)
    with pytest.raises(InputError) as caught:
        load_manifest_text(text, "sei.yaml")
    assert str(caught.value).startswith(f"sei.yaml:{place}: "), str(caught.value)
    assert fragment in str(caught.value) and "Value error" not in str(caught.value)


def test_witness_policy_loads() -> None:
    text = POLICY.replace("KEYS", ".sei/trust/witnesses/*.pub").replace("QUORUM", "2")
    stated = load_manifest_text(text, "sei.yaml").evidence.witnesses
    assert stated is not None and stated.keys == [".sei/trust/witnesses/*.pub"]
    assert stated.quorum == 2
