"""The BentoML model store side: import checked artifacts, load them back checked."""

from model_store.store import import_artifacts, load_scorer

__all__ = ["import_artifacts", "load_scorer"]
