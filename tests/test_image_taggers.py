"""The image pair of issue 13: the CNN and the spiking CNN on jet images (cnn_image, snn_image)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spikejet.ann.particle import JetCNN
from spikejet.errors import ConfigError
from spikejet.snn.image import (
    SpikingCNN,
    evaluate_spiking_cnn,
    qcfs_cnn,
    surrogate_finetune,
    unrolled_network,
    weight_memory,
)

T = 8


@pytest.fixture
def images(rng):
    """Sparse non-negative 8x8 'jet images' (about 15 % of the pixels lit)."""
    x = rng.exponential(1.0, (60, 8, 8)) * (rng.random((60, 8, 8)) < 0.15)
    return x.astype(np.float32)


@pytest.fixture
def converted(images, one_torch_thread):
    torch.manual_seed(0)
    cnn = JetCNN(8, channels=(4, 4), dense=6, n_classes=3)
    q = qcfs_cnn(cnn, images, levels=T)
    return q, SpikingCNN.from_qcfs(q, reset="subtract")


def test_first_layer_spike_counts_over_t_are_the_clipped_activations(images, converted):
    """IF with reset by subtraction from v = 1/2 on a constant current counts floor(T z + 1/2) clipped
    to [0, T] spikes: exactly the QCFS activation of T levels divided by its threshold."""
    q, net = converted
    x = torch.as_tensor(images)
    with torch.no_grad():
        act = q.features[1](q.features[0](x.unsqueeze(1)))  # QCFS(conv0(x))
        lam = float(q.features[1].lam)
        _, counts = net(x, T)
    expected = (act / lam).numpy()
    got = counts[0].numpy() / T
    assert got.shape == expected.shape
    # floor ties (T z + 1/2 exactly an integer) may round either way in float32: allow a handful
    assert np.mean(np.abs(got - expected) > 1e-6) < 1e-3
    assert np.abs(got - expected).max() <= 1.0 / T + 1e-6
    assert 0 < got.mean() < 1  # the test is not vacuous: some neurons fire, not all saturate


def test_converted_network_is_close_to_the_qcfs_network_at_t_levels(images, converted):
    """At T = the QCFS levels the spiking CNN's mean read-out is the QCFS network's logits up to the
    errors of the deeper layers (their inputs are not constant currents: spikes arrive unevenly)."""
    q, net = converted
    with torch.no_grad():
        ql = q(torch.as_tensor(images)).numpy()
    lg = evaluate_spiking_cnn(net, images, T).logits
    assert np.abs(lg - ql).mean() < 0.1 * np.abs(ql).mean()
    assert (lg.argmax(1) == ql.argmax(1)).mean() >= 0.9


def _tiny_by_hand() -> SpikingCNN:
    """4x4 image, one 1-channel conv (only the centre tap, = the image), 2x2 sum pooling, a dense
    layer of 2 IF neurons, 2 outputs."""
    net = SpikingCNN(4, (1,), (2,), 2, reset="subtract", v_init=0.5)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.convs[0].weight[0, 0, 1, 1] = 1.0
        net.linears[0].weight[0, 0] = 1.0  # pooled pixel (0, 0) -> hidden 0; the others reach nothing
        net.linears[1].weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    return net


def test_op_counts_by_hand():
    net = _tiny_by_hand()
    img = np.zeros((1, 4, 4), np.float32)
    img[0, 0, 0] = 1.0  # z = 1 every step: the neuron fires every step (v: 1.5 -> 0.5 -> 1.5 ...)
    r = evaluate_spiking_cnn(net, img, 4)
    # conv neuron (0, 0, 0): 4 spikes x fan-out 1 (one non-zero weight of its pooled pixel's column);
    # hidden 0: z = 1 every step, 4 spikes x fan-out 1 (output column 0 has one non-zero weight)
    np.testing.assert_array_equal(r.layer_spikes, [[4.0, 4.0]])
    assert r.synops[0] == 8.0
    assert net.input_macs() == 4 * 4 * 1 * 1 * 9
    assert net.neuron_updates(4) == (16 + 2 + 2) * 4
    # shared: the 1 kernel tap + 1 + 3 dense weights; unrolled: the centre tap reaches all 16 pixels,
    # the pooled column's 1 weight x 4 pixels of its window, 3 output weights
    assert weight_memory(net) == {"shared": 5, "unrolled": 16 + 4 + 3}


def test_conv_fan_out_counts_only_taps_inside_the_image():
    net = SpikingCNN(8, (1, 1), (2,), 2)
    with torch.no_grad():
        net.convs[1].weight.fill_(1.0)
    fan = net.fanouts()[0][0]  # [8, 8]: each pooled pixel's taps onto the 4x4 map of conv1
    pooled = fan[::2, ::2]
    np.testing.assert_array_equal(pooled.numpy(), [[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]])
    assert (fan[0:2, 0:2] == 4).all()  # the window's four neurons share their pooled pixel's synapses


def test_unrolled_network_is_the_same_network(images, converted):
    from spikejet.snn.engine import simulate_fast

    _, net = converted
    dense = unrolled_network(net)
    r = evaluate_spiking_cnn(net, images, T)
    sim = simulate_fast(dense, images.reshape(len(images), -1), T)
    np.testing.assert_allclose(sim.scores, r.logits, rtol=0, atol=1e-5)


def test_nir_round_trip_gives_identical_scores(images, converted, tmp_path):
    import nir

    from spikejet.interop.nir import cnn_from_nir, cnn_to_nir, from_nir, read_cnn_nir, write_nir
    from spikejet.snn.engine import simulate_fast

    q, net = converted
    net = SpikingCNN.from_qcfs(q, reset="zero")  # NIR's IF resets to v_reset: exact
    r = evaluate_spiking_cnn(net, images, T)
    graph = cnn_to_nir(net, class_names=("a", "b", "c"))
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert {"Conv2d", "IF", "SumPool2d", "Flatten", "Affine"} <= kinds
    path = write_nir(tmp_path / "cnn.nir", graph)
    back = read_cnn_nir(path)
    rb = evaluate_spiking_cnn(back, images, T)
    np.testing.assert_array_equal(rb.logits, r.logits)
    np.testing.assert_array_equal(rb.synops, r.synops)
    # the generic reader unrolls the convolutions and folds the pooling: the same scores
    dense = from_nir(nir.read(path))
    np.testing.assert_allclose(simulate_fast(dense, images.reshape(len(images), -1), T).scores, r.logits,
                               rtol=0, atol=1e-5)
    # AvgPool2d instead of SumPool2d, with the next layer's weights x4: the same network
    nodes = dict(graph.nodes)
    for k in [k for k in nodes if k.endswith("_pool")]:
        nodes[k] = nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    nodes["conv1_conv"] = nir.Conv2d(input_shape=(4, 4), weight=nodes["conv1_conv"].weight * 4, stride=1, padding=1,
                                     dilation=1, groups=1, bias=nodes["conv1_conv"].bias)
    nodes["dense0_affine"] = nir.Affine(weight=nodes["dense0_affine"].weight * 4, bias=nodes["dense0_affine"].bias)
    avg = nir.NIRGraph(nodes=nodes, edges=graph.edges, metadata=graph.metadata)
    np.testing.assert_allclose(evaluate_spiking_cnn(cnn_from_nir(avg), images, T).logits, r.logits, atol=1e-5)


def test_nir_keeps_reset_by_subtraction_unless_a_change_is_allowed(converted):
    """Reset by subtraction is written exactly (I -> Threshold with a Scale loop, tests/test_nir_cnn.py);
    allow_reset_change still writes the reset-to-zero IF graph and records the change."""
    from spikejet.interop.nir import cnn_to_nir

    _, net = converted
    g = cnn_to_nir(net)
    assert g.metadata["semantic_changes"] == "none"
    assert {"I", "Threshold", "Scale"} <= {type(n).__name__ for n in g.nodes.values()}
    g = cnn_to_nir(net, allow_reset_change=True)
    assert "reset subtract -> zero" in g.metadata["semantic_changes"]
    assert "Scale" not in {type(n).__name__ for n in g.nodes.values()}


def test_loihi_integer_model_agrees_with_the_float_network(images, converted):
    from spikejet.hardware.loihi.evaluate import evaluate_on_loihi

    q, _ = converted
    net = SpikingCNN.from_qcfs(q, reset="zero")
    dense = unrolled_network(net)
    X = images.reshape(len(images), -1)
    y = evaluate_spiking_cnn(net, images, T).logits.argmax(1)  # the float network's own classes
    ev = evaluate_on_loihi(dense, X, y, timesteps=T, profile="loihi2", first_layer_offchip=False, curve=False,
                           input_clip=16.0)
    assert ev.extra["float_accuracy"] == 1.0  # the unrolled float reference is the conv network
    assert ev.extra["agreement_with_float"] >= 0.8
    res = ev.extra["resources"]
    assert res["compartments"] == sum(int(np.prod(s)) for s in net.neuron_shapes())


def test_surrogate_finetuning_trains_the_spiking_network_itself(rng, one_torch_thread):
    """BPTT through the IF steps with the surrogate derivative: the weights move, the spiking network
    (hard spikes) fits a separable task better than converted, the forward values in training mode
    are the plain network's, and the surrogate is off again after it."""
    from spikejet.ann.particle import ParticleTraining

    y = rng.integers(0, 3, 240)
    x = (rng.exponential(0.3, (240, 8, 8)) * (rng.random((240, 8, 8)) < 0.2)).astype(np.float32)
    for c in range(3):  # each class lights its own 2x2 block
        x[y == c, 2 * c:2 * c + 2, 2:4] += 1.5
    torch.manual_seed(0)
    net = SpikingCNN.from_qcfs(qcfs_cnn(JetCNN(8, channels=(4, 4), dense=6, n_classes=3), x, levels=T),
                               reset="subtract")
    before = [p.detach().clone() for p in net.parameters()]
    acc0 = float((evaluate_spiking_cnn(net, x, T).logits.argmax(1) == y).mean())
    with torch.no_grad():
        net.surrogate = ("fast_sigmoid", 5.0)
        trained = net.train()(torch.as_tensor(x[:20]), T)[0]
        net.surrogate = None
        assert torch.equal(trained, net.eval()(torch.as_tensor(x[:20]), T)[0])
    hist = surrogate_finetune(net, x[:200], y[:200], x[200:], y[200:], T,
                              ParticleTraining(epochs=8, learning_rate=1e-2, batch_size=32, patience=8, seed=0))
    assert net.surrogate is None and not net.training and hist.epochs >= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    acc1 = float((evaluate_spiking_cnn(net, x, T).logits.argmax(1) == y).mean())
    assert acc1 > acc0 and acc1 > 0.8


