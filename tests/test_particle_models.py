"""Conventional particle/image models, the spiking deep-sets network and the particle stages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikejet.ann.particle import (
    DeepSets,
    InteractionNet,
    JetCNN,
    ParticleScaler,
    ParticleTraining,
    predict_logits,
    train_particle_model,
)
from spikejet.errors import ConfigError, DataError
from spikejet.snn.particle import (
    SpikingDeepSets,
    evaluate_spiking_deepsets,
    train_spiking_deepsets,
)

B, P, F_IN = 40, 6, 5


@pytest.fixture
def batch(rng):
    x = rng.normal(size=(B, P, F_IN)).astype(np.float32)
    m = np.arange(P)[None] < rng.integers(1, P + 1, B)[:, None]
    x[~m] = 0
    y = np.arange(B) % 5
    x[..., 0] += y[:, None] * m  # learnable: the class is in feature 0 of every real particle
    return x, m, y


@pytest.mark.usefixtures("one_torch_thread")
def test_models_are_permutation_invariant_and_ignore_padding(batch):
    x, m, _ = batch
    torch.manual_seed(0)
    perm = np.random.default_rng(0).permutation(P)
    for model in (DeepSets(F_IN), DeepSets(F_IN, pool="mean"), InteractionNet(F_IN)):
        a = predict_logits(model, [x, m])
        np.testing.assert_allclose(predict_logits(model, [x[:, perm], m[:, perm]]), a, rtol=1e-5, atol=1e-5)
        x2 = x.copy()
        x2[~m] = 7.0  # padding values must not matter
        np.testing.assert_allclose(predict_logits(model, [x2, m]), a, rtol=1e-5, atol=1e-5)
    ds = DeepSets(F_IN, (8, 4), (6,))
    assert ds.macs(3) == 3 * (F_IN * 8 + 8 * 4) + 4 * 6 + 6 * 5
    cnn = JetCNN(8, (2, 3), 4)
    assert predict_logits(cnn, [np.zeros((2, 8, 8), np.float32)]).shape == (2, 5)
    assert cnn.macs() == 8 * 8 * 2 * 9 + 4 * 4 * 2 * 3 * 9 + 3 * 2 * 2 * 4 + 4 * 5


@pytest.mark.usefixtures("one_torch_thread")
def test_deepsets_trains_with_the_fit_loop(batch):
    x, m, y = batch
    sc = ParticleScaler.fit(x, m)
    xs = sc.transform(x, m)
    assert not xs[~m].any()
    torch.manual_seed(0)
    model = DeepSets(F_IN, (16,), (16,))
    hist = train_particle_model(model, [xs, m], y, [xs, m], y, ParticleTraining(epochs=40, batch_size=8, learning_rate=1e-2, patience=40))
    assert hist.val_accuracy[hist.best_epoch - 1] >= 0.8


@pytest.mark.usefixtures("one_torch_thread")
def test_spiking_deepsets_counts_and_conversion(batch):
    x, m, y = batch
    g = np.random.default_rng(1).normal(size=(B, 3)).astype(np.float32)
    torch.manual_seed(0)
    ann = DeepSets(F_IN, (8, 8), (8,), n_global=3)
    net = SpikingDeepSets.from_deepsets(ann, [x, m, g], percentile=99.0)
    r = evaluate_spiking_deepsets(net, [x, m, g], 8)
    assert r["logits"].shape == (B, 5) and (r["synops"] >= 0).all()
    # padding slots hold no neurons: changing them changes nothing
    x2 = x.copy()
    x2[~m] = 5.0
    r2 = evaluate_spiking_deepsets(net, [x2, m, g], 8)
    np.testing.assert_array_equal(r2["synops"], r["synops"])
    np.testing.assert_allclose(r2["logits"], r["logits"], rtol=1e-5, atol=1e-5)
    # synops = spikes x fan-out: with all-dense weights every spike reaches the next layer's width
    with torch.no_grad():
        out = net(torch.from_numpy(x), torch.from_numpy(m), torch.from_numpy(g), T=8)
    # every spike reaches 8 neurons, but those of the last hidden read-out layer reach the 5 outputs
    assert 5 * float(out.spikes.sum()) <= float(out.synops.sum()) <= 8 * float(out.spikes.sum())
    # at large T the spiking network approaches its ANN's (clipped) logits
    la = predict_logits(ann, [x, m, g])
    lt = evaluate_spiking_deepsets(net, [x, m, g], 256)["logits"]
    assert np.corrcoef(la.ravel(), lt.ravel())[0, 1] > 0.9


@pytest.mark.usefixtures("one_torch_thread")
def test_spiking_deepsets_trains_through_time(batch):
    x, m, y = batch
    xs = ParticleScaler.fit(x, m).transform(x, m)
    torch.manual_seed(0)
    net = SpikingDeepSets((F_IN, 16), (16, 16, 5))
    hist = train_spiking_deepsets(net, [xs, m], y, [xs, m], y, T=4, epochs=30, learning_rate=5e-3,
                                  batch_size=8, patience=30)
    assert hist.val_accuracy[hist.best_epoch - 1] >= 0.6


@pytest.mark.usefixtures("one_torch_thread")
def test_spiking_deepsets_distills_from_a_teacher(batch):
    """With ``distill_weight = 1`` the network learns the teacher's classes, not the labels: a
    teacher that says ``(y + 1) % 5`` takes the trained network's decisions with it."""
    x, m, y = batch
    xs = ParticleScaler.fit(x, m).transform(x, m)
    teacher = np.full((B, 5), -4.0, np.float32)
    teacher[np.arange(B), (y + 1) % 5] = 4.0
    agree = {}
    for a in (0.0, 1.0):
        torch.manual_seed(0)
        net = SpikingDeepSets((F_IN, 16), (16, 16, 5))
        train_spiking_deepsets(net, [xs, m], y, [xs, m], y, T=4, epochs=30, learning_rate=5e-3, batch_size=8,
                               patience=30, teacher_logits=teacher, distill_weight=a, temperature=2.0)
        pred = evaluate_spiking_deepsets(net, [xs, m], 4)["logits"].argmax(1)
        agree[a] = float(np.mean(pred == (y + 1) % 5))
    assert agree[1.0] >= 0.35 and agree[0.0] <= 0.2, agree  # measured 0.425 and 0.1
    with pytest.raises(DataError, match="teacher logits must have shape"):
        train_spiking_deepsets(net, [xs, m], y, [xs, m], y, T=2, epochs=1, learning_rate=1e-3, batch_size=8,
                               patience=1, teacher_logits=teacher[:3], distill_weight=0.5)
    with pytest.raises(ConfigError, match="distillation weight"):
        train_spiking_deepsets(net, [xs, m], y, [xs, m], y, T=2, epochs=1, learning_rate=1e-3, batch_size=8,
                               patience=1, teacher_logits=teacher, distill_weight=1.5)


