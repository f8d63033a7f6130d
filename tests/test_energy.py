"""Energy and latency model: hand-computed numbers."""

from __future__ import annotations

import math

import pytest

from spikejet.errors import ConfigError
from spikejet.hardware import energy as E

RTOL = 1e-12


def test_ann_counts_of_the_study_mlp() -> None:
    c = E.ann_counts([16, 64, 32, 32, 5])
    assert c.synops == 16 * 64 + 64 * 32 + 32 * 32 + 32 * 5 == 4256
    assert c.neuron_updates == 64 + 32 + 32 + 5 == 133
    assert c.kind == "ann" and c.steps == 1


def test_ann_energy_on_cpu_gpu_arm_by_hand() -> None:
    c = E.ann_counts([16, 64, 32, 32, 5])
    ops = 4256 + 133
    assert math.isclose(E.energy_per_inference(c, "cpu"), ops * 8.6e-9, rel_tol=RTOL)
    assert math.isclose(E.energy_per_inference(c, "gpu"), ops * 0.3e-9, rel_tol=RTOL)
    assert math.isclose(E.energy_per_inference(c, "arm"), ops * 0.9e-9, rel_tol=RTOL)
    # 4389 ops * 0.3 nJ = 1.3167 uJ on the GPU
    assert math.isclose(E.energy_per_inference(c, "gpu"), 1.3167e-6, rel_tol=1e-9)


def test_ann_system_energy_by_hand() -> None:
    """The ANN is charged like a chip: softmax on its device, and on the GPU its float32 inputs and
    outputs across the link at the chip's assumed energy per bit; the CPU/ARM hold the features."""
    sizes = [16, 64, 32, 32, 5]
    e = E.ann_energy(sizes)
    softmax = 3 * 5 - 1
    link = (16 + 5) * 32 * E.IO_J_PER_BIT
    assert math.isclose(e["energy_per_inference_j"]["gpu"], (4389 + softmax) * 0.3e-9 + link, rel_tol=RTOL)
    assert math.isclose(e["energy_per_inference_j"]["cpu"], (4389 + softmax) * 8.6e-9, rel_tol=RTOL)
    assert math.isclose(e["energy_per_inference_j"]["arm"], (4389 + softmax) * 0.9e-9, rel_tol=RTOL)
    assert e["arithmetic_energy_per_inference_j"] == E.energy_estimate(E.ann_counts(sizes))
    b = e["system_energy_breakdown_j"]
    assert b["cpu"]["io"] == 0.0 and math.isclose(b["gpu"]["io"], link, rel_tol=RTOL)
    for d, parts in b.items():
        assert math.isclose(parts["compute"] + parts["io"] + parts["host"], e["energy_per_inference_j"][d],
                            rel_tol=RTOL)
    # the stage entry is the same dictionary
    m = {"ann": {}}
    E.add_energy_estimates(m, {"ann": sizes})
    assert m["ann"]["energy_per_inference_j"] == e["energy_per_inference_j"]


def test_conventional_system_energy_refuses_spiking_counts_and_bad_sizes() -> None:
    with pytest.raises(ConfigError, match="ANN counts"):
        E.conventional_system_energy(E.snn_counts(10, 10, 2), n_inputs=16, n_outputs=5)
    with pytest.raises(ConfigError, match="n_outputs"):
        E.conventional_system_energy(E.ann_counts([16, 5]), n_inputs=16, n_outputs=0)


def test_snn_energy_on_loihi_and_spinnaker_by_hand() -> None:
    # 1000 synops, 133 neurons x 50 steps
    c = E.snn_counts(synops=1000, neuron_updates=133 * 50, steps=50, spikes=300)
    loihi = 1000 * (23.6 + 3.5) * 1e-12 + 6650 * 81e-12
    assert math.isclose(E.energy_per_inference(c, "loihi"), loihi, rel_tol=RTOL)
    assert math.isclose(loihi, 27.1e-9 + 538.65e-9, rel_tol=1e-12)
    assert math.isclose(E.energy_per_inference(c, "spinnaker"), 1000 * 13.3e-9 + 6650 * 26e-9, rel_tol=RTOL)
    assert math.isclose(E.energy_per_inference(c, "spinnaker2"), 1000 * 450e-12 + 6650 * 2.19e-9,
                        rel_tol=RTOL)
    b = E.energy_breakdown(c, "loihi")
    assert math.isclose(b["synop_j"] + b["neuron_j"], b["total_j"], rel_tol=RTOL)


