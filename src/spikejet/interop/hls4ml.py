"""hls4ml's own bit-accurate C++ emulation of the MLP (an optional peer: ``pip install hls4ml==1.3.0``).

``hls4ml_model(mlp, precision, output_dir)`` converts a :class:`spikejet.ann.model.MLP` with
``config_from_pytorch_model`` (``granularity="model"``: one precision for every type) and
``convert_from_pytorch_model(..., backend="Vitis", io_type="io_parallel")`` and runs
``compile()``, which builds the HLS C++ with the system g++ (no vendor tools); ``predict`` then
runs it. :mod:`spikejet.hardware.fpga` is spikejet's own emulation of the same arithmetic;
``tests/test_fpga.py`` checks that the two agree bit for bit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["HLS4ML_VERSION", "BACKEND", "hls4ml_model", "hls4ml_predict"]

#: The hls4ml release this bridge was written and tested against.
HLS4ML_VERSION = "1.3.0"
#: The backend whose templates the emulation follows (Vivado's nnet_utils, shared by Vitis).
BACKEND = "Vitis"


def _import_hls4ml():
    try:
        import hls4ml
    except ImportError:
        raise ConfigError(f"hls4ml is not installed; pip install hls4ml=={HLS4ML_VERSION} "
                          "(with the torch constraint) to build its C++ emulation") from None
    return hls4ml


def hls4ml_model(model: Any, precision: str, output_dir: str | os.PathLike[str], *,
                 reuse_factor: int = 1) -> Any:
    """The compiled hls4ml model of the MLP ``model`` at ``precision`` (e.g. ``"ap_fixed<16,6>"``)."""
    hls4ml = _import_hls4ml()
    n_in = int(model.linears[0].in_features)
    cfg = hls4ml.utils.config_from_pytorch_model(model, input_shape=(n_in,), default_precision=precision,
                                                 granularity="model", backend=BACKEND,
                                                 default_reuse_factor=int(reuse_factor))
    hm = hls4ml.converters.convert_from_pytorch_model(model, hls_config=cfg, output_dir=str(Path(output_dir)),
                                                      backend=BACKEND, io_type="io_parallel")
    hm.compile()
    return hm


def hls4ml_predict(hm: Any, X: np.ndarray) -> np.ndarray:
    """Outputs (float64) of a compiled hls4ml model on standardized features ``X``."""
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
    return np.asarray(hm.predict(X), dtype=np.float64).reshape(X.shape[0], -1)
