"""The MLP in hls4ml-style fixed point: hand-computed cases, and bit-for-bit against hls4ml's compile()."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from spikejet.errors import ConfigError
from spikejet.hardware.fpga import (
    DEFAULT_PRECISION,
    PUBLISHED,
    FixedPointMLP,
    FixedPrecision,
    FixedType,
    fpga_metrics,
    weight_text_value,
)

SIZES = (16, 64, 32, 32, 5)


@pytest.fixture
def mlp(one_torch_thread):
    import torch

    from spikejet.ann.model import MLP

    torch.manual_seed(7)
    return MLP(SIZES).eval()


@pytest.fixture
def features(rng) -> np.ndarray:
    return rng.normal(size=(400, 16)).astype(np.float32)


# ----------------------------------------------------------------------- the types, by hand


def test_parse_and_print_types() -> None:
    t = FixedType.parse("ap_fixed<16,6>")
    assert (t.width, t.integer, t.frac, t.signed, t.quantization, t.overflow) == (16, 6, 10, True, "AP_TRN", "AP_WRAP")
    assert str(t) == "ap_fixed<16,6>" and t.lsb == 2 ** -10
    s = FixedType.parse("ap_fixed<8,3,AP_RND,AP_SAT>")
    assert (s.quantization, s.overflow) == ("AP_RND", "AP_SAT") and str(s) == "ap_fixed<8,3,AP_RND,AP_SAT>"
    u = FixedType.parse("ap_ufixed<8,0>")
    assert not u.signed and (u.code_min, u.code_max) == (0, 255)


@pytest.mark.parametrize("text", ["ap_fixed<16>", "float", "ap_fixed<0,0>", "ap_fixed<40,6>",
                                  "ap_fixed<8,3,AP_RND_CONV,AP_WRAP>", "ap_fixed<8,3,AP_TRN,AP_SAT_SYM>"])
def test_bad_types_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        FixedType.parse(text)


def test_truncation_floors_and_wrap_is_twos_complement() -> None:
    t = FixedType.parse("ap_fixed<4,2>")  # LSB 0.25, range [-2, 1.75]
    x = np.array([0.3, -0.3, 1.75, 2.0, -2.25, 0.0])
    # floor: 0.25, -0.5; 2.0 -> code 8 wraps to -8 (-2.0); -2.25 -> code -9 wraps to 7 (1.75)
    np.testing.assert_array_equal(t.quantize(x), [0.25, -0.5, 1.75, -2.0, 1.75, 0.0])


def test_rounding_and_saturation() -> None:
    t = FixedType.parse("ap_fixed<4,2,AP_RND,AP_SAT>")
    x = np.array([0.375, -0.375, 0.3, 5.0, -5.0])
    # round half up: 1.5 -> 2 (0.5), -1.5 -> -1 (-0.25), 1.2 -> 1; saturate at 1.75 / -2
    np.testing.assert_array_equal(t.quantize(x), [0.5, -0.25, 0.25, 1.75, -2.0])


def test_code_conversion_between_types() -> None:
    acc = FixedType.parse("ap_fixed<8,4>")  # F = 4
    # codes with 8 fractional bits: 32 -> 2, -36 -> floor(-2.25) = -3
    np.testing.assert_array_equal(acc.from_codes(np.array([32, -36]), 8), [2, -3])
    np.testing.assert_array_equal(acc.from_codes(np.array([3]), 2), [12])  # finer grid: shift left


def test_weights_take_hls4ml_text_route() -> None:
    t = FixedType.parse("ap_fixed<8,3>")  # 5 fractional bits -> 5 decimals
    # 0.031249 prints as 0.03125 = 1 LSB, although floor(0.031249 * 32) = 0
    assert weight_text_value(np.array([0.031249], np.float32), t)[0] == 0.03125
    assert t.from_float(weight_text_value(np.array([0.031249], np.float32), t))[0] == 1
    assert t.from_float(np.array([0.031249]))[0] == 0


def test_one_dense_layer_by_hand() -> None:
    p = FixedPrecision.uniform("ap_fixed<8,4>")  # LSB 1/16
    fx = FixedPointMLP.from_arrays([np.array([[0.3, 0.6]], np.float32)], [np.array([0.1], np.float32)], p)
    # w: 0.3 -> 4/16, 0.6 -> 9/16; b: 0.1 -> 1/16; x: 0.5 -> 8/16, -0.25 -> -4/16
    # products (F = 8): 32 -> 2/16, -36 -> -3/16 (each floored into accum_t); 1 + 2 - 3 = 0
    np.testing.assert_array_equal(fx.predict_codes(np.array([[0.5, -0.25]], np.float32)), [[0]])
    assert fx.predict_logits(np.array([[0.5, -0.25]], np.float32))[0, 0] == 0.0  # float: 0.1


def test_saturating_accumulator_sums_in_hls4ml_order() -> None:
    w = [np.array([[1.5, 1.5, -1.5]], np.float32)]
    b = [np.zeros(1, np.float32)]
    x = np.ones((1, 3), np.float32)
    sat = FixedPointMLP.from_arrays(w, b, FixedPrecision.uniform("ap_fixed<4,2,AP_TRN,AP_SAT>"))
    wrap = FixedPointMLP.from_arrays(w, b, FixedPrecision.uniform("ap_fixed<5,3>"))
    # saturating: 0 + 1.5 = 1.5, + 1.5 -> clipped at 1.75, - 1.5 = 0.25
    assert sat.predict_logits(x)[0, 0] == 0.25
    assert wrap.predict_logits(x)[0, 0] == 1.5


def test_relu_between_layers_by_hand() -> None:
    p = FixedPrecision.uniform("ap_fixed<8,4>")
    w = [np.array([[1.0], [-1.0]], np.float32), np.array([[1.0, 1.0]], np.float32)]
    b = [np.zeros(2, np.float32), np.array([0.5], np.float32)]
    fx = FixedPointMLP.from_arrays(w, b, p)
    # hidden = relu([0.75, -0.75]) = [0.75, 0]; out = 0.75 + 0 + 0.5
    assert fx.predict_logits(np.array([[0.75]], np.float32))[0, 0] == 1.25


def test_wide_precision_is_close_to_float(mlp, features) -> None:
    import torch

    with torch.no_grad():
        ref = mlp(torch.from_numpy(features)).numpy().astype(np.float64)
    fx = FixedPointMLP.from_mlp(mlp, "ap_fixed<24,8>")  # LSB 2**-16
    # every rounding costs at most one LSB per product, bias and activation
    bound = 2 ** -16 * (16 + 64 + 32 + 32 + 4) * 4
    np.testing.assert_allclose(fx.predict_logits(features), ref, rtol=0, atol=bound)
    p = fx.predict_proba(features)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_fpga_metrics_entry(mlp, features, rng) -> None:
    y = rng.integers(0, 5, size=features.shape[0])
    m = fpga_metrics(mlp, features, y, class_names=list("gqwzt"), seed=1)
    for key in ("accuracy", "auc", "rejection", "latency_ns", "latency_source", "energy_per_inference_j",
                "energy_source", "precision"):
        assert key in m
    assert m["precision"]["weight"] == DEFAULT_PRECISION
    assert m["macs_per_inference"] == 4256.0
    assert m["latency_ns"] == 100.0 and "Duarte" in m["latency_source"]
    assert m["energy_per_inference_j"] is None and "not published" in m["energy_source"]
    assert all(f.source for f in PUBLISHED)


# ------------------------------------------------------------------ against hls4ml's compile()

HLS4ML_PRECISIONS = ("ap_fixed<16,6>", "ap_fixed<8,3,AP_RND,AP_SAT>")


@pytest.mark.slow
@pytest.mark.parametrize("precision", HLS4ML_PRECISIONS)
def test_bit_for_bit_equal_to_hls4ml(mlp, features, tmp_path, precision: str) -> None:
    pytest.importorskip("hls4ml")
    if shutil.which("g++") is None:
        pytest.skip("hls4ml's compile() needs g++")
    from spikejet.interop.hls4ml import hls4ml_model, hls4ml_predict

    X = np.concatenate([features, 4 * features[:100]])  # large inputs: overflow paths too
    hm = hls4ml_model(mlp, precision, tmp_path / "prj")
    ours = FixedPointMLP.from_mlp(mlp, precision).predict_logits(X)
    np.testing.assert_array_equal(ours, hls4ml_predict(hm, X))
