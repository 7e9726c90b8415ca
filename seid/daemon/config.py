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
    tables = 60                            # polls tables outside this machine (Iceberg, s3://)
    witness = 0                            # 300: cosign the other hosts' logs (a witness)

    [http]
    address = "127.0.0.1:9464"             # off when absent

    [sidecar]
    tracking_uri = "http://127.0.0.1:5000"
    repo = "/srv/ml/credit"                # the ledger findings go to

    [[repos]]
    path = "/srv/ml/credit"
    mode = "run"                           # or "detect": attest the drift, re-run nothing
    polling = false                        # true on NFS and other file systems without inotify

The file is validated by pydantic models (as ``sei.yaml`` is), and every error is one
line, ``file:line: message``, at the line of the setting itself (``repos[1].mode`` on
the second ``[[repos]]`` table, not the first), so a broken config never starts a
daemon that watches the wrong thing.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from seid.errors import InputError, SeidError

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
    tables: float = 60.0
    witness: float = 0.0  # cosign other hosts' logs with this host's key (issue 16)


@dataclass(frozen=True)
class Sidecar:
    """The registry audit: which registry, the alias it watches, and the repository
    whose ledger takes the findings (by default the one repository the daemon watches)."""

    tracking_uri: str
    repo: Path | None = None
    alias: str = "champion"

    @property
    def root(self) -> Path:
        if self.repo is None:
            raise SeidError(
                "[sidecar] needs repo: the daemon watches several repositories "
                "(or none), so name the one whose ledger takes the findings"
            )
        return self.repo


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
        if not repos:
            return self
        sidecar = self.sidecar
        if sidecar is not None and sidecar.repo is None and len(repos) == 1:
            sidecar = replace(sidecar, repo=repos[0].path)
        return replace(self, repos=tuple(repos), sidecar=sidecar)


class _Table(BaseModel):
    """A TOML table: unknown settings are errors, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Debounce(_Table):
    quiet: float = Field(1.0, gt=0, allow_inf_nan=False)
    max_latency: float = Field(30.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> _Debounce:
        if self.max_latency < self.quiet:
            raise ValueError("need 0 < debounce.quiet <= debounce.max_latency")
        return self


class _Schedules(_Table):
    reconcile: float = Field(600.0, ge=0, allow_inf_nan=False)
    verify: float = Field(3600.0, ge=0, allow_inf_nan=False)
    review: float = Field(3600.0, ge=0, allow_inf_nan=False)
    review_rerun: bool = False
    publish: float = Field(0.0, ge=0, allow_inf_nan=False)
    registry_audit: float = Field(300.0, ge=0, allow_inf_nan=False)
    tables: float = Field(60.0, ge=0, allow_inf_nan=False)
    witness: float = Field(0.0, ge=0, allow_inf_nan=False)


class _Http(_Table):
    address: str | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)
        return value


class _Sidecar(_Table):
    tracking_uri: str | None = None
    repo: str | None = None
    alias: str = "champion"


class _Repo(_Table):
    path: str
    mode: Mode = "run"
    polling: bool = False


class _File(_Table):
    key: str | None = None
    max_concurrent_runs: int = Field(1, ge=1)
    debounce: _Debounce = _Debounce()
    schedules: _Schedules = _Schedules()
    http: _Http = _Http()
    sidecar: _Sidecar = _Sidecar()
    repos: list[_Repo] = []


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
    """The validated file as the daemon's value objects; relative paths resolved."""
    try:
        raw = _File.model_validate(data)
    except ValidationError as exc:  # the earliest in the file: the one a person fixes first
        placed = [(_line_at(text, tuple(e["loc"])) or 0, _message(e)) for e in exc.errors()]
        line, message = min(placed, key=lambda item: item[0])
        raise InputError(str(path), message, line or None) from None
    return DaemonConfig(
        repos=tuple(RepoConfig(_resolve(path, r.path), r.mode, r.polling) for r in raw.repos),
        key=_resolve(path, raw.key) if raw.key else None,
        quiet=raw.debounce.quiet,
        max_latency=raw.debounce.max_latency,
        max_concurrent_runs=raw.max_concurrent_runs,
        schedules=Schedules(**raw.schedules.model_dump()),
        http=parse_address(raw.http.address) if raw.http.address else None,
        sidecar=_sidecar(path, text, raw),
        source=path,
    )


def _sidecar(path: Path, text: str, raw: _File) -> Sidecar | None:
    """The sidecar's settings; its repo defaults to the one repository the file lists."""
    table = raw.sidecar
    if table.tracking_uri is None:
        return None
    if table.repo is not None:
        return Sidecar(table.tracking_uri, _resolve(path, table.repo), table.alias)
    if len(raw.repos) > 1:
        raise InputError(
            str(path),
            f"sidecar.repo is required: the config watches {len(raw.repos)} repositories; "
            "name the one whose ledger takes the findings",
            _line_at(text, ("sidecar",)),
        )
    repo = _resolve(path, raw.repos[0].path) if raw.repos else None
    return Sidecar(table.tracking_uri, repo, table.alias)


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _message(err: ErrorDetails) -> str:
    loc = tuple(err["loc"])
    where, kind, value = _dotted(loc), err["type"], err.get("input")
    if kind == "extra_forbidden":
        return f"unknown setting {where}"
    if kind == "missing":
        return f"{where} is required"
    if kind == "literal_error":
        expected = " or ".join(re.findall(r"'([^']*)'", str((err.get("ctx") or {})["expected"])))
        return f"{where} must be {expected}, got {value!r}"
    if kind == "value_error":  # a validator's own sentence
        text = str((err.get("ctx") or {}).get("error", err["msg"]))
        return f"{where}: {text}" if where and not text.startswith(where) else text
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{where} must be {_KINDS.get(kind.split('_')[0], 'of another type')}, got {value!r}"
    return f"{where}: {err['msg'].lower()}" if where else err["msg"]


_KINDS = {
    "float": "a number",
    "int": "an integer",
    "bool": "true or false",
    "string": "a string",
    "list": "a list of tables",
    "model": "a table",
    "dict": "a table",
}


def _line_at(text: str, loc: tuple[str | int, ...]) -> int | None:
    """The line of the setting at ``loc`` (or of its nearest enclosing table).

    tomllib keeps no positions, so the file is scanned once: table headers (``[a]``,
    ``[[repos]]``, counted per array) and ``key =`` lines under them, skipping
    multi-line strings, give each dotted path its line.
    """
    lines = _key_lines(text)
    for end in range(len(loc), 0, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return None


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\- ]+?)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


def _key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    found: dict[tuple[str | int, ...], int] = {}
    arrays: dict[tuple[str, ...], int] = {}
    table: tuple[str | int, ...] = ()
    in_string = False
    for number, line in enumerate(text.splitlines(), 1):
        quotes = line.count('"""') + line.count("'''")
        if in_string:
            in_string = quotes % 2 == 0
            continue
        header, key = _HEADER.match(line), _KEY.match(line)
        if header is not None:
            names = tuple(part.strip() for part in header[2].split("."))
            if header[1] == "[[":
                arrays[names] = arrays.get(names, -1) + 1
                table = (*names, arrays[names])
            else:
                table = names
            found.setdefault(table, number)
        elif key is not None:
            found.setdefault((*table, key[1]), number)
        in_string = quotes % 2 == 1
    return found


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too); ValueError when it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


def _resolve(config: Path, value: str) -> Path:
    """Relative paths are relative to the config file, as systemd units expect."""
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (config.parent / candidate).resolve()
