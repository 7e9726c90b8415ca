"""Signed-note checkpoints: the exact text form, and every way a note can be wrong."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st
from securesystemslib.signer import Key, Signer

from seid import keys
from seid.errors import VerificationError
from seid.ledger import checkpoint
from tests.conftest import respell_base64
from tests.ledger.conftest import make_key

ROOT = hashlib.sha256(b"root").digest()


def test_note_text_form(signer: Signer) -> None:
    log_id = signer.public_key.keyid
    note = checkpoint.sign(log_id, 7, ROOT, signer)
    body, sigs = note.decode().split("\n\n")
    assert body == f"seid/{log_id}\n7\n{base64.b64encode(ROOT).decode()}"
    dash, name, blob = sigs.rstrip("\n").split(" ")
    assert dash == "\u2014" and name == f"seid/{log_id}"
    raw = base64.b64decode(blob)
    public = bytes.fromhex(signer.public_key.keyval["public"])
    # sumdb/note key hash: SHA-256(name || "\n" || 0x01 || key)[:4], then the signature
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], (body + "\n").encode())
    parsed = checkpoint.verify(note, log_id, signer.public_key)
    assert (parsed.size, parsed.root, parsed.log_id) == (7, ROOT, log_id)


def mutations(note: bytes) -> list[bytes]:
    text = note.decode()
    body, sig = text.split("\n\n")
    lines = body.split("\n")
    return [
        note.replace(b"\n7\n", b"\n8\n"),
        note.replace(b"\n7\n", b"\n07\n"),
        (lines[0] + "x\n" + "\n".join(lines[1:]) + "\n\n" + sig).encode(),
        note[:-2] + b"A\n",
        note.replace(b"\xe2\x80\x94", b"--"),
        body.encode() + b"\n",
        note + b"\x00",
        b"",
        b"\xff\xfe",
        note.replace(base64.b64encode(ROOT), base64.b64encode(ROOT[:31])),
        note.replace(base64.b64encode(ROOT), b"!!!!"),
        text.split("\n\u2014")[0].encode() + b"\n",
    ]


def test_every_mutation_is_refused(signer: Signer) -> None:
    log_id = signer.public_key.keyid
    note = checkpoint.sign(log_id, 7, ROOT, signer)
    for bad in mutations(note):
        with pytest.raises(VerificationError):
            checkpoint.verify(bad, log_id, signer.public_key)


def test_another_logs_checkpoint_is_refused(signer: Signer, tmp_path: Path) -> None:
    other = make_key(tmp_path, None, "other")
    note = checkpoint.sign(other.public_key.keyid, 7, ROOT, other)
    with pytest.raises(VerificationError, match="checkpoint is for"):
        checkpoint.verify(note, signer.public_key.keyid, signer.public_key)
    # same origin, wrong signer
    forged = checkpoint.sign(signer.public_key.keyid, 7, ROOT, other)
    with pytest.raises(VerificationError, match="not signed by the log's key"):
        checkpoint.verify(forged, signer.public_key.keyid, signer.public_key)


def test_peek_size() -> None:
    assert checkpoint.peek_size(b"seid/x\n12\nroot\n") == 12
    assert checkpoint.peek_size(b"garbage") is None
    assert checkpoint.peek_size(b"a\n\xff\nb") is None


@pytest.fixture(scope="module")
def hostile_key(tmp_path_factory: pytest.TempPathFactory) -> Key:
    made = keys.generate(tmp_path_factory.mktemp("cp"), "k")
    return keys.load_public_key(made.public_path)


@settings(max_examples=300, deadline=None)
@given(note=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_hostile_notes_only_raise_verification_error(hostile_key: Key, note: bytes) -> None:
    with contextlib.suppress(VerificationError):
        checkpoint.verify(note, hostile_key.keyid, hostile_key)
    with contextlib.suppress(VerificationError):
        checkpoint.parse(b"seid/x\n1\n" + base64.b64encode(ROOT) + b"\n\n" + note)


def test_previous_line_chains_to_the_exact_prior_note(signer: Signer) -> None:
    log_id = signer.public_key.keyid
    first = checkpoint.sign(log_id, 1, ROOT, signer)
    second = checkpoint.sign(log_id, 2, ROOT, signer, previous=first)
    body, _ = second.decode().split("\n\n")
    extension = body.split("\n")[3]
    assert extension == "previous " + base64.b64encode(hashlib.sha256(first).digest()).decode()
    # a C2SP extension line: the signature covers it as body text, as stock verifiers check
    raw = base64.b64decode(second.decode().rstrip("\n").rsplit(" ", 1)[1])
    public = bytes.fromhex(signer.public_key.keyval["public"])
    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], (body + "\n").encode())
    read = checkpoint.read(second, log_id)
    assert read.previous == checkpoint.link(first) and read.size == 2
    assert checkpoint.verify(second, log_id, signer.public_key).previous == read.previous
    assert checkpoint.read(first, log_id).previous is None


def test_malformed_extension_lines_are_refused(signer: Signer) -> None:
    log_id = signer.public_key.keyid
    note = checkpoint.sign(log_id, 2, ROOT, signer, previous=b"before")
    body, sig = note.split(b"\n\n")
    line = body.split(b"\n")[3]
    for bad_body, reason in [
        (body + b"\n" + line, "two previous lines"),
        (body.replace(line, b"previous AAAA"), "not a SHA-256 hash"),
        (body.replace(line, b"previous !!"), "not valid base64"),
        (body + b"\n", "not origin, size, root"),  # an empty line inside the body
    ]:
        with pytest.raises(VerificationError, match=reason):
            checkpoint.read(bad_body + b"\n\n" + sig, log_id)
    # an unknown extension line is signed text like any other, and ignored when read
    other = checkpoint.read(body + b"\nwitness: none\n\n" + sig, log_id)
    assert other.previous is not None
    with pytest.raises(VerificationError, match="is for"):
        checkpoint.read(note, "f" * 64)


def noncanonical(note: bytes) -> bytes:
    """The note with its signature spelled otherwise: the very same signature bytes."""
    text = note.decode()
    stamp = text.rstrip("\n").rsplit(" ", 1)[1]
    forged = respell_base64(stamp)
    assert base64.b64decode(forged) == base64.b64decode(stamp) and forged != stamp
    return text.replace(stamp, forged).encode()


def test_a_signature_line_must_be_canonical_base64(signer: Signer) -> None:
    """A signature line is covered by no signature: another encoding of the same bytes
    would go unseen unless refused outright."""
    note = checkpoint.sign(signer.public_key.keyid, 7, ROOT, signer)
    with pytest.raises(VerificationError, match="not canonical base64"):
        checkpoint.verify(noncanonical(note), signer.public_key.keyid, signer.public_key)