def test_surrogate_epochs_zero_is_the_converted_network(tmp_path, one_torch_thread):
    """``snn_image.surrogate_epochs: 0``: the stage's network is the conversion's, and says so."""
    from dataclasses import replace

    from spikejet.config import resolve_config
    from spikejet.run.runner import run

    cfg = resolve_config({}, quick=True)  # quick's values come last: replace the one after it
    cfg = replace(cfg, sections={**cfg.sections, "snn_image": replace(cfg.snn_image, surrogate_epochs=0)})
    run(cfg, tmp_path / "r", progress=False, stages=["snn_image"])
    s = json.loads((tmp_path / "r" / "metrics.json").read_text())["snn_image"]
    assert s["method"] == "qcfs" and "converted_accuracy" not in s and "surrogate_epochs" not in s


def test_bad_config_values_give_one_line():
    from spikejet.config import resolve_config

    for values, key in (({"snn_image": {"timesteps": 0}}, "snn_image.timesteps"),
                        ({"snn_image": {"reset": "half"}}, "snn_image.reset"),
                        ({"cnn_image": {"image_size": 10}}, "cnn_image.image_size"),
                        ({"cnn_image": {"channels": []}}, "cnn_image.channels"),
                        ({"cnn_image": {"max_train_jets": 5}}, "cnn_image.max_train_jets"),
                        ({"snn_image": {"surrogate_epochs": -1}}, "snn_image.surrogate_epochs"),
                        ({"snn_image": {"surrogate_learning_rate": 0}}, "snn_image.surrogate_learning_rate"),
                        ({"snn_image": {"surrogate_max_train_jets": 5}}, "snn_image.surrogate_max_train_jets"),
                        ({"snn_image": {"surrogate": "relu"}}, "snn_image.surrogate"),
                        ({"snn_image": {"slope": -1}}, "snn_image.slope")):
        with pytest.raises(ConfigError) as err:
            resolve_config(values)
        assert key in str(err.value) and "\n" not in str(err.value)


