"""PRML v0.1 pre-registered claims: strict loading, canonical bytes, hash, verdicts.

A claim fixes metric, comparator, threshold, dataset and seed *before* the run; its
hash is SHA-256 over canonical bytes (block YAML, keys sorted, threshold always a
float) and is locked in a ``<claim_id>.prml.sha256`` sidecar. A claim is evidence, so
loading is unforgiving: anything two readers could see differently (duplicate keys,
control characters, non-NFC text, YAML 1.1-only scalars, non-finite numbers, keys
outside the published schema) is refused with ``path:line:col``, never repaired.
The spec: https://spec.falsify.dev/v0.1 (studio-11-co/falsify, spec/PRML-v0.1.md).
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from seid.comparators import COMPARATORS, DEFAULT_TOLERANCE, compare
from seid.errors import InputError, SeidError, VerificationError
from seid.fsutil import write_atomic
from seid.jsonsafe import field_name, load_json_text
from seid.metrics_file import Metric, lookup
from seid.yamlsafe import (
    Located,
    PathKey,
    check_controls,
    check_readable,
    load_yaml_text,
    read_text,
)

VERSION = "prml/0.1"
MAX_CLAIM_BYTES = 64 * 1024  # the spec expects < 1 KB; this also bounds nesting work
MAX_DEPTH = 32
SEED_MAX = 2**64 - 1
SIDECAR_SUFFIX = ".prml.sha256"

REQUIRED = (
    "version",
    "claim_id",
    "created_at",
    "metric",
    "comparator",
    "threshold",
    "dataset",
    "seed",
    "producer",
)
# Spec section 2.2 lists ``code``; the published JSON schema adds ``compute_envelope``.
OPTIONAL = ("metric_args", "model", "code", "compute_envelope", "prior_hash", "notes")
# Mappings the schema closes (additionalProperties: false): (required, optional) keys.
_CLOSED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dataset": (("id", "hash"), ("uri",)),
    "producer": (("id",), ("signature",)),
    "model": ((), ("id", "hash", "uri")),
}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", re.I)
_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z")
# YAML scalars that mean the same under YAML 1.1 (PyYAML) and 1.2 core (js-yaml, ...).
_PORTABLE_SCALAR = {
    bool: re.compile(r"(?:true|True|TRUE|false|False|FALSE)(?![\w.:-])"),
    int: re.compile(r"[-+]?(?:0|[1-9][0-9]*)(?![\w.:])"),
    float: re.compile(r"[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)\.[0-9]*)(?:[eE][-+][0-9]+)?(?![\w.:])"),
}
# Plain scalars YAML 1.2 core reads as numbers (PyYAML reads 1e-6, 0o17 as text).
_CORE_NUMBER = re.compile(
    r"[-+]?(?:0o[0-7]+|0x[0-9a-fA-F]+|(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)"
)
_PLAIN_TOKEN = re.compile(r"[^\s,\]}]+")
# Only counts nesting, ahead of the strict (pure Python) loader: libyaml when present.
_BREAKS = {"\t": "U+0009", "\n": "U+000A", "\r": "U+000D"}

Verdict = Literal["PASS", "FAIL", "UNVERIFIED", "TAMPERED"]
Fail = Callable[[str, str], InputError]


@dataclass(frozen=True)
class Claim:
    """A validated claim and its canonical form; ``hash`` is what a sidecar locks."""

    path: Path
    data: dict[str, Any] = field(repr=False, compare=False, hash=False)
    canonical: bytes = field(repr=False)
    hash: str
    claim_id: str
    created_at: str
    metric: str
    comparator: str
    threshold: float
    tolerance: float
    dataset_id: str
    dataset_hash: str
    seed: int
    producer_id: str
    prior_hash: str | None = None

    @property
    def sidecar_path(self) -> Path:
        return self.path.parent / f"{self.claim_id}{SIDECAR_SUFFIX}"


@dataclass(frozen=True)
class ClaimVerdict:
    """The outcome of checking one claim against observed metrics."""

    claim: Claim
    verdict: Verdict
    reason: str
    observed: float | None = None
    locked: bool = False

    def record(self) -> dict[str, Any]:
        """The entry an evidence bundle keeps under ``claims`` (see DESIGN)."""
        return {
            "path": str(self.claim.path),
            "manifest_hash": self.claim.hash,
            "verdict": self.verdict,
            "observed": self.observed,
            "locked": self.locked,
            "reason": self.reason,
        }


def load_claim(path: Path, *, display: str | None = None) -> Claim:
    """Read, validate and canonicalise a claim file (JSON or block YAML)."""
    name = display or str(path)
    text = read_text(path, display=name, max_bytes=MAX_CLAIM_BYTES)
    check_controls(text, name)
    is_json = path.suffix.lower() == ".json" or text.lstrip(" \t\r\n").startswith("{")
    located = load_json_text(text, name) if is_json else _load_yaml(text, name)
    data = _validate(located, None if is_json else text)
    canonical = canonical_bytes(data)
    prior = data.get("prior_hash")
    return Claim(
        path=path,
        data=data,
        canonical=canonical,
        hash=hashlib.sha256(canonical).hexdigest(),
        claim_id=data["claim_id"],
        created_at=data["created_at"],
        metric=data["metric"],
        comparator=data["comparator"],
        threshold=float(data["threshold"]),
        tolerance=float((data.get("metric_args") or {}).get("tolerance", DEFAULT_TOLERANCE)),
        dataset_id=data["dataset"]["id"],
        dataset_hash=data["dataset"]["hash"],
        seed=data["seed"],
        producer_id=data["producer"]["id"],
        prior_hash=prior if isinstance(prior, str) else None,
    )


def canonical_bytes(data: Mapping[str, Any]) -> bytes:
    """PRML v0.1 section 3: block YAML, keys in byte order, 2-space indent, one final LF.

    PyYAML's safe emitter is the reference emitter the spec names for float rendering
    (shortest round-trip repr, ``1.0e-06`` style exponents); code point order of keys
    is UTF-8 byte order.
    """
    document = dict(data)
    document["threshold"] = float(document["threshold"])
    text = yaml.safe_dump(
        document, default_flow_style=False, sort_keys=True, allow_unicode=True, width=sys.maxsize
    )
    return (text.rstrip() + "\n").encode("utf-8")


def _load_yaml(text: str, name: str) -> Located:
    check_readable(text, name)
    return load_yaml_text(text, name, max_depth=MAX_DEPTH)


def _dotted(loc: PathKey) -> str:
    return field_name(loc) or "(document)"


def _fail(located: Located, loc: PathKey, message: str, *, key: bool = False) -> InputError:
    line, col = located.where(loc, key=key)
    return InputError(located.path, message, line or 1, col or 1)


def _walk(value: Any, loc: PathKey = ()) -> Iterator[tuple[PathKey, Any, bool]]:
    """Every key and scalar in a document: (place, item, is_key)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*loc, key), key, True
            yield from _walk(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*loc, index))
    else:
        yield loc, value, False


