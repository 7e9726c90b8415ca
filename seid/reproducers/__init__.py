"""Pipeline tool adapters (DVC, MLflow, Dagster, a plain command) behind one protocol."""

from seid.reproducers.base import Plan, Reproducer, Stage, get_reproducer, plan

__all__ = ["Plan", "Reproducer", "Stage", "get_reproducer", "plan"]
