from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikejet.ann.model import (
    MLP,
    build_mlp,
    predict_logits,
    predict_proba,
    task_class_names,
    task_labels,
)
from spikejet.ann.train import balanced_class_weights, l1_penalty, train_ann
from spikejet.config import AnnConfig
from spikejet.data import CLASS_NAMES, FEATURE_NAMES, Standardizer
from spikejet.errors import ConfigError, DataError, ModelError
from spikejet.models.file import FORMAT, ModelBundle, load_bundle, save_bundle

SEED = 7
N_FEATURES = 16
N_CLASSES = 5


def _blobs(rng, n, *, sep=1.5, weights=None):
    """Class-dependent Gaussian features: learnable, not trivially separable."""
    y = rng.choice(N_CLASSES, size=n, p=weights)
    centers = rng.normal(size=(N_CLASSES, N_FEATURES)) * sep
    X = (centers[y] + rng.normal(size=(n, N_FEATURES))).astype(np.float32)
    return X, y.astype(np.int64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def blobs(rng):
    X, y = _blobs(rng, 3000, sep=0.5)
    return X[:2000], y[:2000], X[2000:], y[2000:]


def _fresh(seed=SEED, sizes=(16, 32, 16, 5)):
    torch.manual_seed(seed)
    return MLP(sizes)


FAST = AnnConfig(learning_rate=5e-3, batch_size=128, max_epochs=12, patience=3, min_delta=0.0)


def test_mlp_layout_and_activation_factory():
    m = MLP()
    assert [(lin.in_features, lin.out_features) for lin in m.linears] == [(16, 64), (64, 32), (32, 32), (32, 5)]
    assert len(m.activations) == 3 and all(isinstance(a, nn.ReLU) for a in m.activations)
    x = torch.randn(4, 16)
    out = m(x)
    assert out.shape == (4, 5)
    # logits, not probabilities
    assert not torch.allclose(out.sum(1), torch.ones(4), rtol=0, atol=1e-3)
    # manual forward through linears + ReLU reproduces the module
    h = x
    for i, lin in enumerate(m.linears):
        h = lin(h)
        if i < 3:
            h = torch.relu(h)
    torch.testing.assert_close(out, h, rtol=0, atol=0)
    clipped = MLP((16, 8, 5), activation=lambda: nn.Hardtanh(0.0, 1.0))
    assert isinstance(clipped.activations[0], nn.Hardtanh)
    with pytest.raises(ConfigError, match="at least two positive widths"):
        MLP((16,))


def test_build_mlp_and_top_vs_rest_labels():
    assert build_mlp(AnnConfig(), 16, 5).sizes == (16, 64, 32, 32, 5)
    assert build_mlp(AnnConfig(task="top_vs_rest"), 16, 2).sizes == (16, 32, 2)
    assert task_class_names("top_vs_rest", CLASS_NAMES) == ("rest", "t")
    y = np.array([0, 4, 2, 4, 1])
    assert task_labels("top_vs_rest", y, CLASS_NAMES).tolist() == [0, 1, 0, 1, 0]
    assert task_labels("multiclass", y, CLASS_NAMES).tolist() == y.tolist()
    with pytest.raises(ConfigError, match="needs a 't' class"):
        task_class_names("top_vs_rest", ("a", "b"))


def test_training_learns_and_restores_best_weights(blobs):
    Xt, yt, Xv, yv = blobs
    m = _fresh()
    hist = train_ann(m, Xt, yt, Xv, yv, FAST, seed=SEED, progress=False)
    assert 1 <= hist.best_epoch <= hist.epochs <= FAST.max_epochs
    assert max(hist.val_accuracy) > 0.6  # chance is 0.2
    # the kept weights are those of the best validation-loss epoch
    with torch.no_grad():
        vloss = float(F.cross_entropy(m(torch.as_tensor(Xv)), torch.as_tensor(yv)))
    assert vloss == pytest.approx(min(hist.val_loss), rel=1e-5, abs=1e-6)
    assert hist.val_loss[hist.best_epoch - 1] == min(hist.val_loss)


def test_training_is_deterministic_per_seed(blobs):
    Xt, yt, Xv, yv = blobs
    cfg = AnnConfig(learning_rate=5e-3, batch_size=256, max_epochs=3, patience=5)
    a, b, c = _fresh(), _fresh(), _fresh()
    ha = train_ann(a, Xt, yt, Xv, yv, cfg, seed=1, progress=False)
    hb = train_ann(b, Xt, yt, Xv, yv, cfg, seed=1, progress=False)
    train_ann(c, Xt, yt, Xv, yv, cfg, seed=2, progress=False)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert ha.val_loss == hb.val_loss
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))


