"""Signing keys: generate, load (with ssh-like permission checks), and trust.

A key id is the lowercase hex SHA-256 of the raw public key bytes (the 32 bytes of an
Ed25519 key), so anyone can recompute it from the ``.pub`` file alone. Signing goes
through securesystemslib's ``Signer`` interface: the rest of seid only calls
``signer.sign(pae)`` and ``signer.public_key.keyid``, so a KMS or HSM signer can take
the place of the file signer without touching the ledger or the evidence code.

Key material never goes into an error message: errors name the path and what is wrong,
never the bytes read.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
    load_ssh_public_key,
)
from securesystemslib.signer import (  # type: ignore[attr-defined]  # re-exported
    SIGNER_FOR_URI_SCHEME,
    CryptoSigner,
    Key,
    Signer,
    SSlibKey,
)

from seid.errors import InputError, SeidError
from seid.fsutil import TRUST_DIR, open_regular, sei_dir, write_atomic

KEY_ENV = "SEID_SIGNING_KEY"
PUBKEY_ENV = "SEID_SIGNING_PUBKEY"
CREDENTIAL_NAME = "seid-signing-key"
PUBLIC_SUFFIX = ".pub"
HOLDER_SUFFIX = ".json"
_MAX_KEY_FILE = 64 * 1024  # a PEM key is a few hundred bytes; refuse anything huge
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class GeneratedKey:
    """Where :func:`generate` wrote a key pair, and its key id."""

    private_path: Path
    public_path: Path
    key_id: str


def key_id_of_public_bytes(raw: bytes) -> str:
    """Key id of a raw public key (32 bytes for Ed25519): lowercase hex SHA-256."""
    return hashlib.sha256(raw).hexdigest()


def key_id_of(public_key: PublicKeyTypes) -> str:
    """Key id of a ``cryptography`` public key.

    Ed25519 hashes the raw 32 bytes; ECDSA the uncompressed point (as the sei engine's
    ``PUBKEY.txt``); any other type its DER SubjectPublicKeyInfo.
    """
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        raw = public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    else:
        raw = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return key_id_of_public_bytes(raw)


def default_key_dir() -> Path:
    """Per-user key directory, like ``~/.ssh``: ``$XDG_CONFIG_HOME/seid/keys``."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "seid" / "keys"


