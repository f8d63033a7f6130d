"""The pileup group of a generated jet file: ragged per-constituent truth and timing.

``spikejet generate --pileup MU`` writes, next to the ordinary jet table (``X``, ``y``,
``extra/``; every reader still sees an ordinary jet file), a group ``pileup/``
(docs/pileup.md):

* per jet (n rows): ``offsets`` (n + 1, int64: jet i owns constituents
  ``offsets[i]:offsets[i+1]``), the full-event (hard + pileup) jet ``jet_pt``,
  ``jet_eta``, ``jet_phi``, ``jet_mass``, the hard-interaction-only jet ``hard_pt``,
  ``hard_mass`` (GeV), the truth hard vertex ``pv_z_mm``, ``pv_t_ps`` (relative to the
  interaction point / nominal crossing time) and ``n_pileup`` (in-time pileup
  interactions of the event), all float32 except ``n_pileup`` (int16);
* per constituent (every constituent of the full jet, pT-ordered within a jet):
  ``pt``, ``e`` (GeV), ``eta_rel``, ``phi_rel`` (relative to the full jet's axis,
  phi wrapped into [-pi, pi)), ``z0_mm`` (measured track z0; NaN: not a
  reconstructed track), ``t_ps`` (measured time at the production vertex; NaN: no
  time) -- float16 --, ``charge`` (int8), ``pid`` (int32), ``origin`` (int16: 0 =
  the hard interaction, k >= 1 = the k-th in-time pileup interaction, k <= -1 = an
  out-of-time one).

:func:`read_pileup` reads it back as a :class:`PileupSample`; a missing or damaged
group or field raises :class:`~spikejet.errors.DataError` with one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = [
    "PILEUP_GROUP",
    "PILEUP_FORMAT",
    "PILEUP_FORMAT_VERSION",
    "JET_FIELDS",
    "CONSTITUENT_FIELDS",
    "PileupSample",
    "read_pileup",
    "write_pileup_group",
    "pileup_sample_path",
]

PILEUP_GROUP = "pileup"
PILEUP_FORMAT = "spikejet-pileup"
PILEUP_FORMAT_VERSION = 1
#: Per-jet datasets and their stored types.
JET_FIELDS: dict[str, str] = {
    "jet_pt": "float32",
    "jet_eta": "float32",
    "jet_phi": "float32",
    "jet_mass": "float32",
    "hard_pt": "float32",
    "hard_mass": "float32",
    "pv_z_mm": "float32",
    "pv_t_ps": "float32",
    "n_pileup": "int16",
}
#: Per-constituent datasets and their stored types. float16 keeps 11 significant bits:
#: relative 4.9e-4 (pt, e), 2.4e-4 in angle near the jet axis, z0 to 0.03 mm at
#: |z0| < 64 mm (0.06 mm up to 128 mm), t to 0.25 ps for |t| < 512 ps (8 ps for the
#: +-25 ns of out-of-time interactions); docs/pileup.md.
CONSTITUENT_FIELDS: dict[str, str] = {
    "pt": "float16",
    "eta_rel": "float16",
    "phi_rel": "float16",
    "e": "float16",
    "charge": "int8",
    "pid": "int32",
    "origin": "int16",
    "z0_mm": "float16",
    "t_ps": "float16",
}
OFFSETS = "offsets"
#: Rows per HDF5 chunk of the per-constituent datasets (gzip works per chunk).
CHUNK_ROWS = 65536
GZIP_LEVEL = 4


@dataclass(frozen=True)
class PileupSample:
    """The pileup group of one file: jets (row i) and their ragged constituents.

    Per jet: ``y`` (class index into ``class_names``), ``jet_pt``/``jet_eta``/``jet_phi``/
    ``jet_mass`` (the full-event jet), ``hard_pt``/``hard_mass`` (the hard-only jet),
    ``pv_z_mm``/``pv_t_ps`` (truth hard vertex), ``n_pileup``; ``offsets`` (n + 1).
    Per constituent (flat, ``offsets``-indexed): ``pt, eta_rel, phi_rel, e, charge, pid,
    origin, z0_mm, t_ps`` (float32 in memory). ``settings`` are the generation settings
    (mu, out_of_time, timing and tracking parameters).
    """

    path: str
    class_names: tuple[str, ...]
    y: np.ndarray
    offsets: np.ndarray
    jets: dict[str, np.ndarray]
    constituents: dict[str, np.ndarray]
    settings: dict[str, Any]

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getattr__(self, name: str) -> np.ndarray:
        # jets["jet_pt"] -> sample.jet_pt; constituents["origin"] -> sample.origin
        for table in ("jets", "constituents"):
            d = self.__dict__.get(table)
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    @property
    def n_constituents(self) -> np.ndarray:
        """(n,) number of constituents of each jet."""
        return np.diff(self.offsets)

    @property
    def jet_index(self) -> np.ndarray:
        """(N,) the jet each constituent belongs to."""
        return np.repeat(np.arange(len(self)), self.n_constituents)

    @property
    def eta(self) -> np.ndarray:
        """(N,) absolute pseudorapidity of every constituent (stored relative to its jet's axis)."""
        return absolute_axis(self.constituents["eta_rel"], self.jets["jet_eta"], self.jet_index)

    @property
    def phi(self) -> np.ndarray:
        """(N,) absolute azimuth of every constituent (not wrapped into (-pi, pi])."""
        return absolute_axis(self.constituents["phi_rel"], self.jets["jet_phi"], self.jet_index)

    @property
    def is_pileup(self) -> np.ndarray:
        """(N,) True for constituents of any pileup interaction (origin != 0)."""
        return self.constituents["origin"] != 0

    def constituents_of(self, i: int) -> dict[str, np.ndarray]:
        """The constituent fields of jet ``i`` (views into the flat arrays)."""
        if not -len(self) <= i < len(self):
            raise DataError(f"{self.path}: jet {i} is out of range (the sample has {len(self)} jets)")
        i = i % len(self)
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        return {k: v[lo:hi] for k, v in self.constituents.items()}

    def four_momenta_of(self, i: int) -> np.ndarray:
        """(n, 4) px, py, pz, E (GeV) of jet ``i``'s constituents, from the stored fields."""
        c = self.constituents_of(i)
        i = i % len(self)
        pt = c["pt"].astype(np.float64)
        jet = np.full(len(pt), i)
        eta = absolute_axis(c["eta_rel"], self.jets["jet_eta"], jet)
        phi = absolute_axis(c["phi_rel"], self.jets["jet_phi"], jet)
        return np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), c["e"].astype(np.float64)], axis=1)


