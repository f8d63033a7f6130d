"""The host side: the off-chip first layer, and the chip's input spikes of a rate-coded feature vector.

First layer off-chip (as the 2019 study did with Nengo-Loihi, the default of
:func:`~spikejet.hardware.loihi.mapping.map_network`): the first spiking layer
sees the 16 real-valued, standardized jet features. It runs on the host in
floating point, with the float reference's own encoder and neuron step, and
only its spikes enter the chip. Why spikes rather than a quantized input
current: the chip's only input interface is spikes (the study fed them through
a host snip, up to 120 per step), and the feature layer is where 8-bit weights
would cost the most accuracy while being the cheapest layer to compute on the
host. Its host cost (MACs and neuron updates) is reported separately, because
the energy model charges it at CPU/GPU rates. With a rate-coded input
(``poisson`` or ``regular`` encoding) the whole network can run on the chip
(``first_layer_offchip=False``): each feature gets two input axons, for its
positive and negative events
(:func:`~spikejet.hardware.loihi.mapping.split_signed_input`,
:func:`encoded_input_spikes`). A constant-current input cannot enter the chip
and is refused there -- except on Loihi 2, whose graded spikes carry the features
themselves (:func:`graded_input_events`): each feature quantized to a signed
integer (:class:`~spikejet.hardware.loihi.mapping.InputQuantization`), sent once
(or every step, for a first layer with a synaptic filter); the first layer's
weights, thresholds and biases are then on the chip and the host only quantizes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ...errors import HardwareError
from .mapping import FloatLayer, InputQuantization

__all__ = ["encoded_input_spikes", "graded_input_events", "offchip_spikes"]


def encoded_input_spikes(features: np.ndarray, encoding: Any, n_steps: int, *,
                         seed: int = 0, generator: Any = None) -> Iterator[np.ndarray]:
    """The chip's input spikes of a signed rate code: uint8 [batch, 2 * n_features] per step.

    Uses the float network's encoder (``spikejet.snn.encoding``) with a
    ``torch.Generator`` seeded by ``seed`` (or the given ``generator``); columns
    are [positive events, negative events].
    """
    import torch

    from ...snn import encoding as enc_mod

    if encoding is None or encoding.kind == "current":
        raise HardwareError("a constant-current input has no spikes to send to the chip")
    x = torch.tensor(np.asarray(features), dtype=torch.float32)
    gen = generator if generator is not None else torch.Generator().manual_seed(int(seed))
    state = enc_mod.encoder_init(x, encoding)
    for _ in range(n_steps):
        events, state = enc_mod.encoder_step(state, encoding, gen)
        e = events.numpy()
        yield np.concatenate([e > 0, e < 0], axis=1).astype(np.uint8)


def graded_input_events(features: np.ndarray, quant: InputQuantization, n_steps: int) -> Iterator[np.ndarray]:
    """The chip's graded input events of constant features: int64 [batch, n_features] per step.

    ``graded_once``: the quantized features at step 0, no events afterwards (a
    zero payload is no message); ``graded_every_step``: the same payloads at
    every step.
    """
    payload = quant.quantize(features)
    silent = np.zeros_like(payload)
    for t in range(n_steps):
        yield payload if (t == 0 or quant.mode == "graded_every_step") else silent


def offchip_spikes(layer: FloatLayer, features: np.ndarray, n_steps: int, *, encoding: Any = None,
                   seed: int = 0, generator: Any = None) -> Iterator[np.ndarray]:
    """Spikes of the host-side first layer, step by step.

    Same float32 arithmetic as the float reference simulator
    (:func:`spikejet.snn.simulate.simulate`): the encoder's events (scale folded
    into the weights, events of +-1), ``addmm(b, u, W.T)``, then the layer's own
    neuron step (:func:`spikejet.snn.neurons.step`). With the same batch and
    generator the spikes are identical to the float network's first layer.
    ``generator`` (or a new one seeded with ``seed``) drives the Poisson coder.
    Yields uint8 [batch, n_out].
    """
    import torch

    from ...snn import encoding as enc_mod
    from ...snn import neurons

    enc = encoding if encoding is not None else enc_mod.Encoding()
    w = np.array(layer.weight, dtype=np.float32)
    if enc.spiking:
        w = w * np.float32(enc.scale)
    wt = torch.from_numpy(w).t().contiguous()
    b = torch.from_numpy(np.array(layer.bias, dtype=np.float32))
    x = torch.tensor(np.asarray(features), dtype=torch.float32)
    gen = generator if generator is not None else torch.Generator().manual_seed(int(seed))
    enc_state = enc_mod.encoder_init(x, enc)
    state = neurons.init_state((x.shape[0], wt.shape[1]), layer.neuron)
    const = torch.addmm(b, x, wt) if not enc.spiking else None
    with torch.no_grad():
        for _ in range(n_steps):
            if const is None:
                events, enc_state = enc_mod.encoder_step(enc_state, enc, gen)
                cur = torch.addmm(b, torch.sign(events), wt)
            else:
                cur = const
            spikes, state = neurons.step(cur, state, layer.neuron)
            yield spikes.numpy().astype(np.uint8)
