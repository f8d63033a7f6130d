"""The data layer: schema, JetTable, readers/writers, split/scaling, default sample."""

from .default import default_provenance, default_sample_path, load, load_default
from .formats import ReadReport, read, read_provenance, read_with_report, write
from .openml import fetch_openml
from .schema import CLASS_LABELS, CLASS_NAMES, FEATURE_NAMES, N_CLASSES, N_FEATURES
from .split import Split, Standardizer, split
from .table import JetTable

__all__ = [
    "CLASS_LABELS",
    "CLASS_NAMES",
    "FEATURE_NAMES",
    "N_CLASSES",
    "N_FEATURES",
    "JetTable",
    "ReadReport",
    "Split",
    "Standardizer",
    "default_provenance",
    "default_sample_path",
    "fetch_openml",
    "load",
    "load_default",
    "read",
    "read_provenance",
    "read_with_report",
    "split",
    "write",
]
