from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from spikejet import config as C
from spikejet.config import (
    AnnConfig,
    DataConfig,
    EvalConfig,
    RunConfig,
    config_to_yaml,
    load_config_file,
    register_section,
    resolve_config,
)
from spikejet.errors import ConfigError


def test_presets_set_the_study_and_default_recipes():
    study = resolve_config(preset="seed-2019")
    assert study.ann.learning_rate == pytest.approx(1e-4, rel=0, abs=0)
    assert study.ann.batch_size == 1024
    assert study.ann.hidden == (64, 32, 32)
    default = resolve_config()
    assert default.preset == "default"
    assert default.ann.learning_rate != study.ann.learning_rate


def test_resolution_order_file_then_quick_then_flags():
    cfg = resolve_config(
        {"seed": 5, "ann": {"learning_rate": "2e-3", "max_epochs": 50}, "data": {"max_jets": 100000}},
        quick=True,
        seed=9,
        data_source="x.h5",
    )
    assert cfg.seed == 9  # flag beats file
    assert cfg.ann.learning_rate == pytest.approx(2e-3, rel=1e-12, abs=0)  # YAML 1.1 string accepted
    assert cfg.ann.max_epochs == C.QUICK["ann"]["max_epochs"]  # quick beats file
    assert cfg.data.max_jets == C.QUICK["data"]["max_jets"]
    assert cfg.data.source == "x.h5"
    assert cfg.quick is True


def test_yaml_round_trip_gives_same_config(tmp_path):
    cfg = resolve_config({"ann": {"l1": 1e-4, "class_weights": True}}, preset="seed-2019", seed=3, quick=True)
    p = tmp_path / "c.yaml"
    p.write_text(config_to_yaml(cfg))
    again = resolve_config(load_config_file(p))
    assert again == cfg
    assert again.to_dict() == cfg.to_dict()


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"ann": {"lerning_rate": 1e-3}}, r"unknown config key ann\.lerning_rate; valid keys in 'ann': task, hidden"),
        ({"bogus": 1}, r"unknown config key 'bogus'; valid top-level keys: preset, seed"),
        ({"ann": {"learning_rate": -1e-3}}, r"ann\.learning_rate: must be a positive number"),
        ({"ann": {"batch_size": 0}}, r"ann\.batch_size: must be at least 1, got 0"),
        ({"ann": {"batch_size": 12.5}}, r"ann\.batch_size: expected an integer"),
        ({"ann": {"class_weights": "yes"}}, r"ann\.class_weights: expected true or false"),
        ({"ann": {"hidden": [64, 0]}}, r"ann\.hidden: widths must be positive"),
        ({"ann": {"task": "regression"}}, r"ann\.task: unknown task 'regression'"),
        ({"ann": "fast"}, r"config section 'ann' must be a mapping"),
        ({"data": {"val_fraction": 0.5, "test_fraction": 0.5}}, r"must be below 1"),
        ({"evaluate": {"interval": 1.5}}, r"evaluate\.interval: must be in \(0, 1\)"),
        ({"preset": "fastest"}, r"unknown preset 'fastest'; choose one of default, seed-2019"),
        ({"seed": -1}, r"seed: must be an integer"),
    ],
)
def test_bad_values_raise_config_error_naming_the_key(values, match):
    with pytest.raises(ConfigError, match=match):
        resolve_config(values)


def test_unknown_preset_flag():
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        resolve_config(preset="nope")


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "missing.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("ann: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(p)
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config_file(p)
    p.write_text("")
    assert load_config_file(p) == {}


def test_configs_are_frozen():
    cfg = resolve_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.ann.learning_rate = 1.0  # type: ignore[misc]


def test_task_default_hidden_layers():
    assert AnnConfig().hidden == (64, 32, 32)
    assert AnnConfig(task="top_vs_rest").hidden == C.DEFAULT_HIDDEN["top_vs_rest"]
    assert AnnConfig(task="top_vs_rest", hidden=(16, 8)).hidden == (16, 8)


def test_direct_construction_validates():
    with pytest.raises(ConfigError, match="data.max_jets"):
        DataConfig(max_jets=5)
    with pytest.raises(ConfigError, match="evaluate.efficiencies"):
        EvalConfig(efficiencies=(0.5, 1.5))
    with pytest.raises(ConfigError, match="preset"):
        RunConfig(preset="x")


@pytest.fixture
def toy_section():
    @register_section("toystage", presets={"seed-2019": {"steps": 200}}, quick={"steps": 4})
    @dataclass(frozen=True)
    class ToyConfig:
        steps: int = 64
        mode: str = "a"

        def __post_init__(self):
            if self.steps < 1:
                raise ConfigError(f"config value toystage.steps: must be >= 1, got {self.steps}")

    yield ToyConfig
    C._SECTIONS.pop("toystage", None)


def test_registered_section_extension_point(toy_section, tmp_path):
    assert resolve_config().toystage == toy_section()
    assert resolve_config(preset="seed-2019").toystage.steps == 200
    assert resolve_config(quick=True).section("toystage").steps == 4
    cfg = resolve_config({"toystage": {"mode": "b"}})
    assert cfg.toystage.mode == "b"
    assert yaml.safe_load(config_to_yaml(cfg))["toystage"] == {"steps": 64, "mode": "b"}
    with pytest.raises(ConfigError, match=r"unknown config key toystage\.stepz"):
        resolve_config({"toystage": {"stepz": 3}})
    with pytest.raises(ConfigError, match="toystage.steps: must be >= 1"):
        resolve_config({"toystage": {"steps": 0}})
    with pytest.raises(ValueError, match="reserved"):
        register_section("ann")


@settings(max_examples=40, deadline=None)
@given(
    lr=st.floats(min_value=1e-6, max_value=1.0, allow_nan=False),
    batch=st.integers(min_value=1, max_value=4096),
    l1=st.floats(min_value=0, max_value=1e-2, allow_nan=False),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_yaml_round_trip_property(lr, batch, l1, seed):
    cfg = resolve_config({"ann": {"learning_rate": lr, "batch_size": batch, "l1": l1, "min_learning_rate": 0.0}},
                         seed=seed)
    again = resolve_config(yaml.safe_load(config_to_yaml(cfg)))
    assert again == cfg
