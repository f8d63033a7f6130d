"""Spiking model files: save -> load gives identical simulations; bad files fail clearly."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from spikejet.ann.model import MLP
from spikejet.errors import ModelError
from spikejet.models.file import ModelBundle, load_bundle, save_bundle
from spikejet.snn.bundle import SpikingModule, load_network, network_bundle, save_network
from spikejet.snn.encoding import Encoding
from spikejet.snn.network import Layer, SpikingNetwork
from spikejet.snn.neurons import IFParams, LIFParams, SpikingReLUParams
from spikejet.snn.readout import Readout
from spikejet.snn.simulate import simulate

pytestmark = pytest.mark.usefixtures("one_torch_thread")



@pytest.fixture
def net(rng) -> SpikingNetwork:
    layers = (
        Layer(rng.normal(size=(7, 4)), rng.normal(size=7), IFParams(threshold=0.9, v_init=0.45), name="a"),
        Layer(rng.normal(size=(6, 7)), rng.normal(size=6), LIFParams(tau_mem=math.inf, tau_syn=0.003), name="b"),
        Layer(rng.normal(size=(3, 6)), rng.normal(size=3), None, name="out"),
    )
    return SpikingNetwork(
        layers, encoding=Encoding("poisson", scale=1.7), readout=Readout("membrane"),
        class_names=("x", "y", "z"), feature_names=("f0", "f1", "f2", "f3"),
        scaler={"mean": [0.5, 0, 0, 1], "scale": [2, 1, 1, 3]}, meta={"method": "test", "scales": [1.5, 2.5]},
    )


def test_save_load_gives_identical_simulation(tmp_path, rng, net):
    p = save_network(tmp_path / "snn.pt", net, 12)
    back, T, bundle = load_network(p)
    assert T == 12
    assert bundle.kind == "snn_converted"
    assert back.spec_dict() == net.spec_dict()
    X = rng.normal(size=(30, 4)).astype(np.float32)
    a, b = simulate(net, X, 12, seed=5), simulate(back, X, 12, seed=5)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    for la, lb in zip(net.layers, back.layers, strict=True):
        np.testing.assert_array_equal(la.weight, lb.weight)
        np.testing.assert_array_equal(la.bias, lb.bias)


def test_bundle_scores_raw_features_like_the_simulator(tmp_path, rng, net):
    p = save_network(tmp_path / "snn.pt", net, 9, data_class_names=("x", "y", "z"))
    bundle = load_bundle(p)
    assert isinstance(bundle.model, SpikingModule)
    X_raw = rng.normal(size=(25, 4)).astype(np.float32) * 3
    proba = bundle.predict_proba(X_raw)
    res = simulate(net, net.standardize(X_raw), 9, steps=[9])
    np.testing.assert_array_equal(proba.argmax(1), res.predictions_at(9))
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-9)


def test_spiking_relu_network_round_trip(tmp_path, rng):
    p = SpikingReLUParams(amplitude=0.02, max_rate=250.0)
    net = SpikingNetwork(
        (Layer(rng.normal(size=(5, 3)), np.zeros(5), p), Layer(rng.normal(size=(2, 5)), np.zeros(2), p)),
        readout=Readout("filtered", filter="alpha", tau=0.01),
    )
    back, _, _ = load_network(save_network(tmp_path / "r.pt", net, 4))
    assert back.layers[0].neuron == p
    assert back.readout == net.readout
    assert back.scaler is None


def test_load_network_rejects_an_ann(tmp_path):
    ann = ModelBundle(model=MLP((4, 3, 2)), scaler={"mean": [0.0] * 4, "scale": [1.0] * 4},
                      feature_names=("a", "b", "c", "d"), class_names=("p", "q"), data_class_names=("p", "q"))
    save_bundle(tmp_path / "ann.pt", ann)
    with pytest.raises(ModelError, match="not a spiking network"):
        load_network(tmp_path / "ann.pt")


def test_load_network_rejects_garbage(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ModelError):
        load_network(tmp_path / "junk.pt")
    with pytest.raises(ModelError, match="does not exist"):
        load_network(tmp_path / "missing.pt")


def test_tampered_spec_is_rejected(tmp_path, net):
    b = network_bundle(net, 5)
    payload = b.to_dict()
    payload["arch"]["spec"]["layers"][0]["neuron"] = {"kind": "if", "threshold": -1}
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ModelError, match="threshold"):
        load_network(tmp_path / "bad.pt")


def test_save_is_atomic(tmp_path, net, monkeypatch):
    dest = tmp_path / "snn.pt"
    save_network(dest, net, 5)
    before = dest.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(RuntimeError):
        save_network(dest, net, 7)
    assert dest.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["snn.pt"]


def test_equal_contents_give_the_same_bytes_whatever_objects_they_share(tmp_path, net):
    # pickle writes a repeated object once: a rebuilt config (another process) shares other strings
    one, two = "".join(["surro", "gate"]), "".join(["surr", "ogate"])
    assert one == two and one is not two
    shared = dataclasses.replace(net, meta={"method": one, "again": one, "list": [one, one]})
    apart = dataclasses.replace(net, meta={"method": one, "again": two, "list": [two, one]})
    a = save_network(tmp_path / "a.pt", shared, 5).read_bytes()
    b = save_network(tmp_path / "b.pt", apart, 5).read_bytes()
    assert a == b
