"""Signing keys: generation, ssh-like permission checks, lookup order, trust."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_public_key,
)
from securesystemslib.signer import (  # type: ignore[attr-defined]
    SIGNER_FOR_URI_SCHEME,
    CryptoSigner,
    Key,
    Signature,
    Signer,
)

from seid import evidence, keys
from seid.errors import InputError, SeidError


@pytest.fixture
def no_key_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key from the environment or the user's real home."""
    monkeypatch.delenv(keys.KEY_ENV, raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _raw_public(path: Path) -> bytes:
    public = load_pem_public_key(path.read_bytes())
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_generate_writes_private_0600_and_public(tmp_path: Path) -> None:
    old = os.umask(0)  # even a permissive umask must not widen the private key
    try:
        generated = keys.generate(tmp_path / "keys", "host1")
    finally:
        os.umask(old)
    assert generated.private_path == tmp_path / "keys" / "host1"
    assert generated.public_path == tmp_path / "keys" / "host1.pub"
    assert stat.S_IMODE(generated.private_path.stat().st_mode) == 0o600
    assert generated.private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert b"PRIVATE" not in generated.public_path.read_bytes()
    assert generated.key_id == hashlib.sha256(_raw_public(generated.public_path)).hexdigest()


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    first = keys.generate(tmp_path)
    before = first.private_path.read_bytes()
    with pytest.raises(SeidError, match="refusing to overwrite"):
        keys.generate(tmp_path)
    assert first.private_path.read_bytes() == before


@pytest.mark.parametrize("name", ["", "a/b", ".hidden", "x.pub", "a\x00b", "../k"])
def test_generate_refuses_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(SeidError, match="bad key name"):
        keys.generate(tmp_path, name)


def test_key_id_is_sha256_of_raw_public_key(tmp_path: Path) -> None:
    generated = keys.generate(tmp_path)
    raw = _raw_public(generated.public_path)
    assert len(raw) == 32
    assert keys.key_id_of_public_bytes(raw) == hashlib.sha256(raw).hexdigest()
    assert keys.load_public_key(generated.public_path).keyid == generated.key_id
    assert keys.load_signer(generated.private_path).public_key.keyid == generated.key_id


def test_group_readable_key_is_refused_with_one_line(tmp_path: Path) -> None:
    generated = keys.generate(tmp_path)
    generated.private_path.chmod(0o644)
    with pytest.raises(InputError) as info:
        keys.load_signer(generated.private_path)
    message = str(info.value)
    assert f"permissions 0644 for '{generated.private_path}' are too open" in message
    assert "\n" not in message


def test_bad_key_file_error_does_not_echo_key_bytes(tmp_path: Path) -> None:
    secret = (
        "-----BEGIN PRIVATE KEY-----\nTUlJQ0FTRUNSRVRTRUNSRVRTRUNSRVQ=\n-----END PRIVATE KEY-----\n"
    )
    path = tmp_path / "broken"
    path.write_text(secret)
    path.chmod(0o600)
    with pytest.raises(InputError) as info:
        keys.load_signer(path)
    assert "TUlJQ0FTRUNSRVRTRUNSRVRTRUNSRVQ" not in str(info.value)
    assert str(info.value) == f"{path}: not a PEM PKCS#8 private key"


def test_private_key_is_never_accepted_as_public(tmp_path: Path) -> None:
    generated = keys.generate(tmp_path)
    with pytest.raises(InputError, match="this is a private key") as info:
        keys.load_public_key(generated.private_path)
    assert "PRIVATE KEY-----" not in str(info.value)
    with pytest.raises(InputError):
        keys.add_trusted(tmp_path, generated.private_path)
    assert not (tmp_path / ".sei").exists()


def test_signer_from_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_key_env: None
) -> None:
    generated = keys.generate(tmp_path)
    monkeypatch.setenv(keys.KEY_ENV, str(generated.private_path))
    assert keys.load_signer().public_key.keyid == generated.key_id


def test_signer_from_systemd_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_key_env: None
) -> None:
    creds = tmp_path / "creds"
    generated = keys.generate(creds, keys.CREDENTIAL_NAME)
    generated.private_path.chmod(0o400)  # as systemd hands credentials over
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert keys.load_signer().public_key.keyid == generated.key_id


def test_lookup_order_explicit_then_env_then_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_key_env: None
) -> None:
    explicit = keys.generate(tmp_path / "a")
    from_env = keys.generate(tmp_path / "b")
    cred = keys.generate(tmp_path / "c", keys.CREDENTIAL_NAME)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "c"))
    assert keys.load_signer().public_key.keyid == cred.key_id
    monkeypatch.setenv(keys.KEY_ENV, str(from_env.private_path))
    assert keys.load_signer().public_key.keyid == from_env.key_id
    assert keys.load_signer(explicit.private_path).public_key.keyid == explicit.key_id