def test_snn_particles_distillation_needs_the_deepsets_teacher(tmp_path):
    from spikejet.config import resolve_config
    from spikejet.run.runner import run

    with pytest.raises(ConfigError, match=r"snn_particles.distill_weight: must be in \[0, 1\]"):
        resolve_config({"snn_particles": {"distill_weight": 2.0}})
    for bad, match in [({"input_bits": 1}, "snn_particles.input_bits"), ({"input_bits": True}, "snn_particles.input_bits"),
                       ({"input_clip": 0}, "snn_particles.input_clip"), ({"input_clip": "x"}, "snn_particles.input_clip")]:
        with pytest.raises(ConfigError, match=match):
            resolve_config({"snn_particles": bad})
    cfg = resolve_config({"data": {"max_jets": 600}, "snn_particles": {"init": "random", "distill_weight": 0.5}},
                         quick=True)
    with pytest.raises(ConfigError, match="distills the ann_particles deep sets"):
        run(cfg, tmp_path / "run", progress=False, stages=["snn_particles"])


def test_particle_stages_in_a_quick_run(tmp_path):
    """ann_particles and snn_particles through the runner on a small run (their metrics keys)."""
    import json

    from spikejet.config import resolve_config
    from spikejet.run.runner import run

    cfg = resolve_config({"data": {"max_jets": 1500}}, quick=True)
    out = tmp_path / "run"
    run(cfg, out, progress=False, stages=["snn_particles"])  # ann_particles comes with it
    m = json.loads((out / "metrics.json").read_text())
    for key in ("accuracy", "auc", "rejection", "macs"):
        assert key in m["ann_particles"]
    for key in ("accuracy", "auc", "rejection", "timesteps", "synops_per_inference"):
        assert key in m["snn_particles"]
    assert m["snn_particles"]["timesteps"] <= 8
    # the exported NIR graph, read back, is the evaluated network (reset by subtraction kept exactly)
    sp = m["snn_particles"]
    assert (out / sp["nir_file"]).is_file() and sp["nir_semantic_changes"] == "none"
    assert sp["nir_accuracy"] == sp["accuracy"] and sp["nir_agreement"] == 1.0
    assert sp["nir_max_abs_logit_diff"] < 1e-4
    # quantization-aware training: the network holds the chip's weights, the mapper rounds none of them
    assert sp["quantize"] is True and sp["loihi"]["input_quantization"]["bits"] == 12
    errs = {q["name"]: q["weight_rel_rms_err"] for q in sp["loihi"]["quantization"]}
    assert all(errs[k] < 1e-6 for k in ("phi0", "phi1", "rho1")), errs
    assert sp["loihi"]["global_synapses"]["weight_rel_rms_err"] < 1e-6
    # same seed and config, same bytes (no wall-clock numbers in metrics.json)
    again = tmp_path / "again"
    run(cfg, again, progress=False, stages=["snn_particles"])
    assert (again / "metrics.json").read_bytes() == (out / "metrics.json").read_bytes()


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "arctan"])
def test_fused_if_step_gives_autograds_numbers(batch, surrogate):
    """The fused IF kernel: the same read-out, counts and gradients as autograd's graph of if_step."""
    from spikejet.snn.particle import SpikingDeepSetsOptions

    x, m, y = batch
    g = np.random.default_rng(2).normal(size=(B, 3)).astype(np.float32)
    torch.manual_seed(0)
    net = SpikingDeepSets.from_deepsets(DeepSets(F_IN, (8, 8), (8,), n_global=3), [x, m, g], percentile=90.0,
                                        options=SpikingDeepSetsOptions(surrogate=surrogate))
    ts = [torch.from_numpy(a) for a in (x, m, g)]
    got = []
    for fused in (False, True):
        net.fused = fused
        net.zero_grad()
        out = net(*ts, T=6)
        (torch.nn.functional.cross_entropy(out.logits, torch.from_numpy(y)) + 1e-3 * out.synops.mean()).backward()
        got.append((out, [p.grad.clone() for p in net.parameters() if p.grad is not None]))
    (a, ga), (b, gb) = got
    assert float(a.spikes.detach().sum()) > 0
    torch.testing.assert_close(b.logits, a.logits, rtol=0, atol=0)
    torch.testing.assert_close(b.synops, a.synops, rtol=0, atol=0)
    assert len(ga) == len(gb) == 9  # thresholds and every weight and bias
    for p, q in zip(ga, gb, strict=True):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        assert float(net(*ts, T=6, count=False).synops.abs().sum()) == 0.0