def test_loihi_synop_constant_is_core_plus_mean_hop() -> None:
    assert math.isclose(E.LOIHI_J_PER_SYNOP, 27.1e-12, rel_tol=RTOL)
    assert math.isclose(E.LOIHI_J_PER_HOP, (3.0 + 4.0) / 2 * 1e-12, rel_tol=RTOL)


def test_snn_dense_on_conventional_device() -> None:
    c = E.snn_dense_counts([16, 64, 5], steps=10)
    assert c.synops == (16 * 64 + 64 * 5) * 10
    assert c.neuron_updates == 69 * 10
    assert math.isclose(E.energy_per_inference(c, "gpu"), (13440 + 690) * 0.3e-9, rel_tol=RTOL)


def test_device_kind_mismatches_are_errors() -> None:
    with pytest.raises(ConfigError, match="spiking device"):
        E.energy_per_inference(E.ann_counts([4, 2]), "loihi")
    with pytest.raises(ConfigError, match="snn_dense_counts"):
        E.energy_per_inference(E.snn_counts(1, 1, 1), "gpu")
    with pytest.raises(ConfigError, match="unknown device"):
        E.energy_per_inference(E.ann_counts([4, 2]), "tpu")


@pytest.mark.parametrize("bad", [dict(synops=-1.0), dict(neuron_updates=math.nan), dict(steps=0),
                                 dict(kind="x")])
def test_opcounts_validation(bad) -> None:
    kw = dict(synops=1.0, neuron_updates=1.0, kind="ann", steps=1)
    kw.update(bad)
    with pytest.raises(ConfigError):
        E.OpCounts(**kw)


def test_horowitz_accumulate_vs_mac() -> None:
    assert math.isclose(E.mac_energy_pj("fp32"), 4.6, rel_tol=RTOL)
    assert math.isclose(E.mac_energy_pj("int8"), 0.23, rel_tol=RTOL)
    r = E.accumulate_vs_mac(synops=2000, macs=4256, precision="fp32")
    assert math.isclose(r["snn_j"], 2000 * 0.9e-12, rel_tol=RTOL)
    assert math.isclose(r["ann_j"], 4256 * 4.6e-12, rel_tol=RTOL)
    assert math.isclose(r["ratio"], 1800 / 19577.6, rel_tol=1e-12)
    r8 = E.accumulate_vs_mac(synops=2000, macs=4256, precision="int8")
    assert math.isclose(r8["ratio"], (2000 * 0.03) / (4256 * 0.23), rel_tol=1e-12)
    with pytest.raises(ConfigError):
        E.mac_energy_pj("fp64")


def test_latency_steps_include_axon_delays() -> None:
    lat = E.latency(100, [1, 1, 1])
    assert (lat.steps, lat.delay_steps, lat.seconds, lat.microseconds) == (103, 3, None, None)
    lat = E.latency(100, 3, time_per_step_s=E.STUDY_DT_S, assumption="simulated time, dt = 1 ms")
    assert math.isclose(lat.seconds, 0.103, rel_tol=RTOL)
    assert math.isclose(lat.microseconds, 103_000, rel_tol=RTOL)
    with pytest.raises(ConfigError, match="source"):
        E.latency(10, 0, time_per_step_s=1e-5)
    with pytest.raises(ConfigError):
        E.latency(0)
    with pytest.raises(ConfigError):
        E.latency(10, [-1])


def test_cost_rows_pick_devices_by_kind() -> None:
    snn = E.snn_counts(synops=500, neuron_updates=1000, steps=10, spikes=100)
    rows = E.cost_rows("snn", snn, accuracy=0.75, lat=E.latency(10, 3))
    assert [r["device"] for r in rows] == list(E.SPIKING_DEVICES)
    assert rows[0]["latency_steps"] == 13 and rows[0]["accuracy"] == 0.75
    ann_rows = E.cost_rows("ann", E.ann_counts([16, 64, 32, 32, 5]))
    assert [r["device"] for r in ann_rows] == list(E.CONVENTIONAL_DEVICES)
    assert all(r["source"] for r in rows + ann_rows)


def test_plot_energy_writes_a_png(tmp_path) -> None:
    from spikejet.report.figures.energy import plot_energy

    snn = E.snn_counts(synops=2000, neuron_updates=69 * 103, steps=100, spikes=400)
    rows = E.cost_rows("snn", snn, accuracy=0.74) + E.cost_rows("ann", E.ann_counts([16, 64, 32, 32, 5]),
                                                                 accuracy=0.752)
    out = plot_energy(rows, tmp_path / "energy.png", title="test")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert not list(tmp_path.glob(".*part*"))
    with pytest.raises(ConfigError):
        plot_energy([], tmp_path / "x.png")
