"""NeuroBench (an optional peer: ``pip install neurobench==2.3.0``) run on spikejet's models.

NeuroBench measures a model through PyTorch hooks: forward pre-hooks on ``nn.Linear`` layers
(synaptic operations) and forward hooks on activation modules (activation sparsity). The MLP is
already such a model. A :class:`~spikejet.snn.network.SpikingNetwork` is a frozen spec, so
:class:`LayeredSNN` gives it a layer-by-layer torch face: one ``nn.Linear`` per connection (spike
values and the input-event value folded into the weights, so the layers receive 0/+-1 events, as
on the chip), one :class:`StepNeuron` per spiking layer that runs spikejet's own step function
(:func:`spikejet.snn.neurons.step`), the same encoder, synapses and read-out as the simulator,
and the first layer under the ``current`` encoding evaluated once per jet (the simulator's
semantics). Its scores equal :func:`spikejet.snn.simulate.simulate`'s for deterministic encoders
(``current``, ``regular``); ``tests/test_neurobench.py`` checks that and that NeuroBench's
counts equal :mod:`spikejet.evaluate.neurobench`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, ModelError
from ..snn.encoding import encoder_init, encoder_step
from ..snn.network import SpikingNetwork
from ..snn.neurons import init_state, step
from ..snn.readout import readout_init, readout_scores, readout_step
from ..snn.synapse import synapse_init, synapse_step

__all__ = ["NEUROBENCH_VERSION", "StepNeuron", "LayeredSNN", "neurobench_metrics"]

#: The neurobench release this bridge was written and tested against.
NEUROBENCH_VERSION = "2.3.0"


class StepNeuron(nn.Module):
    """Spiking neurons of one layer: ``forward(z)`` runs one step of spikejet's neuron dynamics
    and returns the spikes; the state lives in the module between calls (:meth:`reset`)."""

    def __init__(self, params: Any, n: int) -> None:
        super().__init__()
        self.params, self.n, self.state = params, int(n), None

    def reset(self, batch: int) -> None:
        self.state = init_state((batch, self.n), self.params)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        spikes, self.state = step(z, self.state, self.params)
        return spikes


class LayeredSNN(nn.Module):
    """A spiking network as hookable torch layers; ``forward(X_std)`` runs ``timesteps`` steps and
    returns the read-out scores ``[n, classes]``."""

    def __init__(self, net: SpikingNetwork, timesteps: int, *, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(net, SpikingNetwork):
            raise ModelError(f"expected a SpikingNetwork, got {type(net).__name__}")
        if int(timesteps) < 1:
            raise ConfigError(f"timesteps must be >= 1, got {timesteps}")
        self.net, self.timesteps, self.seed = net, int(timesteps), int(seed)
        self.linears = nn.ModuleList()
        self.synapse_biases = nn.ParameterDict()  # a layer with a synapse adds its bias after the filter
        self.neurons = nn.ModuleList()
        value = net.encoding.scale if net.encoding.spiking else 1.0
        for li, ly in enumerate(net.layers):
            lin = nn.Linear(ly.n_in, ly.n_out, bias=ly.synapse is None)
            lin.weight.data = torch.from_numpy(np.array(ly.weight, dtype=np.float32)) * value
            bias = torch.from_numpy(np.array(ly.bias, dtype=np.float32))
            if ly.synapse is None:  # z = addmm(b, u, W^T): the simulator's own operation
                lin.bias.data = bias
            else:
                self.synapse_biases[str(li)] = nn.Parameter(bias)
            self.linears.append(lin)
            if ly.neuron is not None:
                self.neurons.append(StepNeuron(ly.neuron, ly.n_out))
            value = ly.neuron.spike_value if ly.neuron is not None else 1.0
        self.requires_grad_(False)

    def _drive(self, li: int, u: torch.Tensor, syns: list) -> torch.Tensor:
        ly = self.net.layers[li]
        if ly.synapse is None:
            return self.linears[li](u)
        c, syns[li] = synapse_step(self.linears[li](u), syns[li], ly.synapse, self.net.dt)
        return c + self.synapse_biases[str(li)]

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net, B = self.net, x.shape[0]
        enc, gen = encoder_init(x.to(torch.float32), net.encoding), torch.Generator().manual_seed(self.seed)
        for nrn in self.neurons:
            nrn.reset(B)
        syns = [synapse_init((B, ly.n_out)) if ly.synapse is not None else None for ly in net.layers]
        ro = readout_init((B, net.n_outputs), net.readout)
        out = net.layers[-1]
        out_value = out.neuron.spike_value if out.spiking and net.readout.kind == "filtered" else 1.0
        x0 = None if net.encoding.spiking else self.linears[0](enc.x)  # the current: once per jet (+ b0)
        for _ in range(self.timesteps):
            if x0 is None:
                events, enc = encoder_step(enc, net.encoding, gen)
                z = self._drive(0, events / net.encoding.scale, syns)  # +-1 events; value in weights
            elif net.layers[0].synapse is not None:
                c, syns[0] = synapse_step(x0, syns[0], net.layers[0].synapse, net.dt)
                z = c + self.synapse_biases["0"]
            else:
                z = x0
            sig = self._step_layers(z, syns)
            ro = readout_step(sig * out_value if out_value != 1.0 else sig, ro, net.readout, net.dt)
        return readout_scores(ro, net.readout)

    def _step_layers(self, z: torch.Tensor, syns: list) -> torch.Tensor:
        k, sig = 0, z
        for li, ly in enumerate(self.net.layers):
            if li:
                z = self._drive(li, sig, syns)
            if ly.neuron is None:
                return z
            sig = self.neurons[k](z)
            k += 1
        return sig


def _import_neurobench():
    try:
        from neurobench.benchmarks import Benchmark
        from neurobench.metrics.static import ConnectionSparsity, Footprint
        from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
        from neurobench.models import TorchModel
    except ImportError:
        raise ConfigError(f"neurobench is not installed; pip install neurobench=={NEUROBENCH_VERSION} "
                          "(with the torch constraint)") from None
    return Benchmark, TorchModel, (Footprint, ConnectionSparsity), (ActivationSparsity, SynapticOperations)


def neurobench_metrics(model: nn.Module, X: np.ndarray, y: np.ndarray | None = None, *,
                       batch_size: int = 4096) -> dict[str, Any]:
    """NeuroBench's footprint, connection sparsity, activation sparsity and synaptic operations of
    ``model`` (the MLP, or a :class:`LayeredSNN`) on standardized ``X``, as spikejet's keys."""
    Benchmark, TorchModel, static, workload = _import_neurobench()
    from torch.utils.data import DataLoader, TensorDataset

    Xt = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32))
    yt = torch.zeros(Xt.shape[0], dtype=torch.long) if y is None else torch.as_tensor(np.asarray(y))
    wrapped = TorchModel(model)
    wrapped.add_activation_module(StepNeuron)
    loader = DataLoader(TensorDataset(Xt, yt), batch_size=int(batch_size), shuffle=False)
    res = Benchmark(wrapped, loader, [], [], [list(static), list(workload)]).run(quiet=True)
    ops = res["SynapticOperations"]
    return {
        "footprint_bytes": int(res["Footprint"]),
        "connection_sparsity": float(res["ConnectionSparsity"]),
        "activation_sparsity": float(res["ActivationSparsity"]),
        "synops": {"effective_macs": float(ops["Effective_MACs"]), "effective_acs": float(ops["Effective_ACs"]),
                   "dense": float(ops["Dense"])},
    }
