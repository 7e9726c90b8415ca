"""A verified MLflow artifact store: ``seid:///abs/path`` on a local or mounted disk.

Every logged file is kept as a seid container (:mod:`seid.container`) under the same
relative path, with a digest record beside it that binds the container to its name
(:mod:`seid.container.store`), so a flipped bit, a truncated copy or another artifact's
container put in its place is refused on the way out, and ``seid artifact verify DIR``
checks the whole store without MLflow. Names starting with ``.seid-part.`` or shaped
like a digest record are reserved.

Artifact paths from callers are refused if absolute, if they contain ``..`` or if
they resolve (through symbolic links) outside the store's root.

The record beside a container names its path and run, and for a run's artifacts the
content digest is also kept in the run itself (tag ``seid.sha256.<path>``), so that the
artifact store alone cannot be rewritten into a consistent lie: a download is checked
against the tracking server's record when there is one, and against the newest trusted
ledger bundle naming the artifact when the working directory is in a seid repository
(:mod:`seid.ledger.subjects`). A refused download says why on
MLflow's logger (MLflow's own message for ``runs:/`` URIs hides the reason) and is a 400
behind ``mlflow server``, which clients do not retry.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import shutil
import time
from contextlib import suppress
from functools import cached_property
from pathlib import Path
from typing import Any

from mlflow.entities import FileInfo
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.artifact.artifact_repo import ArtifactRepository
from securesystemslib.signer import Signer  # type: ignore[attr-defined]  # re-exported

from seid import container
from seid.container import records, store
from seid.errors import SeidError, VerificationError

_logger = logging.getLogger("mlflow.store.artifact.seid")  # shown as MLflow's own lines
TAG_PREFIX = "seid.sha256."
_RUN_ID = re.compile(r"[0-9a-f]{32}")
_TAG_SAFE = re.compile(r"[A-Za-z0-9_./ -]{1,200}")
_SERVER_STORE_ENV = "_MLFLOW_SERVER_FILE_STORE"  # mlflow server's backend store URI


class SeidArtifactRepository(ArtifactRepository):
    """Stores each artifact as a verified container under a local root directory."""

    def __init__(
        self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
    ) -> None:
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        self.root = root_of(artifact_uri)
        self.level = store.level_of(artifact_uri)
        self._real_root = Path(os.path.realpath(self.root))
        # ``<root>/<experiment>/<run or model id>/artifacts``: whose artifacts these are
        parts = self.root.parts
        self.owner = parts[-2] if len(parts) > 2 and parts[-1] == "artifacts" else None
        self.run_id = self.owner if self.owner and _RUN_ID.fullmatch(self.owner) else None
        self._tracking_uri = tracking_uri

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        name = os.path.basename(local_file)
        _check_name(name)
        directory = self._resolve(artifact_path)
        directory.mkdir(parents=True, exist_ok=True)
        relative = posixpath.normpath(posixpath.join(artifact_path or "", name))
        target = self._resolve(relative)
        signer = _host_signer()
        started = time.monotonic()
        header = container.pack(Path(local_file), target, level=self.level)
        seconds = max(time.monotonic() - started, 1e-6)
        records.write_record(target, header, relative, self.owner, signer)
        self._tag(relative, header.hexdigest)
        _logger.info(
            "seid: stored %s (%s bytes -> %s, %.1f MB/s)",
            relative,
            f"{header.size:,}",
            f"{target.stat().st_size:,}",
            header.size / seconds / 1e6,
        )

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        base = Path(local_dir)
        for here, dirs, files in os.walk(base):
            relative = Path(here).relative_to(base).as_posix()
            prefix = posixpath.normpath(posixpath.join(artifact_path or "", relative))
            prefix = "" if prefix == "." else prefix
            if not dirs and not files:
                self._resolve(prefix).mkdir(parents=True, exist_ok=True)
            for name in sorted(files):
                self.log_artifact(os.path.join(here, name), prefix or None)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        directory = self._resolve(path)
        if not directory.is_dir():
            return []
        infos = []
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if store.is_reserved(entry.name):
                continue
            relative = posixpath.join(path or "", entry.name).lstrip("/")
            if entry.is_dir():
                infos.append(FileInfo(relative, True, None))
            else:
                infos.append(FileInfo(relative, False, _original_size(Path(entry.path))))
        return infos

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        source = self._resolve(remote_file_path)
        if not source.is_file():
            raise MlflowException(
                f"No such artifact: '{remote_file_path}'", error_code=RESOURCE_DOES_NOT_EXIST
            )
        try:
            self._check_run_record(remote_file_path, source)
            _check_ledger(remote_file_path, source)
            with container.atomic_output(Path(local_path)) as out:
                store.decode_recorded(source, remote_file_path, out)
        except VerificationError as exc:
            _logger.error("seid: refused %s: %s", remote_file_path, exc)
            raise MlflowException(str(exc), error_code=BAD_REQUEST) from None

    @cached_property
    def _client(self) -> Any:
        """The tracking client for runs' tags: the tracking URI named or set, else inside
        ``mlflow server`` its own backend store; None when there is neither (a client
        without a tracking URI would otherwise open a default store of its own)."""
        # not at module level: MLflow loads this plugin while ``mlflow`` itself imports
        from mlflow.tracking import MlflowClient, get_tracking_uri
        from mlflow.tracking._tracking_service.utils import is_tracking_uri_set

        explicit = is_tracking_uri_set()  # type: ignore[no-untyped-call]
        uri = self._tracking_uri or (get_tracking_uri() if explicit else None)
        uri = uri or os.environ.get(_SERVER_STORE_ENV)
        return None if uri is None else MlflowClient(tracking_uri=uri)

    def _owned(self, relative: str) -> tuple[str, str] | None:
        """The run whose artifact ``relative`` is, and its path among the run's artifacts:
        this store's run, or behind ``mlflow server``'s proxy (a store rooted at the
        artifacts destination) the run in ``<experiment>/<run>/artifacts/<path>``."""
        relative = posixpath.normpath(relative)
        if self.run_id is not None:
            return self.run_id, relative
        parts = relative.split("/")
        if len(parts) > 3 and parts[2] == "artifacts" and _RUN_ID.fullmatch(parts[1]):
            return parts[1], "/".join(parts[3:])
        return None

    def _tag(self, relative: str, digest: str) -> None:
        owned = self._owned(relative)
        if owned is None or self._client is None:
            return
        try:
            self._client.set_tag(owned[0], tag_key(owned[1]), digest)
        except MlflowException as exc:
            _logger.warning("seid: could not record %s's digest in the run: %s", relative, exc)

    def _check_run_record(self, relative: str, source: Path) -> None:
        """The digest the run recorded at upload must be the container's."""
        owned = self._owned(relative)
        if owned is None or self._client is None:
            return
        run_id, path = owned
        recorded = self._client.get_run(run_id).data.tags.get(tag_key(path))
        if recorded is None:
            return  # logged before seid recorded digests in runs: the record alone binds it
        actual = container.header_of(source).hexdigest
        if actual != recorded:
            raise VerificationError(
                f"{relative}: container of another artifact (content SHA-256 {actual}, "
                f"run {run_id} recorded {recorded})"
            )

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        target = self._resolve(artifact_path)
        if target.is_symlink() or target.is_file():
            target.unlink()
            with suppress(FileNotFoundError):
                records.digest_path(target).unlink()
        elif target.is_dir():
            shutil.rmtree(target)

    def _resolve(self, artifact_path: str | None) -> Path:
        """The place of ``artifact_path`` in the store, refusing anything outside it."""
        if not artifact_path:
            return self.root
        parts = artifact_path.replace("\\", "/").split("/")
        if artifact_path.startswith(("/", "\\")) or ".." in parts or "\x00" in artifact_path:
            raise _invalid(f"artifact path {artifact_path!r} is absolute or climbs out")
        candidate = self.root.joinpath(*[part for part in parts if part not in ("", ".")])
        if not Path(os.path.realpath(candidate)).is_relative_to(self._real_root):
            raise _invalid(f"artifact path {artifact_path!r} leads outside {self.root}")
        return candidate


