"""Checks across a manifest that no single field can make: ids, references, coherence.

Each problem carries the pydantic-style location of what is wrong, so the loader can
print ``path:line:col`` for it; a manifest built in memory gets the same checks.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seid.config.model import Manifest, RiskProgram

Loc = tuple[str | int, ...]
ANY_ROLE = "approver"  # the role of a grant when the approval policy requires none
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


@dataclass(frozen=True)
class Problem:
    loc: Loc
    message: str
    key: bool = False


def dotted(loc: Loc) -> str:
    """``('risk', 'risks', 0, 'id')`` -> ``risk.risks[0].id``; odd keys are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int) or not _PLAIN_KEY.fullmatch(part):
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else part
    return out


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a close choice, case-insensitively; else empty."""
    by_folded = {choice.casefold(): choice for choice in choices}
    close = difflib.get_close_matches(word.casefold(), list(by_folded), n=1, cutoff=0.6)
    return f" (did you mean {by_folded[close[0]]!r}?)" if close else ""


def problems(manifest: Manifest) -> Iterator[Problem]:
    """Every cross-field problem of ``manifest``, in file order as far as it is known."""
    yield from _header(manifest)
    if manifest.pipeline.tool == "command" and not manifest.pipeline.command:
        yield Problem(("pipeline", "tool"), "tool 'command' needs 'command', the argv list to run")
    yield from _misuses(manifest)
    yield from _risks(manifest.risk)
    yield from _approvers(manifest)
    yield from _tables(manifest)


def _tables(manifest: Manifest) -> Iterator[Problem]:
    """Table names are environment variables, bundle keys and daemon jobs: one each."""
    seen: dict[str, str] = {}
    for i, table in enumerate(manifest.inputs.tables if manifest.inputs else ()):
        env_var = table.spec().env_var
        if env_var in seen:
            message = f"table {table.name!r} clashes with {seen[env_var]!r} ({env_var})"
            yield Problem(("inputs", "tables", i, "name"), message)
        seen.setdefault(env_var, table.name)


def _header(manifest: Manifest) -> Iterator[Problem]:
    if manifest.version is not None and manifest.api_version is not None:
        yield Problem(("apiVersion",), "give 'version' or 'apiVersion', not both", key=True)
    elif manifest.version is None and manifest.api_version is None:
        yield Problem(
            (),
            "missing header: write 'version: seid/1' "
            "(or 'apiVersion: venturalitica.ai/v1alpha1' with 'kind: AISystem')",
        )
    elif manifest.api_version is not None and manifest.kind is None:
        yield Problem(("apiVersion",), "'apiVersion' needs 'kind: AISystem'", key=True)
    elif manifest.version is not None and manifest.kind is not None:
        yield Problem(("kind",), "'kind' belongs to the apiVersion header", key=True)


def _approvers(manifest: Manifest) -> Iterator[Problem]:
    """Each role the policy names approvers for is one that must grant, and each role that
    must grant has its approvers named (with none required, the one role is 'approver')."""
    approvers = manifest.approval.approvers
    if approvers is None:
        return
    roles = manifest.approval.roles_required or [ANY_ROLE]
    for role in approvers:
        if role not in roles:
            hint = did_you_mean(role, roles)
            message = f"role {role!r} is not in approval.roles_required{hint}"
            yield Problem(("approval", "approvers", role), message, key=True)
    for role in roles:
        if role not in approvers:
            yield Problem(("approval", "approvers"), f"no approvers named for role {role!r}")


def _misuses(manifest: Manifest) -> Iterator[Problem]:
    risk_ids = [risk.id for risk in manifest.risk.risks]
    seen: set[str] = set()
    for i, misuse in enumerate(manifest.system.potential_misuses):
        here: Loc = ("system", "potential_misuses", i)
        if misuse.id in seen:
            yield Problem((*here, "id"), f"duplicate misuse id {misuse.id!r}")
        seen.add(misuse.id)
        for k, ref in enumerate(misuse.addressed_by):
            if ref not in risk_ids:
                hint = did_you_mean(ref, risk_ids)
                yield Problem((*here, "addressed_by", k), f"no risk with id {ref!r}{hint}")


def _risks(program: RiskProgram) -> Iterator[Problem]:
    yield from _bands(program)
    if program.risks and program.overall_residual_criterion is None:
        yield Problem(
            ("risk",),
            "missing 'overall_residual_criterion': the level the overall residual "
            "risk must not exceed",
            key=True,
        )
    risk_ids: set[str] = set()
    measure_ids: set[str] = set()
    for i, risk in enumerate(program.risks):
        here: Loc = ("risk", "risks", i)
        if risk.id in risk_ids:
            yield Problem((*here, "id"), f"duplicate risk id {risk.id!r}")
        risk_ids.add(risk.id)
        for dimension in risk.impact:
            if dimension not in program.appetite:
                hint = did_you_mean(dimension, program.appetite)
                yield Problem(
                    (*here, "impact", dimension),
                    f"no appetite for dimension {dimension!r} in risk.appetite{hint}",
                    key=True,
                )
        for j, treatment in enumerate(risk.treat):
            step: Loc = (*here, "treat", j)
            residual = treatment.residual_likelihood
            if residual is not None and residual.rank > risk.likelihood.rank:
                yield Problem(
                    (*step, "residual_likelihood"),
                    f"residual likelihood {residual.value} is above the risk's "
                    f"likelihood {risk.likelihood.value}",
                )
            for k, measure in enumerate(treatment.measures):
                if measure.id in measure_ids:
                    yield Problem(
                        (*step, "measures", k, "id"), f"duplicate measure id {measure.id!r}"
                    )
                measure_ids.add(measure.id)


def _bands(program: RiskProgram) -> Iterator[Problem]:
    """Score bands must rise with the level and the highest must reach 25."""
    bands = program.criteria.bands
    if not bands:
        return
    where: Loc = ("risk", "criteria", "bands")
    previous = 0
    for level in sorted(bands, key=lambda lv: lv.rank):
        bound = bands[level]
        if not previous < bound <= 25:
            yield Problem(
                (*where, level.value),
                f"band {level.value} ends at {bound}; bands must rise with the level, "
                f"each above the last ({previous}) and at most 25",
            )
            return
        previous = bound
    if previous != 25:
        top = max(bands, key=lambda lv: lv.rank)
        yield Problem((*where, top.value), "the highest band must end at score 25")
