"""OpenML dataset 42468 ``hls4ml_lhc_jets_hlf``, fetched only when the user asks by name."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .formats import ReadReport, RowPolicy, _from_columns
from .table import JetTable

__all__ = ["OPENML_DATA_ID", "OPENML_NAME", "fetch_openml"]

log = logging.getLogger("spikejet.data")

OPENML_DATA_ID = 42468
OPENML_NAME = "hls4ml_lhc_jets_hlf"
#: The label column of the OpenML dataset.
OPENML_TARGET = "class"


def fetch_openml(
    *,
    data_home: str | os.PathLike[str] | None = None,
    drop_invalid: bool = False,
    drop_unlabelled: bool = False,
    drop_duplicates: bool = False,
    with_report: bool = False,
) -> JetTable | tuple[JetTable, ReadReport]:
    """Download (first time) or read from sklearn's cache the OpenML jet dataset.

    ``data_home`` is sklearn's cache folder (default ``~/scikit_learn_data``). Without
    network and without a cached copy this raises :class:`DataError`. The dataset has
    rows without a class label and duplicate rows: ``drop_unlabelled`` /
    ``drop_duplicates`` drop them (see :func:`~spikejet.data.read`); the counts are
    logged, and returned in a :class:`ReadReport` with ``with_report=True``.
    """
    from sklearn import datasets

    try:
        bunch = datasets.fetch_openml(
            data_id=OPENML_DATA_ID,
            data_home=None if data_home is None else str(data_home),
            as_frame=False,
            parser="liac-arff",
        )
    except OSError as exc:  # URLError, HTTPError, timeouts, unreadable cache
        raise DataError(
            f"could not fetch OpenML dataset {OPENML_DATA_ID} ({OPENML_NAME}): {str(exc) or type(exc).__name__}; "
            "check the network (or sklearn's cache), or download it elsewhere and pass the "
            "ARFF/CSV/parquet file with --data FILE"
        ) from exc
    source = Path(f"openml:{OPENML_DATA_ID}")
    data = np.asarray(bunch.data)
    names = [str(n) for n in bunch.feature_names]
    if data.ndim != 2 or data.shape[1] != len(names):
        raise DataError(f"{source}: unexpected data shape {data.shape} for {len(names)} feature names")
    cols: dict[str, Any] = {
        name: (lambda j=j: np.asarray(data[:, j], dtype=np.float64)) for j, name in enumerate(names)
    }
    target = np.asarray(bunch.target)
    cols[OPENML_TARGET] = lambda: np.asarray(target, dtype=object)
    policy = RowPolicy(drop_invalid, drop_unlabelled, drop_duplicates)
    table, report = _from_columns(cols, data.shape[0], source, "openml", drop_invalid=policy)
    if with_report:
        return table, report
    for msg in report.messages():
        log.warning(msg)
    return table
