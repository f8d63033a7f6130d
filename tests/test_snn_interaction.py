"""The spiking interaction network (issue 13, point 3): hand-checked counts, masking, conversion, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikejet.ann.particle import InteractionNet, ParticleScaler, predict_logits
from spikejet.errors import ConfigError, DataError
from spikejet.snn.interaction import (
    SpikingInteractionNet,
    build,
    evaluate_spiking_interaction,
    train_spiking_interaction,
)
from spikejet.snn.particle import SpikingDeepSetsOptions

B, P, F_IN = 30, 5, 4


@pytest.fixture
def batch(rng):
    x = rng.normal(size=(B, P, F_IN)).astype(np.float32)
    m = np.arange(P)[None] < rng.integers(1, P + 1, B)[:, None]
    x[~m] = 0
    y = np.arange(B) % 5
    x[..., 0] += y[:, None] * m  # learnable: the class is in feature 0 of every real particle
    g = rng.normal(size=(B, 3)).astype(np.float32)
    return x, m, g, y


def _tiny_net() -> SpikingInteractionNet:
    """One feature, edge layers 1-1, node layer 1, classifier 1 -> 2; thresholds 1, membranes from 1/2."""
    net = SpikingInteractionNet((2, 1, 1), (2, 1), (1, 1, 2))
    with torch.no_grad():
        net.recv.weight.fill_(0.5)
        net.recv.bias.fill_(0.0)
        net.send.weight.fill_(0.3)
        net.edge[0].weight.fill_(2.0)
        net.edge[0].bias.fill_(-0.5)
        net.node[0].weight.copy_(torch.tensor([[0.2, 0.6]]))  # [W_x, W_e]
        net.node[0].bias.fill_(0.1)
        net.classifier[0].weight.fill_(0.4)
        net.classifier[0].bias.fill_(0.3)
        net.classifier[1].weight.copy_(torch.tensor([[1.0], [-2.0]]))
        net.classifier[1].bias.copy_(torch.tensor([0.1, 0.2]))
    return net


@pytest.mark.parametrize("fused", [True, False])
def test_a_two_particle_jet_counted_by_hand(fused, one_torch_thread):
    """Particles x = 1, 0.5 and a padded slot, T = 2.

    edge 0: pair (0, 1) current 0.5 + 0.3 x 0.5 = 0.65, (1, 0) 0.25 + 0.3 = 0.55: v = 1.15 / 1.05 at
    t = 1 (spike), 0.80 / 0.60 at t = 2; edge 1: 2 s - 0.5 -> spikes at t = 1 only; node: 0.2 x_i + 0.1
    + 0.6 agg_i = 0.9 / 0.8 at t = 1 (v 1.4 / 1.3: spike), 0.3 / 0.2 at t = 2 (v 0.7 / 0.5); classifier
    hidden: 0.4 x 2 + 0.3 = 1.1 (spike), then 0.3 (v 0.9); output [1.1, -1.8] then [0.1, 0.2]: mean
    [0.6, -0.8]. Spikes 2 + 2 + 2 + 1 = 7; synops 2 x 1 + 2 x 1 + 2 x 1 + 1 x 2 = 8.
    """
    net = _tiny_net()
    net.fused = fused
    x = torch.tensor([[[1.0], [0.5], [7.0]]])  # the padded slot's value must not matter
    mask = torch.tensor([[True, True, False]])
    with torch.no_grad():
        out = net(x, mask, T=2)
    torch.testing.assert_close(out.logits, torch.tensor([[0.6, -0.8]]), rtol=0, atol=1e-6)
    assert float(out.spikes) == 7.0 and float(out.synops) == 8.0
    n = mask.sum(1).double()
    # 2 pairs x 2 edge neurons + 2 particles x 1 node neuron + 1 + 2 classifier neurons, per step
    assert float(net.neuron_updates(n, 2)) == 2 * (2 * 2 + 2 * 1 + 3)
    assert float(net.input_macs(n)) == 2 * 1 * (2 * 1 + 1)  # W_r x, W_s x and W_x x per real particle
    # a zero weight is no synapse: the classifier spike then reaches 1 output, not 2
    with torch.no_grad():
        net.classifier[1].weight[1] = 0.0
        out2 = net(x, mask, T=2)
    assert float(out2.synops) == 7.0


def test_padding_and_the_other_jets_change_nothing(batch, one_torch_thread):
    x, m, g, _ = batch
    torch.manual_seed(0)
    ann = InteractionNet(F_IN, (8, 6), (8, 8), (8,), n_global=3)
    net = SpikingInteractionNet.from_interaction_net(ann, [x, m, g], percentile=99.0)
    r = evaluate_spiking_interaction(net, [x, m, g], 8)
    assert r["logits"].shape == (B, 5) and r["spikes"].sum() > 0
    x2 = x.copy()
    x2[~m] = 5.0
    r2 = evaluate_spiking_interaction(net, [x2, m, g], 8)
    np.testing.assert_array_equal(r2["synops"], r["synops"])
    np.testing.assert_array_equal(r2["spikes"], r["spikes"])
    np.testing.assert_allclose(r2["logits"], r["logits"], rtol=1e-5, atol=1e-6)
    # a jet alone, or padded to more slots, gives its result in the batch
    for i in (0, 7, B - 1):
        one = evaluate_spiking_interaction(net, [x[i:i + 1], m[i:i + 1], g[i:i + 1]], 8)
        wide = [np.concatenate([x[i:i + 1], np.full((1, 3, F_IN), 9.0, np.float32)], 1),
                np.concatenate([m[i:i + 1], np.zeros((1, 3), bool)], 1), g[i:i + 1]]
        for alone in (one, evaluate_spiking_interaction(net, wide, 8)):
            assert alone["synops"][0] == r["synops"][i] and alone["spikes"][0] == r["spikes"][i]
            np.testing.assert_allclose(alone["logits"][0], r["logits"][i], rtol=1e-5, atol=1e-6)
    # permuting the particles changes nothing either
    perm = np.random.default_rng(3).permutation(P)
    rp = evaluate_spiking_interaction(net, [x[:, perm], m[:, perm], g], 8)
    np.testing.assert_array_equal(rp["spikes"], r["spikes"])
    np.testing.assert_allclose(rp["logits"], r["logits"], rtol=1e-5, atol=1e-5)
    with pytest.raises(DataError, match="jet-level"):
        net(torch.from_numpy(x), torch.from_numpy(m), T=2)


def test_conversion_approaches_the_ann_as_T_grows(batch, one_torch_thread):
    """Thresholds at the largest activation (percentile 100: nothing clipped on these jets) and the
    weights reading layer l scaled by lambda_l: the read-out error shrinks like 1/T."""
    x, m, g, _ = batch
    torch.manual_seed(1)
    ann = InteractionNet(F_IN, (8, 6), (8, 8), (8,), n_global=3)
    la = predict_logits(ann, [x, m, g])
    net = SpikingInteractionNet.from_interaction_net(ann, [x, m, g], percentile=100.0)
    err = [float(np.abs(evaluate_spiking_interaction(net, [x, m, g], T)["logits"] - la).max()) for T in (32, 256, 2048)]
    assert err[2] < err[1] < err[0]
    assert err[2] < 2e-3 * max(1.0, float(np.abs(la).max()))
    # the thresholds are the layers' largest activations, in the order edge, node, classifier
    assert net.n_spiking == 2 + 2 + 1 and (net.thresholds() > 0).all()


def test_fused_kernel_gives_autograds_numbers_and_gradients_reach_every_parameter(batch, one_torch_thread):
    x, m, g, y = batch
    torch.manual_seed(0)
    ann = InteractionNet(F_IN, (8, 6), (8,), (8,), n_global=3)
    net = SpikingInteractionNet.from_interaction_net(ann, [x, m, g], percentile=90.0)
    ts = [torch.from_numpy(a) for a in (x, m, g)]
    got = []
    for fused in (False, True):
        net.fused = fused
        net.zero_grad()
        out = net(*ts, T=5)
        (torch.nn.functional.cross_entropy(out.logits, torch.from_numpy(y)) + 1e-4 * out.synops.mean()).backward()
        got.append((out, {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}))
    (a, ga), (b, gb) = got
    torch.testing.assert_close(b.logits, a.logits, rtol=0, atol=0)
    torch.testing.assert_close(b.synops, a.synops, rtol=0, atol=0)
    trainable = {k for k, p in net.named_parameters() if p.requires_grad}
    assert set(ga) == set(gb) == trainable  # thresholds, recv, send, every edge, node, classifier layer
    for k in ga:
        assert torch.isfinite(ga[k]).all() and float(ga[k].abs().sum()) > 0, k
        torch.testing.assert_close(gb[k], ga[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("opts", [SpikingDeepSetsOptions(reset="zero"), SpikingDeepSetsOptions(neuron="lif")])
def test_reset_to_zero_and_lif_run_and_differ(batch, opts, one_torch_thread):
    x, m, _, _ = batch
    torch.manual_seed(0)
    ann = InteractionNet(F_IN, (8,), (8,), ())
    base = SpikingInteractionNet.from_interaction_net(ann, [x, m], percentile=99.0)
    other = SpikingInteractionNet.from_interaction_net(ann, [x, m], opts, percentile=99.0)
    a, b = (evaluate_spiking_interaction(n, [x, m], 8) for n in (base, other))
    assert b["spikes"].sum() > 0 and not np.array_equal(a["logits"], b["logits"])
    assert other.arch()["options"]["neuron"] == opts.neuron and build(other.arch()).options == opts


def test_trains_through_time_in_the_one_loop(batch, one_torch_thread):
    x, m, _, y = batch
    xs = ParticleScaler.fit(x, m).transform(x, m)
    torch.manual_seed(0)
    net = SpikingInteractionNet((2 * F_IN, 16), (F_IN + 16, 16), (16, 16, 5))
    hist = train_spiking_interaction(net, [xs, m], y, [xs, m], y, T=4, epochs=25, learning_rate=5e-3,
                                     batch_size=8, patience=25)
    assert hist.val_accuracy[hist.best_epoch - 1] >= 0.6


def test_model_file_round_trip(batch, tmp_path, one_torch_thread):
    from spikejet.models.file import ModelBundle, load_bundle, save_bundle

    x, m, g, _ = batch
    torch.manual_seed(0)
    net = SpikingInteractionNet.from_interaction_net(InteractionNet(F_IN, (8, 6), (8,), (8,), n_global=3),
                                                     [x, m, g], SpikingDeepSetsOptions(v_init=0.25))
    names = tuple(f"f{i}" for i in range(3))
    bundle = ModelBundle(model=net, scaler={"mean": [0.0] * 3, "scale": [1.0] * 3}, feature_names=names,
                         class_names=tuple("gqwzt"), data_class_names=tuple("gqwzt"), kind="snn_interaction",
                         arch={**net.arch(), "predict": {"T": 6}})
    back = load_bundle(save_bundle(tmp_path / "snn_interaction.pt", bundle))
    assert isinstance(back.model, SpikingInteractionNet) and back.model.options.v_init == 0.25
    np.testing.assert_array_equal(back.model.predict_particles([x, m, g], T=6),
                                  net.predict_particles([x, m, g], T=6))


def test_bad_sizes_are_refused():
    with pytest.raises(ConfigError, match="node input"):
        SpikingInteractionNet((8, 4), (5, 4), (4, 5))
    with pytest.raises(ConfigError, match="classifier input"):
        SpikingInteractionNet((8, 4), (8, 4), (5, 5))
    with pytest.raises(ConfigError, match="thresholds"):
        SpikingInteractionNet((8, 4), (8, 4), (4, 5), thresholds=[1.0])


# --------------------------------------------------------------------------- the stages

STAGE_CONFIG = {"data": {"max_jets": 600},
                "ann_interaction": {"n_particles": 6, "max_train_jets": 200, "epochs": 1, "patience": 1},
                "snn_interaction": {"max_train_jets": 200, "epochs": 1, "patience": 1}}


@pytest.fixture(scope="module")
def interaction_run(tmp_path_factory):
    """A small run of both interaction stages on the embedded sample, and its test jets with particles."""
    from spikejet.config import resolve_config
    from spikejet.data import load, write
    from spikejet.run.runner import run

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("interaction")
    out = tmp / "run"
    state = run(resolve_config(STAGE_CONFIG), out, progress=False, stages=["snn_interaction"])
    test = load("default", particles=True).subset(state.data.subset).subset(state.data.split.test)
    data = tmp / "test_particles.h5"
    write(test, data)
    return out, test, data


def out_test_y(out):
    """The run's test labels (its stored predictions)."""
    return np.load(out / "predictions" / "snn_interaction_test.npz")["y_true"]


