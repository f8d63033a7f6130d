"""NeuroBench's four metrics: spikejet's own implementation by hand, and against neurobench 2.3.0."""

from __future__ import annotations

import numpy as np
import pytest

from spikejet.errors import ConfigError
from spikejet.evaluate.neurobench import (
    ann_metrics,
    connection_sparsity,
    footprint_bytes,
    snn_metrics,
    snn_metrics_from_result,
)
from spikejet.snn import neurons as N
from spikejet.snn.encoding import Encoding
from spikejet.snn.network import Layer, SpikingNetwork
from spikejet.snn.readout import Readout
from spikejet.snn.simulate import simulate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZES = (16, 64, 32, 32, 5)
T = 8


def make_net(rng, neuron, encoding: Encoding, *, zero_fraction: float = 0.2, sizes=SIZES) -> SpikingNetwork:
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = rng.normal(0.0, 0.5, size=(b, a)).astype(np.float32)
        w[rng.random(w.shape) < zero_fraction] = 0.0  # pruned connections: fan-out < layer width
        bias = rng.normal(0.05, 0.1, size=b).astype(np.float32)
        layers.append(Layer(w, bias, neuron if i < len(sizes) - 2 else None, name=f"fc{i}"))
    return SpikingNetwork(tuple(layers), encoding=encoding, readout=Readout("membrane"))


@pytest.fixture
def features(rng) -> np.ndarray:
    return rng.normal(size=(300, 16)).astype(np.float32)


@pytest.fixture
def mlp():
    import torch

    from spikejet.ann.model import MLP

    torch.manual_seed(3)
    return MLP(SIZES).eval()


# ------------------------------------------------------------------------ own, by hand


def test_footprint_and_connection_sparsity_by_hand(rng, mlp) -> None:
    params = 16 * 64 + 64 + 64 * 32 + 32 + 32 * 32 + 32 + 32 * 5 + 5
    assert params == 4389
    assert footprint_bytes(mlp) == 4 * params == 17556
    net = make_net(rng, N.IFParams(), Encoding(), zero_fraction=0.0)
    assert footprint_bytes(net) == 17556
    assert connection_sparsity([np.array([[0.0, 1.0], [2.0, 0.0]]), np.array([[0.0, 3.0]])]) == 3 / 6
    with pytest.raises(ConfigError):
        connection_sparsity([np.zeros((0, 3))])


def test_ann_metrics_by_hand() -> None:
    import torch

    from spikejet.ann.model import MLP

    m = MLP((2, 2, 1))
    with torch.no_grad():
        m.linears[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 1.0]]))
        m.linears[0].bias.zero_()
        m.linears[1].weight.copy_(torch.tensor([[1.0, 1.0]]))
        m.linears[1].bias.zero_()
    X = np.array([[1.0, 0.0], [2.0, 3.0]], np.float32)
    out = ann_metrics(m, X)
    # jet 1: x = (1, 0): one non-zero input x fan-out 2 = 2 MACs; hidden relu(1, -1) = (1, 0): 1 MAC
    # jet 2: x = (2, 3): 2 + 1 = 3 MACs; hidden relu(2, 1) = (2, 1): 2 MACs -> (3 + 5) / 2 = 4
    assert out["synops"] == {"effective_macs": 4.0, "effective_acs": 0.0, "dense": 6.0}
    assert out["activation_sparsity"] == 1 / 4
    assert out["connection_sparsity"] == 1 / 6
    assert out["footprint_bytes"] == 4 * (4 + 2 + 2 + 1)


