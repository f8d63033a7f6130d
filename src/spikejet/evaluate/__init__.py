"""Metrics shared by every model: accuracy with interval, confusion, ROC/AUC, rejection."""

from .metrics import METRIC_KEYS, evaluate_scores, roc_curves

__all__ = ["METRIC_KEYS", "evaluate_scores", "roc_curves"]
