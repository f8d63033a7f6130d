"""Colour jet images (issue 13): channels by hand, the 1-channel image unchanged, C-channel CNNs through
conversion, the unrolled (Loihi) network, NIR and model files, old 1-channel files still scoring."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spikejet.ann.particle import JetCNN, build_jet_cnn
from spikejet.data import JetTable
from spikejet.data.particles import image_inputs, jet_image_arrays, jet_images, recipe_images
from spikejet.data.schema import PARTICLE_FIELDS
from spikejet.errors import ConfigError, DataError
from spikejet.snn.image import SpikingCNN, build, evaluate_spiking_cnn, qcfs_cnn, unrolled_network

T = 8
COLOUR = ("charged_pt", "neutral_pt", "charged_count")


def _by_hand_jet():
    """A charged pT-3 particle at (-0.6, -0.6), a neutral pT-1 at (0.2, 0.2), a charged pT-4 at (0.25, 0.3),
    a charged pT-2 at (0.9, 0) outside the +-0.8 window."""
    eta = np.array([[-0.6, 0.2, 0.25, 0.9]])
    phi = np.array([[-0.6, 0.2, 0.3, 0.0]])
    pt = np.array([[3.0, 1.0, 4.0, 2.0]])
    charge = np.array([[1.0, 0.0, -1.0, 1.0]])
    return eta, phi, pt, np.ones((1, 4), bool), charge


def test_channels_by_hand():
    eta, phi, pt, mask, charge = _by_hand_jet()
    names = ("pt", "charged_pt", "neutral_pt", "count", "charged_count", "neutral_count")
    # no preprocessing, 4 pixels of 0.4 over +-0.8: (-0.6, -0.6) -> pixel [0, 0]; (0.2, 0.2) and (0.25, 0.3)
    # -> pixel [2, 2] (row = phi, column = eta); the particle at eta 0.9 falls off
    img = jet_image_arrays(eta, phi, pt, mask, size=4, radius=0.8, center="axis", rotate=False, flip=False,
                           channels=names, charge=charge)[0]
    assert img.shape == (6, 4, 4)
    expected = {  # pT channels over the window's total pT (3 + 1 + 4 = 8), counts as counts
        "pt": {(0, 0): 3 / 8, (2, 2): 5 / 8}, "charged_pt": {(0, 0): 3 / 8, (2, 2): 4 / 8},
        "neutral_pt": {(2, 2): 1 / 8}, "count": {(0, 0): 1, (2, 2): 2}, "charged_count": {(0, 0): 1, (2, 2): 1},
        "neutral_count": {(2, 2): 1},
    }
    for k, name in enumerate(names):
        want = np.zeros((4, 4), np.float32)
        for (r, c), v in expected[name].items():
            want[r, c] = v
        np.testing.assert_allclose(img[k], want, rtol=1e-6, atol=0, err_msg=name)
    # the network input: pT channels x size, counts unscaled
    table = JetTable(np.zeros((1, 16), np.float32), np.zeros(1, int), particle_mask=mask,
                     particles=np.stack([pt, eta, phi, pt, charge, np.full_like(pt, 211)], -1).astype(np.float32),
                     particle_fields=PARTICLE_FIELDS)
    x = image_inputs(table, size=4, radius=0.8, n_particles=4, channels=COLOUR)
    ref = jet_images(table, size=4, radius=0.8, channels=COLOUR)
    np.testing.assert_array_equal(x[:, :2], ref[:, :2] * np.float32(4))
    np.testing.assert_array_equal(x[:, 2], ref[:, 2])


@pytest.fixture
def table(rng) -> JetTable:
    n, p = 12, 7
    mask = np.arange(p)[None, :] < rng.integers(2, p + 1, n)[:, None]
    parts = np.zeros((n, p, len(PARTICLE_FIELDS)), np.float32)
    parts[..., 0] = np.sort(rng.exponential(40.0, (n, p)), 1)[:, ::-1] + 1.0
    parts[..., 1:3] = rng.normal(0, 0.15, (n, p, 2))
    parts[..., 3] = parts[..., 0] * 1.2
    parts[..., 4] = rng.integers(-1, 2, (n, p))
    parts[..., 5] = 211
    parts[~mask] = 0.0
    return JetTable(rng.normal(size=(n, 16)).astype(np.float32), np.arange(n) % 5, particles=parts,
                    particle_mask=mask, particle_fields=PARTICLE_FIELDS)


def test_channels_share_one_geometry_and_pt_is_todays_image(table):
    """With centring, rotation and flip: charged + neutral pT = the pT image, the counts sit on its pixels;
    the 1-channel recipe (and a recipe without channels, as old model files have) is today's image x size."""
    img = jet_images(table, size=8, radius=0.4, channels=("pt", "charged_pt", "neutral_pt", "count"))
    np.testing.assert_allclose(img[:, 1] + img[:, 2], img[:, 0], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(img[:, 3] > 0, img[:, 0] > 0)
    today = jet_images(table, size=8, radius=0.4)
    assert today.shape == (12, 8, 8)
    np.testing.assert_array_equal(img[:, 0], today)
    old_recipe = {"size": 8, "radius": 0.4, "n_particles": 7}
    np.testing.assert_array_equal(recipe_images(table, old_recipe)[:, 0], today * np.float32(8))
    np.testing.assert_array_equal(recipe_images(table, {**old_recipe, "channels": ["pt"]}),
                                  recipe_images(table, old_recipe))


def test_bad_channels_are_one_line(table):
    from spikejet.config import resolve_config

    with pytest.raises(DataError, match="unknown image channel 'colour'"):
        jet_images(table, channels=("colour",))
    no_charge = JetTable(table.X, table.y, particles=table.particles[..., :4], particle_mask=table.particle_mask,
                         particle_fields=PARTICLE_FIELDS[:4])
    with pytest.raises(DataError, match="charge"):
        jet_images(no_charge, channels=("charged_pt",))
    assert jet_images(no_charge, channels=("pt", "count")).shape[1] == 2  # no charge needed
    for value in (["colour"], [], ["pt", "pt"], "pt"):
        with pytest.raises(ConfigError) as err:
            resolve_config({"cnn_image": {"image_channels": value}})
        assert "cnn_image.image_channels" in str(err.value) and "\n" not in str(err.value)


@pytest.fixture
def colour_images(rng):
    """Sparse 3-channel 8x8 images: two pT-like channels, one count-like channel."""
    lit = rng.random((50, 1, 8, 8)) < 0.2
    x = np.concatenate([rng.exponential(1.0, (50, 2, 8, 8)), rng.integers(1, 4, (50, 1, 8, 8))], 1) * lit
    return x.astype(np.float32)


def test_colour_cnn_converts_unrolls_and_round_trips_through_nir(colour_images, one_torch_thread):
    from spikejet.interop.nir import cnn_from_nir, cnn_to_nir, graph_bytes, graph_from_bytes
    from spikejet.snn.engine import simulate_fast

    torch.manual_seed(0)
    cnn = JetCNN(8, channels=(4, 4), dense=6, n_classes=3, in_channels=3)
    assert cnn.arch()["in_channels"] == 3
    assert cnn.macs() == 8 * 8 * 3 * 4 * 9 + 4 * 4 * 4 * 4 * 9 + 2 * 2 * 4 * 6 + 6 * 3
    with pytest.raises(DataError, match=r"\[n, 3, 8, 8\]"):
        cnn.predict_images(colour_images[:, 0])
    net = SpikingCNN.from_qcfs(qcfs_cnn(cnn, colour_images, levels=T), reset="subtract")
    assert net.in_channels == 3 and net.input_macs() == 8 * 8 * 4 * 3 * 9
    r = evaluate_spiking_cnn(net, colour_images, T)
    assert r.spikes.mean() > 20, "the test network spikes"
    again = build(net.arch())
    again.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(evaluate_spiking_cnn(again, colour_images, T).logits, r.logits)
    dense = unrolled_network(net)
    assert dense.layers[0].weight.shape[1] == 3 * 8 * 8
    sim = simulate_fast(dense, colour_images.reshape(len(colour_images), -1), T)
    np.testing.assert_allclose(sim.scores, r.logits, rtol=0, atol=1e-5)
    graph = cnn_to_nir(net, class_names=("a", "b", "c"))
    np.testing.assert_array_equal(graph.nodes["input"].input_type["input"], [3, 8, 8])
    back = cnn_from_nir(graph_from_bytes(graph_bytes(graph)))
    assert back.in_channels == 3
    rb = evaluate_spiking_cnn(back, colour_images, T)
    np.testing.assert_array_equal(rb.logits, r.logits)
    np.testing.assert_array_equal(rb.synops, r.synops)
    # the graph simulated node by node without spikejet (tests/_nir_reference.py) on [n, 3, 8, 8] inputs
    from _nir_reference import simulate_nir

    ref = simulate_nir(graph_from_bytes(graph_bytes(graph)), {"input": colour_images}, T).mean(0)
    np.testing.assert_allclose(ref, r.logits, rtol=0, atol=1e-4)


def test_old_one_channel_model_files_load_and_score_the_same(table, tmp_path, one_torch_thread):
    """A model file written before colour images (arch without in_channels, image recipe without channels)
    loads and gives the scores of the same model on today's pT images."""
    from spikejet.evaluate.metrics import class_probabilities
    from spikejet.models.file import IMAGE_INPUTS, ModelBundle, load_bundle, save_bundle

    torch.manual_seed(1)
    cnn = JetCNN(8, channels=(2, 2), dense=4, n_classes=5).eval()
    old_arch = {k: v for k, v in cnn.arch().items() if k != "in_channels"}
    rebuilt = build_jet_cnn(old_arch)
    rebuilt.load_state_dict(cnn.state_dict())
    today = jet_images(table, size=8, radius=0.4) * np.float32(8)
    np.testing.assert_array_equal(rebuilt.predict_images(today), cnn.predict_images(today))
    snn = SpikingCNN(8, (2, 2), (4,), 5, reset="subtract")
    old_snn = build({k: v for k, v in snn.arch().items() if k != "in_channels"})
    assert old_snn.in_channels == 1 and old_snn.convs[0].in_channels == 1
    arch = {**old_arch, "inputs": IMAGE_INPUTS, "image": {"size": 8, "radius": 0.4, "n_particles": 7}, "predict": {}}
    scaler = {"mean": [0.0] * 16, "scale": [1.0] * 16}
    bundle = ModelBundle(model=cnn, scaler=scaler, feature_names=table.feature_names, class_names=table.class_names,
                         data_class_names=table.class_names, kind="cnn_image", arch=arch)
    back = load_bundle(save_bundle(tmp_path / "old.pt", bundle))
    assert "in_channels" not in back.arch and "channels" not in back.arch["image"]
    np.testing.assert_array_equal(back.predict_table(table), class_probabilities(cnn.predict_images(today)))


def test_colour_image_stages_in_a_small_run(tmp_path, one_torch_thread):
    """cnn_image and snn_image on 3 colour channels: the model files record the channels and score as the run,
    the NIR graph read back scores as the network, the MACs count the input channels."""
    from spikejet.config import resolve_config
    from spikejet.data import load
    from spikejet.models.file import load_bundle
    from spikejet.run.runner import run

    cfg = resolve_config({"data": {"max_jets": 600},
                          "cnn_image": {"max_train_jets": 200, "epochs": 1, "image_channels": list(COLOUR)},
                          "snn_image": {"max_train_jets": 200, "qcfs_epochs": 1, "loihi_max_jets": 20}})
    out = tmp_path / "run"
    state = run(cfg, out, progress=False, stages=["snn_image"])
    m = json.loads((out / "metrics.json").read_text())
    assert m["cnn_image"]["image_channels"] == list(COLOUR)
    assert m["cnn_image"]["macs"] == JetCNN(16, in_channels=3).macs() > JetCNN(16).macs()
    s = m["snn_image"]
    assert s["nir_accuracy"] == s["nir_source_accuracy"] == s["accuracy"]
    assert s["input_macs_per_inference"] == 16 * 16 * 8 * 3 * 9
    table = load("default", particles=True).subset(state.data.subset).subset(state.data.split.test)
    for key in ("cnn_image", "snn_image"):
        bundle = load_bundle(out / f"{key}.pt")
        assert bundle.arch["image"]["channels"] == list(COLOUR) and bundle.arch["in_channels"] == 3
        saved = np.load(out / "predictions" / f"{key}_test.npz")["scores"]
        np.testing.assert_allclose(bundle.predict_table(table), saved, rtol=0, atol=1e-6)
