"""Evidence bundles: in-toto Statement v1 in DSSE; sign, verify, tamper, interoperate."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from securesystemslib.dsse import Envelope
from securesystemslib.signer import Key, Signer  # type: ignore[attr-defined]

from seid import evidence, keys
from seid.errors import SeidError, VerificationError
from tests.conftest import respell_base64


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def signer(key_dir: Path) -> Signer:
    return keys.load_signer(keys.generate(key_dir, "main").private_path)


@pytest.fixture(scope="module")
def trusted(key_dir: Path, signer: Signer) -> dict[str, Key]:
    key = keys.load_public_key(key_dir / "main.pub")
    return {key.keyid: key}


@pytest.fixture(scope="module")
def other_signer(key_dir: Path) -> Signer:
    return keys.load_signer(keys.generate(key_dir, "other").private_path)


def _statement() -> dict[str, Any]:
    subjects = [evidence.Subject("model.pkl", "ab" * 32), evidence.Subject("m.json", "cd" * 32)]
    predicate = {"gate": "pass", "metrics": {"auc": 0.91}, "host": "ml-01"}
    return evidence.statement(subjects, evidence.EVIDENCE_PREDICATE, predicate)


@pytest.fixture(scope="module")
def entry(signer: Signer) -> bytes:
    return evidence.sign(_statement(), signer)


def _envelope(entry: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(entry)
    return result


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def test_pae_matches_dsse_spec_vector() -> None:
    expected = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert evidence.pae("http://example.com/HelloWorld", b"hello world") == expected


def test_entry_is_canonical_compact_sorted_json(entry: bytes, signer: Signer) -> None:
    envelope = _envelope(entry)
    assert entry == _canonical(envelope)
    assert list(envelope) == ["payload", "payloadType", "signatures"]
    assert envelope["payloadType"] == evidence.PAYLOAD_TYPE
    assert envelope["signatures"][0]["keyid"] == signer.public_key.keyid
    payload = base64.b64decode(envelope["payload"])
    assert payload == _canonical(_statement())


def test_round_trip(entry: bytes, trusted: dict[str, Key], signer: Signer) -> None:
    verified = evidence.verify(entry, trusted)
    assert verified.statement == _statement()
    assert verified.statement["_type"] == evidence.STATEMENT_TYPE
    assert verified.keyids == (signer.public_key.keyid,)
    assert evidence.decode(entry) == _statement()


def test_stock_securesystemslib_dsse_verifies_seid_envelope(entry: bytes, key_dir: Path) -> None:
    """Only securesystemslib here: an auditor without seid can check the bundle."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]

    public = load_pem_public_key((key_dir / "main.pub").read_bytes())
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = SSlibKey.from_crypto(public, keyid=hashlib.sha256(raw).hexdigest())
    accepted = Envelope.from_dict(json.loads(entry)).verify([key], 1)
    assert list(accepted) == [key.keyid]

    tampered = json.loads(entry)
    tampered["payloadType"] = "text/plain"
    from securesystemslib.exceptions import VerificationError as SslibError

    with pytest.raises(SslibError):
        Envelope.from_dict(tampered).verify([key], 1)


def test_flipped_payload_byte_is_rejected(entry: bytes, trusted: dict[str, Key]) -> None:
    envelope = _envelope(entry)
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[40] ^= 0x01
    envelope["payload"] = base64.b64encode(bytes(payload)).decode()
    with pytest.raises(VerificationError, match="bad signature"):
        evidence.verify(_canonical(envelope), trusted)


def test_signature_from_another_envelope_is_rejected(
    entry: bytes, trusted: dict[str, Key], signer: Signer
) -> None:
    other = _statement()
    other["predicate"]["gate"] = "fail"
    donor = _envelope(evidence.sign(other, signer))
    envelope = _envelope(entry)
    envelope["signatures"] = donor["signatures"]
    with pytest.raises(VerificationError, match="bad signature"):
        evidence.verify(_canonical(envelope), trusted)