def test_image_stages_in_a_quick_run(tmp_path, one_torch_thread):
    """cnn_image and snn_image through the runner in quick mode: keys, NIR check, same bytes twice."""
    from spikejet.config import resolve_config
    from spikejet.run.runner import run

    cfg = resolve_config({}, quick=True)
    out = tmp_path / "run"
    run(cfg, out, progress=False, stages=["snn_image", "report"])  # load, split and cnn_image come with it
    m = json.loads((out / "metrics.json").read_text())
    for key in ("accuracy", "auc", "rejection", "macs"):
        assert key in m["cnn_image"]
    s = m["snn_image"]
    for key in ("accuracy", "auc", "rejection", "timesteps", "synops_per_inference", "loihi_accuracy",
                "nir_accuracy", "resources", "energy_per_inference_j"):
        assert key in s
    assert s["timesteps"] <= 8
    assert s["method"] == "qcfs+surrogate" and s["surrogate_epochs"] == 1 and 0 <= s["converted_accuracy"] <= 1
    # the graph is the evaluated network (reset by subtraction written exactly): read back, the same accuracy
    assert s["nir_accuracy"] == s["nir_source_accuracy"] == s["accuracy"] and s["nir_accuracy_gap"] == 0
    assert s["nir_reset"] == s["reset"]
    assert s["resources"]["synapses_shared"] < s["resources"]["synapses_unrolled"]
    assert (out / "snn_image.nir").is_file()
    html = (out / "report.html").read_text()
    assert "CNN on jet images" in html and "Spiking CNN on jet images" in html
    again = tmp_path / "again"
    run(cfg, again, progress=False, stages=["snn_image"])  # the report adds no metrics
    assert (again / "metrics.json").read_bytes() == (out / "metrics.json").read_bytes()


