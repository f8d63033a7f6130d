from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikejet.errors import DataError
from spikejet.evaluate.metrics import (
    METRIC_KEYS,
    accuracy_interval,
    confusion_matrix,
    evaluate_scores,
    rejection_at,
    roc_curve,
    roc_curves,
)

CLASSES = ("g", "q", "w", "z", "t")
SEED = 11


@pytest.fixture
def scored(rng):
    n = 4000
    y = rng.integers(0, 5, n)
    s = rng.normal(size=(n, 5))
    s[np.arange(n), y] += 1.2
    return y, s


def test_entry_has_exactly_the_metrics_json_keys(scored):
    y, s = scored
    m = evaluate_scores(y, s, class_names=CLASSES, seed=SEED)
    assert tuple(m) == METRIC_KEYS
    json.dumps(m, allow_nan=False)  # JSON-ready, no NaN/inf
    assert set(m["per_class_accuracy"]) == set(CLASSES) == set(m["auc"]) == set(m["rejection"])
    assert set(m["rejection"]["g"]) == {"0.5", "0.1"}


def test_accuracy_confusion_and_per_class_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4])
    pred = np.array([0, 0, 1, 1, 0, 2, 2, 2, 4, 3, 4, 0])
    s = np.eye(5)[pred]
    m = evaluate_scores(y, s, class_names=CLASSES, seed=SEED, n_bootstrap=50)
    assert m["accuracy"] == pytest.approx(8 / 12, rel=1e-12, abs=0)
    cm = np.array(m["confusion_matrix"])
    np.testing.assert_allclose(cm.sum(1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cm[0], [2 / 3, 1 / 3, 0, 0, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(cm[2], [0, 0, 3 / 4, 0, 1 / 4], rtol=0, atol=1e-12)
    assert m["per_class_accuracy"] == pytest.approx(
        {"g": 2 / 3, "q": 1 / 2, "w": 3 / 4, "z": 1.0, "t": 1 / 2}, rel=1e-12, abs=0
    )


def test_auc_matches_sklearn_and_roc_endpoints(scored):
    from sklearn.metrics import roc_auc_score

    y, s = scored
    m = evaluate_scores(y, s, class_names=CLASSES, seed=SEED)
    for c, name in enumerate(CLASSES):
        assert m["auc"][name] == pytest.approx(roc_auc_score(y == c, s[:, c]), rel=1e-10, abs=1e-12)
        tpr, fpr = roc_curve(y == c, s[:, c])
        assert (tpr[0], fpr[0], tpr[-1], fpr[-1]) == (0.0, 0.0, 1.0, 1.0)
        assert np.all(np.diff(tpr) >= 0) and np.all(np.diff(fpr) >= 0)


def test_auc_with_ties_matches_sklearn(rng):
    from sklearn.metrics import roc_auc_score

    y = rng.integers(0, 2, 500)
    s = rng.integers(0, 4, 500).astype(float)  # heavy ties
    tpr, fpr = roc_curve(y == 1, s)
    assert float(np.trapezoid(tpr, fpr)) == pytest.approx(roc_auc_score(y == 1, s), rel=1e-12, abs=1e-12)


def test_rejection_at_working_point_by_hand():
    # 4 signal, 10 background; scores sorted: S S B S B B S B ...
    sig = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
    score = -np.arange(sig.size, dtype=float)
    tpr, fpr = roc_curve(sig, score)
    # 50 % efficiency reached after 2 signal, 0 background -> infinite (None)
    assert rejection_at(tpr, fpr, 0.5) is None
    # 75 %: third signal passes together with 1 background -> 1/FPR = 10
    assert rejection_at(tpr, fpr, 0.75) == pytest.approx(10.0, rel=1e-12, abs=0)
    # 100 %: 3 background pass -> 10/3
    assert rejection_at(tpr, fpr, 1.0) == pytest.approx(10 / 3, rel=1e-12, abs=0)


def test_bootstrap_interval_brackets_accuracy_and_matches_index_resampling(rng):
    correct = rng.random(3000) < 0.7
    acc = correct.mean()
    lo, hi = accuracy_interval(correct, seed=SEED, n_bootstrap=4000, interval=0.68)
    assert lo < acc < hi
    # the binomial shortcut has the spread of classic index resampling: sqrt(p(1-p)/n)
    sigma = np.sqrt(acc * (1 - acc) / correct.size)
    assert (hi - lo) / 2 == pytest.approx(sigma, rel=0.08, abs=0)
    idx = np.random.default_rng(SEED).integers(0, correct.size, size=(1000, correct.size))
    boot = correct[idx].mean(1)
    lo2, hi2 = np.quantile(boot, [0.16, 0.84])
    assert lo == pytest.approx(lo2, rel=0, abs=0.003) and hi == pytest.approx(hi2, rel=0, abs=0.003)
    # same seed, same interval; a wider interval for 95 %
    assert accuracy_interval(correct, seed=SEED, n_bootstrap=4000) == (lo, hi)
    lo95, hi95 = accuracy_interval(correct, seed=SEED, n_bootstrap=4000, interval=0.95)
    assert lo95 < lo and hi95 > hi


def test_missing_class_gives_null_not_nan(rng):
    y = rng.integers(0, 4, 300)  # no 't' jets
    s = rng.normal(size=(300, 5))
    m = evaluate_scores(y, s, class_names=CLASSES, seed=SEED, n_bootstrap=20)
    assert m["per_class_accuracy"]["t"] is None and m["auc"]["t"] is None
    assert m["rejection"]["t"] == {"0.5": None, "0.1": None}
    assert m["confusion_matrix"][4] == [None] * 5
    json.dumps(m, allow_nan=False)
    assert "t" not in roc_curves(y, s, class_names=CLASSES)


def test_perfect_tagger(rng):
    y = rng.integers(0, 5, 200)
    s = np.eye(5)[y] + 0.01 * rng.random((200, 5))
    m = evaluate_scores(y, s, class_names=CLASSES, seed=SEED, n_bootstrap=20)
    assert m["accuracy"] == 1.0 and m["accuracy_interval"] == [1.0, 1.0]
    assert all(v == pytest.approx(1.0, rel=0, abs=1e-12) for v in m["auc"].values())
    assert all(r["0.5"] is None for r in m["rejection"].values())


def test_bad_inputs():
    with pytest.raises(DataError, match=r"scores must be \[n, 5\]"):
        evaluate_scores(np.zeros(3, int), np.zeros((3, 4)), class_names=CLASSES, seed=SEED)
    with pytest.raises(DataError, match="labels must be"):
        evaluate_scores(np.zeros(2, int), np.zeros((3, 5)), class_names=CLASSES, seed=SEED)
    with pytest.raises(DataError, match="labels must be integers 0..4"):
        evaluate_scores(np.array([0, 7, 1]), np.zeros((3, 5)), class_names=CLASSES, seed=SEED)
    with pytest.raises(DataError, match="NaN"):
        evaluate_scores(np.zeros(1, int), np.full((1, 5), np.nan), class_names=CLASSES, seed=SEED)
    with pytest.raises(DataError, match="no jets"):
        evaluate_scores(np.zeros(0, int), np.zeros((0, 5)), class_names=CLASSES, seed=SEED)


def test_roc_curves_are_thinned(scored):
    y, s = scored
    curves = roc_curves(y, s, class_names=CLASSES, max_points=50)
    assert set(curves) == set(CLASSES)
    for cv in curves.values():
        assert len(cv["tpr"]) <= 52 and cv["tpr"][0] == 0.0 and cv["tpr"][-1] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=2, max_size=60),
    data=st.data(),
)
def test_confusion_rows_sum_to_one_and_diagonal_is_per_class(labels, data):
    y = np.array(labels)
    pred = np.array(data.draw(st.lists(st.integers(0, 4), min_size=y.size, max_size=y.size)))
    cm = confusion_matrix(y, pred, 5)
    for c in range(5):
        if (y == c).any():
            assert cm[c].sum() == pytest.approx(1.0, rel=0, abs=1e-12)
            assert cm[c, c] == pytest.approx(np.mean(pred[y == c] == c), rel=0, abs=1e-12)
        else:
            assert np.isnan(cm[c]).all()
