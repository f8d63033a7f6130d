"""Surrogate training read out at several steps (``loss_timesteps``) and with distillation:
the running read-out equals a shorter run, the objective is the mean over the steps, its
gradient through time matches finite differences, and training on an early step makes that
step better."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _synthetic import blobs as _blobs_data
from spikejet.config.sections import SnnSurrogateConfig
from spikejet.errors import ConfigError
from spikejet.snn.train.surrogate import (
    SurrogateNet,
    SurrogateOptions,
    evaluate_surrogate,
    loss_steps,
    readout_objective,
    train_surrogate,
)

SIZES = (6, 10, 8, 3)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(77)
    Xtr, ytr = _blobs_data(rng, 900)
    Xva, yva = _blobs_data(rng, 300)
    return Xtr, ytr, Xva, yva


@pytest.mark.parametrize("readout", ["membrane", "count"])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_running_readout_equals_a_shorter_run(readout, reset):
    torch.manual_seed(1)
    net = SurrogateNet(SIZES, SurrogateOptions(reset=reset, readout=readout, quantize=True),
                       thresholds=[0.7, 1.1] + ([0.9] if readout == "count" else []))
    x = torch.randn(32, SIZES[0], generator=torch.Generator().manual_seed(2)) * 2
    out = net(x, 8, readout_at=(1, 3, 8))
    assert sorted(out.logits_at) == [1, 3, 8]
    torch.testing.assert_close(out.logits_at[8], out.logits, rtol=0, atol=0)
    for t in (1, 3):
        torch.testing.assert_close(out.logits_at[t], net(x, t).logits, rtol=1e-6, atol=1e-6)
    with pytest.raises(ConfigError, match="read-out steps"):
        net(x, 4, readout_at=(5,))


def test_objective_is_the_mean_over_steps_and_its_gradient_matches_finite_differences():
    torch.manual_seed(3)
    opts = SurrogateOptions(reset="zero", quantize=False, slope=1.0, detach_reset=False)
    net = SurrogateNet(SIZES, opts, thresholds=[0.8, 1.2]).double()
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(7, SIZES[0], generator=gen, dtype=torch.float64) * 2
    y = torch.tensor([0, 1, 2, 0, 1, 2, 1])
    teacher = torch.log_softmax(torch.randn(7, 3, generator=gen, dtype=torch.float64) / 2.0, dim=1)

    def loss() -> torch.Tensor:
        out = net(x, 5, relaxed=True, readout_at=(2, 5))
        return readout_objective(out, y, (2, 5), teacher, distill_weight=0.7, temperature=2.0)

    with torch.no_grad():  # the mean over the steps of the mixed CE / KD term of each step
        ref = 0.0
        for t in (2, 5):
            lg = net(x, t, relaxed=True).logits
            ce = torch.nn.functional.cross_entropy(lg, y)
            kl = torch.nn.functional.kl_div(torch.log_softmax(lg / 2.0, 1), teacher, log_target=True,
                                            reduction="batchmean")
            ref += (0.3 * ce + 0.7 * 4.0 * kl) / 2
        torch.testing.assert_close(loss(), ref, rtol=1e-12, atol=1e-12)
    net.zero_grad()
    loss().backward()
    eps = 1e-6
    for p in (p for p in net.parameters() if p.requires_grad):
        g, flat = p.grad.detach().clone().reshape(-1), p.data.reshape(-1)
        fd = torch.empty_like(g)
        for i in range(flat.numel()):
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + eps
                lp = float(loss())
                flat[i] = old - eps
                lm = float(loss())
                flat[i] = old
            fd[i] = (lp - lm) / (2 * eps)
        torch.testing.assert_close(g, fd, rtol=1e-5, atol=1e-8)
        assert float(g.abs().max()) > 0


def test_training_on_an_early_step_makes_that_step_better(blobs):
    Xtr, ytr, Xva, yva = blobs
    early = {}
    for steps in ((), (2,)):
        torch.manual_seed(5)  # high thresholds, membranes from 0: the first spikes come late
        net = SurrogateNet(SIZES, SurrogateOptions(reset="zero", quantize=False, v_init=0.0), thresholds=[3.0, 3.0])
        cfg = SnnSurrogateConfig(timesteps=8, max_timesteps=8, loss_timesteps=steps, epochs=10,
                                 learning_rate=1e-2, batch_size=128, patience=10, synops_penalty=0.0)
        train_surrogate(net, Xtr, ytr, Xva, yva, cfg, seed=0)
        early[steps] = evaluate_surrogate(net, Xva, yva, 2).loss
    assert early[(2,)] < early[()] - 0.01


def test_loss_steps_and_their_validation():
    assert loss_steps(SnnSurrogateConfig(timesteps=8, loss_timesteps=(4, 2, 4))) == (2, 4, 8)
    assert loss_steps(SnnSurrogateConfig(timesteps=8, loss_timesteps=())) == (8,)
    # steps from T on add nothing: the default (4,) is a no-op at T <= 4
    assert loss_steps(SnnSurrogateConfig(timesteps=4, loss_timesteps=(4, 6))) == (4,)
    assert loss_steps(SnnSurrogateConfig(timesteps=2)) == (2,)
    for bad in ((0,), (65,), (2.5,), (True,)):
        with pytest.raises(ConfigError, match="loss_timesteps"):
            SnnSurrogateConfig(timesteps=8, max_timesteps=64, loss_timesteps=bad)
