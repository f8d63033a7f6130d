"""Readers for the public particle-level jet formats, into a :class:`~spikejet.data.JetTable`.

Every reader returns a table whose particles carry the fields of
:data:`~spikejet.data.schema.PARTICLE_FIELDS` that the format has (``pt``, ``eta_rel``,
``phi_rel``, ``e``; ``pid`` where the file has it), pT-ordered (hardest first), zero padded
and masked, cut to the ``n_particles`` leading ones if asked:

* :func:`read_hls4ml_particles`: the Zenodo hls4ml files (``jetConstituentList``
  ``[n, P, 16]`` per-particle features named by ``particleFeatureNames``, beside ``jets``,
  whose 16 features and one-hot labels are read as by :func:`spikejet.data.read`);
* :func:`read_hf_parquet`: the Hugging Face mirror ``fastmachinelearning/hls4ml_lhc_jets_150p``
  (one row per jet: 16 ``j1_*`` list columns, one entry per constituent; ``j_*`` jet
  observables, the 16 features among them; ``label`` 0 g, 1 q, 2 W, 3 Z, 4 t);
* :func:`read_jetnet`: JetNet's per-class HDF5 files (``particle_features`` ``[n, P, 4]``
  = eta_rel, phi_rel, pT_rel, mask; ``jet_features`` ``[n, 4]`` = pT, eta, mass,
  number of particles; the class from the file name ``g``, ``q``, ``t``, ``w``, ``z``
  (``g150.hdf5`` too) or ``label=``). JetNet has no 16 features: ``X`` is zero and
  ``extra["has_features"]`` is 0 -- train particle models only. The energy is the
  massless ``pT cosh(eta)``.

Rows without a label, NaN/inf features and duplicates follow the same policies as
:func:`spikejet.data.read` (``drop_invalid``, ``drop_unlabelled``, ``drop_duplicates``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .formats import UNLABELLED, RowPolicy, _assemble, _strings
from .schema import (
    CLASS_LABELS,
    CLASS_NAMES,
    FEATURE_NAMES,
    ZENODO_FEATURE_COLUMNS,
    ZENODO_LABEL_SLICE,
)
from .table import JetTable

__all__ = [
    "HLS4ML_PARTICLE_FEATURES",
    "JETNET_PARTICLE_FEATURES",
    "JETNET_JET_FEATURES",
    "read_hls4ml_particles",
    "read_hf_parquet",
    "read_jetnet",
]

#: The per-particle columns of the hls4ml ``jetConstituentList`` (``particleFeatureNames``),
#: used when a file lacks the names.
HLS4ML_PARTICLE_FEATURES: tuple[str, ...] = (
    "j1_px", "j1_py", "j1_pz", "j1_e", "j1_erel", "j1_pt", "j1_ptrel", "j1_eta", "j1_etarel",
    "j1_etarot", "j1_phi", "j1_phirel", "j1_phirot", "j1_deltaR", "j1_costheta", "j1_costhetarel",
)
#: hls4ml particle column -> spikejet particle field.
_HLS4ML_FIELDS = {"j1_pt": "pt", "j1_etarel": "eta_rel", "j1_phirel": "phi_rel", "j1_e": "e", "j1_pdgid": "pid"}
#: JetNet's ``particle_features`` and ``jet_features`` columns.
JETNET_PARTICLE_FEATURES: tuple[str, ...] = ("etarel", "phirel", "ptrel", "mask")
JETNET_JET_FEATURES: tuple[str, ...] = ("pt", "eta", "mass", "num_particles")
_JET_EXTRA = {"j_pt": "pt", "j_eta": "eta", "j_mass": "mass"}


def _policy(drop_invalid: bool, drop_unlabelled: bool, drop_duplicates: bool) -> RowPolicy:
    return RowPolicy(bool(drop_invalid), bool(drop_unlabelled), bool(drop_duplicates))


def _pt_order(values: np.ndarray, mask: np.ndarray, pt_col: int, n_particles: int | None) -> tuple:
    """Sort every jet's particles by pT (hardest first, padding last) and keep ``n_particles``."""
    key = np.where(mask, -values[..., pt_col], np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    values = np.take_along_axis(values, order[..., None], axis=1)
    mask = np.take_along_axis(mask, order, axis=1)
    if n_particles is not None:
        n_particles = int(n_particles)
        if n_particles < 1:
            raise DataError(f"n_particles must be >= 1, got {n_particles}")
        P = values.shape[1]
        if n_particles > P:
            pad = n_particles - P
            values = np.concatenate([values, np.zeros((values.shape[0], pad, values.shape[2]), values.dtype)], 1)
            mask = np.concatenate([mask, np.zeros((mask.shape[0], pad), bool)], 1)
        values, mask = values[:, :n_particles], mask[:, :n_particles]
    values = np.where(mask[..., None], values, 0.0).astype(np.float32)
    return np.ascontiguousarray(values), np.ascontiguousarray(mask)


def _canonical(columns: dict[str, np.ndarray], p: Path, what: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Stack the columns that map onto spikejet's fields, in PARTICLE_FIELDS order."""
    from .schema import PARTICLE_FIELDS

    have = {_HLS4ML_FIELDS[k]: v for k, v in columns.items() if k in _HLS4ML_FIELDS}
    missing = [f for f in ("pt", "eta_rel", "phi_rel", "e") if f not in have]
    if missing:
        inv = {v: k for k, v in _HLS4ML_FIELDS.items()}
        raise DataError(f"{p}: {what} lacks the particle column(s) {', '.join(inv[m] for m in missing)}")
    fields = tuple(f for f in PARTICLE_FIELDS if f in have)
    return np.stack([np.asarray(have[f], dtype=np.float32) for f in fields], axis=-1), fields


def _one_hot_labels(onehot: np.ndarray, p: Path) -> np.ndarray:
    none_hot = np.all(onehot == 0, axis=1)
    good = np.all((onehot == 0) | (onehot == 1), axis=1) & ((onehot.sum(axis=1) == 1) | none_hot)
    if not good.all():
        rows = np.flatnonzero(~good)
        raise DataError(f"{p}: {rows.size} rows are not exactly one-hot in the label columns "
                        f"{', '.join(CLASS_LABELS)} (first rows: {', '.join(map(str, rows[:5]))}); the file is damaged")
    return np.where(none_hot, UNLABELLED, np.argmax(onehot, axis=1)).astype(np.int64)


def _open_h5(path: str | os.PathLike[str]) -> tuple[Any, Path]:
    import h5py

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    try:
        return h5py.File(p, "r"), p
    except OSError as exc:
        raise DataError(f"{p}: not a readable HDF5 file ({str(exc).splitlines()[0]})") from exc


# --------------------------------------------------------------------------- Zenodo hls4ml


def read_hls4ml_particles(path: str | os.PathLike[str], *, n_particles: int | None = None,
                          drop_invalid: bool = False, drop_unlabelled: bool = False,
                          drop_duplicates: bool = False) -> JetTable:
    """A Zenodo hls4ml file with ``jetConstituentList`` (see the module docstring)."""
    f, p = _open_h5(path)
    with f:
        for name in ("jets", "jetConstituentList"):
            if name not in f:
                raise DataError(f"{p}: not an hls4ml particle file (no dataset {name!r}); it holds: "
                                f"{', '.join(sorted(f.keys())) or 'nothing'}")
        jets = np.asarray(f["jets"][()])
        parts = np.asarray(f["jetConstituentList"][()])
        names = _strings(f["jetFeatureNames"][()]) if "jetFeatureNames" in f else None
        pnames = (_strings(f["particleFeatureNames"][()]) if "particleFeatureNames" in f
                  else HLS4ML_PARTICLE_FEATURES)
    if jets.ndim != 2 or jets.shape[1] < max(ZENODO_FEATURE_COLUMNS) + 7:
        raise DataError(f"{p}: dataset 'jets' has shape {jets.shape}; the hls4ml layout has >= "
                        f"{max(ZENODO_FEATURE_COLUMNS) + 7} columns")
    if parts.ndim != 3 or parts.shape[0] != jets.shape[0]:
        raise DataError(f"{p}: 'jetConstituentList' has shape {parts.shape}, expected [{jets.shape[0]}, P, k]")
    if len(pnames) != parts.shape[2]:
        raise DataError(f"{p}: {len(pnames)} particle feature names for {parts.shape[2]} columns "
                        "of 'jetConstituentList'")
    if names is not None and len(names) == jets.shape[1]:
        wrong = [c for c, e in zip(ZENODO_FEATURE_COLUMNS, FEATURE_NAMES, strict=True) if names[c] != e]
        if wrong:
            raise DataError(f"{p}: 'jetFeatureNames' does not match the hls4ml layout at column {wrong[0]} "
                            f"({names[wrong[0]]!r})")
    X = jets[:, list(ZENODO_FEATURE_COLUMNS)].astype(np.float32)
    y = _one_hot_labels(jets[:, ZENODO_LABEL_SLICE], p)
    cols = {n: parts[..., i] for i, n in enumerate(pnames)}
    values, fields = _canonical(cols, p, "'jetConstituentList'")
    mask = cols["j1_pt"] > 0
    values, mask = _pt_order(values, mask, fields.index("pt"), n_particles)
    extra = {}
    if names is not None:
        extra = {k: jets[:, names.index(c)].astype(np.float32) for c, k in _JET_EXTRA.items() if c in names}
    table, _ = _assemble(X, y, p, "hls4ml-particles", drop_invalid=_policy(drop_invalid, drop_unlabelled,
                         drop_duplicates), extra=extra, particles=(values, mask, fields))
    return table


# --------------------------------------------------------------------------- Hugging Face parquet


def read_hf_parquet(path: str | os.PathLike[str], *, n_particles: int | None = None,
                    drop_invalid: bool = False, drop_unlabelled: bool = False,
                    drop_duplicates: bool = False) -> JetTable:
    """A parquet file of the Hugging Face mirror's layout (see the module docstring)."""
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    try:
        t = pq.read_table(p)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise DataError(f"{p}: not a readable parquet file ({str(exc).splitlines()[0]})") from exc
    names = t.column_names
    missing = [c for c in (*FEATURE_NAMES, "label") if c not in names]
    if missing:
        raise DataError(f"{p}: the Hugging Face layout needs the columns {', '.join(missing)}")
    n = t.num_rows
    X = np.stack([np.asarray(t.column(c).to_numpy(), dtype=np.float32) for c in FEATURE_NAMES], axis=1)
    lab = t.column("label").to_numpy(zero_copy_only=False)
    lab = np.asarray(lab, dtype=np.float64)
    y = np.where(np.isnan(lab), UNLABELLED, np.nan_to_num(lab, nan=0.0)).astype(np.int64)
    bad = (y != UNLABELLED) & ((y < 0) | (y >= len(CLASS_NAMES)))
    if bad.any():
        raise DataError(f"{p}: labels outside 0..{len(CLASS_NAMES) - 1}: {sorted(set(y[bad].tolist()))[:5]}")
    pcols = [c for c in names if c.startswith("j1_")]
    lengths = None
    cols: dict[str, np.ndarray] = {}
    for c in pcols:
        col = t.column(c).combine_chunks()
        off = np.asarray(col.offsets.to_numpy(), dtype=np.int64)
        ln = np.diff(off)
        if lengths is None:
            lengths = ln
        elif not np.array_equal(ln, lengths):
            raise DataError(f"{p}: the j1_* lists of a row differ in length (column {c!r})")
        flat = np.asarray(col.values.to_numpy(zero_copy_only=False), dtype=np.float32)[off[0]:off[-1]]
        cols[c] = flat
    if lengths is None:
        raise DataError(f"{p}: no j1_* particle columns")
    P = int(lengths.max()) if n else 0
    rows = np.repeat(np.arange(n), lengths)
    slot = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    mask = np.zeros((n, max(P, 1)), dtype=bool)
    mask[rows, slot] = True
    dense = {}
    for c, flat in cols.items():
        a = np.zeros((n, max(P, 1)), dtype=np.float32)
        a[rows, slot] = flat
        dense[c] = a
    values, fields = _canonical(dense, p, "the parquet file")
    values, mask = _pt_order(values, mask, fields.index("pt"), n_particles)
    extra = {k: np.asarray(t.column(c).to_numpy(), dtype=np.float32) for c, k in _JET_EXTRA.items() if c in names}
    table, _ = _assemble(X, y, p, "hf-parquet", drop_invalid=_policy(drop_invalid, drop_unlabelled, drop_duplicates),
                         extra=extra, particles=(values, mask, fields))
    return table


# --------------------------------------------------------------------------- JetNet


def _jetnet_label(p: Path, label: str | None) -> int:
    name = label if label is not None else p.stem.rstrip("0123456789").lower()
    if name not in CLASS_NAMES:
        raise DataError(f"{p}: cannot tell the JetNet class from the file name {p.name!r}; pass label= one of "
                        f"{', '.join(CLASS_NAMES)}")
    return CLASS_NAMES.index(name)


def read_jetnet(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
                labels: Sequence[str] | None = None, n_particles: int | None = None,
                drop_duplicates: bool = False) -> JetTable:
    """JetNet HDF5 files, one per class (see the module docstring); ``labels``: their classes."""
    plist = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not plist:
        raise DataError("read_jetnet needs at least one file")
    if labels is not None and len(labels) != len(plist):
        raise DataError(f"{len(labels)} labels for {len(plist)} JetNet files")
    vals, masks, jfs, ys = [], [], [], []
    P = None
    for k, path in enumerate(plist):
        f, p = _open_h5(path)
        with f:
            for name in ("particle_features", "jet_features"):
                if name not in f:
                    raise DataError(f"{p}: not a JetNet file (no dataset {name!r})")
            pf = np.asarray(f["particle_features"][()], dtype=np.float64)
            jf = np.asarray(f["jet_features"][()], dtype=np.float64)
        if pf.ndim != 3 or pf.shape[2] != len(JETNET_PARTICLE_FEATURES):
            raise DataError(f"{p}: 'particle_features' has shape {pf.shape}, expected [n, P, 4] "
                            f"({', '.join(JETNET_PARTICLE_FEATURES)})")
        if jf.shape != (pf.shape[0], len(JETNET_JET_FEATURES)):
            raise DataError(f"{p}: 'jet_features' has shape {jf.shape}, expected [{pf.shape[0]}, 4] "
                            f"({', '.join(JETNET_JET_FEATURES)})")
        if P is not None and pf.shape[1] != P:
            raise DataError(f"{p}: {pf.shape[1]} particles per jet, the other files have {P}")
        P = pf.shape[1]
        lab = _jetnet_label(p, None if labels is None else labels[k])
        mask = pf[..., 3] > 0
        jpt, jeta = jf[:, 0:1], jf[:, 1:2]
        pt = pf[..., 2] * jpt
        eta_rel, phi_rel = pf[..., 0], pf[..., 1]
        e = pt * np.cosh(jeta + eta_rel)
        vals.append(np.stack([pt, eta_rel, phi_rel, e], axis=-1))
        masks.append(mask)
        jfs.append(jf)
        ys.append(np.full(pf.shape[0], lab, dtype=np.int64))
    values = np.concatenate(vals)
    mask = np.concatenate(masks)
    jf = np.concatenate(jfs)
    y = np.concatenate(ys)
    values, mask = _pt_order(values, mask, 0, n_particles)
    extra = {"pt": jf[:, 0].astype(np.float32), "eta": jf[:, 1].astype(np.float32),
             "mass": jf[:, 2].astype(np.float32), "n_particles": jf[:, 3].astype(np.int16),
             "has_features": np.zeros(len(y), dtype=np.uint8)}
    X = np.zeros((len(y), len(FEATURE_NAMES)), dtype=np.float32)
    if drop_duplicates:
        key = np.concatenate([values.reshape(len(y), -1), y[:, None].astype(np.float32)], 1)
        _, first = np.unique(key, axis=0, return_index=True)
        keep = np.sort(first)
        values, mask, X, y = values[keep], mask[keep], X[keep], y[keep]
        extra = {k: v[keep] for k, v in extra.items()}
    return JetTable(X=X, y=y, extra=extra, source=str(plist[0]), particles=values, particle_mask=mask,
                    particle_fields=("pt", "eta_rel", "phi_rel", "e"))
