"""The per-particle pileup filter that uses time as time: a latency code and a LIF layer with delays.

Inputs (:class:`PileupFeatures`), per charged particle: ``dt_ps`` (track time minus the event's
reference time; NaN without a time measurement), ``dz_mm`` (track z0 minus the reference z),
``pt`` (GeV), ``eta``; the label ``is_pv`` (True: from the hard interaction).

The latency encoder (:func:`spike_steps`, :func:`encode`)
----------------------------------------------------------
A window of ``T`` steps with the reference at step ``r = T // 2``. A pull ``p`` (``dt / sigma_t``
or ``dz / sigma_z0(pt)``, ``sigma_z0 = a (+) b / pt``) becomes one spike at step
``r + rint(p * (T // 2) / W)`` (``W`` = ``window_sigma_t`` or ``window_sigma_z``: a pull of -W
lands on step 0); a step outside ``0..T-1`` (``|p|`` beyond about W) or a missing time gives no
spike. Four input channels (:data:`CHANNELS`): ``reference`` (a spike at ``r`` for every particle:
the event's reference time), ``time`` (the track time), ``z`` (the track z0) and ``timed`` (a spike
at ``r`` when the track has a time, so that "no time spike" can mean "out of the window" rather
than "not measured").

The network (:class:`TemporalNet`)
----------------------------------
Each input channel ``c`` fans out through synaptic delays ``d = 0..D-1`` (a spike at step ``s``
arrives at ``s + d``; arrivals after the window are lost) with one learned weight ``W[h, c, d]``
per delay into ``H`` LIF neurons (``spikejet.snn.neurons.lif_step``, no synaptic filter,
reset to zero, threshold 1, fixed leak on Loihi's 12-bit grid) with a bias; one read-out
accumulates ``w_out . s_t + b_out`` over the T steps (a non-spiking integrator: a membrane
read-out). The PV score is that sum, a logit: a membrane read-out gives a graded score for the
ROC (a spike count ties most particles; a first-spike time needs the whole window anyway), and
on the chip it is the final voltage of one non-spiking compartment. The delays let a hidden
neuron detect coincidences: the reference delayed by ``d1`` meeting the track time delayed by
``d2`` at one step means ``dt ~ (d1 - d2)`` steps.

Trained by surrogate gradients (:func:`spikejet.snn.train.surrogate.spike`) through the one fit
loop (:func:`spikejet.snn.train.fit.fit`), binary cross entropy, seeded (same seed, same bytes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config.sections import PileupSnnConfig
from ..errors import DataError
from ..hardware.loihi.constants import DECAY_UNITY, WEIGHT_MANT_MAX
from .neurons import LIFState, TensorParams, lif_step
from .train.fit import Cosine, FitOptions, fit
from .train.qat import fake_quantize
from .train.surrogate import spike

__all__ = [
    "CHANNELS",
    "PileupFeatures",
    "synthetic_pileup",
    "sigma_z0",
    "pulls",
    "spike_steps",
    "encode",
    "delay_lines",
    "TemporalNet",
    "fit_pileup_snn",
    "pv_scores",
    "hidden_counts",
]

#: Input channels of the latency code, in order.
CHANNELS: tuple[str, ...] = ("reference", "time", "z", "timed")
#: Particles per forward pass when scoring.
SCORE_BATCH = 8192


@dataclass(frozen=True)
class PileupFeatures:
    """Per-particle inputs of the pileup filter (1-D float64 arrays of one length)."""

    dt_ps: np.ndarray
    dz_mm: np.ndarray
    pt: np.ndarray
    eta: np.ndarray

    def __post_init__(self) -> None:
        arrs = {k: np.asarray(getattr(self, k), dtype=np.float64) for k in ("dt_ps", "dz_mm", "pt", "eta")}
        n = arrs["dz_mm"].shape
        for k, a in arrs.items():
            if a.ndim != 1 or a.shape != n:
                raise DataError(f"pileup features: {k} must be 1-D with {n[0] if n else '?'} entries, got {a.shape}")
            if k != "dt_ps" and not np.isfinite(a).all():
                raise DataError(f"pileup features: {k} has NaN or inf values")
        if np.isinf(arrs["dt_ps"]).any():
            raise DataError("pileup features: dt_ps has inf values (NaN marks a missing time)")
        if (arrs["pt"] <= 0).any():
            raise DataError("pileup features: pt must be > 0 GeV")
        for k, a in arrs.items():
            a.setflags(write=False)
            object.__setattr__(self, k, a)

    def __len__(self) -> int:
        return int(self.dz_mm.shape[0])

    def subset(self, idx: np.ndarray) -> PileupFeatures:
        return PileupFeatures(self.dt_ps[idx], self.dz_mm[idx], self.pt[idx], self.eta[idx])

    @classmethod
    def from_sample(cls, sample: Any) -> tuple[PileupFeatures, np.ndarray]:
        """``(features, is_pv)`` of the charged constituents (finite ``z0_mm``) of a pileup sample
        (``spikejet.data.pileup.read_pileup``): dt and dz relative to each jet's ``pv_t_ps`` /
        ``pv_z_mm`` (the truth hard vertex stands for the event's reconstructed reference), is_pv =
        ``origin == 0``. Read by attribute, so this module does not import the reader."""
        jet = np.asarray(sample.jet_index)
        z0 = np.asarray(sample.z0_mm, dtype=np.float64)
        charged = np.isfinite(z0)
        j = jet[charged]
        dt = np.asarray(sample.t_ps, dtype=np.float64)[charged] - np.asarray(sample.pv_t_ps, np.float64)[j]
        dz = z0[charged] - np.asarray(sample.pv_z_mm, np.float64)[j]
        eta = np.asarray(sample.eta, np.float64)[charged]  # absolute (PileupSample.eta)
        feats = cls(dt, dz, np.asarray(sample.pt, np.float64)[charged], eta)
        return feats, np.asarray(sample.origin)[charged] == 0


def synthetic_pileup(n: int, *, seed: int, pv_fraction: float = 0.1, time_fraction: float = 0.7,
                     sigma_t_ps: float = 35.0, sigma_z0_mm: float = 0.05, sigma_z0_pt_mm_gev: float = 0.5,
                     bunch_t_ps: float = 180.0, bunch_z_mm: float = 45.0) -> tuple[PileupFeatures, np.ndarray]:
    """Issue 14's synthetic model: ``(features, is_pv)`` of ``n`` charged particles.

    Each particle belongs to its own crossing: its primary vertex (the reference) and, for a
    pileup particle, its pileup vertex are drawn from the luminous region (t ~ N(0, bunch_t_ps), z ~ N(0, bunch_z_mm)); a track adds its resolution
    (sigma_t, sigma_z0(pt)); ``time_fraction`` of the tracks have a time. pT: 0.5 GeV plus an
    exponential of mean 1 GeV (pileup) or 3 GeV (hard interaction), |eta| < 2.5 uniform.
    """
    rng = np.random.default_rng(seed)
    is_pv = rng.random(n) < pv_fraction
    pt = 0.5 + rng.exponential(np.where(is_pv, 3.0, 1.0))
    eta = rng.uniform(-2.5, 2.5, n)
    pv_t, pv_z = rng.normal(0, bunch_t_ps, n), rng.normal(0, bunch_z_mm, n)
    vt = np.where(is_pv, pv_t, rng.normal(0, bunch_t_ps, n))
    vz = np.where(is_pv, pv_z, rng.normal(0, bunch_z_mm, n))
    sz = np.hypot(sigma_z0_mm, sigma_z0_pt_mm_gev / pt)
    dt = vt + rng.normal(0, sigma_t_ps, n) - pv_t
    dz = vz + rng.normal(0, 1.0, n) * sz - pv_z
    dt[rng.random(n) >= time_fraction] = np.nan
    return PileupFeatures(dt, dz, pt, eta), is_pv


# --------------------------------------------------------------------------- the encoder


def sigma_z0(pt: np.ndarray, cfg: PileupSnnConfig) -> np.ndarray:
    """Per-track z0 resolution ``a (+) b / pt`` in mm."""
    return np.hypot(cfg.sigma_z0_mm, cfg.sigma_z0_pt_mm_gev / np.asarray(pt, dtype=np.float64))


def pulls(features: PileupFeatures, cfg: PileupSnnConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(dt / sigma_t, dz / sigma_z0(pt))``; the time pull is NaN where the time is missing."""
    return features.dt_ps / cfg.sigma_t_ps, features.dz_mm / sigma_z0(features.pt, cfg)


def spike_steps(features: PileupFeatures, cfg: PileupSnnConfig) -> np.ndarray:
    """Spike step of each particle and channel, int64 ``[n, 4]``; -1 = no spike (module docstring)."""
    T = cfg.timesteps
    ref, half = T // 2, T // 2
    pt_, pz = pulls(features, cfg)
    out = np.full((len(features), len(CHANNELS)), -1, dtype=np.int64)
    out[:, 0] = ref
    timed = np.isfinite(pt_)
    out[timed, 3] = ref
    for col, p, w in ((1, pt_, cfg.window_sigma_t), (2, pz, cfg.window_sigma_z)):
        with np.errstate(invalid="ignore"):
            k = np.rint(np.clip(p, -4.0 * w, 4.0 * w) * half / w)
            step = np.where(np.isfinite(k), ref + k, -1.0).astype(np.int64)
        out[:, col] = np.where((step >= 0) & (step < T), step, -1)
    return out


def encode(features: PileupFeatures, cfg: PileupSnnConfig) -> np.ndarray:
    """The latency code as spike trains, float32 ``[n, T, 4]`` (one spike per channel at most)."""
    steps = spike_steps(features, cfg)
    n = steps.shape[0]
    x = np.zeros((n, cfg.timesteps, len(CHANNELS)), dtype=np.float32)
    rows, cols = np.nonzero(steps >= 0)
    x[rows, steps[rows, cols], cols] = 1.0
    return x


def delay_lines(spikes: torch.Tensor, n_delays: int) -> torch.Tensor:
    """``[B, T, C] -> [B, T, C, D]``: entry ``d`` at step ``t`` is the input at ``t - d`` (0 before 0)."""
    B, T, C = spikes.shape
    outs = [spikes]
    for d in range(1, n_delays):
        outs.append(torch.cat([spikes.new_zeros(B, min(d, T), C), spikes[:, :max(T - d, 0)]], dim=1))
    return torch.stack(outs, dim=-1)


# --------------------------------------------------------------------------- the network


def _grid_step(w: torch.Tensor) -> torch.Tensor:
    """The 8-bit weight grid of a layer: ``max|W| / 127`` (the chip mapping's mantissa step)."""
    return (w.detach().abs().max() / WEIGHT_MANT_MAX).clamp_min(1e-12)


class TemporalNet(nn.Module):
    """Delayed input synapses ``W [H, 4, D]`` -> H LIF neurons -> a summing read-out (module docstring)."""

    def __init__(self, cfg: PileupSnnConfig | None = None, *, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg or PileupSnnConfig()
        c = self.cfg
        gen = torch.Generator().manual_seed(int(seed))
        C, D, H = len(CHANNELS), c.n_delays, c.hidden
        self.w_in = nn.Parameter(torch.randn(H, C, D, generator=gen) * 0.6)
        self.b_hid = nn.Parameter(torch.zeros(H))
        self.w_out = nn.Parameter(torch.randn(H, generator=gen) / math.sqrt(H))
        self.b_out = nn.Parameter(torch.zeros(()))

    @property
    def leak(self) -> float:
        """The membrane decay per step on Loihi's 12-bit grid: ``1 - round((1 - leak) * 4096) / 4096``."""
        return 1.0 - round((1.0 - self.cfg.leak) * DECAY_UNITY) / DECAY_UNITY

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(W [H, 4, D], w_out [H])`` as the network computes with them (on the 8-bit grid under QAT)."""
        if not self.cfg.quantize:
            return self.w_in, self.w_out
        q = WEIGHT_MANT_MAX
        return (fake_quantize(self.w_in, _grid_step(self.w_in), lo=-q, hi=q),
                fake_quantize(self.w_out, _grid_step(self.w_out), lo=-q, hi=q))

    def forward(self, spikes: torch.Tensor, *, with_hidden: bool = False) -> Any:
        """PV logits ``[B]`` of input spike trains ``[B, T, 4]`` (and the hidden spikes ``[B, T, H]``)."""
        c = self.cfg
        W, w_out = self.weights()
        B, T, C = spikes.shape
        x = delay_lines(spikes, c.n_delays).reshape(B, T, -1) @ W.reshape(W.shape[0], -1).T + self.b_hid
        params = TensorParams(threshold=torch.tensor(1.0), reset="zero", decay_mem=self.leak)
        state = LIFState(i=x.new_zeros(()), v=x.new_zeros(B, W.shape[0]))

        def spike_fn(v: torch.Tensor, th: Any) -> torch.Tensor:
            return spike((v - th) / th, c.surrogate, c.slope)

        hidden = []
        for t in range(T):
            s, state = lif_step(x[:, t], state, params, spike_fn=spike_fn, detach_reset=True)
            hidden.append(s)
        h = torch.stack(hidden, dim=1)
        score = h.sum(dim=1) @ w_out + T * self.b_out
        return (score, h) if with_hidden else score


# --------------------------------------------------------------------------- training and scoring


def _labels(y: np.ndarray, n: int) -> torch.Tensor:
    y = np.asarray(y)
    if y.shape != (n,):
        raise DataError(f"labels must be [n] with n = {n}, got shape {y.shape}")
    if y.dtype != bool and not np.isin(y, (0, 1)).all():
        raise DataError("labels must be True/False (or 1/0): primary vertex or pileup")
    return torch.as_tensor(y.astype(np.float32))


def fit_pileup_snn(features_train: PileupFeatures, y_train: np.ndarray, cfg: PileupSnnConfig | None = None,
                   seed: int = 0, *, progress: bool = False) -> TemporalNet:
    """Train a :class:`TemporalNet` on labelled particles (``y_train`` True = primary vertex).

    A seeded ``cfg.val_fraction`` of the particles is held out for early stopping; the loss is the
    binary cross entropy of the PV logit; Adam with cosine annealing through the one fit loop.
    The history is ``net.history``.
    """
    cfg = cfg or PileupSnnConfig()
    n = len(features_train)
    y = _labels(y_train, n)
    if n < 20 or float(y.sum()) in (0.0, float(n)):
        raise DataError(f"training needs both classes and >= 20 particles; got {n} with {int(y.sum())} PV")
    rng = np.random.default_rng(seed)
    rows = np.arange(n) if cfg.max_train_particles is None or n <= cfg.max_train_particles else \
        np.sort(rng.choice(n, cfg.max_train_particles, replace=False))
    perm = rng.permutation(rows)
    n_val = max(1, int(round(cfg.val_fraction * perm.size)))
    val, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    X = torch.from_numpy(encode(features_train, cfg))
    Xt, yt, Xv, yv = X[tr], y[tr], X[val], y[val]
    net = TemporalNet(cfg, seed=seed)

    def batch_loss(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss = F.binary_cross_entropy_with_logits(net(Xt[idx]), yt[idx])
        return loss, loss

    def val_score() -> tuple[float, float, float]:
        with torch.no_grad():
            s = net(Xv)
            loss = float(F.binary_cross_entropy_with_logits(s, yv))
            return loss, loss, float(((s >= 0).float() == yv).float().mean())

    opts = FitOptions(epochs=cfg.epochs, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size,
                      patience=cfg.patience, seed=seed, schedule=Cosine(), deterministic=True,
                      desc="train pileup SNN", progress=progress,
                      diverged="pileup SNN training diverged (validation loss is not finite); lower "
                               "pileup_snn.learning_rate")
    net.history = fit(net, [p for p in net.parameters()], batch_loss, val_score, len(tr), opts)
    return net


@torch.no_grad()
def _run(net: TemporalNet, features: PileupFeatures) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores [n] float64, hidden spikes per particle [n, T, H] bool, input spikes [n, T, 4])."""
    X = encode(features, net.cfg)
    net.eval()
    scores, hidden = [], []
    for s in range(0, X.shape[0], SCORE_BATCH):
        sc, h = net(torch.from_numpy(X[s:s + SCORE_BATCH]), with_hidden=True)
        scores.append(sc.double().numpy())
        hidden.append(h.numpy().astype(bool))
    H = net.cfg.hidden
    if not scores:
        return np.zeros(0), np.zeros((0, net.cfg.timesteps, H), bool), X
    return np.concatenate(scores), np.concatenate(hidden), X


def pv_scores(net: TemporalNet, features: PileupFeatures) -> np.ndarray:
    """The PV score of each particle (float64, higher = more PV-like: the read-out's logit)."""
    return _run(net, features)[0]


def hidden_counts(net: TemporalNet, features: PileupFeatures) -> dict[str, np.ndarray]:
    """Per particle: input spikes per channel ``[n, 4]`` and hidden spikes per step ``[n, T, H]``."""
    _, h, X = _run(net, features)
    return {"input": X.sum(axis=1), "hidden": h}