def test_model_files_score_like_the_run(tmp_path, one_torch_thread):
    """cnn_image.pt and snn_image.pt load through the one model-file format and give the run's test
    scores from the jets' particles (what 'spikejet evaluate' does), and refuse raw features."""
    from spikejet.config import resolve_config
    from spikejet.data import load
    from spikejet.errors import ModelError
    from spikejet.models.file import load_bundle
    from spikejet.run.runner import run

    cfg = resolve_config({"data": {"max_jets": 600}, "cnn_image": {"max_train_jets": 200, "epochs": 1},
                          "snn_image": {"max_train_jets": 200, "qcfs_epochs": 1, "loihi_max_jets": 20}})
    out = tmp_path / "run"
    state = run(cfg, out, progress=False, stages=["snn_image"])
    table = load("default", particles=True).subset(state.data.subset).subset(state.data.split.test)
    for key in ("cnn_image", "snn_image"):
        bundle = load_bundle(out / f"{key}.pt")
        assert bundle.needs_particles and bundle.kind == key
        saved = np.load(out / "predictions" / f"{key}_test.npz")["scores"]
        np.testing.assert_allclose(bundle.predict_table(table), saved, rtol=0, atol=1e-6)
        with pytest.raises(ModelError, match="particles"):
            bundle.predict_proba(table.X)