def _validate(located: Located, yaml_text: str | None) -> dict[str, Any]:
    data = located.data
    if not isinstance(data, dict):
        raise _fail(located, (), "a PRML claim must be a mapping of fields")
    lines = yaml_text.split("\n") if yaml_text is not None else None
    for loc, item, is_key in _walk(data):
        _check_item(located, loc, item, is_key, lines)
    _check_keys(located, data, (), REQUIRED, OPTIONAL)
    _check_fields(located, data)
    return data


def _check_item(
    located: Located, loc: PathKey, item: Any, is_key: bool, lines: list[str] | None
) -> None:
    """Per-item rules that hold anywhere in a claim, in keys as in values."""
    what = f"{_dotted(loc)}{' (key)' if is_key else ''}"
    if is_key and not isinstance(item, str):
        raise _fail(located, loc, f"{what}: mapping keys must be strings", key=True)
    if isinstance(item, str):
        try:
            check_controls(item, located.path)
        except InputError as exc:
            message = f"{what}: {exc.message} (control / non-portable character)"
            raise _fail(located, loc, message, key=is_key) from None
        for char, code in _BREAKS.items():
            if char in item:
                message = (
                    f"{what}: forbidden control character {code} (control / non-portable character)"
                )
                raise _fail(located, loc, message, key=is_key)
        if not unicodedata.is_normalized("NFC", item):
            message = f"{what}: string is not in Unicode NFC; seid never normalises it for you"
            raise _fail(located, loc, message, key=is_key)
    elif isinstance(item, float) and not math.isfinite(item):
        raise _fail(located, loc, f"{what}: {item} is not a finite number")
    if lines is not None and not is_key:
        _check_portable(located, loc, item, lines, what)


