"""The pieces every OSCAL document seid writes is made of, as plain data.

Documents are built as dicts in the order OSCAL declares their fields, with the field
names OSCAL uses, and nothing empty: OSCAL lists are absent, never empty. Plain data,
not compliance-trestle models, because a plan grows with the manifest (one task per
measure) and models cost a validation per object; the tests hold every document to
trestle's models instead (validated, and re-serialised by trestle to the same bytes).
The values a manifest brings in are of kinds OSCAL accepts by construction: ids are
tokens (:data:`seid.config.values.Identifier`), prop values one trimmed line
(:func:`line`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

from seid.config import Manifest
from seid.risk import OverallResidual

NAMESPACE: Final = "https://seid.dev/ns/oscal"
OSCAL_VERSION: Final = "1.2.1"  # the OSCAL release whose models the tests validate against
_UUID_NS: Final = uuid.uuid5(uuid.NAMESPACE_URL, NAMESPACE)

Node = dict[str, Any]


class Ids:
    """uuid5 of the system name and a path of ids: stable across compiles and hosts."""

    def __init__(self, system: str) -> None:
        self.system = system

    def __call__(self, *parts: str) -> str:
        return str(uuid.uuid5(_UUID_NS, "\x1f".join((self.system, *parts))))


def line(value: object) -> str:
    """One line, no edge whitespace: what OSCAL titles and prop values allow."""
    return " ".join(str(value).split())


def instant(when: datetime) -> str:
    """OSCAL's date-time-with-timezone in UTC as ``+00:00``; milliseconds only when
    there are any (the form trestle writes, so documents compare byte for byte)."""
    utc = when.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds" if utc.microsecond else "seconds")


def node(**fields: Any) -> Node:
    """An OSCAL object: ``snake_case`` names become OSCAL's hyphenated ones, and absent
    fields (None) are left out. Keyword order is the field order written."""
    return {name.replace("_", "-"): value for name, value in fields.items() if value is not None}


def prop(name: str, value: object, *, group: str | None = None) -> Node | None:
    """A seid prop, or None for no value (a plan has 20 per task: built directly)."""
    text = "" if value is None else line(value)
    if not text:
        return None
    found = {"name": name, "ns": NAMESPACE, "value": text}
    if group is not None:
        found["group"] = group
    return found


def listed(items: Iterable[Any]) -> list[Any] | None:
    """OSCAL lists are absent, never empty."""
    found = [item for item in items if item is not None]
    return found or None


def many(name: str, values: Iterable[object]) -> list[Node | None]:
    return [prop(name, value) for value in values]


def select(risk_ids: Iterable[str]) -> Node:
    return node(include_controls=[node(control_id=rid) for rid in risk_ids])


def metadata(
    manifest: Manifest, title: str, when: datetime, props: list[Any], remarks: str | None = None
) -> Node:
    return node(
        title=line(f"{title}: {manifest.system.name}"),
        last_modified=instant(when),
        version=line(manifest.system.version or "") or "unversioned",
        oscal_version=OSCAL_VERSION,
        props=listed(props),
        remarks=remarks,
    )


def reviewed_controls(manifest: Manifest, overall: OverallResidual) -> Node:
    program = manifest.risk
    return node(
        description="The risks of the risk program (ISO/IEC 23894 6.4), each assessed by its "
        "pre-registered measures; the risk id is the control id.",
        props=listed(
            [
                *[prop("appetite", level, group=dim) for dim, level in program.appetite.items()],
                prop("risk-criteria-scale", program.criteria.scale),
                prop("review-interval", program.review_interval),
                prop("overall-residual-level", overall.level),
                prop("overall-residual-criterion", overall.criterion),
                prop("overall-residual-evaluation", overall.evaluation),
                *many("overall-residual-contributor", overall.contributing),
            ]
        ),
        control_selections=[select(risk.id for risk in program.risks)],
    )
