"""``seid init``: a commented starter ``sei.yaml`` for the project it runs in.

The starter names the pipeline tool it found (dvc.yaml; an MLproject or MLflow entry
script; a Dagster definitions file; else a command to fill in) and writes the watched
inputs seid would derive for it, so a newcomer sees, and can correct, what will count
as criteria, treatment and data drift. The text is checked with the real manifest
loader before it is written: ``seid init`` never leaves a file seid cannot read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal

import yaml

from seid.config import (
    MANIFEST_NAMES,
    DvcFiles,
    InputClasses,
    Pipeline,
    default_inputs,
    dvc_files,
    load_manifest_text,
)
from seid.errors import InputError, SeidError
from seid.fsutil import write_atomic
from seid.yamlsafe import read_text

Tool = Literal["dvc", "mlflow", "dagster", "command"]
TOOLS: Final[tuple[Tool, ...]] = ("dvc", "mlflow", "dagster", "command")
MANIFEST: Final = "sei.yaml"
CLAIMS_GLOB: Final = "claims/*.prml.yaml"
PLACEHOLDER_COMMAND: Final = ("python", "train.py")
DEFAULT_METRICS: Final = "metrics.json"
DEFAULT_PARAMS: Final = "params.yaml"
# Directories that hold someone else's code (or none): never searched for entry points.
_SKIP_DIRS = frozenset({"venv", "node_modules", "__pycache__", "site-packages", "build", "dist"})
_MAX_DEPTH = 4
_MAX_FILES = 5000
_SCAN_BYTES = 256 * 1024
_LISTED = 8  # declared metrics and plots files named in the starter's comment


@dataclass(frozen=True)
class Detection:
    """The pipeline tool and the file that decided it (None: nothing was found)."""

    tool: Tool
    found: str | None = None
    entry: str | None = None
    definitions: str | None = None


@dataclass(frozen=True)
class StarterResult:
    path: Path
    detection: Detection
    inputs: InputClasses
    overwritten: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "tool": self.detection.tool,
            "found": self.detection.found,
            "inputs": self.inputs.model_dump(),
            "overwritten": self.overwritten,
        }


def write_starter(root: Path, force: bool = False, tool: Tool | None = None) -> StarterResult:
    """Write ``root/sei.yaml``; an existing manifest is kept unless ``force``."""
    path = root / MANIFEST
    existing = [name for name in MANIFEST_NAMES if (root / name).is_file()]
    if existing and not force:
        raise SeidError(f"{existing[0]} already exists in {root}; use --force to overwrite")
    detection = detect(root, tool)
    declared = _declared(root, detection)
    pipeline = _pipeline(root, detection, declared)
    derived = default_inputs(root, pipeline)
    inputs = InputClasses(
        criteria=[MANIFEST, CLAIMS_GLOB], treatment=derived.treatment, data=derived.data
    )
    text = starter_text(root.resolve().name, detection, pipeline, inputs, declared)
    load_manifest_text(text, MANIFEST)  # a starter seid cannot read is a bug, not a file
    overwritten = path.exists()
    _write(path, text.encode("utf-8"), replace=force)
    return StarterResult(path, detection, inputs, overwritten)


def detect(root: Path, tool: Tool | None = None) -> Detection:
    """The first tool whose files are here (dvc, mlflow, dagster), or ``tool`` if given."""
    finders = {"dvc": _dvc, "mlflow": _mlflow, "dagster": _dagster}
    for name in (tool,) if tool else tuple(finders):
        finder = finders.get(name)
        found = finder(root) if finder else None
        if found is not None:
            return found
    return Detection(tool or "command")


# --- detection -------------------------------------------------------------------------


def _dvc(root: Path) -> Detection | None:
    return Detection("dvc", "dvc.yaml") if (root / "dvc.yaml").is_file() else None


def _mlflow(root: Path) -> Detection | None:
    if (root / "MLproject").is_file():
        return Detection("mlflow", "MLproject", entry=_mlproject_entry(root / "MLproject"))
    script = next((p for p in _python_files(root) if _matches(p, "*mlflow*entry*.py")), None)
    return Detection("mlflow", script, entry=script) if script else None


def _dagster(root: Path) -> Detection | None:
    files = list(_python_files(root))
    for pattern in ("definitions.py", "*dagster*defs*.py"):
        named = next((p for p in files if _matches(p, pattern)), None)
        if named:
            return Detection("dagster", named, definitions=named)
    for rel in files:
        if _defines_definitions(root / rel):
            return Detection("dagster", rel, definitions=rel)
    return None


def _matches(rel: str, pattern: str) -> bool:
    return PurePosixPath(rel).match(pattern)


def _python_files(root: Path) -> Iterator[str]:
    """Repo-relative ``.py`` files, sorted, shallow first, skipping hidden and vendored dirs."""
    count = 0
    level = [root]
    for _ in range(_MAX_DEPTH):
        below: list[Path] = []
        for directory in level:
            try:
                entries = sorted(directory.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith(".") or entry.is_symlink():
                    continue
                if entry.is_dir() and entry.name not in _SKIP_DIRS:
                    below.append(entry)
                elif entry.suffix == ".py" and entry.is_file():
                    count += 1
                    if count > _MAX_FILES:
                        return
                    yield entry.relative_to(root).as_posix()
        level = below


def _defines_definitions(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return b"Definitions(" in fh.read(_SCAN_BYTES)
    except OSError:
        return False


def _mlproject_entry(path: Path) -> str:
    """``main`` when the MLproject has it (MLflow's default), else its first entry point."""
    document = _yaml_mapping(path)
    points = document.get("entry_points")
    names = [str(name) for name in points] if isinstance(points, dict) else []
    return "main" if "main" in names or not names else names[0]


def _yaml_mapping(path: Path) -> dict[Any, Any]:
    """A tool's own YAML file, read leniently: seid does not own its vocabulary."""
    try:
        document = yaml.safe_load(read_text(path, display=path.name))
    except yaml.YAMLError as exc:
        raise InputError(path.name, f"invalid YAML: {exc}") from None
    return document if isinstance(document, dict) else {}


# --- the text --------------------------------------------------------------------------


def _declared(root: Path, detection: Detection) -> DvcFiles:
    """The metrics, params and plots files the tool's own file names (DVC only)."""
    return dvc_files(root) if detection.tool == "dvc" else DvcFiles()


def _params(root: Path, declared: DvcFiles) -> str | None:
    """``params.yaml`` if the tool uses it or it exists, else the first file the tool names."""
    if DEFAULT_PARAMS in declared.params or (root / DEFAULT_PARAMS).is_file():
        return DEFAULT_PARAMS
    return declared.params[0] if declared.params else None


def _pipeline(root: Path, detection: Detection, declared: DvcFiles) -> Pipeline:
    return Pipeline(
        tool=detection.tool,
        metrics=declared.metrics[0] if declared.metrics else DEFAULT_METRICS,
        params=_params(root, declared),
        entry=detection.entry or ("main" if detection.tool == "mlflow" else None),
        definitions=detection.definitions
        or ("definitions.py" if detection.tool == "dagster" else None),
        command=list(PLACEHOLDER_COMMAND) if detection.tool == "command" else None,
    )


def _scalar(value: str) -> str:
    """``value`` as a YAML flow scalar, quoted only when it must be."""
    return yaml.safe_dump([value], default_flow_style=True, width=1 << 16).strip()[1:-1]


def _block(items: list[str], indent: str) -> str:
    if not items:
        return " []"
    return "".join(f"\n{indent}- {_scalar(item)}" for item in items)


def _pipeline_text(detection: Detection, pipeline: Pipeline, declared: DvcFiles) -> str:
    why = f"found {detection.found}" if detection.found else "no DVC, MLflow or Dagster files"
    lines = [f"# The pipeline seid re-runs when treatment or data change ({why}).", "pipeline:"]
    lines.append(f"  tool: {detection.tool}")
    said = (
        f"as {detection.found} declares it" if declared.metrics else "the file your pipeline writes"
    )
    lines.append(f"  metrics: {_scalar(pipeline.metrics)}  # {said}")
    others = [*declared.metrics[1:], *declared.plots]
    if others:
        lines.append(f"  # {detection.found} also declares (outputs, so never watched):")
        lines += [f"  #   {name}" for name in others[:_LISTED]]
        lines += [f"  #   and {len(others) - _LISTED} more"] if len(others) > _LISTED else []
    if pipeline.params:
        lines.append(f"  params: {_scalar(pipeline.params)}")
    if pipeline.entry:
        lines.append(f"  entry: {_scalar(pipeline.entry)}  # MLproject entry point or script")
    if pipeline.definitions:
        edit = "" if detection.found else "  # EDIT: your Dagster definitions file"
        lines.append(f"  definitions: {_scalar(pipeline.definitions)}{edit}")
    if pipeline.command:
        argv = ", ".join(_scalar(arg) for arg in pipeline.command)
        lines.append(f"  command: [{argv}]  # EDIT: the argv (no shell) that writes metrics")
    return "\n".join(lines)


def starter_text(
    name: str,
    detection: Detection,
    pipeline: Pipeline,
    inputs: InputClasses,
    declared: DvcFiles | None = None,
) -> str:
    """The commented starter manifest; lines marked EDIT are placeholders."""
    derived = f"from {detection.found}" if detection.found else "for this tool"
    return _TEMPLATE.format(
        name=_scalar(name or "my-ml-system"),
        pipeline=_pipeline_text(detection, pipeline, declared or DvcFiles()),
        derived=derived,
        claims=_scalar(CLAIMS_GLOB),
        criteria=_block(inputs.criteria, "    "),
        treatment=_block(inputs.treatment, "    "),
        data=_block(inputs.data, "    "),
    )


_TEMPLATE = """\
# sei.yaml: the risk program of this ML system, written by `seid init`.
#
# seid reads it to know what to watch, how to re-run the pipeline and which
# pre-registered criteria the results must meet. It is class A (criteria): editing it
# re-assesses the existing metrics against the new criteria, re-runs nothing, and the
# edit itself is recorded as evidence. Lines marked EDIT are placeholders.
# Check it with `seid analyze`; `seid compile` turns it into an OSCAL assessment plan.
version: seid/1

system:
  name: {name}  # EDIT if the system has another name
  intended_purpose: EDIT what the system decides, for whom

{pipeline}

# Pre-registered PRML claims (class A); `seid claim lock FILE` seals each one.
claims: [{claims}]

# Watched paths by drift class: criteria (A) are re-assessed only, a treatment change (B)
# re-runs what is downstream of the code and params, a data change (C) everything
# downstream of the data. Derived {derived}; delete this section to let seid derive
# it afresh on every run.
inputs:
  criteria:{criteria}
  treatment:{treatment}
  data:{data}

evidence:
  dir: .sei/  # the ledger and caches; not committed

oscal:
  assessment_plan: assessment_plan.oscal.yaml  # where `seid compile` writes

risk:
  # The highest risk level accepted per impact dimension: VERY_LOW, LOW, MEDIUM, HIGH,
  # VERY_HIGH. Every dimension a risk's impact names needs an appetite here.
  appetite: {{individual: MEDIUM, society: MEDIUM, organization: HIGH}}
  criteria: {{scale: 5x5}}  # likelihood rank x impact rank, banded
  overall_residual_criterion: MEDIUM
  review_interval: P6M  # review the program itself twice a year
  risks:
    # EDIT: an example risk, to replace with the risks of this system.
    - id: example-unfair-outcome
      title: EDIT outcomes differ by a protected attribute
      domain: fairness
      rationale: EDIT why this risk applies to this system
      impact: {{individual: HIGH, society: MEDIUM}}
      likelihood: POSSIBLE  # RARE, UNLIKELY, POSSIBLE, LIKELY, ALMOST_CERTAIN
      treat:
        - method: REDUCE  # REDUCE, AVOID, TRANSFER or ACCEPT
          action: EDIT what is done to reduce the risk
          residual_likelihood: UNLIKELY
          measures:
            # A release gate: a model whose metric breaks the constraint is not
            # promoted. EDIT: the metric must be a key of your metrics file.
            - id: example-parity-gap
              metric: demographic_parity_diff
              constraint: "< 0.05"
              severity: high
              enforcement: gate
              evaluation: automated
              lifecycle: [validation]
"""


def _write(path: Path, data: bytes, *, replace: bool) -> None:
    """Atomic; without ``replace`` it links into place, which never clobbers."""
    try:
        write_atomic(path, data, replace=replace)
    except FileExistsError:
        raise SeidError(f"{path.name} appeared while writing; use --force to overwrite") from None
    except OSError as exc:
        raise SeidError(f"cannot write {path}: {exc.strerror or exc}") from None
