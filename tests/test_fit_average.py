"""The fit loop's weight average (``FitOptions.ema``): what it keeps and what it leaves alone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikejet.errors import ConfigError
from spikejet.snn.train.fit import FitOptions, fit


def _run(ema: float, epochs: int = 4):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    seen: list[torch.Tensor] = []  # the weights each batch trains from
    calls = iter(range(100))

    def batch_loss(idx):
        seen.append(torch.cat([model.weight.detach().ravel(), model.bias.detach()]).clone())
        loss = ((model(x[idx]) - y[idx]) ** 2).mean()
        return loss, loss

    def val_score():  # every epoch improves: the last epoch's weights are kept
        v = -float(next(calls))
        return v, v, 0.0

    opts = FitOptions(epochs=epochs, learning_rate=0.1, batch_size=32, patience=epochs, ema=ema)
    fit(model, list(model.parameters()), batch_loss, val_score, 32, opts)
    return model, seen


def test_the_kept_weights_are_the_moving_average_and_training_follows_the_raw_weights():
    raw_model, raw_seen = _run(0.0)
    avg_model, avg_seen = _run(0.5)
    # the average is swapped in for validation only: training sees the same raw weights
    for a, b in zip(raw_seen, avg_seen, strict=True):
        torch.testing.assert_close(a, b)
    # the kept weights: the weights after each of the four steps, weighted 1/2, 1/4, 1/8, 1/16 from the
    # last, normalized (avg <- 0.5 avg + 0.5 w from 0, over 1 - 0.5**4)
    final_raw = torch.cat([raw_model.weight.detach().ravel(), raw_model.bias.detach()])
    trajectory = [*raw_seen[1:], final_raw]
    avg = torch.zeros_like(final_raw)
    for w in trajectory:
        avg = 0.5 * avg + 0.5 * w
    kept = torch.cat([avg_model.weight.detach().ravel(), avg_model.bias.detach()])
    torch.testing.assert_close(kept, avg / (1 - 0.5 ** 4))
    w = [0.5 ** (4 - k) for k in range(1, 5)]
    torch.testing.assert_close(kept, sum(a * b for a, b in zip(w, trajectory, strict=True)) / sum(w))
    assert not torch.allclose(kept, final_raw)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2])
def test_a_decay_outside_zero_one_is_refused(bad):
    with pytest.raises(ConfigError, match="weight average's decay"):
        FitOptions(epochs=1, learning_rate=0.1, batch_size=1, patience=1, ema=bad)