def _check_ledger(relative: str, source: Path) -> None:
    """The content must be what each trusted ledger bundle naming the artifact recorded
    (the repository at or above the working directory; none: nothing to check)."""
    from seid.ledger import subjects  # the ledger loads only when a download happens

    repo = subjects.repo_of(Path.cwd())
    if repo is None:
        return
    actual = container.header_of(source).hexdigest
    try:
        found = subjects.naming(repo, store.uri_of(source))
    except SeidError as exc:  # a ledger that cannot be read or verified: no basis to pass
        raise VerificationError(f"{relative}: cannot check the ledger: {exc}") from None
    for named in found:
        if named.sha256 != actual:
            raise VerificationError(
                f"{relative}: content SHA-256 {actual} is not the one ledger bundle "
                f"{named.ref} recorded ({named.sha256})"
            )


def tag_key(relative: str) -> str:
    """The run tag that holds an artifact's digest (a hash of the path where the path has
    characters MLflow refuses in tag keys)."""
    if _TAG_SAFE.fullmatch(relative):
        return TAG_PREFIX + relative
    return TAG_PREFIX + "#" + hashlib.sha256(relative.encode()).hexdigest()[:32]


def root_of(artifact_uri: str) -> Path:
    """The directory of a ``seid:///abs/path`` URI (``seid://localhost/...`` too)."""
    try:
        return store.path_of(artifact_uri)
    except ValueError as exc:
        raise _invalid(str(exc)) from None


def _original_size(path: Path) -> int | None:
    """The size the user logged (from the header); None if it is not a container."""
    try:
        return container.header_of(path).size
    except (OSError, VerificationError):
        return None


def _host_signer() -> Signer | None:
    """The key records are signed with; a configured key that cannot be used refuses the
    upload (MLflow's exception, with the reason) before anything is stored."""
    try:
        return records.host_signer()
    except SeidError as exc:
        raise MlflowException(f"seid: cannot sign digest records: {exc}") from None


def _check_name(name: str) -> None:
    if store.is_reserved(name):
        raise _invalid(f"artifact name {name!r} is reserved by the seid store")


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)