def test_stages_write_their_metrics_and_model_files(interaction_run):
    import json

    out, _, _ = interaction_run
    m = json.loads((out / "metrics.json").read_text())
    a, s = m["ann_interaction"], m["snn_interaction"]
    for key in ("accuracy", "auc", "rejection", "macs", "energy_per_inference_j"):
        assert key in a, key
    for key in ("accuracy", "auc", "rejection", "timesteps", "synops_per_inference", "spikes_per_inference",
                "input_macs_per_inference", "neuron_updates_per_inference", "energy_per_inference_j"):
        assert key in s, key
    assert "loihi" in s["energy_per_inference_j"] and "gpu" in a["energy_per_inference_j"]
    # the spiking network inherits the conventional one's particles and jet features
    assert a["n_particles"] == s["n_particles"] == 6 and s["jet_features"] and s["timesteps"] == 4
    assert (out / "ann_interaction.pt").is_file() and (out / "snn_interaction.pt").is_file()
    # the NIR graph read back is the evaluated network; Loihi 2's integer model scored beside it
    assert (out / "snn_interaction.nir").is_file() and s["nir_file"] == "snn_interaction.nir"
    assert s["nir_accuracy"] == s["accuracy"] and s["nir_agreement"] == 1.0
    lo = s["loihi"]
    assert s["loihi_accuracy"] == lo["accuracy"] and lo["jets"] == len(out_test_y(out))
    assert 0.0 <= lo["agreement_with_float"] <= 1.0 and lo["synops_per_inference"] > 0
    assert lo["resources"]["cores"] >= 1 and "loihi" in lo["energy_per_inference_j"]


