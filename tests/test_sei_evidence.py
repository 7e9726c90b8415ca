"""Evidence written by the sei engine (``.venth/``): envelopes made here in its format."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from seid import keys
from seid.errors import InputError
from seid.sei_evidence import verify_sei_dir
from tests.conftest import SeidRunner

FILES = ("bundle.json", "reconstruct.json", "conformance/c1.json", "conformance/c2.json")


def _pae(payload_type: bytes, payload: bytes) -> bytes:
    # Written out again here on purpose: the test must not trust seid's own PAE.
    return b"DSSEv1 %d %b %d %b" % (len(payload_type), payload_type, len(payload), payload)


def _sign_like_sei(key: ec.EllipticCurvePrivateKey, keyid: str, name: str, data: bytes) -> bytes:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": hashlib.sha256(data).hexdigest()}}],
        "predicateType": "https://sei.dev/evidence/v1",
        "predicate": {"kind": name},
    }
    payload = json.dumps(statement).encode()
    payload_type = b"application/vnd.in-toto+json"
    r, s = decode_dss_signature(key.sign(_pae(payload_type, payload), ec.ECDSA(SHA256())))
    raw_sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    envelope = {
        "payloadType": payload_type.decode(),
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(raw_sig).decode()}],
    }
    return json.dumps(envelope, indent=2).encode()


def _make_venth(root: Path, key: ec.EllipticCurvePrivateKey | None = None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    keyid = hashlib.sha256(point).hexdigest()
    (root / "conformance").mkdir(parents=True)
    (root / "PUBKEY.txt").write_text(point.hex() + "\n")
    for rel in FILES:
        data = json.dumps({"file": rel, "value": 0.93}).encode()
        (root / rel).write_bytes(data)
        (root / f"{rel}.sig").write_bytes(_sign_like_sei(key, keyid, rel, data))
    return keyid


@pytest.fixture
def venth(tmp_path: Path) -> Path:
    root = tmp_path / ".venth"
    _make_venth(root)
    return root


def _flip(path: Path, index: int) -> None:
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


def test_good_directory_verifies(venth: Path) -> None:
    report = verify_sei_dir(venth)
    assert report.checked == len(FILES)
    assert report.bad == []
    assert report.ok
    point = bytes.fromhex((venth / "PUBKEY.txt").read_text().strip())
    assert report.key_id == hashlib.sha256(point).hexdigest()


def test_flipped_byte_in_evidence_file_is_reported(venth: Path) -> None:
    _flip(venth / "conformance" / "c1.json", 3)
    report = verify_sei_dir(venth)
    assert report.checked == len(FILES)
    assert report.bad == [("conformance/c1.json", "file does not match the signed sha256 digest")]


def test_flipped_byte_in_payload_is_reported(venth: Path) -> None:
    sig = venth / "bundle.json.sig"
    envelope = json.loads(sig.read_bytes())
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[payload.index(b"kind") + 1] ^= 0x01
    envelope["payload"] = base64.b64encode(bytes(payload)).decode()
    sig.write_text(json.dumps(envelope))
    assert verify_sei_dir(venth).bad == [("bundle.json", "bad signature")]


def test_flipped_signature_byte_is_reported(venth: Path) -> None:
    sig = venth / "reconstruct.json.sig"
    envelope = json.loads(sig.read_bytes())
    raw = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    raw[10] ^= 0x80
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    sig.write_text(json.dumps(envelope))
    assert verify_sei_dir(venth).bad == [("reconstruct.json", "bad signature")]


def test_raw_byte_flip_anywhere_in_a_sig_file_is_reported_or_harmless(venth: Path) -> None:
    """Every byte, three bits each: a flip inside the payload or the signature is always
    reported, even one in the unused low bits of a base64 string's last character."""
    sig = venth / "conformance" / "c2.json.sig"
    original = sig.read_bytes()
    envelope = json.loads(original)
    flips = [(index, bit) for index in range(len(original)) for bit in (0x01, 0x02, 0x20)]
    for index, bit in flips:
        data = bytearray(original)
        data[index] ^= bit
        sig.write_bytes(bytes(data))
        report = verify_sei_dir(venth)
        if report.ok:  # only edits outside the signed content may pass (e.g. a key name)
            mutated = json.loads(bytes(data))
            assert mutated["payload"] == envelope["payload"]
            assert mutated["signatures"][0]["sig"] == envelope["signatures"][0]["sig"]
        else:
            assert [name for name, _ in report.bad] == ["conformance/c2.json"]
    sig.write_bytes(original)
    assert verify_sei_dir(venth).ok