def test_untrusted_key_is_rejected(trusted: dict[str, Key], other_signer: Signer) -> None:
    with pytest.raises(VerificationError, match="no signature by a trusted key"):
        evidence.verify(evidence.sign(_statement(), other_signer), trusted)


def test_untrusted_signature_beside_trusted_one_is_ignored(
    entry: bytes, trusted: dict[str, Key], other_signer: Signer
) -> None:
    extra = _envelope(evidence.sign(_statement(), other_signer))["signatures"][0]
    envelope = _envelope(entry)
    envelope["signatures"].insert(0, extra)
    verified = evidence.verify(_canonical(envelope), trusted)
    assert verified.keyids == tuple(trusted)


def test_wrong_payload_type_is_rejected(entry: bytes, trusted: dict[str, Key]) -> None:
    envelope = _envelope(entry)
    envelope["payloadType"] = "application/json"
    with pytest.raises(VerificationError, match="payloadType"):
        evidence.verify(_canonical(envelope), trusted)


def test_missing_keyid_tries_every_trusted_key(entry: bytes, trusted: dict[str, Key]) -> None:
    envelope = _envelope(entry)
    del envelope["signatures"][0]["keyid"]
    assert evidence.verify(_canonical(envelope), trusted).keyids == tuple(trusted)


def test_url_safe_base64_is_accepted_and_mixed_alphabets_are_not(
    signer: Signer, trusted: dict[str, Key]
) -> None:
    statement = _statement()
    statement["predicate"]["note"] = "???>>>???>>>"  # base64 of these has '/' and '+'
    envelope = _envelope(evidence.sign(statement, signer))
    assert "/" in envelope["payload"] and "+" in envelope["payload"]
    for field in ("payload", "sig"):
        holder = envelope if field == "payload" else envelope["signatures"][0]
        holder[field] = holder[field].replace("+", "-").replace("/", "_")
    assert evidence.verify(_canonical(envelope), trusted).statement == statement
    envelope["payload"] = "-+" + envelope["payload"][2:]
    with pytest.raises(VerificationError, match="payload is not valid base64"):
        evidence.verify(_canonical(envelope), trusted)


def test_non_utf8_envelope_is_rejected(entry: bytes, trusted: dict[str, Key]) -> None:
    with pytest.raises(VerificationError, match="not JSON"):
        evidence.verify(entry.decode().encode("utf-16"), trusted)


def test_signed_payload_that_is_not_a_statement_is_rejected(
    signer: Signer, trusted: dict[str, Key]
) -> None:
    payload = b'{"_type":"https://in-toto.io/Statement/v0.1","subject":[]}'
    sig = signer.sign(evidence.pae(evidence.PAYLOAD_TYPE, payload))
    envelope = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": evidence.PAYLOAD_TYPE,
        "signatures": [
            {"keyid": sig.keyid, "sig": base64.b64encode(bytes.fromhex(sig.signature)).decode()}
        ],
    }
    with pytest.raises(VerificationError, match="not an in-toto Statement v1"):
        evidence.verify(_canonical(envelope), trusted)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\xff\xfe\x00garbage",
        b"[]",
        b"null",
        b'{"payload":"!!!","payloadType":"application/vnd.in-toto+json","signatures":[]}',
        b'{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[]}',
        b'{"payload":"e30=","payloadType":1,"signatures":[{"sig":"AA=="}]}',
        b'{"payload":"e30=","payloadType":"x","signatures":[{"keyid":5,"sig":"AA=="}]}',
        b'{"payload":"e30=","payloadType":"x","signatures":["AA=="]}',
        b"[" * 100_000,
    ],
)
def test_garbage_is_a_verification_error(garbage: bytes, trusted: dict[str, Key]) -> None:
    with pytest.raises(VerificationError):
        evidence.verify(garbage, trusted)
    with pytest.raises(VerificationError):
        evidence.decode(garbage)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_mutation_fails_only_with_verification_error(
    data: st.DataObject, entry: bytes, trusted: dict[str, Key]
) -> None:
    index = data.draw(st.integers(0, len(entry) - 1))
    replacement = data.draw(st.binary(min_size=0, max_size=3))
    mutated = entry[:index] + replacement + entry[index + 1 :]
    try:
        evidence.verify(mutated, trusted)
    except VerificationError:
        return
    # Only changes that leave the signed content and its signature intact may pass.
    assert _envelope(mutated)["payload"] == _envelope(entry)["payload"]