@pytest.mark.parametrize("key", ["ann_interaction", "snn_interaction"])
def test_model_files_score_like_the_run_through_evaluate(interaction_run, key, tmp_path, one_torch_thread):
    import json

    from spikejet.data import load
    from spikejet.models.file import load_bundle
    from spikejet.run.runner import evaluate_model_file

    out, test, data = interaction_run
    bundle = load_bundle(out / f"{key}.pt")
    assert bundle.needs_particles and bundle.kind == key
    saved = np.load(out / "predictions" / f"{key}_test.npz")["scores"]
    scores = bundle.predict_table(load(str(data), particles=True))
    np.testing.assert_array_equal(scores.astype(saved.dtype), saved)
    state = evaluate_model_file(out / f"{key}.pt", str(data), tmp_path / "ev", progress=False)
    run_m = json.loads((out / "metrics.json").read_text())[key]
    ev_m = json.loads((state.run_dir / "metrics.json").read_text())[key]
    for k in ("accuracy", "accuracy_interval", "auc", "rejection"):
        assert ev_m[k] == run_m[k], k


def test_same_seed_same_metrics_and_bad_settings_are_refused_by_name(interaction_run, tmp_path, one_torch_thread):
    from spikejet.config import resolve_config
    from spikejet.run.runner import run

    out, _, _ = interaction_run
    run(resolve_config(STAGE_CONFIG), tmp_path / "again", progress=False, stages=["snn_interaction"])
    assert (tmp_path / "again" / "metrics.json").read_bytes() == (out / "metrics.json").read_bytes()
    for section, bad, match in (("snn_interaction", {"timesteps": 0}, "snn_interaction.timesteps"),
                                ("snn_interaction", {"init": "nope"}, "snn_interaction.init"),
                                ("snn_interaction", {"loihi_max_jets": 3}, "snn_interaction.loihi_max_jets"),
                                ("ann_interaction", {"n_particles": 500}, "ann_interaction.n_particles"),
                                ("ann_interaction", {"edge": []}, "ann_interaction.edge")):
        with pytest.raises(ConfigError, match=match):
            resolve_config({section: bad})
