"""Network inputs made from a jet's constituents: per-particle features and jet images.

Both take the per-particle arrays of a :class:`~spikejet.data.JetTable` (``particles``
``[n, P, k]`` with the fields of :data:`~spikejet.data.schema.PARTICLE_FIELDS`: ``pt``,
``eta_rel``, ``phi_rel``, ``e``, and, where the source has them, ``charge`` and ``pid``)
and its ``particle_mask``; padding stays zero and masked.

:func:`particle_inputs` gives the per-particle input of particle networks (deep sets,
interaction networks): the features of :data:`PARTICLE_INPUTS` -- the particle's position
relative to the jet axis, its log pT and energy, absolute and as a fraction of the jet's,
its distance to the axis, its charge and five PDG classes (the ParticleNet / Particle
Transformer set, e.g. weaver's ``part_*`` variables). The jet pT and energy come from the
table's ``extra["pt"]``, ``extra["eta"]``, ``extra["mass"]`` when it has them (the whole
jet), else from the sum over the stored particles.

:func:`jet_images` gives pT images in the (eta, phi) plane, preprocessed as in the
jet-image literature (de Oliveira et al., JHEP 07 (2016) 069; the hls4ml ``jetImage``
files): centred on the pT-weighted centroid, rotated so that the principal axis of the pT
distribution is vertical, flipped so that the harder half is on the right and on top,
binned into ``size x size`` pixels over ``[-radius, radius]`` and normalized to unit sum.
With ``channels`` (:data:`IMAGE_CHANNELS`) it gives several images of one jet on the same grid:
the pT of the charged and of the neutral particles and the particles' counts (the colour images of
Komiske, Metodiev, Schwartz, JHEP 01 (2017) 110). :func:`image_inputs` scales them into the image
networks' input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = [
    "PARTICLE_INPUTS",
    "PDG_CLASSES",
    "particle_inputs",
    "particle_input_arrays",
    "pdg_classes",
    "jet_images",
    "jet_image_arrays",
    "image_inputs",
    "recipe_images",
    "IMAGE_CHANNELS",
    "PT_CHANNELS",
]

#: PDG classes of the one-hot inputs, in order (|pid|; anything else: by charge).
PDG_CLASSES: tuple[str, ...] = ("charged_hadron", "neutral_hadron", "photon", "electron", "muon")

#: The per-particle input features of :func:`particle_inputs`, in order.
PARTICLE_INPUTS: tuple[str, ...] = (
    "eta_rel",
    "phi_rel",
    "log_pt",
    "log_e",
    "log_pt_rel",
    "log_e_rel",
    "delta_r",
    "charge",
    *(f"is_{c}" for c in PDG_CLASSES),
)

#: Smallest pT / energy (GeV) inside a logarithm (keeps zero-energy padding finite).
LOG_FLOOR = 1e-3


def _field(table, name: str, required: bool = True) -> np.ndarray | None:
    if not table.has_particles:
        raise DataError("the table has no particles; read it with particles=True")
    if name not in table.particle_fields:
        if required:
            raise DataError(f"the particles lack the field {name!r} (they have: {', '.join(table.particle_fields)})")
        return None
    return table.particles[..., table.particle_fields.index(name)]


def pdg_classes(pid: np.ndarray, charge: np.ndarray | None = None) -> np.ndarray:
    """One-hot PDG classes ``[..., 5]`` (:data:`PDG_CLASSES`) of PDG ids (float or int).

    electron |11|, muon |13|, photon 22; other ids are charged hadrons when their charge is
    non-zero (or, without a charge, for the common charged hadrons 211, 321, 2212), else
    neutral hadrons (130, 2112, the CMS HCAL cells' 130...). An id of 0 (padding) is no class.
    """
    a = np.abs(np.rint(np.asarray(pid, dtype=np.float64))).astype(np.int64)
    out = np.zeros(a.shape + (len(PDG_CLASSES),), dtype=np.float32)
    lepton_or_photon = (a == 11) | (a == 13) | (a == 22)
    if charge is not None:
        charged = np.asarray(charge) != 0
    else:
        charged = np.isin(a, (211, 321, 2212))
    hadron = (a != 0) & ~lepton_or_photon
    out[..., 0] = hadron & charged
    out[..., 1] = hadron & ~charged
    out[..., 2] = a == 22
    out[..., 3] = a == 11
    out[..., 4] = a == 13
    return out


def _jet_pt_e(table, pt: np.ndarray, e: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Jet pT and energy: from the table's extra columns (whole jet) or the stored particles' sums."""
    ex = table.extra
    if "pt" in ex:
        jpt = np.asarray(ex["pt"], dtype=np.float64)
    else:
        jpt = np.where(mask, pt, 0.0).sum(1, dtype=np.float64)
    if "pt" in ex and "eta" in ex and "mass" in ex:
        p = jpt * np.cosh(np.asarray(ex["eta"], dtype=np.float64))
        je = np.sqrt(p * p + np.asarray(ex["mass"], dtype=np.float64) ** 2)
    else:
        je = np.where(mask, e, 0.0).sum(1, dtype=np.float64)
    return np.maximum(jpt, LOG_FLOOR), np.maximum(je, LOG_FLOOR)


def particle_input_arrays(pt: np.ndarray, eta_rel: np.ndarray, phi_rel: np.ndarray, e: np.ndarray,
                          mask: np.ndarray, jet_pt: np.ndarray, jet_e: np.ndarray,
                          charge: np.ndarray | None = None, pid: np.ndarray | None = None) -> np.ndarray:
    """:data:`PARTICLE_INPUTS` ``[n, P, 13]`` (float32) from per-particle arrays ``[n, P]``;
    padding rows are zero. Without ``charge``/``pid`` those inputs are zero."""
    mask = np.asarray(mask, dtype=bool)
    pt = np.asarray(pt, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    eta = np.asarray(eta_rel, dtype=np.float64)
    phi = np.asarray(phi_rel, dtype=np.float64)
    jpt = np.asarray(jet_pt, dtype=np.float64)[:, None]
    je = np.asarray(jet_e, dtype=np.float64)[:, None]
    lpt = np.log(np.maximum(pt, LOG_FLOOR))
    le = np.log(np.maximum(e, LOG_FLOOR))
    cols = [eta, phi, lpt, le, lpt - np.log(jpt), le - np.log(je), np.hypot(eta, phi),
            np.zeros_like(pt) if charge is None else np.asarray(charge, dtype=np.float64)]
    out = np.empty(pt.shape + (len(PARTICLE_INPUTS),), dtype=np.float32)
    for i, c in enumerate(cols):
        out[..., i] = c
    if pid is None:
        out[..., len(cols):] = 0.0
    else:
        out[..., len(cols):] = pdg_classes(pid, charge)
    out[~mask] = 0.0
    return out


def particle_inputs(table, n_particles: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(inputs ``[n, P', 13]`` float32, mask ``[n, P']`` bool) of the ``n_particles`` leading
    particles (``None``: all stored) of ``table``; features :data:`PARTICLE_INPUTS`."""
    pt, eta, phi, e = (_field(table, f) for f in ("pt", "eta_rel", "phi_rel", "e"))
    charge, pid = _field(table, "charge", False), _field(table, "pid", False)
    mask = table.particle_mask
    P = mask.shape[1] if n_particles is None else int(n_particles)
    if not 1 <= P <= mask.shape[1]:
        raise DataError(f"n_particles must be in 1..{mask.shape[1]} (the particles stored), got {n_particles}")
    jpt, je = _jet_pt_e(table, pt, e, mask)
    sl = (slice(None), slice(0, P))
    x = particle_input_arrays(pt[sl], eta[sl], phi[sl], e[sl], mask[sl], jpt, je,
                              None if charge is None else charge[sl], None if pid is None else pid[sl])
    return x, np.ascontiguousarray(mask[sl])


# --------------------------------------------------------------------------- images


#: Channels of a jet image (:func:`jet_image_arrays` ``channels``): the pT of all / the charged
#: (charge != 0) / the neutral particles in each pixel, and the number of all / charged / neutral
#: particles in it. The colour channels of Komiske, Metodiev and Schwartz, "Deep learning in color:
#: towards automated quark/gluon jet discrimination", JHEP 01 (2017) 110, are ``charged_pt``,
#: ``neutral_pt``, ``charged_count``.
IMAGE_CHANNELS: tuple[str, ...] = ("pt", "charged_pt", "neutral_pt", "count", "charged_count", "neutral_count")
#: The image of the 1-channel taggers (the total pT).
PT_CHANNELS: tuple[str, ...] = ("pt",)


def _channel_weights(name: str, w: np.ndarray, mask: np.ndarray, charge: np.ndarray | None) -> np.ndarray:
    """Per-particle weight of channel ``name``: its pT (``*_pt``) or 1 (``*_count``), 0 outside its set."""
    if name not in IMAGE_CHANNELS:
        raise DataError(f"unknown image channel {name!r}; choose among {', '.join(IMAGE_CHANNELS)}")
    kind, _, what = name.rpartition("_")
    base = w if what == "pt" else mask.astype(np.float64)
    if not kind:
        return base
    if charge is None:
        raise DataError(f"image channel {name!r} needs the particles' charge (the data have no 'charge' field)")
    charged = mask & (np.asarray(charge) != 0)
    return np.where(charged if kind == "charged" else mask & ~charged, base, 0.0)


def jet_image_arrays(eta_rel: np.ndarray, phi_rel: np.ndarray, pt: np.ndarray, mask: np.ndarray, *,
                     size: int = 16, radius: float = 0.8, center: str = "centroid", rotate: bool = True,
                     flip: bool = True, normalize: bool = True, channels: Sequence[str] | None = None,
                     charge: np.ndarray | None = None) -> np.ndarray:
    """pT images ``[n, size, size]`` (float32; row = vertical axis, bottom row first), or with
    ``channels`` (names of :data:`IMAGE_CHANNELS`) images ``[n, len(channels), size, size]``.

    ``center``: ``"centroid"`` (pT-weighted centroid of the particles) or ``"axis"`` (the jet
    axis, the origin of ``eta_rel``/``phi_rel``). ``rotate``: turn the principal axis of
    the pT-weighted (eta, phi) distribution to the vertical. ``flip``: mirror so that the
    right half and the upper half carry at least as much pT as the opposite ones.
    Particles outside ``[-radius, radius)^2`` are dropped; ``normalize``: every image sums
    to 1 (an empty image stays 0).

    Every channel is binned with the same centring, rotation and flip, computed once from all the
    particles' pT. ``normalize`` divides every pT channel by the same number, the total pT inside the
    window (so ``charged_pt + neutral_pt = pt``, which sums to 1, and the charged fraction survives);
    count channels are never normalized (one per particle: pixel values 0, 1, 2, ...). The ``charged``
    and ``neutral`` channels need ``charge`` ``[n, P]`` (charged: charge != 0).
    """
    size = int(size)
    if not 2 <= size <= 512:
        raise DataError(f"image size must be in 2..512 pixels, got {size}")
    if not (np.isfinite(radius) and radius > 0):
        raise DataError(f"image radius must be positive, got {radius}")
    if center not in ("centroid", "axis"):
        raise DataError(f"image center must be 'centroid' or 'axis', got {center!r}")
    names = PT_CHANNELS if channels is None else tuple(channels)
    if not names:
        raise DataError("an image needs at least one channel")
    mask = np.asarray(mask, dtype=bool)
    w = np.where(mask, np.asarray(pt, dtype=np.float64), 0.0)
    weights = [_channel_weights(c, w, mask, charge) for c in names]
    x = np.where(mask, np.asarray(eta_rel, dtype=np.float64), 0.0)
    y = np.where(mask, np.asarray(phi_rel, dtype=np.float64), 0.0)
    n = w.shape[0]
    wsum = np.maximum(w.sum(1, keepdims=True), 1e-12)
    if center == "centroid":
        x = x - (w * x).sum(1, keepdims=True) / wsum
        y = y - (w * y).sum(1, keepdims=True) / wsum
    if rotate:
        sxx = (w * x * x).sum(1) / wsum[:, 0]
        syy = (w * y * y).sum(1) / wsum[:, 0]
        sxy = (w * x * y).sum(1) / wsum[:, 0]
        # angle of the major eigenvector of [[sxx, sxy], [sxy, syy]] from the x axis
        theta = 0.5 * np.arctan2(2.0 * sxy, sxx - syy)
        a = (0.5 * np.pi - theta)[:, None]  # turn it onto the vertical
        c, s = np.cos(a), np.sin(a)
        x, y = c * x - s * y, s * x + c * y
    if flip:
        sx = np.where((w * (x > 0)).sum(1) >= (w * (x < 0)).sum(1), 1.0, -1.0)[:, None]
        sy = np.where((w * (y > 0)).sum(1) >= (w * (y < 0)).sum(1), 1.0, -1.0)[:, None]
        x, y = x * sx, y * sy
    ix = np.floor((x + radius) / (2 * radius) * size).astype(np.int64)
    iy = np.floor((y + radius) / (2 * radius) * size).astype(np.int64)
    inside = mask & (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size)
    jet = np.broadcast_to(np.arange(n)[:, None], w.shape)
    flat = ((jet * size + iy) * size + ix)[inside]

    def binned(v: np.ndarray) -> np.ndarray:
        return np.bincount(flat, weights=v[inside], minlength=n * size * size).reshape(n, size, size)

    tot = binned(w).sum((1, 2), keepdims=True) if normalize else None
    out = np.empty((n, len(names), size, size), dtype=np.float32)
    for k, (name, v) in enumerate(zip(names, weights, strict=True)):
        img = binned(v)
        if tot is not None and _is_pt(name):
            img = np.divide(img, tot, out=np.zeros_like(img), where=tot > 0)
        out[:, k] = img
    return out[:, 0] if channels is None else out


def jet_images(table, *, size: int = 16, radius: float = 0.8, n_particles: int | None = None,
               center: str = "centroid", rotate: bool = True, flip: bool = True,
               normalize: bool = True, channels: Sequence[str] | None = None) -> np.ndarray:
    """Jet images of ``table``'s particles, ``[n, size, size]`` or with ``channels``
    ``[n, len(channels), size, size]`` (see :func:`jet_image_arrays`)."""
    pt, eta, phi = (_field(table, f) for f in ("pt", "eta_rel", "phi_rel"))
    mask = table.particle_mask
    P = mask.shape[1] if n_particles is None else int(n_particles)
    sl = (slice(None), slice(0, P))
    names = PT_CHANNELS if channels is None else tuple(channels)
    charge = None
    if any(c.startswith(("charged", "neutral")) for c in names):
        charge = _field(table, "charge", False)
        charge = None if charge is None else charge[sl]
    return jet_image_arrays(eta[sl], phi[sl], pt[sl], mask[sl], size=size, radius=radius, center=center,
                            rotate=rotate, flip=flip, normalize=normalize, channels=channels, charge=charge)


def image_inputs(table, *, size: int, radius: float, n_particles: int,
                 channels: Sequence[str] = PT_CHANNELS) -> np.ndarray:
    """The image networks' input ``[n, len(channels), size, size]`` (float32): the leading
    ``n_particles`` particles (at most those stored), pT channels as unit-sum images times ``size``
    (O(1) pixel values: a 16 x 16 image sums to 16), count channels as counts (one per particle).
    The one input of ``cnn_image``, ``snn_image``, ``ann_particles`` (model ``cnn``) and their model
    files (``arch["image"]``: size, radius, n_particles, channels)."""
    n_p = min(int(n_particles), table.particle_mask.shape[1])
    img = jet_images(table, size=size, radius=radius, n_particles=n_p, channels=tuple(channels))
    for k, name in enumerate(channels):
        if _is_pt(name):
            img[:, k] *= np.float32(size)
    return img


def recipe_images(table, recipe: Mapping[str, Any]) -> np.ndarray:
    """:func:`image_inputs` of an image recipe (a model file's ``arch["image"]``: size, radius,
    n_particles, channels; a recipe without channels, as written before colour images: ``["pt"]``)."""
    return image_inputs(table, size=int(recipe["size"]), radius=float(recipe["radius"]),
                        n_particles=int(recipe["n_particles"]), channels=tuple(recipe.get("channels", PT_CHANNELS)))


def _is_pt(name: str) -> bool:
    return name == "pt" or name.endswith("_pt")
