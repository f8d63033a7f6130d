"""Per-particle inputs, jet images and the public particle-level readers (own tiny fixtures)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from spikejet.data import JetTable
from spikejet.data.particle_formats import (
    HLS4ML_PARTICLE_FEATURES,
    read_hf_parquet,
    read_hls4ml_particles,
    read_jetnet,
)
from spikejet.data.particles import (
    PARTICLE_INPUTS,
    jet_image_arrays,
    jet_images,
    particle_inputs,
    pdg_classes,
)
from spikejet.data.schema import FEATURE_NAMES, PARTICLE_FIELDS, ZENODO_FEATURE_COLUMNS
from spikejet.errors import DataError

N, P = 20, 6


@pytest.fixture
def table(rng) -> JetTable:
    n_real = rng.integers(1, P + 1, N)
    mask = np.arange(P)[None, :] < n_real[:, None]
    parts = np.zeros((N, P, len(PARTICLE_FIELDS)), dtype=np.float32)
    parts[..., 0] = np.sort(rng.exponential(50.0, (N, P)), axis=1)[:, ::-1] + 1.0
    parts[..., 1:3] = rng.normal(0, 0.2, (N, P, 2))
    parts[..., 3] = parts[..., 0] * 1.3
    parts[..., 4] = rng.integers(-1, 2, (N, P))
    parts[..., 5] = rng.choice([22, 130, 211, -211, 11, -13, 2112], (N, P))
    parts[~mask] = 0.0
    X = rng.normal(size=(N, 16)).astype(np.float32)
    return JetTable(X, np.arange(N) % 5, particles=parts, particle_mask=mask, particle_fields=PARTICLE_FIELDS)


def test_particle_inputs_values_and_padding(table):
    x, m = particle_inputs(table)
    assert x.shape == (N, P, len(PARTICLE_INPUTS)) and x.dtype == np.float32
    np.testing.assert_array_equal(m, table.particle_mask)
    assert not x[~m].any()
    pt, eta, phi, e = (table.particles[..., i] for i in range(4))
    jpt = np.where(m, pt, 0).sum(1)  # no extra["pt"]: the sum over the stored particles
    r = np.flatnonzero(m[:, 0])[0]
    np.testing.assert_allclose(x[r, 0, 2], np.log(pt[r, 0]), rtol=1e-6)
    np.testing.assert_allclose(x[r, 0, 4], np.log(pt[r, 0] / jpt[r]), rtol=1e-5)
    np.testing.assert_allclose(x[r, 0, 6], np.hypot(eta[r, 0], phi[r, 0]), rtol=1e-5)
    # one-hot PDG classes: exactly one per real particle
    np.testing.assert_array_equal(x[..., 8:].sum(-1)[m], 1.0)
    x3, m3 = particle_inputs(table, n_particles=3)
    np.testing.assert_array_equal(x3, x[:, :3])
    with pytest.raises(DataError, match="n_particles"):
        particle_inputs(table, n_particles=P + 1)


def test_pdg_classes():
    oh = pdg_classes(np.array([211, -211, 130, 2112, 22, 11, -13, 0]), np.array([1, -1, 0, 0, 0, -1, 1, 0]))
    assert oh.argmax(1)[:7].tolist() == [0, 0, 1, 1, 2, 3, 4]
    assert oh[7].sum() == 0  # padding: no class
    assert pdg_classes(np.array([321, 130]))[:, :2].tolist() == [[1, 0], [0, 1]]  # without charges


def test_image_centre_rotation_flip():
    # two particles along the diagonal, the harder one at the lower left: after centring, rotation and
    # flipping the pair is vertical, centred, with the harder particle on top
    eta = np.array([[-0.2, 0.2]])
    phi = np.array([[-0.2, 0.2]])
    pt = np.array([[3.0, 1.0]])
    img = jet_image_arrays(eta, phi, pt, np.ones((1, 2), bool), size=16, radius=0.8)
    assert img.shape == (1, 16, 16)
    np.testing.assert_allclose(img.sum(), 1.0, rtol=1e-6)
    rows, cols = np.nonzero(img[0])
    assert len(set(cols.tolist())) == 1 and cols[0] in (7, 8)  # one column, at the centre
    hard = np.unravel_index(np.argmax(img[0]), img[0].shape)
    assert hard[0] > rows.min()  # the harder particle is in the upper row
    np.testing.assert_allclose(img[0].max(), 0.75, rtol=1e-6)
    # no preprocessing: the raw histogram around the axis
    raw = jet_image_arrays(eta, phi, pt, np.ones((1, 2), bool), size=4, radius=0.8, center="axis",
                           rotate=False, flip=False, normalize=False)
    assert raw[0, 1, 1] == 3.0 and raw[0, 2, 2] == 1.0


def test_images_of_table_are_invariant_to_a_rotation(table):
    img = jet_images(table, size=16)
    assert img.shape == (N, 16, 16)
    np.testing.assert_allclose(img.sum((1, 2)), 1.0, rtol=1e-5)
    # rotating every jet by any angle about the axis leaves the preprocessed image (almost) unchanged
    eta, phi = table.particles[..., 1], table.particles[..., 2]
    a = 0.7
    parts = table.particles.copy()
    parts[..., 1], parts[..., 2] = np.cos(a) * eta - np.sin(a) * phi, np.sin(a) * eta + np.cos(a) * phi
    rot = JetTable(table.X, table.y, particles=parts, particle_mask=table.particle_mask,
                   particle_fields=table.particle_fields)
    img2 = jet_images(rot, size=16)
    agree = np.abs(img - img2).sum((1, 2)) < 0.2  # pixel-edge effects aside
    assert agree.mean() >= 0.8
    with pytest.raises(DataError, match="size"):
        jet_images(table, size=1)


# --------------------------------------------------------------------------- readers


def _hls4ml_file(path, rng, n=12, p=8, *, names=True):
    ncol = 59
    jets = np.zeros((n, ncol), dtype=np.float32)
    jets[:, list(ZENODO_FEATURE_COLUMNS)] = rng.normal(size=(n, 16))
    jets[:, ZENODO_FEATURE_COLUMNS[15]] = rng.integers(5, 60, n)  # j_multiplicity is a count
    lab = np.arange(n) % 5
    jets[np.arange(n), ncol - 6 + lab] = 1.0
    fnames = [f"c{i}" for i in range(ncol)]
    for c, name in zip(ZENODO_FEATURE_COLUMNS, FEATURE_NAMES, strict=True):
        fnames[c] = name
    fnames[0], fnames[1], fnames[2] = "j_pt", "j_eta", "j_mass"
    jets[:, 0] = 1000.0
    parts = np.zeros((n, p, 16), dtype=np.float32)
    k = rng.integers(1, p + 1, n)
    real = np.arange(p)[None] < k[:, None]
    pt = rng.exponential(30.0, (n, p)) + 1.0  # not pT-ordered: the reader sorts
    cols = {name: i for i, name in enumerate(HLS4ML_PARTICLE_FEATURES)}
    parts[..., cols["j1_pt"]] = np.where(real, pt, 0)
    parts[..., cols["j1_e"]] = np.where(real, pt * 1.1, 0)
    parts[..., cols["j1_etarel"]] = np.where(real, rng.normal(0, 0.1, (n, p)), 0)
    parts[..., cols["j1_phirel"]] = np.where(real, rng.normal(0, 0.1, (n, p)), 0)
    with h5py.File(path, "w") as f:
        f["jets"] = jets
        f["jetConstituentList"] = parts
        if names:
            f["jetFeatureNames"] = np.array(fnames, dtype="S")
            f["particleFeatureNames"] = np.array(HLS4ML_PARTICLE_FEATURES, dtype="S")
    return jets, parts, real, lab


@pytest.mark.parametrize("names", [True, False])
def test_read_hls4ml_particles(tmp_path, rng, names):
    path = tmp_path / "jetConstituentList_x.h5"
    jets, parts, real, lab = _hls4ml_file(path, rng, names=names)
    t = read_hls4ml_particles(path)
    np.testing.assert_array_equal(t.y, lab)
    np.testing.assert_array_equal(t.X, jets[:, list(ZENODO_FEATURE_COLUMNS)])
    assert t.particle_fields == ("pt", "eta_rel", "phi_rel", "e")
    np.testing.assert_array_equal(t.particle_mask.sum(1), real.sum(1))
    pt = t.particles[..., 0]
    assert (np.diff(pt, axis=1) <= 0).all()  # pT-ordered, padding last
    np.testing.assert_allclose(np.sort(pt[0][t.particle_mask[0]]), np.sort(parts[0, real[0], 5]))
    if names:
        np.testing.assert_array_equal(t.extra["pt"], 1000.0)
    t4 = read_hls4ml_particles(path, n_particles=4)
    np.testing.assert_array_equal(t4.particles, t.particles[:, :4])


def test_read_hls4ml_particles_bad(tmp_path, rng):
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        f["jets"] = np.zeros((3, 59))
    with pytest.raises(DataError, match="jetConstituentList"):
        read_hls4ml_particles(p)
    with pytest.raises(DataError, match="no such file"):
        read_hls4ml_particles(tmp_path / "none.h5")


def test_read_hf_parquet(tmp_path, rng):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    n = 10
    lengths = rng.integers(1, 9, n)
    cols: dict = {name: pa.array(rng.normal(size=n).astype(np.float32)) for name in FEATURE_NAMES}
    cols["j_multiplicity"] = pa.array(rng.integers(5, 60, n).astype(np.float32))  # a count
    cols["j_pt"] = pa.array(np.full(n, 900.0, dtype=np.float32))
    per = {name: [rng.normal(size=k).astype(np.float32) for k in lengths] for name in HLS4ML_PARTICLE_FEATURES}
    per["j1_pt"] = [rng.exponential(20.0, k).astype(np.float32) + 1 for k in lengths]
    for name, lists in per.items():
        cols[name] = pa.array([x.tolist() for x in lists], type=pa.list_(pa.float32()))
    cols["label"] = pa.array((np.arange(n) % 5).astype(np.int8))
    path = tmp_path / "hf.parquet"
    pq.write_table(pa.table(cols), path)
    t = read_hf_parquet(path)
    assert len(t) == n and t.particles.shape[1] == lengths.max()
    np.testing.assert_array_equal(t.particle_mask.sum(1), lengths)
    np.testing.assert_array_equal(t.y, np.arange(n) % 5)
    np.testing.assert_allclose(np.sort(t.particles[3, : lengths[3], 0]), np.sort(per["j1_pt"][3]))
    i = t.particle_fields.index("eta_rel")
    k = int(np.argmax(per["j1_pt"][3]))
    np.testing.assert_allclose(t.particles[3, 0, i], per["j1_etarel"][3][k])
    assert (np.diff(t.particles[..., 0], axis=1) <= 0).all()
    t2 = read_hf_parquet(path, n_particles=2)
    assert t2.particles.shape[1] == 2


def test_read_jetnet(tmp_path, rng):
    paths = []
    for name in ("g", "t150"):
        n, p = 7, 5
        k = rng.integers(1, p + 1, n)
        real = np.arange(p)[None] < k[:, None]
        pf = np.zeros((n, p, 4), dtype=np.float32)
        pf[..., 0:2] = rng.normal(0, 0.1, (n, p, 2))
        pf[..., 2] = np.sort(rng.uniform(0.01, 0.2, (n, p)), 1)[:, ::-1]
        pf[..., 3] = real
        pf[~real] = 0
        jf = np.stack([np.full(n, 1000.0), rng.normal(0, 1, n), np.full(n, 80.0), k], 1).astype(np.float32)
        path = tmp_path / f"{name}.hdf5"
        with h5py.File(path, "w") as f:
            f["particle_features"] = pf
            f["jet_features"] = jf
        paths.append(path)
    t = read_jetnet(paths)
    assert t.y.tolist() == [0] * 7 + [4] * 7
    assert t.particle_fields == ("pt", "eta_rel", "phi_rel", "e")
    np.testing.assert_array_equal(t.particle_mask.sum(1), t.extra["n_particles"])
    assert not t.extra["has_features"].any()
    x, m = particle_inputs(t)
    assert np.isfinite(x).all()
    with pytest.raises(DataError, match="label"):
        read_jetnet(tmp_path / "g.hdf5", labels=["x"])