def test_early_stopping_on_overfitting(rng):
    X, y = _blobs(rng, 400, sep=0.3)  # hard, tiny: the net overfits quickly
    cfg = AnnConfig(learning_rate=2e-2, batch_size=32, max_epochs=200, patience=3, lr_decay_factor=1.0)
    m = _fresh(sizes=(16, 128, 128, 5))
    hist = train_ann(m, X[:200], y[:200], X[200:], y[200:], cfg, seed=SEED, progress=False)
    assert hist.stopped_early
    assert hist.epochs == hist.best_epoch + cfg.patience
    assert hist.epochs < cfg.max_epochs


def test_learning_rate_decays_on_plateau(rng):
    X = rng.normal(size=(600, 16)).astype(np.float32)
    y = rng.integers(0, 5, 600)  # pure noise: the validation loss stops improving
    cfg = AnnConfig(learning_rate=1e-2, batch_size=64, max_epochs=12, patience=50, lr_decay_factor=0.5,
                    lr_decay_patience=1, min_learning_rate=1e-4)
    hist = train_ann(_fresh(), X[:400], y[:400], X[400:], y[400:], cfg, seed=SEED, progress=False)
    lrs = hist.learning_rate
    assert lrs[0] == pytest.approx(1e-2, rel=1e-12, abs=0)
    assert all(b <= a for a, b in zip(lrs, lrs[1:], strict=False))
    assert min(lrs) < 1e-2
    assert min(lrs) >= 1e-4 * (1 - 1e-9)


def test_l1_penalty_shrinks_weights(blobs):
    Xt, yt, Xv, yv = blobs
    plain, sparse = _fresh(), _fresh()
    base = AnnConfig(learning_rate=5e-3, batch_size=128, max_epochs=6, patience=10)
    train_ann(plain, Xt, yt, Xv, yv, base, seed=SEED, progress=False)
    train_ann(sparse, Xt, yt, Xv, yv, AnnConfig(**{**base.__dict__, "l1": 1e-2}), seed=SEED, progress=False)
    with torch.no_grad():
        assert float(l1_penalty(sparse)) < 0.7 * float(l1_penalty(plain))
        expected = sum(float(p.abs().sum()) for n, p in plain.named_parameters() if "weight" in n)
        assert float(l1_penalty(plain)) == pytest.approx(expected, rel=1e-5, abs=0)


def test_class_weights_help_the_rare_class(rng):
    X, y = _blobs(rng, 3000, sep=0.6, weights=[0.46, 0.46, 0.04, 0.02, 0.02])
    w = balanced_class_weights(y[:2000], 5)
    counts = np.bincount(y[:2000], minlength=5)
    np.testing.assert_allclose(w * counts, np.full(5, 2000 / 5), rtol=1e-12, atol=0)
    assert balanced_class_weights(np.array([0, 0, 1]), 3)[2] == 0.0

    def rare_recall(class_weights):
        m = _fresh()
        cfg = AnnConfig(learning_rate=5e-3, batch_size=128, max_epochs=8, patience=10, class_weights=class_weights)
        train_ann(m, X[:2000], y[:2000], X[2000:], y[2000:], cfg, seed=SEED, progress=False)
        pred = predict_logits(m, X[2000:]).argmax(1)
        rare = y[2000:] >= 2
        return (pred[rare] == y[2000:][rare]).mean()

    assert rare_recall(True) > rare_recall(False)


def test_any_module_trains_and_progress_bar_shows_accuracy(blobs, capsys):
    Xt, yt, Xv, yv = blobs
    torch.manual_seed(SEED)
    seq = nn.Sequential(nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 5))
    hist = train_ann(seq, Xt, yt, Xv, yv, AnnConfig(max_epochs=2, batch_size=256), seed=SEED, progress=True)
    assert hist.epochs == 2
    err = capsys.readouterr().err
    assert "val_acc=" in err and "train ANN" in err