def test_snn_metrics_by_hand() -> None:
    # 1 input -> 2 IF neurons -> 1 output; input current 0.5 per step: each neuron fires every other step
    net = SpikingNetwork((Layer(np.array([[1.0], [0.5]], np.float32), np.array([0.0, 0.25], np.float32),
                                N.IFParams(threshold=1.0)),
                          Layer(np.array([[1.0, 0.0]], np.float32), np.zeros(1, np.float32), None)))
    X = np.array([[0.5]], np.float32)
    out = snn_metrics(net, X, 4)
    # neuron 0: v = 0.5, 1.0 (spike), 0.5, 1.0 (spike); neuron 1 same drive 0.25 + 0.25: 2 spikes
    # synops: neuron 0 has fan-out 1, neuron 1 fan-out 0 -> 2 ACs; first layer: 1 input x 2 = 2 MACs once
    assert out["synops"] == {"effective_macs": 2.0, "effective_acs": 2.0, "dense": 2.0 + 4 * 2.0}
    assert out["activation_sparsity"] == 1.0 - 4 / (2 * 4)
    assert out["timesteps"] == 4


def test_snn_acs_are_spikejets_synops(rng, features) -> None:
    net = make_net(rng, N.IFParams(), Encoding("regular", scale=2.0))
    res = simulate(net, features, T)
    out = snn_metrics_from_result(net, res)
    assert out["synops"]["effective_acs"] == pytest.approx(res.op_counts()["synops"], rel=1e-12)
    assert out["synops"]["effective_macs"] == 0.0  # input events: accumulates only
    with pytest.raises(ConfigError):
        snn_metrics_from_result(make_net(rng, N.IFParams(), Encoding()), res)  # current: X needed


# ------------------------------------------------------------------ against neurobench 2.3.0

NETWORKS = {
    "if-current": (N.IFParams(threshold=1.0), Encoding()),
    "if-regular": (N.IFParams(threshold=0.8, reset="zero"), Encoding("regular", scale=2.0)),
    "lif-current": (N.LIFParams(tau_mem=0.02, tau_syn=0.005, threshold=0.5, reset="subtract"), Encoding()),
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_snn_metrics_equal_neurobench(rng, features, name: str) -> None:
    pytest.importorskip("neurobench")
    import torch

    from spikejet.interop.neurobench import LayeredSNN, neurobench_metrics

    neuron, enc = NETWORKS[name]
    net = make_net(rng, neuron, enc)
    res = simulate(net, features, T)
    module = LayeredSNN(net, T)
    # the torch face runs the same network: scores equal up to float32 summation order
    np.testing.assert_allclose(module(torch.from_numpy(features)).numpy(), res.scores, rtol=0, atol=1e-5)
    ours = snn_metrics_from_result(net, res, features)
    theirs = neurobench_metrics(module, features, batch_size=128)  # three batches: accumulation too
    assert theirs["synops"]["effective_acs"] == pytest.approx(res.op_counts()["synops"], rel=1e-12)
    for key in ("effective_macs", "effective_acs", "dense"):
        assert theirs["synops"][key] == pytest.approx(ours["synops"][key], rel=1e-12), key
    assert theirs["footprint_bytes"] == ours["footprint_bytes"]
    assert theirs["connection_sparsity"] == round(ours["connection_sparsity"], 4)  # neurobench rounds
    assert theirs["activation_sparsity"] == pytest.approx(ours["activation_sparsity"], rel=1e-12)


def test_ann_metrics_equal_neurobench(mlp, features) -> None:
    pytest.importorskip("neurobench")
    from spikejet.interop.neurobench import neurobench_metrics

    ours, theirs = ann_metrics(mlp, features), neurobench_metrics(mlp, features, batch_size=128)
    for key in ("effective_macs", "effective_acs", "dense"):
        assert theirs["synops"][key] == pytest.approx(ours["synops"][key], rel=1e-12), key
    assert theirs["synops"]["dense"] == 4256.0
    assert theirs["footprint_bytes"] == ours["footprint_bytes"] == 17556
    assert theirs["connection_sparsity"] == round(ours["connection_sparsity"], 4)
    assert theirs["activation_sparsity"] == pytest.approx(ours["activation_sparsity"], rel=1e-12)
