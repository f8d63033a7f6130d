"""The data layer: schema, JetTable, readers/writers, split/scaling, default sample."""

from .schema import CLASS_LABELS, CLASS_NAMES, FEATURE_NAMES, N_CLASSES, N_FEATURES
from .table import JetTable

__all__ = ["CLASS_LABELS", "CLASS_NAMES", "FEATURE_NAMES", "N_CLASSES", "N_FEATURES", "JetTable"]
