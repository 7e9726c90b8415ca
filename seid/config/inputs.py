"""Default watched inputs, derived from the pipeline tool when ``inputs`` is not given.

DVC says the most: its stage deps are sorted into treatment (code, params files) and
data (everything else, plus ``*.dvc`` pointers). For the other tools the entry point
and params file are the treatment. Claims and the manifest are always criteria.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml

from seid.config.values import InputClasses, check_repo_path
from seid.errors import InputError
from seid.yamlsafe import read_text

if TYPE_CHECKING:
    from seid.config.model import Pipeline

CODE_SUFFIXES = frozenset({".py", ".r", ".sh", ".ipynb", ".jl", ".scala", ".sql"})
CODE_DIRS = frozenset({"src", "code", "train"})
CLAIM_GLOBS = ("**/*.prml.yaml", "**/prml.yaml")
DATA_GLOBS = ("**/*.dvc", "**/*.croissant.json")
DEFAULT_PARAMS = "params.yaml"
_TEMPLATE = re.compile(r"\$\{[^}]*\}")


def merge_inputs(base: InputClasses, *, criteria: Iterable[str]) -> InputClasses:
    """``base`` with the always-watched criteria and the claim globs added, deduplicated."""
    return InputClasses(
        criteria=_unique([*criteria, *base.criteria, *CLAIM_GLOBS]),
        treatment=_unique(base.treatment),
        data=_unique(base.data),
        tables=base.tables,
    )


def default_inputs(root: Path, pipeline: Pipeline) -> InputClasses:
    """The treatment and data globs a project of this tool has by convention."""
    treatment: list[str] = []
    data: list[str] = list(DATA_GLOBS)
    if pipeline.params:
        treatment.append(pipeline.params)
    if pipeline.tool == "dvc":
        code, deps = _dvc_inputs(root)
        treatment += ["dvc.yaml", *code]
        data += deps
    elif pipeline.tool == "mlflow":
        treatment.append("MLproject")
        if pipeline.entry and PurePosixPath(pipeline.entry).suffix:
            treatment.append(pipeline.entry)
    elif pipeline.tool == "dagster" and pipeline.definitions:
        treatment.append(pipeline.definitions)
    elif pipeline.tool == "command":
        treatment += [arg for arg in pipeline.command or [] if _is_code_arg(root, arg)]
    return InputClasses(treatment=_unique(treatment), data=_unique(data))


def _is_code_arg(root: Path, arg: str) -> bool:
    try:
        check_repo_path(arg)
    except ValueError:
        return False
    return _is_code(arg) and (root / arg).is_file()


@dataclass(frozen=True)
class DvcFiles:
    """The files a dvc.yaml declares, in its own order: by its stages and at top level."""

    metrics: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    plots: tuple[str, ...] = ()


def dvc_files(root: Path) -> DvcFiles:
    """What ``root/dvc.yaml`` names as metrics, params and plots files (none if absent).

    DVC 3 projects declare metrics and plots at the top level as well as in stages
    (``metrics: [eval/metrics.json]``); both count. Params are the files stages depend
    on: a top-level ``params`` file is often one the pipeline writes (DVCLive's).
    """
    path = root / "dvc.yaml"
    return _declared(_dvc_document(path)) if path.is_file() else DvcFiles()


def _declared(document: dict[str, Any]) -> DvcFiles:
    stages = [stage for _, stage in _stages(document)]
    bodies = [*stages, document]
    return DvcFiles(
        metrics=tuple(_unique(f for b in bodies for f in _strings(b.get("metrics"), "metrics"))),
        params=tuple(_unique(f for s in stages for f in _params_files(s.get("params")))),
        plots=tuple(_unique(f for b in bodies for f in _plot_files(b.get("plots"), "plots"))),
    )


def _dvc_inputs(root: Path) -> tuple[list[str], list[str]]:
    """(treatment, data) globs from the stages of ``dvc.yaml``; none if it is absent.

    A dep that another stage writes (``outs``, ``metrics``, ``plots``, or a top-level
    metrics or plots file) is not an input: watching it would make every run look like
    data drift.
    """
    path = root / "dvc.yaml"
    if not path.is_file():
        return [], []
    document = _dvc_document(path)
    stages = list(_stages(document))
    declared = _declared(document)
    produced = {
        PurePosixPath(out.rstrip("/"))
        for out in [
            *(o for _, stage in stages for o in _strings(stage.get("outs"), "outs")),
            *declared.metrics,
            *declared.plots,
        ]
    }
    treatment: list[str] = []
    data: list[str] = []
    for name, stage in stages:
        params_files = list(_params_files(stage.get("params")))
        treatment += params_files
        for dep in _strings(stage.get("deps"), f"stage {name!r} deps"):
            if _is_produced(dep, produced):
                continue
            glob = _as_glob(root, dep)
            if glob is None:
                continue
            is_treatment = _is_code(dep) or dep in params_files or _is_params_name(dep)
            (treatment if is_treatment else data).append(glob)
    return treatment, data


def _is_produced(dep: str, produced: set[PurePosixPath]) -> bool:
    pure = PurePosixPath(dep.rstrip("/"))
    return any(pure == out or out in pure.parents for out in produced)


def _dvc_document(path: Path) -> dict[str, Any]:
    """dvc.yaml as a mapping; its YAML errors placed at their line and column."""
    try:
        document = yaml.safe_load(read_text(path, display="dvc.yaml"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise InputError("dvc.yaml", f"invalid YAML: {exc.problem}", *where) from None
    except yaml.YAMLError as exc:
        raise InputError("dvc.yaml", f"invalid YAML: {exc}") from None
    return document if isinstance(document, dict) else {}


def _stages(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The stage bodies of a dvc.yaml (``foreach``/``matrix`` stages yield their ``do``)."""
    stages = document.get("stages")
    if not isinstance(stages, dict):
        return
    for name, body in stages.items():
        if isinstance(body, dict):
            inner = body.get("do")
            yield str(name), inner if isinstance(inner, dict) else body


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError("dvc.yaml", f"{what} must be a list")
    out: list[str] = []
    for item in value:
        if isinstance(item, dict):  # ``- path: {hash: md5}`` style entries
            out += [str(key) for key in item]
        elif isinstance(item, str):
            out.append(item)
    return out


def _plot_files(value: Any, what: str) -> list[str]:
    """The files of a ``plots`` list: a path, or a plot id whose ``y`` maps files to columns."""
    out: list[str] = []
    for item in value if isinstance(value, list) else _strings(value, what):
        if isinstance(item, str):
            out.append(item)
            continue
        for key, spec in item.items() if isinstance(item, dict) else ():
            y = spec.get("y") if isinstance(spec, dict) else None
            out += [str(name) for name in y] if isinstance(y, dict) else [str(key)]
    return out


def _params_files(value: Any) -> Iterator[str]:
    """Files named by a stage's ``params``: dict entries name files, bare keys mean params.yaml."""
    if not isinstance(value, list):
        return
    for item in value:
        if isinstance(item, dict):
            yield from (str(key) for key in item)
        else:
            yield DEFAULT_PARAMS


def _as_glob(root: Path, dep: str) -> str | None:
    """A dep as a watched glob: templates become ``*``, directories cover their contents."""
    dep = _TEMPLATE.sub("*", dep).rstrip("/")
    try:
        check_repo_path(dep)
    except ValueError:
        return None  # outside the repo: not ours to watch
    return f"{dep}/**" if (root / dep).is_dir() else dep


def _is_code(path: str) -> bool:
    """Code by suffix, or a top-level code directory (``src/``; not ``data/train/``)."""
    pure = PurePosixPath(path)
    top = pure.parts[0] if pure.parts else ""
    return pure.suffix.lower() in CODE_SUFFIXES or top in CODE_DIRS


def _is_params_name(path: str) -> bool:
    return PurePosixPath(path).stem == "params"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
