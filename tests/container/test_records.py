"""Signed digest records: a store rewritten without the host key cannot pass."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from seid import container, keys
from seid.container import records, store
from seid.errors import SeidError, VerificationError


@pytest.fixture
def host_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> keys.GeneratedKey:
    """A signing key for the writer, and a trust directory holding its public half."""
    generated = keys.generate(tmp_path / "keys", "host")
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copyfile(generated.public_path, trust / "host.pub")
    monkeypatch.setenv(keys.KEY_ENV, str(generated.private_path))
    monkeypatch.setenv(records.TRUST_ENV, str(trust))
    return generated


def _store(tmp_path: Path, name: str, data: bytes, run: str | None = None) -> Path:
    """Pack ``data`` as ``name`` in a store and write its record as the plugin does."""
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    target = tmp_path / "store" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    signer = records.host_signer()
    records.write_record(target, container.pack(src, target), name, run, signer)
    return target


def _forge(tmp_path: Path, target: Path, name: str, form: str) -> None:
    """What a writer without the key can do: pack other bytes at the place and write an
    unsigned record for them there (this seid's JSON line, or an earlier one's hex)."""
    (tmp_path / "forged").write_bytes(b'{"auc": 0.99}\n')
    header = container.pack(tmp_path / "forged", target)
    line = records.Record(header.hexdigest, header.size, name).to_bytes()
    records.digest_path(target).write_bytes(line if form == "json" else header.hexdigest.encode())


def test_a_signed_record_round_trips(host_key: keys.GeneratedKey, tmp_path: Path) -> None:
    target = _store(tmp_path, "model.bin", b"weights" * 100)
    line = records.digest_path(target).read_bytes()
    assert line.startswith(b'{"payload"') and line.count(b"\n") == 1
    envelope = json.loads(line)
    assert envelope["signatures"][0]["keyid"] == host_key.key_id
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicateType"] == records.PREDICATE
    assert statement["subject"][0]["name"] == "model.bin"
    assert store.decode_recorded(target, "model.bin", None).size == 700


@pytest.mark.parametrize("form", ["json", "hex"])
def test_a_record_rewritten_without_the_key_is_refused(
    host_key: keys.GeneratedKey, tmp_path: Path, form: str
) -> None:
    target = _store(tmp_path, "metrics.json", b'{"auc": 0.91}\n')
    _forge(tmp_path, target, "metrics.json", form)
    with pytest.raises(VerificationError, match="not signed by a trusted key") as err:
        store.decode_recorded(target, "metrics.json", None)
    assert "\n" not in str(err.value)


def test_an_edited_or_foreign_signature_is_refused(
    host_key: keys.GeneratedKey, tmp_path: Path
) -> None:
    target = _store(tmp_path, "a.bin", b"a" * 500)
    envelope = json.loads(records.digest_path(target).read_bytes())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["size"] = 501
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    records.digest_path(target).write_text(json.dumps(envelope) + "\n")
    with pytest.raises(VerificationError, match="digest record refused: bad signature"):
        store.decode_recorded(target, "a.bin", None)
    other = keys.generate(tmp_path / "other", "intruder")
    line = records.Record(container.header_of(target).hexdigest, 500, "a.bin").to_bytes(
        keys.load_signer(other.private_path)
    )
    records.digest_path(target).write_bytes(line + b"\n")
    with pytest.raises(VerificationError, match="no signature by a trusted key"):
        store.decode_recorded(target, "a.bin", None)


def test_a_reader_that_trusts_no_key_reads_every_record_as_before(
    host_key: keys.GeneratedKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed = _store(tmp_path, "signed.bin", b"s" * 300)
    monkeypatch.delenv(keys.KEY_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    unsigned = _store(tmp_path, "unsigned.bin", b"u" * 300)
    assert not records.digest_path(unsigned).read_bytes().startswith(b'{"payload"')
    legacy = _store(tmp_path, "legacy.bin", b"l" * 300)
    records.digest_path(legacy).write_text(container.header_of(legacy).hexdigest + "\n")
    monkeypatch.setenv(records.TRUST_ENV, "")
    for path in (signed, unsigned, legacy):
        assert store.decode_recorded(path, path.name, None).size == 300


def test_the_repositorys_trust_directory_demands_nothing_unless_named(
    host_key: keys.GeneratedKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys a repository trusts for its ledger are not a demand on every store read
    from inside it (its pipelines may write unsigned records); SEID_TRUST_DIR can name
    them."""
    target = _store(tmp_path, "m.bin", b"m" * 300)
    repo = tmp_path / "repo"
    keys.add_trusted(repo, host_key.public_path)
    records.digest_path(target).write_bytes(
        records.Record(container.header_of(target).hexdigest, 300, "m.bin").to_bytes()
    )
    monkeypatch.delenv(records.TRUST_ENV)
    monkeypatch.chdir(repo)
    assert records.reader_keys() == {}
    assert store.decode_recorded(target, "m.bin", None).size == 300
    monkeypatch.setenv(records.TRUST_ENV, str(repo / ".sei" / "trust"))
    assert set(records.reader_keys()) == {host_key.key_id}
    with pytest.raises(VerificationError, match="not signed by a trusted key"):
        store.decode_recorded(target, "m.bin", None)


def test_a_configured_key_that_cannot_be_used_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated = keys.generate(tmp_path / "keys", "host")
    generated.private_path.chmod(0o644)
    monkeypatch.setenv(keys.KEY_ENV, str(generated.private_path))
    with pytest.raises(SeidError, match="too open"):
        records.host_signer()
    monkeypatch.setenv(records.TRUST_ENV, str(tmp_path / "missing"))
    with pytest.raises(SeidError, match="not a directory"):
        records.reader_keys()