def _check_portable(located: Located, loc: PathKey, item: Any, lines: list[str], what: str) -> None:
    """A plain YAML scalar must mean the same to YAML 1.1 (PyYAML) and 1.2 readers."""
    line, col = located.where(loc)
    if not (line and col):
        return
    token = lines[line - 1][col - 1 :]
    expected = _PORTABLE_SCALAR.get(type(item))
    if expected is not None and not expected.match(token):
        written = (token.split() or [repr(item)])[0]
        message = f"{what}: {written} means different things in YAML 1.1 and 1.2"
        raise _fail(located, loc, f"{message}; quote it, or write a plain decimal, true or false")
    plain = _PLAIN_TOKEN.match(token)
    if isinstance(item, str) and plain and plain.group() == item and _CORE_NUMBER.fullmatch(item):
        message = f"{what}: {item} is text to YAML 1.1 but a number to YAML 1.2"
        raise _fail(located, loc, f"{message}; quote it, or write a number like 1.0e-06")


def _check_keys(
    located: Located,
    mapping: dict[str, Any],
    loc: PathKey,
    required: tuple[str, ...],
    optional: tuple[str, ...],
) -> None:
    allowed = (*required, *optional)
    for key in mapping:
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
            message = f"{_dotted((*loc, key))}: unknown field{did_you_mean}"
            raise _fail(
                located, (*loc, key), f"{message} (allowed: {', '.join(allowed)})", key=True
            )
    for key in required:
        if key not in mapping:
            raise _fail(located, loc, f"missing required field: {_dotted((*loc, key))}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_fields(located: Located, data: dict[str, Any]) -> None:
    def fail(field_name: str, message: str) -> InputError:
        return _fail(located, tuple(field_name.split(".")), message)

    if data["version"] != VERSION:
        raise fail("version", f"version must be {VERSION!r}, got {data['version']!r}")
    if not (isinstance(data["claim_id"], str) and _UUID7.fullmatch(data["claim_id"])):
        raise fail("claim_id", f"claim_id must be a UUIDv7, got {data['claim_id']!r}")
    _check_created_at(data["created_at"], fail)
    metric = data["metric"]
    if not (isinstance(metric, str) and 1 <= len(metric) <= 256):
        raise fail("metric", "metric must be a string of 1 to 256 characters")
    if data["comparator"] not in COMPARATORS:
        allowed = ", ".join(COMPARATORS)
        raise fail("comparator", f"comparator must be one of {allowed}; got {data['comparator']!r}")
    _check_threshold(data["threshold"], fail)
    seed = data["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise fail("seed", f"seed must be an integer from 0 to 2^64-1, got {seed!r}")
    for name, (required, optional) in _CLOSED.items():
        value = data.get(name)
        if name in data and not isinstance(value, dict):
            raise fail(name, f"{name} must be a mapping")
        if isinstance(value, dict):
            _check_keys(located, value, (name,), required, optional)
            for key, item in value.items():
                if not (isinstance(item, str) and item):
                    raise fail(f"{name}.{key}", f"{name}.{key} must be a non-empty string")
    if not _HEX64.fullmatch(data["dataset"]["hash"]):
        raise fail("dataset.hash", "dataset.hash must be 64 lowercase hex chars (a SHA-256)")
    _check_optional(data, fail)


def _check_created_at(value: Any, fail: Fail) -> None:
    if isinstance(value, str) and _UTC.fullmatch(value):
        try:
            datetime.fromisoformat(value[:19])
            return
        except ValueError:
            pass
    example = "2026-05-01T12:00:00Z"
    raise fail(
        "created_at", f"created_at must be an RFC 3339 UTC time like {example}, got {value!r}"
    )


def _check_threshold(value: Any, fail: Fail) -> None:
    if not _is_number(value):
        hint = ""
        if isinstance(value, str):
            hint = " (a string; in YAML write the number unquoted, exponents as 1.0e-06)"
        raise fail("threshold", f"threshold must be a finite number, got {value!r}{hint}")
    try:
        as_float = float(value)
    except OverflowError:
        as_float = math.inf
    if not math.isfinite(as_float):
        message = f"threshold must be a finite number, got {value!r}: a bar no result can inform"
        raise fail("threshold", message)
    if isinstance(value, int) and int(as_float) != value:
        raise fail("threshold", f"threshold {value} is not exactly representable as a float64")


def _check_optional(data: dict[str, Any], fail: Fail) -> None:
    args = data.get("metric_args")
    if "metric_args" in data and not isinstance(args, dict):
        raise fail("metric_args", "metric_args must be a mapping")
    if isinstance(args, dict) and "tolerance" in args:
        tolerance = args["tolerance"]
        if not _is_number(tolerance) or tolerance < 0:
            raise fail("metric_args.tolerance", "metric_args.tolerance must be a number >= 0")
    for name in ("code", "compute_envelope"):
        if name in data and not isinstance(data[name], dict):
            raise fail(name, f"{name} must be a mapping")
    prior = data.get("prior_hash")
    if "prior_hash" in data and not (isinstance(prior, str) and _HEX64.fullmatch(prior)):
        raise fail("prior_hash", "prior_hash must be 64 lowercase hex chars (a claim hash)")
    notes = data.get("notes")
    if "notes" in data and not (isinstance(notes, str) and len(notes) <= 4096):
        raise fail("notes", "notes must be a string of at most 4096 characters")


def read_sidecar(claim: Claim) -> str | None:
    """The hash locked for this claim's id, or None when it was never locked."""
    path = claim.sidecar_path
    if not path.exists():
        return None
    text = read_text(path, max_bytes=4096)
    match = re.fullmatch(r"([0-9a-f]{64})(?:  ?\*?[^\n]+)?\n?", text)
    if match is None:
        raise InputError(path, "not a PRML sidecar: expected '<sha256-hex>  <file name>'", 1, 1)
    return match.group(1)


def lock(claim: Claim) -> Path:
    """Write the sidecar atomically; refuse to overwrite a different lock.

    Re-locking an edited claim would launder the edit, so only an amendment (a claim
    whose ``prior_hash`` is the locked hash) may replace an existing lock.
    """
    locked = read_sidecar(claim)
    if locked is not None and locked not in (claim.hash, claim.prior_hash):
        raise VerificationError(
            f"{claim.sidecar_path} already locks {locked} but {claim.path} hashes to "
            f"{claim.hash}; amend with a new claim whose prior_hash is the locked hash"
        )
    try:
        write_atomic(claim.sidecar_path, f"{claim.hash}  {claim.path.name}\n".encode())
    except OSError as exc:
        raise SeidError(f"cannot write {claim.sidecar_path}: {exc.strerror or exc}") from None
    return claim.sidecar_path


def evaluate(claim: Claim, metrics: Mapping[str, Metric]) -> ClaimVerdict:
    """PRML section 5: tampering first (no PASS or FAIL on a changed claim), then compare."""
    locked = read_sidecar(claim)
    note = ""
    if locked is None:
        note = f" (not locked: no {claim.sidecar_path.name})"
    elif locked != claim.hash and locked == claim.prior_hash:
        note = f" (amends locked claim {locked}; not locked itself yet)"
    elif locked != claim.hash:
        reason = f"{claim.sidecar_path.name} locks {locked}, the claim now hashes to {claim.hash}"
        return ClaimVerdict(claim, "TAMPERED", reason, locked=True)
    is_locked = locked == claim.hash
    found = lookup(metrics, claim.metric)
    if found is None:
        reason = f"metric {claim.metric!r} is not in the metrics{note}"
        return ClaimVerdict(claim, "UNVERIFIED", reason, locked=is_locked)
    observed = found.value
    passed = compare(observed, claim.comparator, claim.threshold, claim.tolerance)
    bar = f"{claim.comparator} {claim.threshold!r}"
    if claim.comparator == "==":
        bar += f" (tolerance {claim.tolerance!r})"
    relation = "" if passed else "not "
    reason = f"{claim.metric} = {observed!r}, {relation}{bar}{note}"
    return ClaimVerdict(claim, "PASS" if passed else "FAIL", reason, observed, is_locked)
