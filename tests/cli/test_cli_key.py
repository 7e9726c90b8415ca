"""``seid key`` and ``seid trust`` through the real CLI in a subprocess."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from tests.conftest import SeidRunner, assert_one_line_error


def _key_id(pub: Path) -> str:
    raw = load_pem_public_key(pub.read_bytes()).public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def test_generate_default_dir_is_under_home_config(seid: SeidRunner, env: dict[str, str]) -> None:
    result = seid("key", "generate", extra_env={"XDG_CONFIG_HOME": ""})
    assert result.code == 0, result.err
    key_dir = Path(env["HOME"]) / ".config" / "seid" / "keys"
    private, public = key_dir / "seid", key_dir / "seid.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert f"key id:      {_key_id(public)}" in result.out
    assert str(private) in result.out
    assert "BEGIN" not in result.out + result.err
    again = seid("key", "generate", extra_env={"XDG_CONFIG_HOME": ""})
    assert_one_line_error(again, "already exists")


def test_generate_into_dir_and_print_id(seid: SeidRunner, tmp_path: Path) -> None:
    result = seid("key", "generate", "--out", tmp_path / "k", "--name", "host1")
    assert result.code == 0, result.err
    pub = tmp_path / "k" / "host1.pub"
    shown = seid("key", "id", pub)
    assert shown.code == 0
    assert shown.out == _key_id(pub) + "\n"


def test_key_id_of_private_key_is_refused(seid: SeidRunner, tmp_path: Path) -> None:
    seid("key", "generate", "--out", tmp_path)
    result = seid("key", "id", tmp_path / "seid")
    assert_one_line_error(result, "this is a private key")
    assert "PRIVATE KEY-----" not in result.err


def test_key_id_of_garbage_is_one_line(seid: SeidRunner, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pub"
    junk.write_text("-----BEGIN PUBLIC KEY-----\nc2VjcmV0LWxvb2tpbmc=\n-----END PUBLIC KEY-----\n")
    result = seid("key", "id", junk)
    assert_one_line_error(result, f"{junk}: not a PEM public key")
    assert "c2VjcmV0" not in result.err


def test_trust_add_and_list(seid: SeidRunner, repo: Path, tmp_path: Path) -> None:
    seid("key", "generate", "--out", tmp_path / "a")
    seid("key", "generate", "--out", tmp_path / "b")
    (repo / "sub").mkdir()
    for name in ("a", "b"):
        added = seid("trust", "add", tmp_path / name / "seid.pub", cwd=repo / "sub")
        assert added.code == 0, added.err
    ids = sorted(_key_id(tmp_path / name / "seid.pub") for name in ("a", "b"))
    assert sorted(p.stem for p in (repo / ".sei" / "trust").glob("*.pub")) == ids
    listed = seid("trust", "list", cwd=repo)
    assert listed.code == 0
    assert listed.out.splitlines() == [f"{key_id}  ed25519" for key_id in ids]


def test_trust_outside_a_repo_is_one_line(seid: SeidRunner, tmp_path: Path) -> None:
    seid("key", "generate", "--out", tmp_path / "k")
    outside = tmp_path / "plain"
    outside.mkdir()
    result = seid("trust", "add", tmp_path / "k" / "seid.pub", cwd=outside)
    assert_one_line_error(result, "not inside a git repository")


def test_trust_add_private_key_writes_nothing(seid: SeidRunner, repo: Path, tmp_path: Path) -> None:
    seid("key", "generate", "--out", tmp_path / "k")
    result = seid("trust", "add", tmp_path / "k" / "seid", cwd=repo)
    assert_one_line_error(result, "this is a private key")
    assert not (repo / ".sei").exists()


def test_trust_add_records_the_holder_and_roles(
    seid: SeidRunner, repo: Path, tmp_path: Path
) -> None:
    ssh = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh)], check=True)
    pub = ssh.with_suffix(".pub")  # OpenSSH: the key a person signs commits with
    refused = seid("trust", "add", pub, "--role", "risk-officer", cwd=repo)
    assert_one_line_error(refused, "--role needs --as")
    assert not (repo / ".sei").exists()
    added = seid("trust", "add", pub, "--as", "Bo <bo@x.org>", "--role", "risk-officer", cwd=repo)
    assert added.code == 0, added.err
    (record,) = (repo / ".sei" / "trust").glob("*.json")
    assert json.loads(record.read_text()) == {
        "name": "Bo",
        "email": "bo@x.org",
        "roles": ["risk-officer"],
    }
    key_id = record.name.removesuffix(".json")
    assert (
        seid("trust", "list", cwd=repo).out
        == f"{key_id}  ed25519  Bo <bo@x.org>  roles: risk-officer\n"
    )
    record.write_text('{"name": "Bo"}')
    assert_one_line_error(seid("trust", "list", cwd=repo), f"{record}: expected")
