from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from spikejet.evaluate.metrics import evaluate_scores, roc_curves
from spikejet.report.figures.run import plot_confusions, plot_data_summary, plot_roc, plot_training
from spikejet.report.html import ReportFigure, write_report
from spikejet.report.style import PLAIN_ENV, figure_png, save_figure
from spikejet.report.tables import STUDY_2019, comparison_rows, format_comparison

CLASSES = ("g", "q", "w", "z", "t")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def metrics(rng):
    y = rng.integers(0, 5, 1500)
    s = rng.normal(size=(1500, 5))
    s[np.arange(1500), y] += 1.0
    ann = evaluate_scores(y, s, class_names=CLASSES, seed=1, n_bootstrap=100)
    s2 = s + rng.normal(size=s.shape)
    snn = evaluate_scores(y, s2, class_names=CLASSES, seed=1, n_bootstrap=100)
    snn["timesteps"] = 32
    return {"ann": ann, "snn_converted": snn}, y, s


def test_comparison_table_has_study_numbers_and_later_rows(metrics):
    m, _, _ = metrics
    m = {**m, "my_new_stage": m["ann"], "loihi": {**m["ann"], "timesteps": 128}}
    rows = comparison_rows(m)
    assert [r.stage for r in rows] == ["ann", "snn_converted", "loihi", "my_new_stage"]
    text = format_comparison(m)
    lines = text.splitlines()
    assert "2019 study" in lines[0] and "68 % interval" in lines[0]
    assert "75.20 %" in lines[2] and f"{m['ann']['accuracy'] * 100:.2f} %" in lines[2]
    assert "69.72 %" in lines[3] and " 32 " in lines[3]
    assert "69.80 %" in lines[4] and "128" in lines[4]
    assert "no published result" in lines[5]
    assert len(STUDY_2019["snn_rate"]) == 2
    rate = format_comparison({"snn_rate": m["ann"]})
    assert "46.83 %" in rate and "65.08 %" in rate


def test_binary_model_is_not_compared_with_five_class_numbers(rng):
    y = rng.integers(0, 2, 300)
    s = rng.normal(size=(300, 2))
    m = {"ann": evaluate_scores(y, s, class_names=("rest", "t"), seed=1, n_bootstrap=20)}
    assert "n/a (not the 5-class task)" in format_comparison(m)


def test_figures_render_to_png(metrics, rng, monkeypatch):
    m, y, s = metrics
    X = rng.normal(size=(len(y), 16)).astype(np.float32)
    from spikejet.data import FEATURE_NAMES

    figs = [
        plot_data_summary(X, y, feature_names=FEATURE_NAMES, class_names=CLASSES,
                          split_counts={"train": [3, 3, 3, 3, 3], "test": [1, 1, 1, 1, 1]}),
        plot_training({"ANN": {"train_loss": [1.0, 0.9], "val_loss": [1.1, 1.0], "val_accuracy": [0.5, 0.6],
                               "best_epoch": 2}}),
        plot_confusions({"ANN": m["ann"]["confusion_matrix"], "SNN": m["snn_converted"]["confusion_matrix"]},
                        class_names=CLASSES, accuracies={"ANN": m["ann"]["accuracy"]}),
        plot_roc(roc_curves(y, s, class_names=CLASSES), auc=m["ann"]["auc"], title="ANN"),
    ]
    assert len(figs[2].axes) == 3  # two matrices side by side + colour bar
    for f in figs:
        assert figure_png(f).startswith(PNG_MAGIC)
    monkeypatch.setenv(PLAIN_ENV, "1")  # plain matplotlib fallback works too
    assert figure_png(plot_roc(roc_curves(y, s, class_names=CLASSES))).startswith(PNG_MAGIC)


def test_many_confusion_matrices_wrap_into_rows(metrics):
    m, _, _ = metrics
    fig = plot_confusions({f"model {i}": m["ann"]["confusion_matrix"] for i in range(5)}, class_names=CLASSES)
    visible = [a for a in fig.axes if a.get_visible() and a.images]
    assert len(visible) == 5
    assert len({round(a.get_position().y0, 3) for a in visible}) == 2  # 3 + 2 on two rows


def test_confusion_plot_tolerates_missing_class_rows():
    cm = [[1.0, 0.0], [None, None]]
    assert figure_png(plot_confusions({"x": cm}, class_names=("rest", "t"))).startswith(PNG_MAGIC)


def test_report_is_self_contained_and_complete(metrics, tmp_path, rng):
    m, y, s = metrics
    png = save_figure(plot_roc(roc_curves(y, s, class_names=CLASSES)), tmp_path / "figures" / "roc.png")
    extra = save_figure(plot_roc(roc_curves(y, s, class_names=CLASSES)), tmp_path / "figures" / "acc_t.png")
    figs = [
        ReportFigure("roc_ann", png, "ROC <ann>", "roc"),
        ReportFigure("acc_t", extra, "accuracy vs T", "spiking"),
    ]
    out = write_report(
        tmp_path / "report.html", title="t", metrics=m, figures=figs,
        data_summary={"source": "x.h5", "n_jets": 1500, "class_names": list(CLASSES),
                      "split_counts": {"train": [100] * 5, "test": [20] * 5}, "provenance": {"generator": "pythia"}},
        config_yaml="seed: 1\n", timings={"load": 0.5}, meta={"preset": "default"},
    )
    html = out.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)  # nothing external
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(imgs) == 2 and all(base64.b64decode(i).startswith(PNG_MAGIC) for i in imgs)
    assert "ROC &lt;ann&gt;" in html  # escaped
    assert html.index("ROC curves") < html.index("Spiking")  # known sections first, then new ones
    for needle in ("75.20 %", "69.72 %", "Results", "Data", "x.h5",
                   "rejection at 50 % eff.", "pythia", "Configuration", "Stages"):
        assert needle in html, needle
    assert html.count("<h3>") == 3  # the trigger table and per-class tables for both models
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
