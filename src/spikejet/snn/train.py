"""Training spiking networks directly: the rate method and the surrogate-gradient method.

``rate`` (the 2019 study's Nengo-DL method)
    Train an MLP whose activation is each neuron's analytic rate function times
    its spike value (differentiable), with an optional firing-rate band
    penalty; evaluate the same weights with spiking neurons. The study's
    neurons are Nengo's spiking rectified linear units (rate
    ``max_rate * max(x, 0)`` Hz, spikes of value ``amplitude / dt``; the
    negative part of the input is clipped at every step), the first layer runs
    off-chip (constant current), and the evaluation adds an exponential
    synaptic filter ``tau`` on every connection (:func:`simulate_synaptic`).
    Integrate-and-fire neurons (rate ``clip(x / theta, 0, 1)`` per step) are the
    other choice.

``surrogate``
    Backpropagation through time of a :class:`~spikejet.snn.surrogate.SurrogateNet`
    unrolled over T steps (:func:`train_surrogate`), usually started from the
    trained ANN, with a penalty on synaptic operations per jet.

Both produce a :class:`~spikejet.snn.network.SpikingNetwork`. Models with
synaptic filters are saved with the ``"snn_synaptic"`` architecture
(:class:`SynapticModule`, registered here) so that ``spikejet evaluate``
reproduces the stage's numbers; the others with the spiking core's ``"snn"``.

Same seed + same inputs + same settings = the same weights (one torch thread,
seeded initialization and batch order).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..ann.train import TrainHistory, as_xy_tensors
from ..errors import ConfigError, DataError, ModelError
from ..models.file import ModelBundle, register_arch
from .bundle import SpikingModule
from .encoding import Encoding
from .network import Layer, SpikingNetwork, count_ann_macs
from .neurons import DEFAULT_DT, IFParams, NeuronParams, SpikingReLUParams
from .readout import Readout, filter_decay
from .simulate import DEFAULT_BATCH_SIZE, SimResult
from .surrogate import SurrogateNet

__all__ = [
    "RATE_NEURONS",
    "SYNAPTIC_READOUTS",
    "RateActivation",
    "rate_mlp",
    "rate_network",
    "band_penalty",
    "train_rate",
    "rate_activations_hz",
    "simulate_synaptic",
    "SynapticModule",
    "synaptic_bundle",
    "train_surrogate",
    "evaluate_surrogate",
    "SYNAPTIC_ARCH",
]

#: Neurons the rate method trains (their rate function is differentiable almost everywhere).
RATE_NEURONS: tuple[str, ...] = ("spiking_relu", "if")
#: How :func:`simulate_synaptic` turns the output into a class at step t:
#: ``last`` the output of step t (Nengo's probe read at the end, the study's way),
#: ``mean`` the mean output over steps 1..t.
SYNAPTIC_READOUTS: tuple[str, ...] = ("last", "mean")
#: Architecture name of models with synaptic filters in the model-file format.
SYNAPTIC_ARCH = "snn_synaptic"
#: Jets of the validation set scored after every surrogate epoch (bounds the cost).
MAX_VAL_JETS = 10000


_xy = as_xy_tensors  # the ANN trainer's validation of (X, y)


# =========================================================================== rate method


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
    from ..ann.model import MLP

    return MLP(tuple(sizes), activation=lambda: RateActivation(neuron))


def rate_network(
    model: nn.Module,
    neuron: NeuronParams,
    *,
    readout: Readout | None = None,
    dt: float = DEFAULT_DT,
    class_names: Sequence[str] = (),
    feature_names: Sequence[str] = (),
    scaler: dict | None = None,
    meta: Mapping[str, Any] | None = None,
) -> SpikingNetwork:
    """The spiking twin of a rate-trained MLP: the same weights, spiking hidden layers,
    a non-spiking output layer, the first layer as a constant current (off-chip)."""
    lins = list(getattr(model, "linears", ()))
    if not lins or not all(isinstance(m, nn.Linear) for m in lins):
        raise ModelError(f"expected a rate MLP with dense layers in .linears, got {type(model).__name__}")
    layers = [(lin.weight.detach().numpy().astype(np.float32), lin.bias.detach().numpy().astype(np.float32))
              for lin in lins]
    spec = tuple(
        Layer(w, b, neuron if i < len(layers) - 1 else None, name=f"fc{i}") for i, (w, b) in enumerate(layers)
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


def _fit(
    model: nn.Module,
    params: Sequence[nn.Parameter],
    batch_loss: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    val_score: Callable[[], tuple[float, float, float]],
    n: int,
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    patience: int,
    seed: int,
    schedule: str,
    progress: bool,
    desc: str,
) -> TrainHistory:
    """Adam over shuffled mini-batches; keeps the weights of the best validation objective.

    ``batch_loss(rows) -> (objective, cross_entropy)`` for a batch of training rows;
    ``val_score() -> (objective, cross_entropy, accuracy)``. The history's losses are cross
    entropies (comparable between training and validation); the best epoch is the one with
    the lowest validation objective (cross entropy plus penalties).
    ``schedule``: ``"cosine"`` (annealed to 0 over ``epochs``) or ``"plateau"`` (halve after 3 flat epochs).
    """
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam(params, lr=learning_rate)
    if schedule == "cosine":
        sched: Any = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    else:
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=3, min_lr=1e-6)
    hist = TrainHistory()
    best = math.inf
    best_state = copy.deepcopy(model.state_dict())
    wait = 0
    t0 = time.perf_counter()
    bar = tqdm(total=epochs, desc=desc, unit="epoch", disable=not progress, leave=False)
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                obj, ce = batch_loss(idx)
                total += float(ce.detach()) * idx.numel()
                opt.zero_grad(set_to_none=True)
                obj.backward()
                opt.step()
            model.eval()
            vobj, vce, vacc = val_score()
            if not math.isfinite(vobj):
                raise ConfigError(f"{desc}: training diverged (validation loss is not finite); lower the learning rate")
            hist.train_loss.append(total / n)
            hist.val_loss.append(vce)
            hist.val_accuracy.append(vacc)
            hist.learning_rate.append(float(opt.param_groups[0]["lr"]))
            if vobj < best - 1e-5:
                best, wait = vobj, 0
                best_state = copy.deepcopy(model.state_dict())
                hist.best_epoch = epoch
            else:
                wait += 1
            if schedule == "cosine":
                sched.step()
            else:
                sched.step(vobj)
            bar.set_postfix(loss=f"{total / n:.4f}", val=f"{vobj:.4f}", val_acc=f"{vacc:.4f}")
            bar.update(1)
            if wait >= patience:
                hist.stopped_early = True
                break
    finally:
        bar.close()
    model.load_state_dict(best_state)
    model.eval()
    hist.seconds = time.perf_counter() - t0
    return hist


def train_rate(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    sizes: Sequence[int],
    neuron: NeuronParams,
    epochs: int = 60,
    learning_rate: float = 3e-3,
    batch_size: int = 1024,
    patience: int = 8,
    rate_band_hz: tuple[float, float] | None = (100.0, 200.0),
    rate_weight: float = 1e-2,
    dt: float = DEFAULT_DT,
    init: nn.Module | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[nn.Module, TrainHistory]:
    """Train a rate MLP (:func:`rate_mlp`) with cross entropy plus ``rate_weight`` times the
    :func:`band_penalty` of every hidden layer. ``init``: an MLP of the same sizes whose
    weights start the training (``None``: seeded random initialization).
    Returns the model with the best-validation weights and its history."""
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

    hist = _fit(model, list(model.parameters()), batch_loss, val_score, Xt.shape[0], epochs=epochs,
                learning_rate=learning_rate, batch_size=batch_size, patience=patience, seed=seed,
                schedule="plateau", progress=progress, desc="train SNN (rate)")
    return model, hist


# =========================================================================== synaptic simulation


def simulate_synaptic(
    net: SpikingNetwork,
    X: np.ndarray | torch.Tensor,
    T: int,
    *,
    synapse_tau: float | None,
    readout: str = "last",
    steps: Sequence[int] | None = None,
    trace_jets: Sequence[int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> SimResult:
    """Simulate ``net`` with an exponential synaptic filter ``tau`` (seconds) on every connection,
    as Nengo does with ``synapse=tau`` (``None``: no filter).

    Per step and layer: ``c_l <- a c_l + (1 - a) W_l u_l`` (``a = exp(-dt / tau)``,
    ``c_l = W_l u_l`` without filter), ``z_l = c_l + b_l``, then the layer's
    neuron step (:func:`spikejet.snn.neurons.step`). ``u_0`` are the features
    (the first layer's input connection is filtered too), ``u_l`` the spikes
    of layer ``l-1`` times their value. The non-spiking output layer's ``z``
    is the output; the class at step t is its argmax (``readout="last"``) or the
    argmax of its mean over steps 1..t (``"mean"``). Without a filter and with
    ``"mean"``, this is :func:`spikejet.snn.simulate.simulate` with the
    ``membrane`` read-out.

    Returns a :class:`~spikejet.snn.simulate.SimResult` (predictions at every
    recorded step, exact spike and synaptic-operation counts, the output of
    ``trace_jets`` at every step in ``output_trace`` and their spikes in
    ``raster``). The encoding must be ``current``.
    """
    from .neurons import init_state, step
    from .simulate import _as_tensor, _check_steps

    if net.encoding.kind != "current":
        raise ModelError("simulate_synaptic runs networks with the 'current' encoding (an off-chip first layer)")
    if net.layers[-1].spiking:
        raise ModelError("simulate_synaptic needs a non-spiking output layer (the study's dense read-out)")
    if readout not in SYNAPTIC_READOUTS:
        raise ConfigError(f"read-out must be one of {', '.join(SYNAPTIC_READOUTS)}; got {readout!r}")
    if synapse_tau is not None and not (math.isfinite(float(synapse_tau)) and float(synapse_tau) > 0):
        raise ConfigError(f"synapse tau must be a positive number of seconds (or none), got {synapse_tau!r}")
    T = int(T)
    if T < 1:
        raise ConfigError(f"T must be >= 1, got {T}")
    Xt = _as_tensor(X, net.n_inputs)
    n = Xt.shape[0]
    rec = _check_steps(steps, T)
    a = filter_decay(float(synapse_tau), net.dt) if synapse_tau is not None else 0.0
    C = net.n_outputs
    tj = None if trace_jets is None else np.asarray(list(trace_jets), dtype=np.int64)
    if tj is not None and (tj.size == 0 or tj.min() < 0 or tj.max() >= n):
        raise ConfigError(f"trace jets must be row indices in 0..{n - 1}")

    Ws, bs = [], []
    prev = 1.0
    for layer in net.layers:
        w = torch.from_numpy(np.array(layer.weight, dtype=np.float32))
        if prev != 1.0:
            w = w * prev
        Ws.append(w.t().contiguous())
        bs.append(torch.from_numpy(np.array(layer.bias, dtype=np.float32)))
        prev = layer.neuron.spike_value if layer.neuron is not None else 1.0

    predictions = np.empty((len(rec), n), dtype=np.uint8 if C <= 255 else np.int64)
    scores = np.empty((n, C), dtype=np.float32)
    spk_tot = [np.zeros((T, ly.n_out), dtype=np.float64) for ly in net.layers]
    k = 0 if tj is None else len(tj)
    out_trace = np.empty((T, k, C), dtype=np.float32) if tj is not None else None
    raster = {li: np.zeros((T, k, ly.n_out), dtype=np.uint8) for li, ly in enumerate(net.layers)} if tj is not None else {}
    rec_row = np.full(T + 1, -1, dtype=np.int64)
    rec_row[rec] = np.arange(len(rec))

    with torch.no_grad():
        for start in range(0, n, batch_size):
            xb = Xt[start:start + batch_size]
            B = xb.shape[0]
            if tj is not None:
                sel = (tj >= start) & (tj < start + B)
                tr_local = torch.from_numpy(tj[sel] - start)
                tr_pos = np.flatnonzero(sel)
                has_tr = len(tr_local) > 0
            else:
                has_tr = False
            states = [init_state((B, ly.n_out), ly.neuron) if ly.neuron is not None else None for ly in net.layers]
            cur = [torch.zeros(B, ly.n_out) for ly in net.layers]
            x_in = xb @ Ws[0]
            mean = torch.zeros(B, C)
            sbuf = [torch.zeros(T, ly.n_out) for ly in net.layers]
            pbuf = torch.empty((len(rec), B), dtype=torch.long)
            out = None
            for t in range(T):
                u = None
                for li, ly in enumerate(net.layers):
                    drive = x_in if li == 0 else u @ Ws[li]
                    c = cur[li]
                    if synapse_tau is None:
                        c = drive
                    else:
                        c.mul_(a).add_(drive, alpha=1.0 - a)
                    cur[li] = c
                    z = c + bs[li]
                    if ly.neuron is None:
                        out = z
                        break
                    s, states[li] = step(z, states[li], ly.neuron)
                    sbuf[li][t] = s.sum(0)
                    if has_tr:
                        raster[li][t, tr_pos] = s[tr_local].clamp(max=255).to(torch.uint8).numpy()
                    u = s
                mean.add_(out)
                tt = t + 1
                sc = out if readout == "last" else mean / tt
                r = rec_row[tt]
                if r >= 0:
                    torch.argmax(sc, 1, out=pbuf[r])
                if has_tr:
                    out_trace[t, tr_pos] = out[tr_local].numpy()
            sc = out if readout == "last" else mean / T
            scores[start:start + B] = sc.numpy()
            predictions[:, start:start + B] = pbuf.numpy().astype(predictions.dtype)
            for li, ly in enumerate(net.layers):
                if ly.neuron is not None:
                    spk_tot[li] += sbuf[li].numpy()

    return SimResult(
        T=T,
        dt=net.dt,
        n_jets=n,
        steps=rec,
        predictions=predictions,
        scores=scores,
        scores_at={},
        layer_names=net.layer_names,
        layer_sizes=tuple(ly.n_out for ly in net.layers),
        spikes_per_step=tuple(spk_tot),
        input_events_per_step=None,
        fan_out=tuple(ly.fan_out() for ly in net.layers),
        input_macs=int(np.count_nonzero(net.layers[0].weight)),
        sizes=net.sizes,
        spiking=tuple(ly.spiking for ly in net.layers),
        jets=tj,
        output_trace=out_trace,
        raster=raster,
    )


class SynapticModule(SpikingModule):
    """Model-file face of a network evaluated with :func:`simulate_synaptic`
    (``forward(X_std)`` returns the scores after ``timesteps`` steps)."""

    def __init__(self, spec: Mapping[str, Any], timesteps: int, weights=None, biases=None, *,
                 synapse_tau: float | None = None, readout: str = "last") -> None:
        super().__init__(spec, timesteps, weights, biases)
        if readout not in SYNAPTIC_READOUTS:
            raise ModelError(f"synaptic read-out must be one of {', '.join(SYNAPTIC_READOUTS)}; got {readout!r}")
        if synapse_tau is not None and not (math.isfinite(float(synapse_tau)) and float(synapse_tau) > 0):
            raise ModelError(f"synapse tau must be positive or null, got {synapse_tau!r}")
        self.synapse_tau = None if synapse_tau is None else float(synapse_tau)
        self.readout_mode = readout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = simulate_synaptic(self.network, x, self.timesteps, synapse_tau=self.synapse_tau,
                                readout=self.readout_mode, steps=[self.timesteps])
        return torch.from_numpy(res.scores)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, synapse={self.synapse_tau}, readout={self.readout_mode}"


def _build_synaptic(arch: Mapping[str, Any]) -> nn.Module:
    for key in ("spec", "timesteps", "synapse_tau", "readout"):
        if key not in arch:
            raise ModelError(f"{SYNAPTIC_ARCH} model entry needs {key!r}")
    return SynapticModule(arch["spec"], arch["timesteps"], synapse_tau=arch["synapse_tau"], readout=arch["readout"])


register_arch(SYNAPTIC_ARCH, _build_synaptic)


def synaptic_bundle(net: SpikingNetwork, timesteps: int, *, synapse_tau: float | None, readout: str,
                    kind: str, task: str = "multiclass", data_class_names: Sequence[str] | None = None,
                    config: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None) -> ModelBundle:
    """A model bundle of ``net`` evaluated with synaptic filters (:class:`SynapticModule`)."""
    module = SynapticModule(net.spec_dict(), int(timesteps), [ly.weight for ly in net.layers],
                            [ly.bias for ly in net.layers], synapse_tau=synapse_tau, readout=readout)
    classes = net.class_names or tuple(str(i) for i in range(net.n_outputs))
    features = net.feature_names or tuple(f"x{i}" for i in range(net.n_inputs))
    scaler = dict(net.scaler) if net.scaler is not None else {"mean": [0.0] * net.n_inputs,
                                                              "scale": [1.0] * net.n_inputs}
    return ModelBundle(
        model=module, scaler=scaler, feature_names=tuple(features), class_names=tuple(classes),
        data_class_names=tuple(data_class_names) if data_class_names is not None else tuple(classes),
        kind=kind, task=task, config=dict(config or {}), meta=dict(meta or {}),
        arch={"type": SYNAPTIC_ARCH, "spec": module.spec, "timesteps": module.timesteps,
              "synapse_tau": module.synapse_tau, "readout": readout},
    )


# =========================================================================== surrogate method


@dataclass
class SurrogateEval:
    """Scores of a surrogate network at T: accuracy, cross entropy, synops and spikes per jet."""

    accuracy: float
    loss: float
    synops: float
    spikes: float


@torch.no_grad()
def evaluate_surrogate(net: SurrogateNet, X: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, T: int,
                       *, batch_size: int = 8192) -> SurrogateEval:
    """Accuracy, cross entropy and mean synops / spikes per jet of the training-time model."""
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32)) if not isinstance(X, torch.Tensor) else X
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64)) if not isinstance(y, torch.Tensor) else y
    net.eval()
    correct = loss = synops = spikes = 0.0
    for s in range(0, Xt.shape[0], batch_size):
        out = net(Xt[s:s + batch_size], T)
        yb = yt[s:s + batch_size]
        correct += float((out.logits.argmax(1) == yb).sum())
        loss += float(F.cross_entropy(out.logits, yb, reduction="sum"))
        synops += float(out.synops.sum())
        spikes += float(sum(c.sum() for c in out.spikes))
    n = Xt.shape[0]
    return SurrogateEval(accuracy=correct / n, loss=loss / n, synops=synops / n, spikes=spikes / n)


def train_surrogate(
    net: SurrogateNet,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    timesteps: int,
    epochs: int = 20,
    learning_rate: float = 1e-3,
    batch_size: int = 512,
    patience: int = 5,
    synops_penalty: float = 0.0,
    teacher_logits: np.ndarray | None = None,
    distill_weight: float = 0.0,
    temperature: float = 2.0,
    seed: int = 0,
    progress: bool = False,
) -> TrainHistory:
    """Train ``net`` in place by backpropagation through ``timesteps`` steps.

    Objective: cross entropy of the read-out plus ``synops_penalty`` times the
    mean synaptic operations per jet divided by the equivalent ANN's MACs
    (so ``synops_penalty = 0.1`` costs 0.1 for a network as busy as the ANN).
    With ``teacher_logits`` (e.g. the ANN's logits on ``X_train``) and
    ``distill_weight = a > 0`` the cross entropy becomes ``(1 - a) CE + a t^2
    KL(teacher || student)`` at temperature ``t`` (knowledge distillation).
    Cosine-annealed Adam; the weights with the best validation objective are
    kept. Returns the history (losses are cross entropies; the best epoch minimizes the
    validation objective).
    """
    Xt, yt = _xy(X_train, y_train, "training set")
    Xv, yv = _xy(X_val, y_val, "validation set")
    if Xt.shape[1] != net.sizes[0]:
        raise DataError(f"the network takes {net.sizes[0]} features, the data have {Xt.shape[1]}")
    if int(max(yt.max(), yv.max())) >= net.sizes[-1]:
        raise DataError(f"labels go up to {int(max(yt.max(), yv.max()))} but the network has {net.sizes[-1]} outputs")
    if not (math.isfinite(synops_penalty) and synops_penalty >= 0):
        raise ConfigError(f"synops penalty must be >= 0, got {synops_penalty}")
    if Xv.shape[0] > MAX_VAL_JETS:
        idx = torch.from_numpy(np.sort(np.random.default_rng(seed).choice(Xv.shape[0], MAX_VAL_JETS, replace=False)))
        Xv, yv = Xv[idx], yv[idx]
    if not 0.0 <= distill_weight <= 1.0:
        raise ConfigError(f"distillation weight must be in [0, 1], got {distill_weight}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"distillation temperature must be positive, got {temperature}")
    soft = None
    if distill_weight > 0:
        if teacher_logits is None:
            raise ConfigError("distillation needs the teacher's logits on the training jets")
        soft = torch.as_tensor(np.asarray(teacher_logits, dtype=np.float32))
        if soft.shape != (Xt.shape[0], net.sizes[-1]):
            raise DataError(f"teacher logits must have shape {(Xt.shape[0], net.sizes[-1])}, got {tuple(soft.shape)}")
        soft = F.log_softmax(soft / temperature, dim=1)
    macs = float(count_ann_macs(net.sizes))
    T = int(timesteps)

    def batch_loss(idx):
        out = net(Xt[idx], T)
        ce = F.cross_entropy(out.logits, yt[idx])
        obj = ce
        if soft is not None:
            kl = F.kl_div(F.log_softmax(out.logits / temperature, dim=1), soft[idx], log_target=True,
                          reduction="batchmean")
            obj = (1.0 - distill_weight) * ce + distill_weight * temperature**2 * kl
        if synops_penalty > 0:
            obj = obj + synops_penalty * out.synops.mean() / macs
        return obj, ce

    def val_score():
        ev = evaluate_surrogate(net, Xv, yv, T)
        return ev.loss + synops_penalty * ev.synops / macs, ev.loss, ev.accuracy

    params = [p for p in net.parameters() if p.requires_grad]
    return _fit(net, params, batch_loss, val_score, Xt.shape[0], epochs=epochs, learning_rate=learning_rate,
                batch_size=batch_size, patience=patience, seed=seed, schedule="cosine", progress=progress,
                desc=f"train SNN (surrogate, T={T})")