def generate(out_dir: Path, name: str = "seid") -> GeneratedKey:
    """Write a new Ed25519 key pair ``<name>`` (PKCS#8 PEM, 0600) and ``<name>.pub``.

    The private file is created with O_EXCL and mode 0600 so it is never readable by
    others, not even for an instant, and an existing key is never overwritten.
    """
    if not _NAME.fullmatch(name) or name.endswith(PUBLIC_SUFFIX):
        raise SeidError(f"bad key name {name!r}: letters, digits, '.', '_', '-'; no '.pub'")
    private_path = out_dir / name
    public_path = out_dir / f"{name}{PUBLIC_SUFFIX}"
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise SeidError(f"{path} already exists; refusing to overwrite a key")
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SeidError(f"cannot create {out_dir}: {exc.strerror}") from None
    private_key = ed25519.Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    _write_new(private_path, pem, 0o600)
    try:
        _write_new(public_path, _public_pem(private_key.public_key()), 0o644)
    except SeidError:
        private_path.unlink()  # no half-written pair
        raise
    return GeneratedKey(private_path, public_path, key_id_of(private_key.public_key()))


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` exclusively with ``mode`` from the start, write and fsync it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise SeidError(f"{path} already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise SeidError(f"cannot create {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)  # the umask may have removed bits we want (never added any)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise SeidError(f"cannot write {path}: {exc.strerror}") from None
    os.close(fd)


def _public_pem(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def find_private_key(explicit: Path | None = None) -> Path:
    """The private key to sign with: ``--key``, ``$SEID_SIGNING_KEY``, the systemd
    credential ``$CREDENTIALS_DIRECTORY/seid-signing-key``, else ``seid`` in
    :func:`default_key_dir` (where ``seid key generate`` puts it)."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return Path(from_env)
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / CREDENTIAL_NAME).exists():
        return Path(credentials) / CREDENTIAL_NAME
    fallback = default_key_dir() / "seid"
    if fallback.exists():
        return fallback
    raise SeidError(
        f"no signing key: pass --key, set {KEY_ENV}, provide the systemd credential "
        f"{CREDENTIAL_NAME}, or run 'seid key generate'"
    )


def load_signer(explicit: Path | None = None) -> Signer:
    """A securesystemslib signer for the private key found by :func:`find_private_key`.

    Refuses a key file that group or others may read, as ssh does. The signer's public
    key carries our key id, so signatures name the key the ledger is kept under.
    ``$SEID_SIGNING_KEY`` may instead be a securesystemslib signer URI (``gcpkms:``,
    ``awskms:``, ``hsm:``, ...) with the public key file in ``$SEID_SIGNING_PUBKEY``.
    """
    if explicit is None and _is_signer_uri(os.environ.get(KEY_ENV, "")):
        return _uri_signer(os.environ[KEY_ENV])
    path = find_private_key(explicit)
    private_key = _load_private(path)
    public_key = private_key.public_key()
    try:
        sslib_key = SSlibKey.from_crypto(public_key, keyid=key_id_of(public_key))
        return CryptoSigner(private_key, sslib_key)
    except ValueError:
        raise InputError(path, "unsupported private key type") from None


def _is_signer_uri(text: str) -> bool:
    """``scheme:rest`` for a scheme securesystemslib can sign with, other than a file."""
    scheme, colon, _ = text.partition(":")
    known = scheme in SIGNER_FOR_URI_SCHEME and scheme != CryptoSigner.SCHEME
    return bool(colon) and known and not Path(text).exists()


def _uri_signer(uri: str) -> Signer:
    scheme = uri.partition(":")[0]
    pub = os.environ.get(PUBKEY_ENV)
    if not pub:
        raise SeidError(f"{KEY_ENV} is a {scheme}: signer; set {PUBKEY_ENV} to its public key")
    public = load_public_key(Path(pub))
    try:
        signer = Signer.from_priv_key_uri(uri, public)
    except Exception as exc:  # KMS and HSM libraries raise their own types
        raise SeidError(f"cannot open the {scheme}: signer: {type(exc).__name__}") from None
    if signer.public_key.keyid != public.keyid:
        raise SeidError(f"the {scheme}: signer does not sign as key {public.keyid}")
    return signer


def _load_private(path: Path) -> PrivateKeyTypes:
    data = _read_private_file(path)
    try:
        return load_pem_private_key(data, password=None)
    except TypeError:
        raise InputError(path, "encrypted private keys are not supported") from None
    except Exception:  # cryptography raises several types; none may leak key bytes
        raise InputError(path, "not a PEM PKCS#8 private key") from None


def _read_private_file(path: Path) -> bytes:
    """Read a private key, checking the mode on the open descriptor (no race)."""
    try:
        handle = open_regular(path)  # symlinks are fine (Kubernetes secret mounts)
    except OSError as exc:
        raise InputError(path, f"cannot read private key: {exc.strerror}") from None
    with handle:
        return _read_private(path, handle)


def _read_private(path: Path, handle: io.BufferedReader) -> bytes:
    """The key's bytes, once the open descriptor's mode and size are right."""
    try:
        info = os.fstat(handle.fileno())
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise InputError(
                path,
                f"permissions {mode:04o} for '{path}' are too open: a private key must not "
                f"be readable by group or others (chmod 600 '{path}')",
            )
        if info.st_size > _MAX_KEY_FILE:
            raise InputError(path, "private key file is too large")
        return handle.read(_MAX_KEY_FILE + 1)
    except OSError as exc:
        raise InputError(path, f"cannot read private key: {exc.strerror}") from None


def load_public_key(path: Path) -> Key:
    """A public key file as a securesystemslib key whose keyid is ours.

    Accepts PEM (SubjectPublicKeyInfo), an OpenSSH public key line (so the key a person
    signs commits with can be trusted) or, as the sei engine writes ``PUBKEY.txt``, the
    hex of an uncompressed P-256 point.
    """
    return _sslib_key(path, _load_public(path))


def _sslib_key(path: Path, public_key: PublicKeyTypes) -> Key:
    try:
        return SSlibKey.from_crypto(public_key, keyid=key_id_of(public_key))
    except ValueError:
        raise InputError(path, "unsupported public key type") from None


def p256_from_hex(text: str) -> ec.EllipticCurvePublicKey:
    """A P-256 key from the hex of its 65-byte uncompressed point; ValueError if not."""
    raw = bytes.fromhex(text.strip())
    if len(raw) != 65 or raw[0] != 4:
        raise ValueError("not a 65-byte uncompressed point")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def _load_public(path: Path) -> PublicKeyTypes:
    try:
        with open_regular(path) as handle:
            data = handle.read(_MAX_KEY_FILE + 1)
    except OSError as exc:
        raise InputError(path, f"cannot read public key: {exc.strerror}") from None
    if len(data) > _MAX_KEY_FILE:
        raise InputError(path, "public key file is too large")
    if b"PRIVATE KEY" in data:
        raise InputError(path, "this is a private key; give the public key (.pub) file")
    try:
        if data.startswith((b"ssh-", b"ecdsa-")):
            return load_ssh_public_key(data.strip())
        if not data.lstrip().startswith(b"-----BEGIN"):
            return p256_from_hex(data.decode("ascii"))
        return load_pem_public_key(data)
    except Exception:  # several cryptography error types; the message must not echo data
        raise InputError(
            path, "not a PEM public key (nor OpenSSH, nor a hex P-256 point)"
        ) from None


def ssh_fingerprint(public_key: PublicKeyTypes) -> str | None:
    """``SHA256:<base64>`` as ssh-keygen and git's ``%GK`` print it; None for a key type
    ssh has no format for."""
    try:
        line = public_key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    except (ValueError, TypeError):
        return None
    digest = hashlib.sha256(base64.b64decode(line.split()[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _trust_files(repo_root: Path, suffix: str) -> list[Path]:
    trust_dir = repo_root / TRUST_DIR
    return sorted(trust_dir.glob(f"*{suffix}")) if trust_dir.is_dir() else []


def trusted_keys(repo_root: Path) -> dict[str, Key]:
    """The public keys committed under ``.sei/trust/``, by key id."""
    return keys_in(repo_root / TRUST_DIR)


def keys_in(directory: Path) -> dict[str, Key]:
    """The public keys (``*.pub``) in ``directory``, by key id."""
    keys: dict[str, Key] = {}
    for path in sorted(directory.glob(f"*{PUBLIC_SUFFIX}")) if directory.is_dir() else ():
        key = load_public_key(path)
        keys[key.keyid] = key
    return keys


def trusted_ssh_fingerprints(repo_root: Path) -> dict[str, str]:
    """The ssh fingerprint of each trusted key, to its key id: how a commit's ssh
    signature (git's ``%GK``) is traced to a key of the trust directory."""
    found: dict[str, str] = {}
    for path in _trust_files(repo_root, PUBLIC_SUFFIX):
        public_key = _load_public(path)
        fingerprint = ssh_fingerprint(public_key)
        if fingerprint is not None:
            found[fingerprint] = key_id_of(public_key)
    return found


@dataclass(frozen=True)
class Holder:
    """Who holds a trusted key, and the roles they may grant (none listed: the key's
    roles are not limited here, only by the policy's ``approval.approvers``)."""

    name: str
    email: str
    roles: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        doc = {"name": self.name, "email": self.email, "roles": list(self.roles)}
        return json.dumps(doc, sort_keys=True, indent=2).encode() + b"\n"


def trusted_holders(repo_root: Path) -> dict[str, Holder]:
    """The holder recorded for each trusted key (``.sei/trust/<key id>.json``), by key id.

    A record that is malformed, or whose key is not trusted beside it, is refused
    (naming the file) rather than skipped: it decides who may approve.
    """
    holders: dict[str, Holder] = {}
    for path in _trust_files(repo_root, HOLDER_SUFFIX):
        key_id = path.name.removesuffix(HOLDER_SUFFIX)
        if not path.with_name(f"{key_id}{PUBLIC_SUFFIX}").is_file():
            raise InputError(path, f"no trusted key {key_id}{PUBLIC_SUFFIX} beside this record")
        holders[key_id] = _read_holder(path)
    return holders


def _read_holder(path: Path) -> Holder:
    try:
        with open_regular(path) as handle:
            doc: Any = json.loads(handle.read(_MAX_KEY_FILE + 1))
    except (OSError, ValueError):
        raise InputError(path, "not a readable JSON key holder record") from None
    found = doc if isinstance(doc, dict) else {}
    name, email, roles = found.get("name"), found.get("email"), found.get("roles", [])
    if not (isinstance(name, str) and isinstance(email, str) and "@" in email) or not (
        isinstance(roles, list) and all(isinstance(role, str) for role in roles)
    ):
        raise InputError(path, 'expected {"name": str, "email": str, "roles": [str, ...]}')
    return Holder(name, email, tuple(roles))


def add_trusted(repo_root: Path, pub_path: Path, holder: Holder | None = None) -> str:
    """Copy a public key to ``.sei/trust/<key id>.pub`` (normalised PEM), and with
    ``holder`` record who holds it in ``<key id>.json``; returns the key id.

    Idempotent: adding the same key again rewrites the same files with the same bytes.
    A key added again without ``holder`` keeps the record it has.
    """
    public_key = _load_public(pub_path)
    key_id = _sslib_key(pub_path, public_key).keyid  # refuses types we cannot verify
    trust_dir = repo_root / TRUST_DIR
    try:
        sei_dir(repo_root, *TRUST_DIR.parts[1:])
        write_atomic(trust_dir / f"{key_id}{PUBLIC_SUFFIX}", _public_pem(public_key))
        if holder is not None:
            write_atomic(trust_dir / f"{key_id}{HOLDER_SUFFIX}", holder.to_json())
    except OSError as exc:
        raise SeidError(f"cannot write to {trust_dir}: {exc.strerror}") from None
    return key_id
