"""What machine a benchmark ran on: shared by the scripts in benchmarks/ (run them as scripts)."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def torch_machine() -> str:
    """One line: CPU, logical CPUs, Python, torch and its threads, OS."""
    import torch

    return (f"{cpu_model()}; {os.cpu_count()} logical CPUs; Python {platform.python_version()}; "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads); {platform.system()} {platform.release()}")
