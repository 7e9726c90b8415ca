"""seid's MLflow helpers for user code: ``seid.mlflow.tag_experiment()``.

Kept apart from :mod:`seid.mlflow_plugin` (what MLflow loads through entry points) so
user code has a short, stable import. The absolute ``import mlflow`` inside seid's
modules still means the real MLflow package, never this one.
"""

from __future__ import annotations

from seid.mlflow_plugin.tags import tag_experiment

__all__ = ["tag_experiment"]