def test_untrusted_ecdsa_key_verified_through_securesystemslib(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "ec"
    path.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    path.chmod(0o600)
    pub = tmp_path / "ec.pub"
    pub.write_bytes(
        private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    key = keys.load_public_key(pub)
    entry = evidence.sign(_statement(), keys.load_signer(path))
    assert evidence.verify(entry, {key.keyid: key}).keyids == (key.keyid,)
    envelope = _envelope(entry)
    envelope["payloadType"] = evidence.PAYLOAD_TYPE + "x"
    with pytest.raises(VerificationError):
        evidence.verify(_canonical(envelope), {key.keyid: key})


def test_subject_for_file_names_path_relative_to_root(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / "m.bin"
    model.write_bytes(b"weights")
    subject = evidence.subject_for_file(model, tmp_path)
    assert subject == evidence.Subject("models/m.bin", hashlib.sha256(b"weights").hexdigest())
    with pytest.raises(SeidError, match="outside"):
        evidence.subject_for_file(model, tmp_path / "models" / "sub")


def test_nan_in_evidence_is_refused(signer: Signer) -> None:
    bad = evidence.statement([evidence.Subject("a", "00" * 32)], "p", {"x": float("nan")})
    with pytest.raises(SeidError, match="not plain JSON"):
        evidence.sign(bad, signer)


def test_malformed_statement_is_refused_at_signing(signer: Signer) -> None:
    no_subject = evidence.statement([], evidence.EVIDENCE_PREDICATE, {})
    with pytest.raises(SeidError, match=r"refusing to sign: .*empty subject list") as info:
        evidence.sign(no_subject, signer)
    assert not isinstance(info.value, VerificationError)
    with pytest.raises(SeidError, match="predicate is not an object"):
        evidence.sign(evidence.statement([evidence.Subject("a", "00")], "p", [1]), signer)


def test_only_canonical_base64_verifies(entry: bytes, trusted: dict[str, Key]) -> None:
    """Every edited byte of an envelope is reported, even one a lenient base64 decoder
    would read as no change; URL-safe canonical spellings stay valid, as DSSE allows."""
    envelope = json.loads(entry)
    sig = envelope["signatures"][0]["sig"]
    assert len(sig) % 4 == 0 and sig.endswith("=")  # a 64-byte signature: "==" padded
    respelled = respell_base64(sig)
    assert base64.b64decode(respelled) == base64.b64decode(sig) and respelled != sig
    envelope["signatures"][0]["sig"] = respelled
    with pytest.raises(VerificationError, match="not canonical base64"):
        evidence.verify(evidence.canonical_json(envelope), trusted)
    urlsafe = json.loads(entry)
    urlsafe["payload"] = base64.urlsafe_b64encode(base64.b64decode(urlsafe["payload"])).decode()
    urlsafe["signatures"][0]["sig"] = base64.urlsafe_b64encode(base64.b64decode(sig)).decode()
    assert evidence.verify(evidence.canonical_json(urlsafe), trusted).statement


def test_digests_other_tools_recompute_are_rfc_8785() -> None:
    """JCS writes UTF-8 as is and numbers in ECMAScript form (1.0 is 1), unlike the
    ASCII-escaped form seid signs: a JCS library elsewhere gets the same digest."""
    import hashlib

    from seid.evidence import canonical_json, jcs_sha256

    value = {"b": 1.0, "a": "modèle"}
    expected = hashlib.sha256('{"a":"modèle","b":1}'.encode()).hexdigest()
    assert jcs_sha256(value) == expected
    assert hashlib.sha256(canonical_json(value)).hexdigest() != expected
