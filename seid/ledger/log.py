"""The append-only Merkle log: one per signing key under ``.sei/ledger/<log-id>/``.

Files (``log`` is the ledger; everything else is derived from it and rebuilt when
missing or behind):

- ``log``: one framed record (:mod:`seid.ledger.records`) per append, holding the DSSE
  envelope and the signed checkpoint of the tree it ends (chained to the checkpoint
  before it), so one fsync makes both durable;
- ``index``: the u64 byte offset of each record;
- ``tree/<level>``: the hash of every complete 2**level-leaf subtree, so a proof at any
  size reads O(log n) stored hashes and never rehashes leaves;
- ``head``: size and byte length the derived files describe, in two checksummed slots
  written alternately (no rename, no fsync: it is a hint, the records are the truth);
- ``lock``: ``flock``-ed by writers, so appends from several processes serialise.

An append is acknowledged only once its record is fsynced. Opening under the lock
recovers from a crash: whole records past the head are rolled forward (the append that
may have completed), anything torn after them is cut and reported; bytes the head
acknowledges are never cut.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import shutil
import stat
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from securesystemslib.signer import Signer  # type: ignore[attr-defined]

from seid import evidence
from seid.errors import VerificationError
from seid.fsutil import SEI_DIR, sei_dir
from seid.ledger import checkpoint, merkle, records, refs
from seid.ledger.paths import LedgerError, list_logs, log_dir
from seid.ledger.records import Head

__all__ = ["Head", "Ledger", "LedgerError", "acknowledged", "list_logs"]

_OFFSET = struct.Struct(">Q")
_H = merkle.HASH_SIZE

log = logging.getLogger(__name__)


class _NeedsRecovery(Exception):
    """A reader found derived files a writer must rebuild: it reads a private copy."""


class Ledger:
    """One log. Use :meth:`open`; reads see the size at open (or after the last append)."""

    def __init__(self, path: Path, log_id: str, writable: bool) -> None:
        self.path, self.log_id, self.writable = path, log_id, writable
        self.head = Head()
        self.notices: list[str] = []
        self._fds: dict[str, int] = {}
        self._tmp: contextlib.ExitStack | None = None  # a reader's private copy
        self._sealed: bytes | None = None  # the checkpoint this writer signed last

    # --- opening and recovery ----------------------------------------------------------

    @classmethod
    def open(
        cls,
        repo_root: Path,
        log_id: str,
        create: bool = False,
        continue_published: bool = False,
        *,
        write: bool | None = None,
    ) -> Ledger:
        """Open the log ``log_id`` of ``repo_root``; a writer recovers from a crash.

        Only a writer (``write``, by default the same as ``create``: the appenders) ever
        changes a file. A reader (status, verify, show, reconstruct) never does: when the
        derived files need recovery it works on a private copy of the log instead.
        With ``create`` and ``continue_published``, a log that exists only as a
        published ref (a re-cloned host) is continued from that ref instead of forked.
        """
        write = create if write is None else write
        path = log_dir(repo_root, log_id)
        seeded = False
        if not path.is_dir():
            if not create:
                raise LedgerError(f"no ledger {log_id} in {path.parent}")
            try:
                sei_dir(repo_root, *path.relative_to(repo_root / SEI_DIR).parts, "tree")
                if continue_published:
                    seeded = refs.copy_ref_log(repo_root, log_id, path / "log")
            except OSError as exc:
                raise LedgerError(f"cannot create {path}: {exc.strerror}") from None
        ledger = cls(path, log_id, write and os.access(path, os.W_OK))
        if seeded:
            ledger._notice(f"continuing the published log {refs.ref_name(log_id)}")
        try:
            with ledger._locked():
                ledger._recover()
        except _NeedsRecovery:
            ledger.close()
            return cls._private_copy(path, log_id)
        except OSError as exc:
            ledger.close()
            raise LedgerError(f"{path}: {exc.strerror}") from None
        except BaseException:
            ledger.close()
            raise
        return ledger

    @classmethod
    def _private_copy(cls, path: Path, log_id: str) -> Ledger:
        """A reader's view of a log whose derived files are missing or behind: the log's
        records, copied under its lock, recovered in a temporary directory."""
        tmp = tempfile.TemporaryDirectory(prefix="seid-ledger-")
        copy = Path(tmp.name) / log_id
        (copy / "tree").mkdir(parents=True)
        reader = cls(path, log_id, False)
        try:
            with (
                reader._locked(),
                (path / "log").open("rb") as src,
                (copy / "log").open("wb") as dst,
            ):
                shutil.copyfileobj(src, dst, 1 << 20)
            ledger = cls(copy, log_id, True)
            with contextlib.ExitStack() as cleanup:
                cleanup.callback(tmp.cleanup)
                quiet = log.level
                log.setLevel(logging.ERROR)  # rebuilding a private copy is no crash to report
                try:
                    ledger._recover()
                finally:
                    log.setLevel(quiet)
                ledger._tmp = cleanup.pop_all()
        except OSError as exc:
            tmp.cleanup()
            raise LedgerError(f"{path}: {exc.strerror}") from None
        ledger.writable = False  # a copy: appends go to the real log, never here
        return ledger

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self._tmp is not None:
            self._tmp.close()
            self._tmp = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path / "lock"
        try:
            if self.writable:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            else:
                fd = os.open(lock_path, os.O_RDONLY)
        except FileNotFoundError:
            yield  # a read-only copy without a lock file: nobody writes it
            return
        except OSError as exc:
            raise LedgerError(f"cannot lock {lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if self.writable else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is None:
            flags = os.O_RDWR | os.O_CREAT if self.writable else os.O_RDONLY
            try:
                fd = os.open(self.path / name, flags, 0o644)
            except FileNotFoundError:
                raise LedgerError(f"{self.path / name}: missing") from None
            except OSError as exc:
                raise LedgerError(f"cannot open {self.path / name}: {exc.strerror}") from None
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise LedgerError(f"cannot open {self.path / name}: not a regular file")
            self._fds[name] = fd
        return fd

    def _length(self, name: str) -> int:
        return os.fstat(self._fd(name)).st_size

    def _notice(self, text: str) -> None:
        message = f"ledger {self.log_id}: {text}"
        self.notices.append(message)
        log.warning(message)

    def _read_head(self) -> Head | None:
        if not (self.path / "head").exists():
            return None
        raw = os.pread(self._fd("head"), 2 * records.HEAD_SLOT, 0)
        head = records.unpack_head(raw)
        if head is None and raw:
            self._notice("head is unreadable; rebuilding it from the log")
        return head

    def _write_head(self, head: Head) -> None:
        slot = records.HEAD_SLOT * (head.size % 2)  # never overwrite the previous head
        os.pwrite(self._fd("head"), records.pack_head(head), slot)
        self.head = head

    def _caches_cover(self, size: int) -> bool:
        try:
            return self._length("index") >= 8 * size and all(
                self._length(f"tree/{level}") >= _H * (size >> level)
                for level in range(size.bit_length())
            )
        except LedgerError:
            if self.writable:
                raise
            return False

    def _recover(self) -> None:
        """Bring the derived files in line with the whole records; cut a torn tail."""
        head = self._read_head()
        if head is not None and (reason := self.derived_disagree(head)) is not None:
            if not self.writable:
                raise _NeedsRecovery
            self._notice(f"{reason}; rebuilding the derived files from the records")
            self._trim_caches(0)
            os.ftruncate(self._fd("head"), 0)  # neither slot may win again
            head = None  # nothing of it is trusted: every whole record is kept
        acked = head or Head()
        length = self._length("log")
        if length < acked.length:
            raise LedgerError(
                f"{self.path}: the log is shorter than its head (size {acked.size}): "
                "truncated outside seid; run 'seid verify'"
            )
        base = acked if head is not None and self._caches_cover(acked.size) else Head()
        if head is not None and base == acked and length == acked.length:
            self.head = head  # the usual case: nothing past the head
            return
        if not self.writable:
            raise _NeedsRecovery  # a reader reads a recovered private copy instead
        self._trim_caches(base.size)
        compact = self._compact(base.size)
        end, bad = self._roll_forward(base.length, compact)
        if end < acked.length:
            raise LedgerError(f"{self.path}: {bad} within the acknowledged log; run 'seid verify'")
        if end < length:
            self._notice(
                f"cut a torn tail after a crash: {length - end} bytes ({bad}) "
                f"after entry {compact.size - 1}"
            )
            os.ftruncate(self._fd("log"), end)
            os.fsync(self._fd("log"))
        self._write_head(Head(compact.size, end))
        if compact.size > acked.size:
            self._notice(f"rolled forward to size {compact.size}")

    def derived_disagree(self, head: Head) -> str | None:
        """Why ``head``, ``index`` and ``tree/`` do not describe the log, or None.

        They are derived, so they are checked before they are trusted, in O(log n): the
        record the index names for the last entry must end where the head says the log
        does and carry the checkpoint of that size, and the root the stored subtrees
        give must be the root that checkpoint signs (a flipped byte in ``tree/``, a
        head with a right checksum and a wrong size: either would have a writer cut
        signed records or sign a checkpoint over a wrong root).
        """
        if head.size == 0:
            return None if head.length == 0 else "the head records bytes but no entry"
        if head.length > self._length("log") or not self._caches_cover(head.size):
            return None  # behind or missing: the usual recovery rolls forward
        offset = _OFFSET.unpack(os.pread(self._fd("index"), 8, 8 * (head.size - 1)))[0]
        try:
            with os.fdopen(os.dup(self._fd("log")), "rb") as stream:
                stream.seek(offset)
                data = records.read_one(stream, offset)
            if data is None:
                return "the index points past the log"
            _, note = records.unpack_pair(data, offset)
            stated = checkpoint.read(note, self.log_id)
        except (records.RecordError, VerificationError):
            return f"the index does not point at entry {head.size - 1}'s record"
        if offset + records.HEADER.size + len(data) != head.length or stated.size != head.size:
            return f"the head (size {head.size}) does not match the log's records"
        if self._compact(head.size).root() != stated.root:
            return f"the stored subtree hashes do not give checkpoint {head.size}'s root"
        return None

    def _roll_forward(self, offset: int, compact: merkle.CompactRange) -> tuple[int, str | None]:
        """Index the whole records from ``offset`` on, streaming; where they end and why."""
        with os.fdopen(os.dup(self._fd("log")), "rb", buffering=1 << 20) as stream:
            stream.seek(offset)
            while True:
                try:
                    data = records.read_one(stream, offset)
                    if data is None:
                        return offset, None
                    entry, note = records.unpack_pair(data, offset)
                except records.RecordError as err:
                    return offset, err.reason
                if checkpoint.peek_size(note) != compact.size + 1:
                    return offset, "checkpoint of the wrong size"
                self._index(compact, offset, merkle.leaf_hash(entry))
                offset += records.HEADER.size + len(data)

    def _trim_caches(self, size: int) -> None:
        """Drop derived data past ``size`` (left by a writer that died mid-append)."""
        if self._length("index") > 8 * size:
            os.ftruncate(self._fd("index"), 8 * size)
        level = 0
        while (self.path / "tree" / str(level)).exists():
            name = f"tree/{level}"
            if self._length(name) > _H * (size >> level):
                os.ftruncate(self._fd(name), _H * (size >> level))
            level += 1

    def _index(self, compact: merkle.CompactRange, offset: int, leaf: bytes) -> None:
        """Record where entry ``compact.size`` starts and the subtrees its leaf completes."""
        self._store(compact.size, offset, compact.append(leaf))

    def _store(self, i: int, offset: int, completed: list[tuple[int, int, bytes]]) -> None:
        os.pwrite(self._fd("index"), _OFFSET.pack(offset), 8 * i)
        for level, position, node in completed:
            os.pwrite(self._fd(f"tree/{level}"), node, _H * position)

    def _compact(self, size: int) -> merkle.CompactRange:
        peaks = [self._node(level, pos) for level, pos in merkle.peak_ranges(size)]
        return merkle.CompactRange.from_peaks(size, peaks)

    # --- appending ---------------------------------------------------------------------

    def append(self, entry: bytes, signer: Signer) -> tuple[int, bytes]:
        """Append one signed envelope; returns its index and the new signed checkpoint.

        Durable before it returns: entry and checkpoint are one fsynced record.
        """
        return self.append_with(lambda _size, _root: entry, signer)

    def append_with(
        self, make: Callable[[int, bytes | None], bytes], signer: Signer
    ) -> tuple[int, bytes]:
        """Append the envelope ``make(size, root)`` builds from the head it extends.

        ``make`` runs under the writers' lock, after recovery: the size and root it is
        given are the ones the entry will follow, whatever another writer appended
        meanwhile (an entry that records them, as evidence does, is then always right).
        """
        if signer.public_key.keyid != self.log_id:
            raise LedgerError(f"key {signer.public_key.keyid} cannot append to log {self.log_id}")
        if not self.writable:
            raise LedgerError(f"{self.path} is not writable")
        try:
            with self._locked():
                self._recover()
                entry = make(self.size, self.root() if self.size else None)
                try:
                    evidence.verify(entry, {self.log_id: signer.public_key})
                except VerificationError as err:
                    raise LedgerError(
                        f"refusing to append an entry that does not verify: {err}"
                    ) from None
                return self._append_locked(entry, signer)
        except OSError as exc:
            raise LedgerError(f"{self.path}: {exc.strerror}") from None

    def _append_locked(self, entry: bytes, signer: Signer) -> tuple[int, bytes]:
        head = self.head
        previous = self._chain_base(signer) if head.size else None
        compact = self._compact(head.size)
        completed = compact.append(merkle.leaf_hash(entry))
        note = checkpoint.sign(self.log_id, compact.size, compact.root(), signer, previous)
        record = records.pack_pair(entry, note)
        self._durable_write(record, head.length)
        self._store(head.size, head.length, completed)
        self._write_head(Head(head.size + 1, head.length + len(record)))
        self._sealed = note
        return head.size, note

    def restore_from(self, source: BinaryIO) -> int:
        """Replace the log with the records read from ``source`` (its published copy, of
        which the local log is a prefix: the caller checks), then rebuild the derived
        files from them; returns the new size. Under the writers' lock, via a temporary
        file and a rename: a crash leaves the old log or the restored one."""
        if not self.writable:
            raise LedgerError(f"{self.path} is not writable")
        with self._locked():
            tmp = self.path / "log.restoring"
            with tmp.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path / "log")
            self.close()
            for name in ("head", "index"):
                (self.path / name).unlink(missing_ok=True)
            for level in (self.path / "tree").glob("*"):
                level.unlink()
            self.head = Head()
            self._recover()
        return self.size

    def _chain_base(self, signer: Signer) -> bytes:
        """The newest checkpoint, which the new one will vouch for: it must verify, or a
        note altered on disk would be sealed into the chain."""
        note = self.checkpoint(self.size - 1)
        if note == self._sealed:
            return note  # the very bytes this writer signed: no second Ed25519 check
        try:
            checkpoint.verify(note, self.log_id, signer.public_key)
        except VerificationError as err:
            raise LedgerError(
                f"{self.path / 'log'}: the newest checkpoint (tree size {self.size}) does not "
                f"verify ({err}); refusing to extend it, run 'seid verify'"
            ) from None
        return note

    def _durable_write(self, data: bytes, offset: int) -> None:
        fd = self._fd("log")
        try:
            if os.pwrite(fd, data, offset) != len(data):
                raise OSError(28, "short write")
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, offset)  # nothing half-written stays behind
            raise LedgerError(f"cannot write {self.path / 'log'}: {exc.strerror}") from None
        if offset == 0:  # a new file: make its directory entry durable too
            dir_fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    # --- reading -----------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.head.size

    def _check_index(self, i: int, size: int | None = None) -> None:
        limit = self.size if size is None else size
        if type(i) is not int or not 0 <= i < limit:
            raise LedgerError(f"no entry {i}: the log has {limit} entries")

    def record(self, i: int) -> tuple[bytes, bytes]:
        """Entry ``i`` and the checkpoint (tree size ``i + 1``) stored with it."""
        self._check_index(i)
        raw = os.pread(self._fd("index"), 8, 8 * i)
        if len(raw) != 8:
            raise LedgerError(f"{self.path / 'index'}: truncated")
        (offset,) = _OFFSET.unpack(raw)
        fd = self._fd("log")
        header = os.pread(fd, records.HEADER.size, offset)
        length = records.HEADER.unpack(header)[0] if len(header) == records.HEADER.size else 0
        try:
            body = os.pread(fd, min(length, records.MAX_RECORD), offset + len(header))
            data = records.read_one(io.BytesIO(header + body), offset)
            if data is None:
                raise records.RecordError(offset, "missing record")
            return records.unpack_pair(data, offset)
        except records.RecordError as err:
            raise LedgerError(f"{self.path / 'log'}: {err}") from None

    def entry(self, i: int) -> bytes:
        """The exact bytes of entry ``i``."""
        return self.record(i)[0]

    def checkpoint(self, k: int) -> bytes:
        """The signed note for tree size ``k + 1``."""
        return self.record(k)[1]

    def latest_checkpoint(self) -> bytes:
        if not self.size:
            raise LedgerError(f"ledger {self.log_id} is empty")
        return self.checkpoint(self.size - 1)

    def records(self) -> Iterator[tuple[bytes, bytes]]:
        """Stream ``(entry, checkpoint)`` for every entry in order, without loading the log."""
        with os.fdopen(os.dup(self._fd("log")), "rb", buffering=1 << 20) as stream:
            stream.seek(0)
            try:
                yield from records.iterate_pairs(stream, self.size)
            except records.RecordError as err:
                raise LedgerError(f"{self.path / 'log'}: {err}") from None

    def iter_entries(self) -> Iterator[bytes]:
        """Stream the entries in order."""
        return (entry for entry, _ in self.records())

    def checkpoints(self) -> Iterator[bytes]:
        """Every checkpoint, oldest (size 1) first, streamed."""
        return (note for _, note in self.records())

    def _node(self, level: int, position: int) -> bytes:
        node = os.pread(self._fd(f"tree/{level}"), _H, _H * position)
        if len(node) != _H:
            raise LedgerError(f"{self.path / 'tree' / str(level)}: truncated")
        return node

    def _subtree(self) -> merkle.Subtree:
        """Merkle hash of ``[start, end)`` from stored perfect subtrees, memoised."""
        memo: dict[tuple[int, int], bytes] = {}

        def subtree(start: int, end: int) -> bytes:
            width = end - start
            if width & (width - 1) == 0 and start % width == 0:
                return self._node(width.bit_length() - 1, start // width)
            if (start, end) not in memo:
                k = merkle.split_point(width)
                left, right = subtree(start, start + k), subtree(start + k, end)
                memo[start, end] = merkle.node_hash(left, right)
            return memo[start, end]

        return subtree

    def root(self, size: int | None = None) -> bytes:
        """The tree root at ``size`` (default: the current size)."""
        size = self.size if size is None else size
        if type(size) is not int or not 0 <= size <= self.size:
            raise LedgerError(f"no tree of size {size}: the log has {self.size} entries")
        return self._subtree()(0, size) if size else merkle.empty_root()

    def leaf(self, i: int) -> bytes:
        """The stored leaf hash of entry ``i``."""
        self._check_index(i)
        return self._node(0, i)

    def inclusion_proof(self, i: int, size: int | None = None) -> list[bytes]:
        """Audit path for entry ``i`` in the tree of ``size`` (default: current), checked
        against the root the checkpoint of that size states before it is handed out: a
        damaged ``tree/`` file never yields a proof that does not verify."""
        size = self.size if size is None else size
        if type(size) is not int or not 0 < size <= self.size:
            raise LedgerError(f"no tree of size {size}: the log has {self.size} entries")
        self._check_index(i, size)
        path = merkle.inclusion_path(i, size, self._subtree())
        signed = checkpoint.read(self.checkpoint(size - 1), self.log_id).root
        try:
            merkle.verify_inclusion(merkle.leaf_hash(self.entry(i)), i, size, path, signed)
        except merkle.ProofError:
            raise LedgerError(
                f"{self.path}: the stored subtree hashes disagree with the log's records; "
                "run `seid verify --repair`"
            ) from None
        return path

    def rebuild(self) -> None:
        """Rebuild every derived file from the records (``seid verify --repair``)."""
        if not self.writable:
            raise LedgerError(f"{self.path} is not writable")
        with self._locked():
            self._trim_caches(0)
            os.ftruncate(self._fd("head"), 0)
            self.head = Head()
            self._recover()

    def consistency_proof(self, m: int, n: int) -> list[bytes]:
        """Proof that the tree of size ``n`` extends the tree of size ``m``."""
        if not 0 < m <= n <= self.size:
            raise LedgerError(f"no consistency proof from {m} to {n} (log size {self.size})")
        return merkle.consistency_path(m, n, self._subtree())


def acknowledged(repo_root: Path, log_id: str) -> Head:
    """A log's head as recorded, without recovery or locking (for read-only audits)."""
    ledger = Ledger(log_dir(repo_root, log_id), log_id, writable=False)
    try:
        return ledger._read_head() or Head()
    except (LedgerError, OSError):
        return Head()
    finally:
        ledger.close()