def absolute_axis(rel: np.ndarray, jet_axis: np.ndarray, jet_index: np.ndarray) -> np.ndarray:
    """A constituent coordinate stored relative to its jet's axis (``eta_rel``, ``phi_rel``) made
    absolute: ``rel + jet_axis[jet_index]`` in float64 (the one place that knows the convention)."""
    return np.asarray(rel, np.float64) + np.asarray(jet_axis, np.float64)[np.asarray(jet_index)]


# ---------------------------------------------------------------- writing
def _check_arrays(jets: dict, constituents: dict, offsets: np.ndarray) -> None:
    n = offsets.shape[0] - 1
    missing = [k for k in JET_FIELDS if k not in jets] + [k for k in CONSTITUENT_FIELDS if k not in constituents]
    if missing:
        raise DataError(f"pileup group: missing field(s) {', '.join(missing)}")
    if n < 0 or offsets[0] != 0 or (np.diff(offsets) < 0).any():
        raise DataError("pileup group: offsets must start at 0 and never decrease")
    for k in JET_FIELDS:
        if np.shape(jets[k]) != (n,):
            raise DataError(f"pileup group: jet field {k!r} has shape {np.shape(jets[k])}, expected ({n},)")
    for k in CONSTITUENT_FIELDS:
        if np.shape(constituents[k]) != (int(offsets[-1]),):
            raise DataError(f"pileup group: field {k!r} has shape {np.shape(constituents[k])}, "
                            f"expected ({int(offsets[-1])},)")


def write_pileup_group(f: Any, jets: dict[str, np.ndarray], constituents: dict[str, np.ndarray],
                       offsets: np.ndarray, settings: dict[str, Any]) -> None:
    """Add the ``pileup/`` group to the open, writable h5py file ``f`` (deterministic bytes)."""
    import json

    offsets = np.asarray(offsets, dtype=np.int64)
    _check_arrays(jets, constituents, offsets)
    g = f.create_group(PILEUP_GROUP, track_order=False)
    g.attrs["format"] = PILEUP_FORMAT
    g.attrs["format_version"] = np.int64(PILEUP_FORMAT_VERSION)
    g.attrs["settings"] = json.dumps(settings, sort_keys=True)

    def dataset(name: str, data: np.ndarray) -> None:
        rows = max(1, min(data.shape[0], CHUNK_ROWS))
        g.create_dataset(name, data=data, chunks=(rows,), compression="gzip", compression_opts=GZIP_LEVEL,
                         shuffle=True, track_times=False)

    dataset(OFFSETS, offsets)
    for k, dt in JET_FIELDS.items():
        dataset(k, np.ascontiguousarray(jets[k], dtype=dt))
    for k, dt in CONSTITUENT_FIELDS.items():
        v = np.asarray(constituents[k])
        if dt == "float16":
            finite = v[np.isfinite(v)]
            if finite.size and np.abs(finite).max() > np.finfo(np.float16).max:
                raise DataError(f"pileup group: field {k!r} has values beyond float16 ({np.abs(finite).max():g})")
        dataset(k, np.ascontiguousarray(v, dtype=dt))


