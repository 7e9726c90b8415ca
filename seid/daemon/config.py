"""The daemon's own configuration: ``/etc/seid/seid.toml`` (TOML, read with tomllib).

Example::

    key = "/etc/seid/keys/seid.key"        # optional; else $SEID_SIGNING_KEY, credentials
    max_concurrent_runs = 1                # repos running a pipeline at once

    [debounce]
    quiet = 1.0                            # seconds without events before a batch settles
    max_latency = 30.0                     # a batch never waits longer than this

    [schedules]                            # seconds; 0 turns a job off
    reconcile = 600
    verify = 3600
    review = 3600
    review_rerun = false                   # re-run a repo whose review interval lapsed
    publish = 0
    registry_audit = 300

    [http]
    address = "127.0.0.1:9464"             # off when absent

    [sidecar]
    tracking_uri = "http://127.0.0.1:5000"
    repo = "/srv/ml/credit"                # the ledger findings go to

    [[repos]]
    path = "/srv/ml/credit"
    mode = "run"                           # or "detect": attest the drift, re-run nothing
    polling = false                        # true on NFS and other file systems without inotify

Errors are one line, ``file:line: message``, so a broken config never starts a daemon
that watches the wrong thing.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from seid.errors import InputError

DEFAULT_PATH = Path("/etc/seid/seid.toml")
Mode = Literal["run", "detect"]


@dataclass(frozen=True)
class RepoConfig:
    path: Path
    mode: Mode = "run"
    polling: bool = False


@dataclass(frozen=True)
class Schedules:
    reconcile: float = 600.0
    verify: float = 3600.0
    review: float = 3600.0
    review_rerun: bool = False
    publish: float = 0.0
    registry_audit: float = 300.0


@dataclass(frozen=True)
class Sidecar:
    tracking_uri: str
    repo: Path
    alias: str = "champion"


@dataclass(frozen=True)
class DaemonConfig:
    repos: tuple[RepoConfig, ...] = ()
    key: Path | None = None
    quiet: float = 1.0
    max_latency: float = 30.0
    max_concurrent_runs: int = 1
    schedules: Schedules = field(default_factory=Schedules)
    http: tuple[str, int] | None = None
    sidecar: Sidecar | None = None
    source: Path | None = None

    def with_repos(self, repos: Sequence[RepoConfig]) -> DaemonConfig:
        """Command-line repos replace the configured list; the options still apply.

        So ``seid@<path>.service`` instances share ``/etc/seid/seid.toml``'s options
        without each one also locking every repository that file lists.
        """
        return replace(self, repos=tuple(repos)) if repos else self


class _Reader:
    """Typed access to one TOML table, with errors placed at the key's line."""

    def __init__(self, path: Path, text: str, table: Mapping[str, Any], where: str) -> None:
        self.path, self.text, self.table, self.where = path, text, table, where
        self.used: set[str] = set()

    def error(self, key: str, message: str) -> InputError:
        return InputError(str(self.path), message, _line_of(self.text, key))

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            name = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.error(key, f"{self.where}{key} must be a {name}, got {value!r}")
        return value

    def seconds(self, key: str, default: float) -> float:
        value = float(self.get(key, (int, float), default))
        if value < 0:
            raise self.error(key, f"{self.where}{key} must not be negative")
        return value

    def table_of(self, key: str) -> _Reader:
        sub = self.get(key, dict, {})
        return _Reader(self.path, self.text, sub, f"{self.where}{key}.")

    def finish(self) -> None:
        for key in self.table:
            if key not in self.used:
                raise self.error(key, f"unknown setting {self.where}{key}")


def _line_of(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^\s*(\[+\s*)?{re.escape(key)}\b", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def load(path: Path, *, required: bool = True) -> DaemonConfig:
    """Read ``path``; a missing file is an error only when ``required``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise InputError(str(path), "no such config file") from None
        return DaemonConfig()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(str(path), f"cannot read config: {err}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
        message = re.sub(r"\s*\(at (line|end of document).*\)$", "", str(err))
        line, col = (int(found[1]), int(found[2])) if found else (len(text.splitlines()), None)
        raise InputError(str(path), f"invalid TOML: {message}", line, col) from None
    return parse(path, text, data)


def parse(path: Path, text: str, data: Mapping[str, Any]) -> DaemonConfig:
    top = _Reader(path, text, data, "")
    key = top.get("key", str, None)
    debounce = top.table_of("debounce")
    quiet, latency = debounce.seconds("quiet", 1.0), debounce.seconds("max_latency", 30.0)
    if quiet <= 0 or latency < quiet:
        raise debounce.error("quiet", "need 0 < debounce.quiet <= debounce.max_latency")
    debounce.finish()
    concurrent = top.get("max_concurrent_runs", int, 1)
    if concurrent < 1:
        raise top.error("max_concurrent_runs", "max_concurrent_runs must be at least 1")
    config = DaemonConfig(
        repos=tuple(_repo(path, text, item, i) for i, item in enumerate(_repos(top))),
        key=_resolve(path, key) if key else None,
        quiet=quiet,
        max_latency=latency,
        max_concurrent_runs=concurrent,
        schedules=_schedules(top.table_of("schedules")),
        http=_http(top.table_of("http")),
        sidecar=_sidecar(path, top.table_of("sidecar")),
        source=path,
    )
    top.finish()
    return config


def _repos(top: _Reader) -> list[Any]:
    items: list[Any] = top.get("repos", list, [])
    for item in items:
        if not isinstance(item, dict):
            raise top.error("repos", "each [[repos]] entry must be a table")
    return items


def _repo(path: Path, text: str, item: Mapping[str, Any], index: int) -> RepoConfig:
    reader = _Reader(path, text, item, f"repos[{index}].")
    where = reader.get("path", str, None)
    if where is None:
        raise reader.error("repos", f"repos[{index}] needs a path")
    mode = reader.get("mode", str, "run")
    if mode not in ("run", "detect"):
        raise reader.error("mode", f"repos[{index}].mode must be run or detect, got {mode!r}")
    polling = reader.get("polling", bool, False)
    reader.finish()
    return RepoConfig(_resolve(path, where), mode, polling)


def _schedules(reader: _Reader) -> Schedules:
    base = Schedules()
    out = Schedules(
        reconcile=reader.seconds("reconcile", base.reconcile),
        verify=reader.seconds("verify", base.verify),
        review=reader.seconds("review", base.review),
        review_rerun=reader.get("review_rerun", bool, False),
        publish=reader.seconds("publish", base.publish),
        registry_audit=reader.seconds("registry_audit", base.registry_audit),
    )
    reader.finish()
    return out


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too); ValueError when it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


def _http(reader: _Reader) -> tuple[str, int] | None:
    address = reader.get("address", str, None)
    reader.finish()
    if address is None:
        return None
    try:
        return parse_address(address)
    except ValueError as err:
        raise reader.error("address", f"http.address: {err}") from None


def _sidecar(path: Path, reader: _Reader) -> Sidecar | None:
    uri = reader.get("tracking_uri", str, None)
    repo = reader.get("repo", str, None)
    alias = reader.get("alias", str, "champion")
    reader.finish()
    if uri is None:
        return None
    if repo is None:
        raise reader.error("tracking_uri", "sidecar needs repo: the ledger its findings go to")
    return Sidecar(uri, _resolve(path, repo), alias)


def _resolve(config: Path, value: str) -> Path:
    """Relative paths are relative to the config file, as systemd units expect."""
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (config.parent / candidate).resolve()
