"""A verified MLflow artifact store: ``seid:///abs/path`` on a local or mounted disk.

Every logged file is kept as a seid container (:mod:`seid.container`) under the same
relative path, with a digest record beside it that binds the container to its name
(:mod:`seid.container.store`), so a flipped bit, a truncated copy or another artifact's
container put in its place is refused on the way out, and ``seid artifact verify DIR``
checks the whole store without MLflow. Names starting with ``.seid-part.`` or shaped
like a digest record are reserved.

Artifact paths from callers are refused if absolute, if they contain ``..`` or if
they resolve (through symbolic links) outside the store's root.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from contextlib import suppress
from pathlib import Path

from mlflow.entities import FileInfo
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from seid import container
from seid.container import store
from seid.errors import VerificationError


class SeidArtifactRepository(ArtifactRepository):
    """Stores each artifact as a verified container under a local root directory."""

    def __init__(
        self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
    ) -> None:
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        self.root = root_of(artifact_uri)
        self._real_root = Path(os.path.realpath(self.root))

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        name = os.path.basename(local_file)
        _check_name(name)
        directory = self._resolve(artifact_path)
        directory.mkdir(parents=True, exist_ok=True)
        target = self._resolve(posixpath.join(artifact_path or "", name))
        store.write_record(target, container.pack(Path(local_file), target))

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
        with container.atomic_output(Path(local_path)) as out:
            store.decode_recorded(source, remote_file_path, out)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        target = self._resolve(artifact_path)
        if target.is_symlink() or target.is_file():
            target.unlink()
            with suppress(FileNotFoundError):
                store.digest_path(target).unlink()
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


def _check_name(name: str) -> None:
    if store.is_reserved(name):
        raise _invalid(f"artifact name {name!r} is reserved by the seid store")


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)
