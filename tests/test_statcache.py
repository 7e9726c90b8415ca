"""The stat cache: unchanged files are never re-read, changed ones always are."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from seid.errors import InputError
from seid.fsutil import CACHE_PATH
from seid.statcache import StatCache, hash_file


def aged(path: Path, content: bytes) -> Path:
    """Write ``content`` and date it 10 s back, so the cache may trust it (not racy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 10_000_000_000))
    return path


def stats(root: Path, *rels: str) -> dict[str, os.stat_result]:
    return {rel: (root / rel).stat() for rel in rels}


def test_hit_and_miss_are_counted(tmp_path: Path) -> None:
    aged(tmp_path / "a.txt", b"alpha")
    aged(tmp_path / "b.txt", b"beta")
    with StatCache.open(tmp_path) as cache:
        first = cache.digests(tmp_path, stats(tmp_path, "a.txt", "b.txt"))
        assert (cache.hits, cache.misses) == (0, 2)
    assert first["a.txt"] == hashlib.sha256(b"alpha").hexdigest()
    with StatCache.open(tmp_path) as cache:
        again = cache.digests(tmp_path, stats(tmp_path, "a.txt", "b.txt"))
        assert (cache.hits, cache.misses) == (2, 0)
    assert again == first
    aged(tmp_path / "b.txt", b"BETA")
    with StatCache.open(tmp_path) as cache:
        third = cache.digests(tmp_path, stats(tmp_path, "a.txt", "b.txt"))
        assert (cache.hits, cache.misses) == (1, 1)
    assert third["b.txt"] == hashlib.sha256(b"BETA").hexdigest()


def test_cache_is_sqlite_in_wal_mode(tmp_path: Path) -> None:
    aged(tmp_path / "a.txt", b"alpha")
    with StatCache.open(tmp_path) as cache:
        cache.digests(tmp_path, stats(tmp_path, "a.txt"))
    conn = sqlite3.connect(tmp_path / CACHE_PATH)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    row = conn.execute("SELECT path, size, digest FROM stat").fetchone()
    assert row == ("a.txt", 5, hashlib.sha256(b"alpha").hexdigest())


def test_racy_file_is_not_trusted(tmp_path: Path) -> None:
    """A file modified just now could change again within the same mtime tick."""
    (tmp_path / "fresh.txt").write_bytes(b"now")
    with StatCache.open(tmp_path) as cache:
        cache.digests(tmp_path, stats(tmp_path, "fresh.txt"))
    with StatCache.open(tmp_path) as cache:
        cache.digests(tmp_path, stats(tmp_path, "fresh.txt"))
        assert cache.misses == 1


def test_same_size_rewrite_with_old_mtime_but_new_inode_is_a_miss(tmp_path: Path) -> None:
    target = aged(tmp_path / "d.bin", b"0123")
    with StatCache.open(tmp_path) as cache:
        cache.digests(tmp_path, stats(tmp_path, "d.bin"))
    old = target.stat()
    replacement = aged(tmp_path / "tmp.bin", b"3210")
    os.utime(replacement, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(replacement, target)
    with StatCache.open(tmp_path) as cache:
        out = cache.digests(tmp_path, stats(tmp_path, "d.bin"))
        assert cache.misses == 1
    assert out["d.bin"] == hashlib.sha256(b"3210").hexdigest()


def test_rows_of_unwatched_paths_are_dropped(tmp_path: Path) -> None:
    aged(tmp_path / "a.txt", b"a")
    aged(tmp_path / "b.txt", b"b")
    with StatCache.open(tmp_path) as cache:
        cache.digests(tmp_path, stats(tmp_path, "a.txt", "b.txt"))
    with StatCache.open(tmp_path) as cache:
        cache.digests(tmp_path, stats(tmp_path, "a.txt"))
    conn = sqlite3.connect(tmp_path / CACHE_PATH)
    assert [r[0] for r in conn.execute("SELECT path FROM stat")] == ["a.txt"]


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    aged(tmp_path / "a.txt", b"a")
    (tmp_path / CACHE_PATH).parent.mkdir(parents=True)
    (tmp_path / CACHE_PATH).write_bytes(b"this is not a database" * 100)
    with StatCache.open(tmp_path) as cache:
        out = cache.digests(tmp_path, stats(tmp_path, "a.txt"))
    assert out["a.txt"] == hashlib.sha256(b"a").hexdigest()


def test_file_rewritten_while_hashed_is_hashed_again(tmp_path: Path) -> None:
    target = aged(tmp_path / "w.bin", b"first version")
    calls: list[str] = []

    def rewrite_once(rel: str) -> None:
        if not calls:
            target.write_bytes(b"second, longer version")
        calls.append(rel)

    digest, key = hash_file(target, "w.bin", hook=rewrite_once)
    assert calls == ["w.bin", "w.bin"]
    assert digest == hashlib.sha256(b"second, longer version").hexdigest()
    assert key.size == len(b"second, longer version")


def test_rewrite_during_parallel_hashing_is_counted(tmp_path: Path) -> None:
    for i in range(6):
        aged(tmp_path / f"f{i}", bytes([i]) * 4096)
    rewritten: list[str] = []

    def hook(rel: str) -> None:
        if rel == "f3" and not rewritten:
            rewritten.append(rel)
            (tmp_path / "f3").write_bytes(b"changed under the hasher")

    with StatCache.open(tmp_path) as cache:
        out = cache.digests(tmp_path, stats(tmp_path, *(f"f{i}" for i in range(6))), hook=hook)
        assert cache.rehashed == 1
    assert out["f3"] == hashlib.sha256(b"changed under the hasher").hexdigest()
    assert out["f0"] == hashlib.sha256(bytes([0]) * 4096).hexdigest()


def test_file_that_never_settles_is_an_error(tmp_path: Path) -> None:
    target = aged(tmp_path / "busy.log", b"x")

    def grow(rel: str) -> None:
        with target.open("ab") as f:
            f.write(b"x")

    with pytest.raises(InputError, match=r"busy\.log: changed 5 times"):
        hash_file(target, "busy.log", hook=grow)


def test_large_file_digest_matches_hashlib(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # crosses several 1 MiB reads
    aged(tmp_path / "big.bin", data)
    digest, _ = hash_file(tmp_path / "big.bin", "big.bin")
    assert digest == hashlib.sha256(data).hexdigest()


def test_missing_file_is_input_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^gone\.csv: cannot read watched input"):
        hash_file(tmp_path / "gone.csv", "gone.csv")


def test_unwritable_repo_runs_uncached(tmp_path: Path) -> None:
    aged(tmp_path / "a.txt", b"a")
    (tmp_path / ".sei").write_text("a file where the directory should be")
    with StatCache.open(tmp_path) as cache:
        cache.digests(tmp_path, stats(tmp_path, "a.txt"))
        cache.digests(tmp_path, stats(tmp_path, "a.txt"))
        assert cache.misses == 1 and cache.hits == 1
