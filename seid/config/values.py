"""Value types of the manifest vocabulary: levels, constraints, durations, repo paths.

They sit below the pydantic model so that the risk analysis, the assessor and the
OSCAL compiler share one meaning for ``LIKELY``, ``"< 0.03"`` or ``P6M``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from seid.comparators import COMPARATORS, DEFAULT_TOLERANCE, compare
from seid.errors import shown
from seid.isotime import Duration

if TYPE_CHECKING:
    from seid.tables.state import TableSpec


class _Ranked(StrEnum):
    """A level on a 1..5 scale; the rank is the position in the declaration."""

    @property
    def rank(self) -> int:
        return list(type(self)).index(self) + 1

    @classmethod
    def from_rank(cls, rank: int) -> Self:
        return list(cls)[rank - 1]


class Likelihood(_Ranked):
    """How likely a risk event is (ISO/IEC 23894 6.4.3), rank 1..5."""

    RARE = "RARE"
    UNLIKELY = "UNLIKELY"
    POSSIBLE = "POSSIBLE"
    LIKELY = "LIKELY"
    ALMOST_CERTAIN = "ALMOST_CERTAIN"


class Level(_Ranked):
    """Impact, appetite and risk level, rank 1..5."""

    VERY_LOW = "VERY_LOW"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    VERY_HIGH = "VERY_HIGH"


# One way to match each number, so a refused constraint costs linear time (the
# ambiguous ``\d+\.?\d*`` backtracked quadratically on a long run of digits).
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
MAX_CONSTRAINT = 64  # characters: ``<= 0.0300000`` needs a dozen
_COMPARATOR = "|".join(sorted(map(re.escape, COMPARATORS), key=len, reverse=True))
_CONSTRAINT = re.compile(rf"\s*({_COMPARATOR})\s*({_NUMBER})\s*", re.ASCII)


@dataclass(frozen=True)
class Constraint:
    """A pre-registered criterion such as ``< 0.03``: a comparator and a finite number."""

    comparator: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """Parse ``"< 0.03"``; ValueError says what is wrong."""
        if len(text) > MAX_CONSTRAINT:
            raise ValueError(f"constraint {shown(text)} is longer than {MAX_CONSTRAINT} characters")
        match = _CONSTRAINT.fullmatch(text)
        if match is None:
            raise ValueError(
                f"constraint {shown(text)} does not parse; write a comparator "
                f"({', '.join(COMPARATORS)}) and a number, e.g. '< 0.03'"
            )
        threshold = float(match.group(2))
        if not math.isfinite(threshold):
            raise ValueError(f"constraint {shown(text)} has a threshold that is not finite")
        return cls(match.group(1), threshold)

    def holds(self, observed: float, tolerance: float = DEFAULT_TOLERANCE) -> bool:
        """Judged by the same comparator code as PRML claims (``==`` within ``tolerance``)."""
        return compare(observed, self.comparator, self.threshold, tolerance)

    def __str__(self) -> str:
        return f"{self.comparator} {self.threshold!r}"


def _constraint(value: Any) -> Constraint:
    if isinstance(value, Constraint):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "constraint_type",
            "constraint must be a string such as '< 0.03', got {got}",
            {"got": type(value).__name__},
        )
    try:
        return Constraint.parse(value)
    except ValueError as exc:
        raise PydanticCustomError("constraint", str(exc)) from None


ConstraintField = Annotated[
    Constraint, PlainValidator(_constraint), PlainSerializer(str, return_type=str)
]


def _threshold(value: Any) -> float | Constraint:
    """The sei engine's ``metric_threshold``: a finite number, or a constraint string."""
    if isinstance(value, str):
        return _constraint(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PydanticCustomError(
            "threshold",
            "expected a finite number or a constraint such as '< 0.03', got {got}",
            {"got": repr(value)[:40]},
        )
    return float(value)


ThresholdField = Annotated[
    float | Constraint, PlainValidator(_threshold), PlainSerializer(str, return_type=str)
]


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        try:
            Duration.parse(value)
        except ValueError:
            raise PydanticCustomError(
                "duration",
                "{value} is not an ISO 8601 duration such as P6M or P1DT12H",
                {"value": repr(value)},
            ) from None
    return value


IsoDuration = Annotated[str, BeforeValidator(_duration)]


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*", re.ASCII)


def _identifier(value: Any) -> Any:
    if isinstance(value, str) and _IDENTIFIER.fullmatch(value) is None:
        raise PydanticCustomError(
            "identifier",
            "{value} is not an identifier: use letters, digits, '_', '-' and '.', "
            "starting with a letter or '_'",
            {"value": repr(value)},
        )
    return value


Identifier = Annotated[str, BeforeValidator(_identifier)]
"""An id that becomes a metrics key, an OSCAL token and a ledger field: kept plain."""


def check_repo_path(value: str) -> str:
    """Refuse what would leave the repository: absolute paths, ``..``, control characters."""
    if not value:
        raise ValueError("path is empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"path {value!r} contains a control character")
    if (
        PurePosixPath(value).is_absolute()
        or PureWindowsPath(value).is_absolute()
        or (PureWindowsPath(value).drive)
    ):
        raise ValueError(f"path {value!r} is absolute; paths are relative to the repository root")
    if ".." in PurePosixPath(value.replace("\\", "/")).parts:
        raise ValueError(f"path {value!r} leaves the repository ('..' is not allowed)")
    return value


def _repo_path(value: Any) -> Any:
    if isinstance(value, str):
        try:
            check_repo_path(value)
        except ValueError as exc:
            raise PydanticCustomError("repo_path", str(exc)) from None
    return value


RepoPath = Annotated[str, BeforeValidator(_repo_path)]
"""A repo-relative POSIX path or glob, checked against traversal."""


class TableCatalog(BaseModel):
    """An Iceberg catalog pyiceberg can load: ``uri`` as pyiceberg reads it (for a SQL
    catalog ``sqlite:///catalog.db``, relative to the repository root), ``warehouse``
    where its tables' files live, and further catalog properties as strings. ``name``
    is the catalog's own name: a SQL catalog keeps tables of several names apart."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    uri: str
    warehouse: str | None = None
    type: str = "sql"
    properties: dict[str, str] = {}


class Table(BaseModel):
    """A lakehouse table among the data inputs (class C): a Delta table at ``uri``, or
    an Iceberg table ``table`` (``namespace.name``) in ``catalog``. The URI may point
    outside the repository (tables are rarely in git); it is never hashed file by file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Identifier
    format: Literal["delta", "iceberg"]
    uri: str | None = None
    catalog: TableCatalog | None = None
    table: str | None = None

    @model_validator(mode="after")
    def _located(self) -> Table:
        """Delta tables are found by URI, Iceberg tables through a catalog: say which
        key is missing or does not belong, rather than failing when the table is read."""
        if self.format == "delta":
            if self.uri is None:
                raise ValueError("a delta table needs 'uri' (a path or an object-store URI)")
            if self.catalog is not None or self.table is not None:
                raise ValueError("a delta table is found by 'uri' alone: drop 'catalog'/'table'")
        elif self.catalog is None or self.table is None:
            raise ValueError("an iceberg table needs 'catalog' and 'table' (namespace.name)")
        elif self.uri is not None:
            raise ValueError("an iceberg table is found through its catalog: drop 'uri'")
        for text in (self.uri, self.table):
            if text is not None and (not text or any(ord(c) < 0x20 for c in text)):
                raise ValueError(f"{text!r} is empty or contains a control character")
        if self.table is not None and "." not in self.table.strip("."):
            raise ValueError(f"table {self.table!r} is not 'namespace.name'")
        return self

    def spec(self) -> TableSpec:
        """The declaration in the plain form the table readers take."""
        from seid.tables.state import CatalogSpec, TableSpec

        catalog = self.catalog
        return TableSpec(
            name=self.name,
            format=self.format,
            uri=self.uri,
            table=self.table,
            catalog=None if catalog is None else CatalogSpec(**catalog.model_dump()),
        )


class InputClasses(BaseModel):
    """Watched path globs sorted into the drift classes: A criteria, B treatment, C data.

    Globs are repo-relative POSIX patterns; ``**`` crosses directories, so ``data/**``
    is everything under ``data``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    criteria: list[RepoPath] = []
    treatment: list[RepoPath] = []
    data: list[RepoPath] = []
    tables: list[Table] = []
