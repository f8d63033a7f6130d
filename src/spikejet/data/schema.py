"""The hls4ml jet-substructure schema: feature and class names, in order."""

from __future__ import annotations

FEATURE_NAMES: tuple[str, ...] = (
    "j_zlogz",
    "j_c1_b0_mmdt",
    "j_c1_b1_mmdt",
    "j_c1_b2_mmdt",
    "j_c2_b1_mmdt",
    "j_c2_b2_mmdt",
    "j_d2_b1_mmdt",
    "j_d2_b2_mmdt",
    "j_d2_a1_b1_mmdt",
    "j_d2_a1_b2_mmdt",
    "j_m2_b1_mmdt",
    "j_m2_b2_mmdt",
    "j_n2_b1_mmdt",
    "j_n2_b2_mmdt",
    "j_mass_mmdt",
    "j_multiplicity",
)
N_FEATURES = len(FEATURE_NAMES)

#: Class names in label order: g=0, q=1, w=2, z=3, t=4.
CLASS_NAMES: tuple[str, ...] = ("g", "q", "w", "z", "t")
#: One-hot label column names of the Zenodo h5 files, same order.
CLASS_LABELS: tuple[str, ...] = ("j_g", "j_q", "j_w", "j_z", "j_t")
N_CLASSES = len(CLASS_NAMES)

#: Long names for reports.
CLASS_TITLES: dict[str, str] = {
    "g": "gluon",
    "q": "light quark",
    "w": "W boson",
    "z": "Z boson",
    "t": "top quark",
}

#: Columns of the Zenodo hls4ml ``jets`` array that hold the 16 features, and the labels.
ZENODO_FEATURE_COLUMNS: tuple[int, ...] = (12, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 48, 52)
ZENODO_LABEL_SLICE = slice(-6, -1)

#: Per-particle fields that ``spikejet generate --constituents N`` stores, in order:
#: pT and energy (GeV), pseudorapidity and azimuth relative to the jet axis
#: (eta - jet eta, phi - jet phi wrapped into [-pi, pi)), charge (e), PDG id.
PARTICLE_FIELDS: tuple[str, ...] = ("pt", "eta_rel", "phi_rel", "e", "charge", "pid")