def test_signature_from_another_key_is_reported(venth: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    _make_venth(other)
    (venth / "bundle.json.sig").write_bytes((other / "bundle.json.sig").read_bytes())
    (venth / "bundle.json").write_bytes((other / "bundle.json").read_bytes())
    report = verify_sei_dir(venth)
    assert report.bad == [("bundle.json", "no signature by the key in PUBKEY.txt")]


def test_signature_for_another_file_is_reported(venth: Path) -> None:
    (venth / "conformance" / "c1.json").write_bytes(
        (venth / "conformance" / "c2.json").read_bytes()
    )
    (venth / "conformance" / "c1.json.sig").write_bytes(
        (venth / "conformance" / "c2.json.sig").read_bytes()
    )
    report = verify_sei_dir(venth)
    assert report.bad == [("conformance/c1.json", "the statement's subject is not this file")]


def test_missing_signature_and_orphan_signature_are_reported(venth: Path) -> None:
    (venth / "conformance" / "c1.json.sig").unlink()
    (venth / "reconstruct.json").unlink()
    report = verify_sei_dir(venth)
    assert sorted(report.bad) == [
        ("conformance/c1.json", "no signature (c1.json.sig is missing)"),
        ("reconstruct.json", "the signed file is missing"),
    ]


def test_garbage_sig_is_reported_not_raised(venth: Path) -> None:
    (venth / "bundle.json.sig").write_bytes(b"\x00\xffnot json")
    report = verify_sei_dir(venth)
    assert report.bad == [("bundle.json", "envelope is not JSON")]


def test_pubkey_trusted_through_seid_trust(venth: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert not verify_sei_dir(venth, trusted_ids=keys.trusted_keys(repo)).ok
    keys.add_trusted(repo, venth / "PUBKEY.txt")
    assert verify_sei_dir(venth, trusted_ids=keys.trusted_keys(repo)).ok


def test_untrusted_pubkey_is_reported(venth: Path) -> None:
    report = verify_sei_dir(venth, trusted_ids={"0" * 64})
    assert [name for name, _ in report.bad] == ["PUBKEY.txt"]
    assert verify_sei_dir(venth, trusted_ids={report.key_id}).ok


@pytest.mark.parametrize("content", ["", "zz", "04" + "00" * 64, "02" + "11" * 32])
def test_bad_pubkey_is_an_input_error(venth: Path, content: str) -> None:
    (venth / "PUBKEY.txt").write_text(content)
    with pytest.raises(InputError, match=r"PUBKEY\.txt"):
        verify_sei_dir(venth)


def test_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        verify_sei_dir(tmp_path / "absent")


def test_seid_verify_sei_pins_the_key_and_reports_tampering(seid: SeidRunner, repo: Path) -> None:
    """End to end through the CLI: PUBKEY.txt counts only once it is trusted in the repo."""
    _make_venth(repo / ".venth")
    untrusted = seid("verify", "--sei", ".venth", cwd=repo)
    assert untrusted.code == 1
    assert "PUBKEY.txt" in untrusted.out
    assert seid("trust", "add", ".venth/PUBKEY.txt", cwd=repo).code == 0
    good = seid("verify", "--sei", ".venth", cwd=repo)
    assert good.code == 0, good.out + good.err
    _flip(repo / ".venth" / "conformance" / "c2.json", 0)
    bad = seid("verify", "--sei", ".venth", cwd=repo)
    assert bad.code == 1
    assert "conformance/c2.json: file does not match the signed sha256 digest" in bad.out
