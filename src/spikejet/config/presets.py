"""The one preset table: per preset, per section, the overrides of the section's defaults.

``default`` holds our best settings (each chosen by measurement on the default sample;
the docs named beside each entry show the measurements); ``seed-2019`` the 2019 study's
protocol. :data:`QUICK` is what ``--quick`` lays over any preset: a small subset and few
epochs, the whole chain in seconds.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESET_NAMES", "DEFAULT_PRESET", "PRESETS", "QUICK"]

#: The presets a run can start from.
PRESET_NAMES: tuple[str, ...] = ("default", "seed-2019")
DEFAULT_PRESET = "default"

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "default": {
        # docs/run.md, "Choosing the default preset": every learning rate from 1e-3 to 1e-2,
        # L1 0 to 1e-4 and batch 256 or 1024 reached the same validation accuracy within
        # 0.2 points; 3e-3 without L1 had the lowest validation loss and stops early after
        # about 80 epochs (about 20 s on 2 cores).
        "ann": {
            "learning_rate": 3e-3,
            "batch_size": 1024,
            "max_epochs": 150,
            "patience": 10,
            "lr_decay_factor": 0.5,
            "lr_decay_patience": 3,
            "l1": 0.0,
        },
        # docs/training.md: IF rate training from the ANN at T = 8.
        "snn_rate": {"neuron": "if", "timesteps": 8, "synapse_tau": None, "readout": "mean",
                     "rate_band_hz": (), "init": "ann", "epochs": 30, "learning_rate": 1e-3},
        # docs/training.md, "The trigger recipe": reset to zero (the section's default), the loss on the
        # read-out at T = 4 and 8 (the section's loss_timesteps), distillation on the ANN's logits,
        # 50 epochs at 3e-3 and a synops penalty of 0.05 (<= 50 % of the ANN's MACs at T = 8).
        "snn_surrogate": {"epochs": 50, "learning_rate": 3e-3, "distill_weight": 0.9, "synops_penalty": 0.05},
    },
    "seed-2019": {
        # The study's optimizer settings; with lr 1e-4 early stopping ends near epoch 300 on
        # the default sample (about 60 s on 2 shared cores; docs/run.md), so 500 epochs bound it.
        "ann": {
            "learning_rate": 1e-4,
            "batch_size": 1024,
            "max_epochs": 500,
            "patience": 10,
            "lr_decay_factor": 1.0,
            "l1": 0.0,
        },
        # SNN Toolbox conversion at the study's 200 steps.
        "convert": {"method": "snntoolbox", "timesteps": 200},
        # The study's Nengo-DL protocol: spiking ReLU, 0.1 s at 1 ms, 100 Hz, amplitude 0.01,
        # 5 ms filters read at the end, firing rates pulled into 100-200 Hz.
        "snn_rate": {"neuron": "spiking_relu", "timesteps": 100, "synapse_tau": 0.005, "readout": "last",
                     "max_rate": 100.0, "amplitude": 0.01, "rate_band_hz": (100.0, 200.0), "init": "random",
                     "learning_rate": 1e-3, "epochs": 100},
        # seed-2019 converts with SNN Toolbox (spike-count read-out, no half-threshold start), a poor
        # start at T = 8: start from the ANN instead, with the settings that suit it (docs/training.md).
        "snn_surrogate": {"init": "ann", "slope": 2.0, "learning_rate": 3e-3},
        # The study's Loihi layout: the first layer on the host PC in float, its spikes sent to the chip.
        "loihi": {"profile": "loihi1", "first_layer_offchip": True, "host_device": "cpu"},
    },
}

QUICK: dict[str, dict[str, Any]] = {
    "data": {"max_jets": 10000},
    "ann": {"max_epochs": 8, "batch_size": 256, "patience": 3, "lr_decay_patience": 1},
    "evaluate": {"n_bootstrap": 200},
    "convert": {"qcfs_epochs": 4},
    "snn_rate": {"epochs": 4},
    "snn_surrogate": {"epochs": 2, "max_train_jets": 3000, "max_timesteps": 32, "sweep_penalties": (0.1,),
                      "sweep_epochs": 1},
    "loihi": {"max_jets": 2000},
    "ann_particles": {"max_train_jets": 2000, "epochs": 2, "patience": 2},
    "pileup": {"max_jets": 100, "mlp_epochs": 3},
    "pileup_snn": {"epochs": 3, "patience": 2, "max_train_particles": 5000},
    "snn_particles": {"max_train_jets": 1000, "epochs": 1, "patience": 1, "loihi_max_jets": 500},
    "ann_interaction": {"max_train_jets": 2000, "epochs": 2, "patience": 2},
    "snn_interaction": {"max_train_jets": 1000, "epochs": 1, "patience": 1},
    "cnn_image": {"max_train_jets": 2000, "epochs": 2, "patience": 2},
    "snn_image": {"max_train_jets": 1000, "qcfs_epochs": 1, "patience": 1, "loihi_max_jets": 300,
                  "surrogate_epochs": 1, "surrogate_max_train_jets": 1000},
}
