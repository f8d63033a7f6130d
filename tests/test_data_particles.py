"""Per-particle arrays in a JetTable and in the own h5 format."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

from spikejet.cli import main
from spikejet.data import JetTable, read, split, write
from spikejet.data.schema import PARTICLE_FIELDS
from spikejet.errors import DataError

N, P = 50, 8


@pytest.fixture
def table(rng) -> JetTable:
    X = (rng.normal(size=(N, 16)) * 10).astype(np.float32)
    X[:, 15] = np.round(np.abs(X[:, 15]))  # j_multiplicity is a count
    y = np.arange(N) % 5
    n_real = rng.integers(1, P + 1, N)
    mask = np.arange(P)[None, :] < n_real[:, None]
    parts = np.zeros((N, P, len(PARTICLE_FIELDS)), dtype=np.float32)
    parts[..., 0] = rng.exponential(20.0, (N, P))
    parts[..., 1:3] = rng.normal(0, 0.2, (N, P, 2))
    parts[..., 3] = parts[..., 0] * 1.3
    parts[..., 4] = rng.integers(-1, 2, (N, P))
    parts[..., 5] = rng.choice([22, 130, 211, -211, 321, 2112, -2212], (N, P))
    parts[~mask] = 0.0
    parts[:, :, 0] += np.arange(N, dtype=np.float32)[:, None] * mask  # row identity for alignment checks
    return JetTable(X, y, extra={"pt": np.arange(N, dtype=np.float32)}, particles=parts,
                    particle_mask=mask, particle_fields=PARTICLE_FIELDS)


def test_roundtrip_float32_exact_and_byte_identical(tmp_path, table):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write(table, a)
    write(table, b)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    assert read(a).particles is None  # loaded only on request
    back = read(a, particles=True)
    np.testing.assert_array_equal(back.particles, table.particles)
    np.testing.assert_array_equal(back.particle_mask, table.particle_mask)
    assert back.particle_fields == PARTICLE_FIELDS
    with h5py.File(a) as f:
        assert f["particles/charge"].dtype == np.int8 and f["particles/pid"].dtype == np.int16
        assert f["particles/pt"].dtype == np.float32 and f["particles/mask"].dtype == np.uint8


def test_float16_storage_rounds_floats_only(tmp_path, table):
    p = tmp_path / "c.h5"
    write(table, p, particle_float="float16")
    back = read(p, particles=True)
    expect = table.particles.copy()
    expect[..., :4] = expect[..., :4].astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(back.particles, expect)
    with h5py.File(p) as f:
        assert f["particles/pt"].dtype == np.float16 and f["particles/pid"].dtype == np.int16
    big = JetTable(table.X, table.y, particles=table.particles * 1e4, particle_mask=table.particle_mask,
                   particle_fields=PARTICLE_FIELDS)
    with pytest.raises(DataError, match="beyond float16"):
        write(big, tmp_path / "big.h5", particle_float="float16")
    with pytest.raises(DataError, match="particle_float"):
        write(table, tmp_path / "d.h5", particle_float="int8")


def test_subset_and_split_keep_particles_aligned(table):
    sp = split(table.y, seed=3)
    for idx in (sp.train, sp.test, table.y == 2):
        sub = table.subset(idx)
        np.testing.assert_array_equal(sub.particles, table.particles[idx])
        np.testing.assert_array_equal(sub.particle_mask, table.particle_mask[idx])
        # particle row identity (pt offset) follows the jet's extra column
        first_pt = sub.particles[:, 0, 0] - (sub.particles[:, 0, 0] - sub.extra["pt"])
        np.testing.assert_array_equal(first_pt, sub.extra["pt"])
    assert table.without_particles().particles is None


def test_validation(table):
    with pytest.raises(DataError, match="particle_mask"):
        JetTable(table.X, table.y, particles=table.particles, particle_fields=PARTICLE_FIELDS)
    with pytest.raises(DataError, match="particle_fields"):
        JetTable(table.X, table.y, particles=table.particles, particle_mask=table.particle_mask,
                 particle_fields=("a", "b"))
    with pytest.raises(DataError, match=r"\[n=50, P, k\]"):
        JetTable(table.X, table.y, particles=table.particles[:3], particle_mask=table.particle_mask[:3],
                 particle_fields=PARTICLE_FIELDS)
    with pytest.raises(DataError, match="bool"):
        JetTable(table.X, table.y, particles=table.particles, particle_mask=table.particle_mask.astype(int),
                 particle_fields=PARTICLE_FIELDS)
    with pytest.raises(DataError, match="without particles"):
        JetTable(table.X, table.y, particle_mask=table.particle_mask)
    bad = table.particles.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        JetTable(table.X, table.y, particles=bad, particle_mask=table.particle_mask, particle_fields=PARTICLE_FIELDS)


def test_mask_is_not_a_field_name(tmp_path, table):
    t = JetTable(table.X, table.y, particles=table.particles, particle_mask=table.particle_mask,
                 particle_fields=("pt", "eta_rel", "phi_rel", "e", "charge", "mask"))
    with pytest.raises(DataError, match="may not be called 'mask'"):
        write(t, tmp_path / "m.h5")


def test_dropped_rows_drop_their_particles(tmp_path, table):
    p = tmp_path / "inv.h5"
    write(table, p)
    with h5py.File(p, "a") as f:
        X = f["X"][()]
        X[7, 3] = np.inf
        f["X"][...] = X
    back = read(p, drop_invalid=True, particles=True)
    keep = np.arange(N) != 7
    np.testing.assert_array_equal(back.particles, table.particles[keep])


def test_convert_keeps_particles(tmp_path, table):
    src, out = tmp_path / "s.h5", tmp_path / "o.h5"
    write(table, src, particle_float="float16")
    assert main(["data", "convert", str(src), str(out)]) == 0
    np.testing.assert_array_equal(read(out, particles=True).particles, read(src, particles=True).particles)


def test_damaged_particle_group_is_reported(tmp_path, table):
    p = tmp_path / "dmg.h5"
    write(table, p)
    with h5py.File(p, "a") as f:
        del f["particles/pid"]
    with pytest.raises(DataError, match="pid"):
        read(p, particles=True)
    assert len(read(p)) == N  # the features are still readable
