from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikejet.data import Split, Standardizer, split
from spikejet.errors import ConfigError, DataError, ModelError


@pytest.fixture
def labels(rng) -> np.ndarray:
    return rng.integers(0, 5, size=1003)


def test_split_disjoint_covering_sorted(labels):
    s = split(labels, seed=7)
    assert isinstance(s, Split)
    allidx = np.concatenate([s.train, s.val, s.test])
    assert np.array_equal(np.sort(allidx), np.arange(labels.size))
    for part in (s.train, s.val, s.test):
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0)


def test_split_is_stratified(labels):
    s = split(labels, seed=3, val_fraction=0.1, test_fraction=0.3)
    counts = np.bincount(labels, minlength=5)
    for part, frac in ((s.test, 0.3), (s.val, 0.1)):
        got = np.bincount(labels[part], minlength=5)
        # per class within one row of the exact fraction (rounding)
        np.testing.assert_allclose(got, counts * frac, atol=1.0)


def test_split_deterministic_and_seed_dependent(labels):
    a, b, c = split(labels, seed=11), split(labels, seed=11), split(labels, seed=12)
    assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)


def test_split_arrays_read_only(labels):
    s = split(labels, seed=1)
    with pytest.raises(ValueError):
        s.train[0] = 5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "below 1"),
        ({"val_fraction": "a"}, "val_fraction"),
    ],
)
def test_split_bad_fractions(labels, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        split(labels, seed=0, **kwargs)


def test_split_bad_seed_and_input(labels):
    with pytest.raises(ConfigError, match="seed"):
        split(labels, seed=-1)
    with pytest.raises(ConfigError, match="seed"):
        split(labels, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="empty"):
        split(np.zeros(0, dtype=int), seed=0)
    with pytest.raises(DataError, match="integer"):
        split(np.zeros(5), seed=0)
    with pytest.raises(DataError, match="val split is empty"):
        split(np.array([0, 1]), seed=0, val_fraction=0.2, test_fraction=0.0)


def test_split_zero_fractions_allowed(labels):
    s = split(labels, seed=0, val_fraction=0.0, test_fraction=0.0)
    assert s.val.size == 0 and s.test.size == 0 and s.train.size == labels.size


@settings(max_examples=40, deadline=None)
@given(
    y=st.lists(st.integers(0, 4), min_size=20, max_size=300),
    seed=st.integers(0, 2**31),
    vf=st.floats(0.05, 0.4),
    tf=st.floats(0.05, 0.4),
)
def test_split_property(y, seed, vf, tf):
    arr = np.array(y)
    try:
        s = split(arr, seed=seed, val_fraction=vf, test_fraction=tf)
    except DataError:
        return  # too few jets for a non-empty val/test split: refused with a message
    allidx = np.concatenate([s.train, s.val, s.test])
    assert np.array_equal(np.sort(allidx), np.arange(arr.size))
    for c in np.unique(arr):
        n_c = int((arr == c).sum())
        assert abs(int((arr[s.test] == c).sum()) - n_c * tf) <= 0.5 + 1e-9


def test_standardizer_fit_transform(rng):
    X = (rng.normal(size=(500, 4)) * [1, 10, 100, 0] + [0, 5, -3, 7]).astype(np.float32)
    st_ = Standardizer.fit(X)
    assert st_.mean.dtype == np.float32 and st_.scale.dtype == np.float32
    Z = st_.transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z[:, :3].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Z[:, :3].std(axis=0), 1.0, rtol=1e-5)
    assert st_.scale[3] == 1.0  # constant column
    np.testing.assert_allclose(Z[:, 3], 0.0, atol=0)
    np.testing.assert_allclose(st_.inverse_transform(Z), X, rtol=1e-5, atol=1e-4)


def test_standardizer_dict_roundtrip(rng):
    st_ = Standardizer.fit(rng.normal(size=(50, 3)))
    back = Standardizer.from_dict(json.loads(json.dumps(st_.to_dict())))
    assert np.array_equal(back.mean, st_.mean) and np.array_equal(back.scale, st_.scale)


def test_standardizer_errors(rng):
    st_ = Standardizer.fit(rng.normal(size=(50, 3)))
    with pytest.raises(DataError, match="3 features"):
        st_.transform(np.zeros((2, 4)))
    with pytest.raises(DataError, match="NaN"):
        Standardizer.fit(np.array([[1.0, np.nan]]))
    with pytest.raises(DataError, match="non-empty"):
        Standardizer.fit(np.zeros((0, 3)))
    with pytest.raises(ModelError, match="mean"):
        Standardizer.from_dict({"mean": [1.0]})
    with pytest.raises(ModelError, match="positive"):
        Standardizer.from_dict({"mean": [1.0], "scale": [0.0]})
    with pytest.raises(ModelError, match="numbers"):
        Standardizer.from_dict({"mean": ["a"], "scale": [1.0]})