# ---------------------------------------------------------------- reading
def _field(g: Any, name: str, p: Path, rows: int, kinds: str) -> np.ndarray:
    if name not in g:
        raise DataError(f"{p}: '{PILEUP_GROUP}/{name}' is missing; the pileup group is incomplete")
    try:
        v = np.asarray(g[name][()])
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise DataError(f"{p}: '{PILEUP_GROUP}/{name}' cannot be read: the file is corrupt ({exc})") from exc
    if v.shape != (rows,) or v.dtype.kind not in kinds:
        raise DataError(f"{p}: '{PILEUP_GROUP}/{name}' has shape {v.shape} / dtype {v.dtype}, expected ({rows},)")
    return v


def _read_group(f: Any, p: Path) -> PileupSample:
    import json

    if PILEUP_GROUP not in f:
        raise DataError(f"{p}: no '{PILEUP_GROUP}' group; make the file with 'spikejet generate --pileup MU'")
    g = f[PILEUP_GROUP]
    if str(g.attrs.get("format", "")) != PILEUP_FORMAT:
        raise DataError(f"{p}: '{PILEUP_GROUP}' lacks its format attribute {PILEUP_FORMAT!r}")
    version = int(np.asarray(g.attrs.get("format_version", -1)))
    if not 1 <= version <= PILEUP_FORMAT_VERSION:
        raise DataError(f"{p}: pileup group format version {version}; this spikejet reads 1..{PILEUP_FORMAT_VERSION}")
    try:
        settings = json.loads(str(g.attrs.get("settings", "{}")))
    except json.JSONDecodeError as exc:
        raise DataError(f"{p}: the pileup group's 'settings' attribute is not valid JSON ({exc})") from exc
    if "y" not in f or "class_names" not in f.attrs:
        raise DataError(f"{p}: missing dataset 'y' or attribute 'class_names'; not a complete spikejet file")
    y = np.asarray(f["y"][()]).astype(np.int64)
    names = tuple(v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(f.attrs["class_names"]))
    n = y.shape[0]
    offsets = _field(g, OFFSETS, p, n + 1, "iu").astype(np.int64)
    if offsets[0] != 0 or (np.diff(offsets) < 0).any():
        raise DataError(f"{p}: '{PILEUP_GROUP}/{OFFSETS}' must start at 0 and never decrease")
    jets = {k: _field(g, k, p, n, "fiu") for k in JET_FIELDS}
    total = int(offsets[-1])
    cons = {k: _field(g, k, p, total, "fiu") for k in CONSTITUENT_FIELDS}
    cons = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in cons.items()}
    if (names and ((y < 0) | (y >= len(names))).any()):
        raise DataError(f"{p}: labels 'y' outside 0..{len(names) - 1}")
    return PileupSample(str(p), names, y, offsets, jets, cons, settings)


def read_pileup(path: str | os.PathLike[str]) -> PileupSample:
    """The pileup group of the spikejet HDF5 file ``path`` (written by ``spikejet generate --pileup``)."""
    import h5py

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise DataError(f"{p}: cannot open as HDF5: the file is corrupt, truncated or not HDF5 ({exc})") from exc
    try:
        with f:
            return _read_group(f, p)
    except (OSError, KeyError, RuntimeError) as exc:
        raise DataError(f"{p}: the pileup group is corrupt or truncated ({exc})") from exc


#: The embedded pileup study sample (beside the default sample; docs/pileup.md).
PILEUP_SAMPLE_FILE_NAME = "pileup.h5"
PILEUP_PROVENANCE_FILE_NAME = "pileup_provenance.json"


def pileup_sample_path() -> Path:
    """Path of the embedded MU = 200 sample (``spikejet/data/default/pileup.h5``); it may not exist."""
    from .default import default_sample_path

    return default_sample_path().with_name(PILEUP_SAMPLE_FILE_NAME)