def test_training_input_errors(blobs):
    Xt, yt, Xv, yv = blobs
    with pytest.raises(DataError, match="validation set: no jets"):
        train_ann(_fresh(), Xt, yt, Xv[:0], yv[:0], FAST, seed=SEED, progress=False)
    with pytest.raises(DataError, match="model has 3 outputs"):
        train_ann(_fresh(sizes=(16, 8, 3)), Xt, yt, Xv, yv, FAST, seed=SEED, progress=False)
    with pytest.raises(DataError, match="training set: features contain NaN or inf"):
        train_ann(_fresh(), Xt * np.float32(np.inf), yt, Xv, yv, FAST, seed=SEED, progress=False)

    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(16, 5)

        def forward(self, x):
            return self.lin(x) * float("nan")

    with pytest.raises(ConfigError, match="training diverged"):
        train_ann(Broken(), Xt, yt, Xv, yv, FAST, seed=SEED, progress=False)


# ----------------------------------------------------------------------------- bundle


def _bundle(rng, X):
    torch.manual_seed(SEED)
    scaler = Standardizer.fit(X)
    return ModelBundle(
        model=MLP(), scaler=scaler.to_dict(), feature_names=FEATURE_NAMES, class_names=CLASS_NAMES,
        data_class_names=CLASS_NAMES, config={"seed": 3, "ann": {"l1": 1e-4}}, meta={"note": np.float32(1.5)},
    )


def test_bundle_round_trip_gives_identical_predictions(rng, tmp_path):
    X, _ = _blobs(rng, 500)
    X = X * 10 + 3
    b = _bundle(rng, X)
    path = save_bundle(tmp_path / "ann.pt", b)
    assert [p.name for p in tmp_path.iterdir()] == ["ann.pt"]  # no temp file left
    raw = torch.load(path, weights_only=True)  # a plain, code-free payload
    assert raw["format"] == FORMAT and raw["kind"] == "ann"
    back = load_bundle(path)
    np.testing.assert_array_equal(back.predict_proba(X), b.predict_proba(X))
    assert back.feature_names == FEATURE_NAMES and back.class_names == CLASS_NAMES
    assert back.config == {"seed": 3, "ann": {"l1": 1e-4}} and back.meta == {"note": 1.5}
    p = back.predict_proba(X)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=0, atol=1e-12)
    # scaler is applied: raw features through the bare model differ
    assert not np.allclose(predict_proba(back.model, X), p, rtol=0, atol=1e-6)


def test_bundle_rejects_foreign_files(tmp_path, rng):
    with pytest.raises(ModelError, match="does not exist"):
        load_bundle(tmp_path / "nope.pt")
    txt = tmp_path / "notes.pt"
    txt.write_text("hello, I am not a model\n")
    with pytest.raises(ModelError, match="is not a spikejet model file"):
        load_bundle(txt)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": MLP().state_dict()}, other)
    with pytest.raises(ModelError, match="no 'spikejet-model' format marker"):
        load_bundle(other)
    bad_version = tmp_path / "v9.pt"
    d = _bundle(rng, rng.normal(size=(50, 16))).to_dict()
    d["format_version"] = 9
    torch.save(d, bad_version)
    with pytest.raises(ModelError, match="format version 9"):
        load_bundle(bad_version)
    wrong = tmp_path / "wrong.pt"
    d["format_version"] = 1
    d["arch"] = {"type": "mlp", "sizes": [16, 8, 5]}
    torch.save(d, wrong)
    with pytest.raises(ModelError, match="weights do not fit"):
        load_bundle(wrong)


def test_bundle_checks_feature_and_class_names(rng):
    b = _bundle(rng, rng.normal(size=(50, 16)))
    b.check_table(FEATURE_NAMES, CLASS_NAMES)
    swapped = list(FEATURE_NAMES)
    swapped[3], swapped[4] = swapped[4], swapped[3]
    with pytest.raises(ModelError, match=r"column 3 is 'j_c2_b1_mmdt' but the model expects 'j_c1_b2_mmdt'"):
        b.check_table(swapped, CLASS_NAMES)
    with pytest.raises(ModelError, match="15 features but the model takes 16"):
        b.check_table(FEATURE_NAMES[:15], CLASS_NAMES)
    with pytest.raises(ModelError, match="has classes"):
        b.check_table(FEATURE_NAMES, ("a", "b"))
    with pytest.raises(DataError, match=r"features must be \[n, 16\]"):
        b.predict_proba(np.zeros((3, 15)))
