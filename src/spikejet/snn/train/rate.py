"""The rate method (the 2019 study's Nengo-DL method): train with the neurons' analytic rates,
evaluate the same weights with spikes.

Train an MLP whose activation is each neuron's analytic rate function times its spike value
(differentiable), with an optional firing-rate band penalty; evaluate the same weights with
spiking neurons. The study's neurons are Nengo's spiking rectified linear units (rate
``max_rate * max(x, 0)`` Hz, spikes of value ``amplitude / dt``; the negative part of the input
is clipped at every step), the first layer runs off-chip (constant current), and the evaluation
adds an exponential synapse ``tau`` on every connection (:func:`rate_evaluation_network`: the
synapses are part of the network spec, and :func:`spikejet.snn.simulate.simulate` runs it).
Integrate-and-fire neurons (rate ``clip(x / theta, 0, 1)`` per step) are the other choice.

Settings come from the ``snn_rate`` config section (:class:`SnnRateConfig`): calling
:func:`train_rate` with a section gives what the ``snn_rate`` stage computes with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...ann.train import as_xy_tensors
from ...config.sections import SnnRateConfig
from ...errors import ConfigError, DataError, ModelError
from ..encoding import Encoding
from ..network import Layer, SpikingNetwork
from ..neurons import DEFAULT_DT, IFParams, NeuronParams, SpikingReLUParams
from ..readout import Readout
from ..synapse import Synapse
from .fit import FitOptions, Plateau, TrainHistory, fit

__all__ = [
    "RATE_NEURONS",
    "RateActivation",
    "rate_neuron",
    "rate_mlp",
    "rate_network",
    "rate_evaluation_network",
    "band_penalty",
    "train_rate",
    "rate_activations_hz",
]

#: Neurons the rate method trains (their rate function is differentiable almost everywhere).
RATE_NEURONS: tuple[str, ...] = ("spiking_relu", "if")
#: Time constant of the study's synaptic filter (s): the filtered variant when the section has none.
STUDY_SYNAPSE_TAU = 0.005

_xy = as_xy_tensors  # the ANN trainer's validation of (X, y)


def rate_neuron(cfg: SnnRateConfig) -> NeuronParams:
    """The hidden neurons of the section: the study's spiking ReLU, or IF (reset by subtraction,
    membranes starting at half the threshold)."""
    if cfg.neuron == "spiking_relu":
        return SpikingReLUParams(amplitude=cfg.amplitude, max_rate=cfg.max_rate, dt=cfg.dt)
    return IFParams(threshold=1.0, reset="subtract", v_init=0.5)


class RateActivation(nn.Module):
    """A neuron's analytic rate (spikes per step) times its spike value: the activation in
    the units the next layer receives.

    spiking ReLU: ``max(x, 0) * max_rate * amplitude``; IF (reset by subtraction):
    ``clip(x / threshold, 0, 1)``.
    """

    def __init__(self, neuron: NeuronParams) -> None:
        super().__init__()
        if isinstance(neuron, SpikingReLUParams):
            self.kind = "spiking_relu"
            self.gain = float(neuron.gain)
            self.value = float(neuron.spike_value)
        elif isinstance(neuron, IFParams) and neuron.reset == "subtract":
            self.kind = "if"
            self.gain = 1.0 / float(neuron.threshold)
            self.value = 1.0
        else:
            raise ConfigError(
                f"the rate method trains spiking ReLU or IF (reset by subtraction) neurons, not {neuron!r}; "
                "use the surrogate method for LIF"
            )
        self.neuron = neuron

    def rate(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes per step."""
        if self.kind == "spiking_relu":
            return torch.relu(x) * self.gain
        return torch.clamp(x * self.gain, 0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rate(x) * self.value


def rate_mlp(sizes: Sequence[int], neuron: NeuronParams) -> nn.Module:
    """An :class:`~spikejet.ann.model.MLP` whose hidden activations are :class:`RateActivation`."""
    from ...ann.model import MLP

    return MLP(tuple(sizes), activation=lambda: RateActivation(neuron))


def rate_network(
    model: nn.Module,
    neuron: NeuronParams,
    *,
    readout: Readout | None = None,
    synapse: Synapse | None = None,
    dt: float = DEFAULT_DT,
    class_names: Sequence[str] = (),
    feature_names: Sequence[str] = (),
    scaler: dict | None = None,
    meta: Mapping[str, Any] | None = None,
) -> SpikingNetwork:
    """The spiking twin of a rate-trained MLP: the same weights, spiking hidden layers,
    a non-spiking output layer, the first layer as a constant current (off-chip); ``synapse`` on
    every connection (the study's evaluation with Nengo synapses), or none."""
    lins = list(getattr(model, "linears", ()))
    if not lins or not all(isinstance(m, nn.Linear) for m in lins):
        raise ModelError(f"expected a rate MLP with dense layers in .linears, got {type(model).__name__}")
    layers = [(lin.weight.detach().numpy().astype(np.float32), lin.bias.detach().numpy().astype(np.float32))
              for lin in lins]
    spec = tuple(
        Layer(w, b, neuron if i < len(layers) - 1 else None, name=f"fc{i}", synapse=synapse)
        for i, (w, b) in enumerate(layers)
    )
    return SpikingNetwork(
        spec,
        encoding=Encoding("current"),
        readout=readout or Readout("membrane"),
        dt=dt,
        class_names=tuple(class_names),
        feature_names=tuple(feature_names),
        scaler=scaler,
        meta=dict(meta or {}),
    )


def rate_evaluation_network(net: SpikingNetwork, synapse_tau: float | None, readout: str) -> SpikingNetwork:
    """``net`` as the rate stage evaluates it: a synapse of ``synapse_tau`` seconds on every
    connection (``None``: an instantaneous one, i.e. no filter with the bias added after the
    current, Nengo's order) and the read-out ``readout`` (``last`` or ``mean``)."""
    return net.with_synapses(Synapse(0.0 if synapse_tau is None else synapse_tau)).replace(readout=Readout(readout))


def band_penalty(rates_hz: torch.Tensor, band: tuple[float, float]) -> torch.Tensor:
    """Squared distance of each neuron's mean rate (over the batch) from the band ``[lo, hi]`` Hz,
    in units of ``hi``, averaged over neurons. ``rates_hz``: ``[B, n]``."""
    lo, hi = band
    r = rates_hz.mean(0)
    return ((F.relu(lo - r) ** 2 + F.relu(r - hi) ** 2) / hi**2).mean()


def _hidden_rates(model: nn.Module, x: torch.Tensor, dt: float) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits and each hidden layer's rates (Hz) of a rate MLP."""
    rates = []
    h = x
    n = len(model.linears)
    for i, lin in enumerate(model.linears):
        h = lin(h)
        if i < n - 1:
            act = model.activations[i]
            r = act.rate(h)
            rates.append(r / dt)
            h = r * act.value
    return h, rates


@torch.no_grad()
def rate_activations_hz(model: nn.Module, X: np.ndarray, dt: float = DEFAULT_DT) -> list[np.ndarray]:
    """Per hidden layer, the analytic rate (Hz) of every neuron for every jet ``[n, n_l]``."""
    model.eval()
    _, rates = _hidden_rates(model, torch.as_tensor(np.asarray(X, dtype=np.float32)), dt)
    return [r.numpy() for r in rates]


def train_rate(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    cfg: SnnRateConfig | None = None,
    *,
    sizes: Sequence[int],
    init: nn.Module | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[nn.Module, TrainHistory]:
    """Train a rate MLP (:func:`rate_mlp`) of the section's neurons (:func:`rate_neuron`) with cross
    entropy plus ``cfg.rate_weight`` times the :func:`band_penalty` of every hidden layer
    (``cfg.rate_band_hz``; empty: none), ``cfg.epochs``/``learning_rate``/``batch_size``/``patience``.
    ``init``: an MLP of the same sizes whose weights start the training (``None``: seeded random
    initialization; the section's ``init`` is the stage's business). Returns the model with the
    best-validation weights and its history."""
    cfg = cfg or SnnRateConfig()
    neuron = rate_neuron(cfg)
    rate_band_hz = tuple(cfg.rate_band_hz) or None
    rate_weight, dt = cfg.rate_weight, cfg.dt
    Xt, yt = _xy(X_train, y_train, "training set")
    Xv, yv = _xy(X_val, y_val, "validation set")
    sizes = tuple(int(s) for s in sizes)
    if Xt.shape[1] != sizes[0]:
        raise DataError(f"the network takes {sizes[0]} features, the data have {Xt.shape[1]}")
    if int(max(yt.max(), yv.max())) >= sizes[-1]:
        raise DataError(f"labels go up to {int(max(yt.max(), yv.max()))} but the network has {sizes[-1]} outputs")
    if rate_band_hz is not None:
        lo, hi = (float(v) for v in rate_band_hz)
        if not (0 <= lo < hi and math.isfinite(hi)):
            raise ConfigError(f"rate band must be [low, high] Hz with 0 <= low < high, got {rate_band_hz}")
    torch.manual_seed(int(seed))
    model = rate_mlp(sizes, neuron)
    if init is not None:
        src = list(init.linears)
        if [tuple(lin.weight.shape) for lin in src] != [tuple(lin.weight.shape) for lin in model.linears]:
            raise ModelError("the initial network's layer sizes differ from the rate network's")
        with torch.no_grad():
            for dst, s in zip(model.linears, src, strict=True):
                dst.load_state_dict(s.state_dict())
    use_band = rate_band_hz is not None and rate_weight > 0

    def batch_loss(idx):
        logits, rates = _hidden_rates(model, Xt[idx], dt)
        ce = F.cross_entropy(logits, yt[idx])
        obj = ce
        if use_band:
            obj = ce + rate_weight * sum(band_penalty(r, rate_band_hz) for r in rates) / len(rates)
        return obj, ce

    def val_score():
        with torch.no_grad():
            logits, rates = _hidden_rates(model, Xv, dt)
            ce = F.cross_entropy(logits, yv)
            obj = ce
            if use_band:
                obj = ce + rate_weight * sum(band_penalty(r, rate_band_hz) for r in rates) / len(rates)
            return float(obj), float(ce), float((logits.argmax(1) == yv).double().mean())

    desc = "train SNN (rate)"
    opts = FitOptions(epochs=cfg.epochs, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size,
                      patience=cfg.patience, seed=seed, min_delta=1e-5, schedule=Plateau(0.5, 3, 1e-6),
                      desc=desc, diverged=f"{desc}: training diverged (validation loss is not finite); "
                                          "lower the learning rate", progress=progress)
    return model, fit(model, list(model.parameters()), batch_loss, val_score, Xt.shape[0], opts)
