"""Tiny Pythia 8 + FastJet jet sample for the fjcontrib cross-check (test helper).

pp collisions at 13 TeV: HardQCD events with pTHat > 800 GeV plus a few
top-pair events, fixed seed, quiet. Visible final-state particles (neutrinos
removed) are clustered with anti-kT R = 0.8; every jet with pT above a
threshold and |eta| < 2.5 is returned as an (n, 4) array of (px, py, pz, E) in
GeV. A few seconds on one core.
"""

from __future__ import annotations

import numpy as np

#: Centre-of-mass energy in GeV.
ECM_GEV = 13000.0
#: Minimum hard-process pT for the QCD events, GeV.
PTHAT_MIN_GEV = 800.0
#: Anti-kT radius of the jets (the hls4ml dataset's).
JET_R = 0.8
#: Jets softer than this are not returned, GeV.
JET_PT_MIN_GEV = 300.0
#: Jets with |eta| beyond this are not returned.
JET_ABS_ETA_MAX = 2.5


def _pythia(settings: list[str], seed: int):
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in [
        f"Beams:eCM = {ECM_GEV}",
        "Print:quiet = on",
        "Next:numberCount = 0",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        *settings,
    ]:
        if not pythia.readString(line):
            raise RuntimeError(f"Pythia rejected setting {line!r}")
    if not pythia.init():
        raise RuntimeError("Pythia initialization failed")
    return pythia


def _visible_final(event) -> np.ndarray:
    rows = [
        (prt.px(), prt.py(), prt.pz(), prt.e())
        for prt in (event[i] for i in range(event.size()))
        if prt.isFinal() and prt.isVisible()
    ]
    return np.asarray(rows, dtype=np.float64)


def _jets_of(particles: np.ndarray) -> list[np.ndarray]:
    import fastjet

    pjs = []
    for i, (px, py, pz, e) in enumerate(particles.tolist()):
        pj = fastjet.PseudoJet(px, py, pz, e)
        pj.set_user_index(i)
        pjs.append(pj)
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_R)
    cs = fastjet.ClusterSequence(pjs, jet_def)
    out = []
    for jet in fastjet.sorted_by_pt(cs.inclusive_jets(JET_PT_MIN_GEV)):
        if abs(jet.eta()) > JET_ABS_ETA_MAX:
            continue
        idx = sorted(c.user_index() for c in jet.constituents())
        out.append(particles[idx])
    return out


def pythia_jets(
    n_qcd_events: int = 30, n_top_events: int = 8, seed: int = 2019
) -> list[np.ndarray]:
    """Jets (list of (n, 4) float64 arrays) from QCD and top-pair events."""
    jets: list[np.ndarray] = []
    for settings, n_events, sub_seed in (
        (["HardQCD:all = on", f"PhaseSpace:pTHatMin = {PTHAT_MIN_GEV}"], n_qcd_events, seed),
        (
            ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "PhaseSpace:pTHatMin = 500."],
            n_top_events,
            seed + 1,
        ),
    ):
        if n_events <= 0:
            continue
        pythia = _pythia(settings, sub_seed)
        done = 0
        while done < n_events:
            if not pythia.next():
                continue
            done += 1
            jets.extend(_jets_of(_visible_final(pythia.event)))
    return jets


#: (feature name, fjcontrib function, keyword arguments) of the 13 correlator features,
#: as exposed by the ``fastjet`` package's ``exclusive_jets_energy_correlator``
#: (pt_R measure, the fjcontrib default).
FJCONTRIB_CORRELATORS: tuple[tuple[str, str, dict[str, float]], ...] = (
    ("j_c1_b0_mmdt", "c1", {"beta": 0.0}),
    ("j_c1_b1_mmdt", "c1", {"beta": 1.0}),
    ("j_c1_b2_mmdt", "c1", {"beta": 2.0}),
    ("j_c2_b1_mmdt", "c2", {"beta": 1.0}),
    ("j_c2_b2_mmdt", "c2", {"beta": 2.0}),
    ("j_d2_b1_mmdt", "d2", {"beta": 1.0}),
    ("j_d2_b2_mmdt", "d2", {"beta": 2.0}),
    ("j_d2_a1_b1_mmdt", "generalizedd2", {"alpha": 1.0, "beta": 1.0}),
    ("j_d2_a1_b2_mmdt", "generalizedd2", {"alpha": 1.0, "beta": 2.0}),
    ("j_m2_b1_mmdt", "m2", {"beta": 1.0}),
    ("j_m2_b2_mmdt", "m2", {"beta": 2.0}),
    ("j_n2_b1_mmdt", "n2", {"beta": 1.0}),
    ("j_n2_b2_mmdt", "n2", {"beta": 2.0}),
)
#: C/A radius for reclustering one jet into exactly one jet (far above the jet size).
RECLUSTER_R = 10.0


def fjcontrib_reference(jets: list[np.ndarray]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """fjcontrib's mMDT grooming and correlators for each jet (FastJet's own C++).

    Each jet is its own "event", reclustered with C/A into exactly one jet and
    groomed with SoftDrop(beta=0, z_cut=0.1, R0=1.0) (larger-pT recursion, the
    package's default grooming mode). Returns the groomed constituents of each
    jet ((n_i, 4) arrays, copies of input rows) and a dict feature name ->
    values, with ``j_mass_mmdt`` the groomed mass. fjcontrib returns NaN for
    0/0 ratios (one-constituent groomed jets).
    """
    import awkward as ak
    import fastjet

    def as_events(jet_list: list[np.ndarray]):
        flat = np.concatenate(jet_list)
        counts = np.array([len(j) for j in jet_list])
        return ak.zip(
            {k: ak.unflatten(flat[:, c], counts) for c, k in enumerate(("px", "py", "pz", "E"))}
        )

    ca = fastjet.JetDefinition(fastjet.cambridge_algorithm, RECLUSTER_R)
    sd = fastjet.ClusterSequence(as_events(jets), ca).exclusive_jets_softdrop_grooming(
        njets=1, beta=0.0, symmetry_cut=0.1, R0=1.0
    )
    groomed = [
        np.stack([ak.to_numpy(sd.constituents[i][k]) for k in ("px", "py", "pz", "E")], axis=1)
        for i in range(len(jets))
    ]
    values = {"j_mass_mmdt": ak.to_numpy(sd.msoftdrop)}
    cs = fastjet.ClusterSequence(as_events(groomed), ca)
    for name, func, kwargs in FJCONTRIB_CORRELATORS:
        values[name] = ak.to_numpy(
            cs.exclusive_jets_energy_correlator(njets=1, func=func, **kwargs)
        )
    return groomed, values