def test_default_key_dir_is_last_resort(tmp_path: Path, no_key_env: None) -> None:
    with pytest.raises(SeidError, match="no signing key"):
        keys.load_signer()
    generated = keys.generate(keys.default_key_dir())
    assert keys.load_signer().public_key.keyid == generated.key_id


def test_key_through_symlink_is_checked_at_its_target(tmp_path: Path) -> None:
    generated = keys.generate(tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(generated.private_path)
    assert keys.load_signer(link).public_key.keyid == generated.key_id
    generated.private_path.chmod(0o640)
    with pytest.raises(InputError, match="permissions 0640"):
        keys.load_signer(link)


def test_missing_key_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read private key"):
        keys.load_signer(tmp_path / "nope")


def test_trust_add_and_list(tmp_path: Path) -> None:
    one = keys.generate(tmp_path / "one")
    two = keys.generate(tmp_path / "two")
    repo = tmp_path / "repo"
    assert keys.trusted_keys(repo) == {}
    assert keys.add_trusted(repo, one.public_path) == one.key_id
    assert keys.add_trusted(repo, one.public_path) == one.key_id  # idempotent
    keys.add_trusted(repo, two.public_path)
    stored = repo / ".sei" / "trust" / f"{one.key_id}.pub"
    assert stored.read_bytes() == one.public_path.read_bytes()
    assert sorted(keys.trusted_keys(repo)) == sorted([one.key_id, two.key_id])
    assert [p.name for p in (repo / ".sei" / "trust").iterdir() if p.name.startswith(".")] == []


def test_trusted_ecdsa_key_uses_uncompressed_point_id(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pub = tmp_path / "ec.pub"
    pub.write_bytes(
        private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    point = private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert keys.add_trusted(tmp_path, pub) == hashlib.sha256(point).hexdigest()


def test_ecdsa_private_key_signs_too(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "ec"
    path.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    path.chmod(0o600)
    signer = keys.load_signer(path)
    assert signer.public_key.keyid == keys.key_id_of(private.public_key())


def test_sei_engine_hex_pubkey_can_be_trusted(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    point = private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    pubkey_txt = tmp_path / "PUBKEY.txt"
    pubkey_txt.write_text(point.hex() + "\n")
    key_id = keys.add_trusted(tmp_path, pubkey_txt)
    assert key_id == hashlib.sha256(point).hexdigest()
    assert keys.trusted_keys(tmp_path)[key_id].scheme == "ecdsa-sha2-nistp256"


def test_unsupported_public_key_type_is_not_trusted(tmp_path: Path) -> None:
    pub = tmp_path / "x.pub"
    public = x25519.X25519PrivateKey.generate().public_key()
    pub.write_bytes(public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(InputError, match="unsupported public key type"):
        keys.add_trusted(tmp_path, pub)
    assert not (tmp_path / ".sei" / "trust").exists() or not any(
        (tmp_path / ".sei" / "trust").iterdir()
    )


class _PluggedSigner(Signer):
    """A signer reached by URI, as a KMS or HSM signer would be (here: a local file)."""

    SCHEME = "seidtest"

    def __init__(self, inner: Signer, public_key: Key) -> None:
        self._inner = inner
        self._public_key = public_key

    @classmethod
    def from_priv_key_uri(
        cls, priv_key_uri: str, public_key: Key, secrets_handler: object = None
    ) -> _PluggedSigner:
        return cls(keys.load_signer(Path(priv_key_uri.partition(":")[2])), public_key)

    @property
    def public_key(self) -> Key:
        return self._public_key

    def sign(self, payload: bytes) -> Signature:
        signature: Signature = self._inner.sign(payload)
        return signature


def test_signer_by_uri_plugs_in_through_securesystemslib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_key_env: None
) -> None:
    generated = keys.generate(tmp_path)
    monkeypatch.setitem(SIGNER_FOR_URI_SCHEME, _PluggedSigner.SCHEME, _PluggedSigner)
    monkeypatch.setenv(keys.KEY_ENV, f"seidtest:{generated.private_path}")
    with pytest.raises(SeidError, match=keys.PUBKEY_ENV):
        keys.load_signer()
    monkeypatch.setenv(keys.PUBKEY_ENV, str(generated.public_path))
    signer = keys.load_signer()
    assert isinstance(signer, _PluggedSigner)
    assert not isinstance(signer, CryptoSigner)
    public = keys.load_public_key(generated.public_path)
    statement = evidence.statement([evidence.Subject("a", "00" * 32)], "p", {})
    entry = evidence.sign(statement, signer)
    assert evidence.verify(entry, {public.keyid: public}).keyids == (generated.key_id,)
