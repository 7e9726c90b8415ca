"""The ``sei.yaml`` project manifest: model, loader, value types and watched inputs.

Import from here; the submodules are an implementation detail.
"""

from __future__ import annotations

from seid.config.inputs import DvcFiles, default_inputs, dvc_files
from seid.config.load import load_manifest, load_manifest_text
from seid.config.model import (
    Approval,
    Artifacts,
    Classification,
    Context,
    Criteria,
    Evidence,
    Manifest,
    Measure,
    Method,
    Misuse,
    Oscal,
    Pipeline,
    Risk,
    RiskProgram,
    Severity,
    System,
    Task,
    Treatment,
)
from seid.config.values import (
    Constraint,
    InputClasses,
    Level,
    Likelihood,
    check_repo_path,
)
from seid.locate import MANIFEST_NAMES, find_root, manifest_path

__all__ = [
    "MANIFEST_NAMES",
    "Approval",
    "Artifacts",
    "Classification",
    "Constraint",
    "Context",
    "Criteria",
    "DvcFiles",
    "Evidence",
    "InputClasses",
    "Level",
    "Likelihood",
    "Manifest",
    "Measure",
    "Method",
    "Misuse",
    "Oscal",
    "Pipeline",
    "Risk",
    "RiskProgram",
    "Severity",
    "System",
    "Task",
    "Treatment",
    "check_repo_path",
    "default_inputs",
    "dvc_files",
    "find_root",
    "load_manifest",
    "load_manifest_text",
    "manifest_path",
]
