"""Dagster: the assets whose ``code_version`` no longer matches the one last evidenced.

Each asset declares its ``code_version`` in the project's definitions file, derived from
the digest of the treatment it runs, so a treatment change changes it. The versions a
run materialised are recorded in its evidence bundle, at
``predicate.pipeline.code_versions`` (``{asset key: code_version}``), because that is the
record seid signs and replays; Dagster's own instance storage may be absent or wiped on
the host. An asset is stale when its declared version differs from the recorded one (or
none is recorded), when the data changed and it reads no other asset (a root of the
graph), or when anything upstream of it is stale.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from seid.errors import InputError, SeidError
from seid.reproducers.base import Plan, Stage, changed_inputs, dist_version

if TYPE_CHECKING:
    from seid.config.model import Pipeline
    from seid.drift import Drift
    from seid.snapshot import Snapshot

RECORD_KEY = "code_versions"


class DagsterReproducer:
    """Plans from the asset graph of the project's Dagster definitions."""

    name: ClassVar[str] = "dagster"

    def __init__(self, root: Path, pipeline: Pipeline, previous: Mapping[str, Any] | None) -> None:
        self.root = root
        self.pipeline = pipeline
        recorded = ((previous or {}).get("pipeline") or {}).get(RECORD_KEY) or {}
        self.recorded: Mapping[str, str] = recorded

    @property
    def version(self) -> str | None:
        return dist_version("dagster")

    def plan(self, drift: Drift, snapshot: Snapshot) -> Plan:
        graph = self._asset_graph()
        keys = [k for k in graph.toposorted_asset_keys if k in graph.materializable_asset_keys]
        data = changed_inputs(drift, frozenset({"C"}))
        reasons: dict[Any, list[str]] = {}
        for key in keys:
            node = graph.get(key)
            own = self._code_reason(key.to_user_string(), node.code_version)
            if data and not (node.parent_keys & graph.materializable_asset_keys):
                own += list(data)
            if own:
                reasons[key] = own + reasons.get(key, [])
            if key in reasons:
                for child in node.child_keys:
                    reasons.setdefault(child, []).append(f"downstream of {key.to_user_string()}")
        stale = tuple(Stage(k.to_user_string(), tuple(reasons[k])) for k in keys if k in reasons)
        cached = tuple(k.to_user_string() for k in keys if k not in reasons)
        return Plan(self.name, stale=stale, cached=cached)

    def _code_reason(self, name: str, declared: str | None) -> list[str]:
        recorded = self.recorded.get(name)
        if declared is None:
            return ["declares no code_version, so Dagster cannot tell it is current"]
        if recorded is None:
            return [f"code_version {declared} never evidenced"]
        if recorded != declared:
            return [f"code_version {recorded} -> {declared}"]
        return []

    def _asset_graph(self) -> Any:
        if not self.pipeline.definitions:
            raise InputError("sei.yaml", "pipeline.definitions: the Dagster definitions file")
        return load_definitions(self.root, self.root / self.pipeline.definitions)


def load_definitions(root: Path, path: Path) -> Any:
    """The asset graph of the one ``Definitions`` object that ``path`` defines.

    The file is the project's own code and runs as Dagster would run it, with the repo
    root importable so it may import its sibling modules.
    """
    import dagster as dg

    tag = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"_seid_defs_{tag}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise InputError(path, "Dagster definitions file not found")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(root))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the project's code: any failure is the user's to fix
        raise SeidError(f"{path}: cannot load Dagster definitions: {exc}") from None
    finally:
        sys.path.remove(str(root))
    found = [v for v in vars(module).values() if isinstance(v, dg.Definitions)]
    if len(found) != 1:
        raise InputError(path, f"expected one dagster.Definitions object, found {len(found)}")
    return found[0].resolve_asset_graph()
