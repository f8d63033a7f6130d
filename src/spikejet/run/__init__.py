"""Running stages: the typed contract (context), the registry, scoring, the run directory and the runner."""

from .context import Figure, RunData, Scored, StageContext, StageResult
from .registry import StageSpec, get_stage, stage_names, with_needs
from .rundir import METRICS_FILE, REPORT_FILE, RunDir
from .runner import RunState, commit, evaluate_model_file, run, run_fingerprint, run_stage

__all__ = [
    "Figure",
    "RunData",
    "Scored",
    "StageContext",
    "StageResult",
    "StageSpec",
    "get_stage",
    "stage_names",
    "with_needs",
    "RunState",
    "run",
    "run_stage",
    "commit",
    "evaluate_model_file",
    "run_fingerprint",
    "RunDir",
    "METRICS_FILE",
    "REPORT_FILE",
]
