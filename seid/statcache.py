"""Content digests of watched files, with a stat cache so unchanged files are never re-read.

The cache lives in ``<repo>/.sei/cache/stat.sqlite`` (WAL mode, so the daemon and a
``seid status`` can share it). A row is keyed by repo-relative path and holds the
``(inode, size, mtime_ns, ctime_ns)`` seen when the file was hashed, with its SHA-256.
A file whose stat still matches is trusted without reading it, as git trusts its index.

Racy entries are not stored: a file modified less than :data:`RACY_NS` before it was
hashed could be rewritten again within the same timestamp tick, with the same size,
and the cache would then hide the change (git's "racily clean" problem). Such a file is
simply hashed again next time, until it is old enough to be trusted.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path
from typing import NamedTuple

from seid.errors import InputError
from seid.fsutil import CACHE_PATH, open_regular, sei_dir

CHUNK = 1 << 20
RACY_NS = 2_000_000_000
MAX_ATTEMPTS = 5

# Called with the repo-relative path after a file was read and before it is stat'ed again.
# Test-only: lets a test rewrite the file mid-hash to prove the rewrite is caught.
ReadHook = Callable[[str], None]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS stat (path TEXT PRIMARY KEY, inode INTEGER NOT NULL,"
    " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,"
    " digest TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS blob (oid TEXT PRIMARY KEY, digest TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
)


class StatKey(NamedTuple):
    """The part of a stat result that says whether a file may have changed.

    A named tuple, not a dataclass: ten thousand are built and compared per status.
    """

    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> StatKey:
        return cls(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read_error(rel: str, exc: OSError) -> InputError:
    return InputError(rel, f"cannot read watched input: {exc.strerror or exc}")


_local = threading.local()


def _buffer() -> tuple[bytearray, memoryview]:
    """One 1 MiB read buffer per thread: allocating it per file costs more than small files."""
    if not hasattr(_local, "buf"):
        _local.buf = bytearray(CHUNK)
        _local.view = memoryview(_local.buf)
    return _local.buf, _local.view


def hash_file(path: Path, rel: str, hook: ReadHook | None = None) -> tuple[str, StatKey]:
    """SHA-256 of one regular file, read in 1 MiB chunks.

    The file is stat'ed through the open descriptor before reading and by path after;
    if the two differ (rewritten, truncated or replaced meanwhile) it is read again, so
    a digest is never paired with a stat it does not belong to.
    """
    buf, view = _buffer()
    for _ in range(MAX_ATTEMPTS):
        try:
            with open_regular(path, rel, raw=True) as f:
                before = StatKey.of(os.fstat(f.fileno()))
                h = sha256()
                while n := f.readinto(buf):
                    h.update(view[:n])
            if hook is not None:
                hook(rel)
            after = StatKey.of(os.stat(path))
        except OSError as exc:
            raise _read_error(rel, exc) from None
        if before == after:
            return h.hexdigest(), after
    raise InputError(rel, f"changed {MAX_ATTEMPTS} times while being hashed; try again")


class StatCache:
    """The stat -> digest cache of one repository, with hit/miss counters."""

    def __init__(self, conn: sqlite3.Connection | None) -> None:
        self._conn = conn
        # Keys stay plain tuples from SQLite (equal to a StatKey with the same fields).
        self._rows: dict[str, tuple[tuple[int, ...], str]] | None = None
        self.hits = 0
        self.misses = 0
        self.rehashed = 0

    @classmethod
    @contextmanager
    def open(cls, root: Path) -> Iterator[StatCache]:
        """Open (creating) the cache of ``root``; without a writable ``.sei/`` run uncached."""
        try:
            path = sei_dir(root, *CACHE_PATH.parent.parts[1:]) / CACHE_PATH.name
            conn = _connect(path)
        except (OSError, sqlite3.Error):
            conn = None
        try:
            yield cls(conn)
        finally:
            if conn is not None:
                conn.close()

    def _load(self) -> dict[str, tuple[tuple[int, ...], str]]:
        if self._rows is None:
            rows = [] if self._conn is None else self._conn.execute("SELECT * FROM stat")
            self._rows = {r[0]: (r[1:5], r[5]) for r in rows}
        return self._rows

    def digests(
        self,
        root: Path,
        files: Mapping[str, os.stat_result],
        hook: ReadHook | None = None,
        workers: int | None = None,
    ) -> dict[str, str]:
        """Digest every ``rel -> stat`` in ``files``: cached when the stat matches, else read.

        Misses are hashed in parallel threads (hashlib releases the GIL on large updates).
        Rows of paths not in ``files`` are dropped, so the cache tracks the watched set.
        """
        rows = self._load()
        out: dict[str, str] = {}
        todo: list[str] = []
        for rel, st in files.items():
            row = rows.get(rel)  # a plain tuple compares equal to the StatKey, and is faster
            if row is not None and row[0] == (
                st.st_ino,
                st.st_size,
                st.st_mtime_ns,
                st.st_ctime_ns,
            ):
                out[rel] = row[1]
            else:
                todo.append(rel)
        self.hits += len(files) - len(todo)
        self.misses += len(todo)
        fresh = self._hash_all(root, todo, files, hook, workers)
        for rel, (digest, _) in fresh.items():
            out[rel] = digest
        self._store(fresh, stale=[p for p in rows if p not in files])
        return out

    def _hash_all(
        self,
        root: Path,
        todo: list[str],
        files: Mapping[str, os.stat_result],
        hook: ReadHook | None,
        workers: int | None,
    ) -> dict[str, tuple[str, StatKey]]:
        def batch(rels: list[str]) -> list[tuple[str, StatKey]]:
            return [hash_file(root / rel, rel, hook) for rel in rels]

        batches = _batches(todo, files)
        threads = min(workers or os.cpu_count() or 1, len(batches))
        if threads <= 1:
            results = [batch(todo)]
        else:
            from concurrent.futures import ThreadPoolExecutor  # not paid by a warm status

            with ThreadPoolExecutor(max_workers=threads) as pool:
                results = list(pool.map(batch, batches))
            todo = [rel for rels in batches for rel in rels]
        fresh = dict(zip(todo, (r for rs in results for r in rs), strict=True))
        self.rehashed += sum(key != StatKey.of(files[rel]) for rel, (_, key) in fresh.items())
        return fresh

    def _store(self, fresh: Mapping[str, tuple[str, StatKey]], stale: Iterable[str]) -> None:
        rows = self._load()
        now = time.time_ns()
        keep = {rel: v for rel, v in fresh.items() if now - v[1].mtime_ns >= RACY_NS}
        gone = list(stale)
        for rel in gone:
            del rows[rel]
        rows.update({rel: (key, digest) for rel, (digest, key) in keep.items()})
        if self._conn is None or not (keep or gone):
            return
        with _transaction(self._conn):
            self._conn.executemany("DELETE FROM stat WHERE path = ?", ((p,) for p in gone))
            self._conn.executemany(
                "INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?)",
                ((rel, k.inode, k.size, k.mtime_ns, k.ctime_ns, d) for rel, (d, k) in keep.items()),
            )

    def blob_digests(self, oids: Iterable[str]) -> dict[str, str]:
        """Known SHA-256 digests of git blobs (by object id); blobs never change."""
        if self._conn is None:
            return {}
        wanted = set(oids)
        rows = self._conn.execute("SELECT oid, digest FROM blob")
        return {oid: digest for oid, digest in rows if oid in wanted}

    def store_blobs(self, digests: Mapping[str, str]) -> None:
        if self._conn is not None and digests:
            with _transaction(self._conn):
                self._conn.executemany("INSERT OR REPLACE INTO blob VALUES (?, ?)", digests.items())

    def get_meta(self, key: str) -> str | None:
        """A small derived value kept beside the digests (e.g. the resolved watch list)."""
        if self._conn is None:
            return None
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_meta(self, key: str, value: str) -> None:
        if self._conn is not None:
            with _transaction(self._conn):
                self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


BATCH_FILES = 64
BATCH_BYTES = 32 << 20


def _batches(todo: list[str], files: Mapping[str, os.stat_result]) -> list[list[str]]:
    """Runs of files for one thread task each: a task per small file costs the executor
    more than hashing it (10,000 files of 100 KiB scaled 1.5x on two threads that way,
    1.9x in batches), while batches small in bytes keep the threads evenly loaded."""
    out: list[list[str]] = []
    current: list[str] = []
    size = 0
    for rel in todo:
        current.append(rel)
        size += files[rel].st_size
        if len(current) >= BATCH_FILES or size >= BATCH_BYTES:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One explicit transaction (the connection is in autocommit mode)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _connect(path: Path) -> sqlite3.Connection:
    """Open the cache in WAL mode; a corrupt cache is disposable and is recreated."""
    try:
        return _init(sqlite3.connect(path, timeout=10, isolation_level=None))
    except sqlite3.DatabaseError:
        path.unlink(missing_ok=True)
        return _init(sqlite3.connect(path, timeout=10, isolation_level=None))


def _init(conn: sqlite3.Connection) -> sqlite3.Connection:
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for sql in _SCHEMA:
            conn.execute(sql)
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn
