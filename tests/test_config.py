from __future__ import annotations

from pathlib import Path

import pytest

from seqarena.config import RunConfig, build, dump_yaml, load_yaml, set_dotted, to_dict
from seqarena.errors import ConfigError


def test_defaults_build_a_complete_config() -> None:
    cfg = build({})
    assert isinstance(cfg, RunConfig)
    assert cfg.model.name == "lstm" and cfg.task.name == "forecast"


def test_yaml_strings_are_coerced_to_field_types(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  lr: 3e-3\n  max_epochs: '5'\n  progress: 'false'\nmodel:\n  name: gru\n  d_model: 1k\n")
    cfg = build(load_yaml(path))
    assert cfg.train.lr == pytest.approx(0.003)
    assert cfg.train.max_epochs == 5 and cfg.train.progress is False
    assert cfg.model.d_model == 1000


def test_dotted_overrides_and_round_trip(tmp_path) -> None:
    raw: dict = {}
    for item in (
        "train.lr=3e-3",
        "model.name=transformer",
        "model.num_heads=2",
        "task.target=null",
        "train.lr_mult.net=0.5",
        "train.clip_norm=none",
    ):
        set_dotted(raw, item)
    cfg = build(raw)
    assert cfg.model.num_heads == 2 and cfg.train.lr_mult == {"net": 0.5} and cfg.train.clip_norm is None
    dump_yaml(cfg, tmp_path / "c.yaml")
    assert to_dict(build(load_yaml(tmp_path / "c.yaml"))) == to_dict(cfg)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"train": {"lr": "fast"}}, "train.lr='fast' is not valid: expected float"),
        ({"train": {"max_epoch": 1}}, "did you mean 'train.max_epochs'"),
        ({"train": {"optimizer": "adam"}}, "one of 'adamw', 'sgd'"),
        ({"task": {"features": "X"}}, "task.features"),
        ({"model": {"name": "lstm", "num_heads": 4}}, "unknown option 'model.num_heads'"),
        ({"model": {"name": "lsmt"}}, "did you mean 'lstm'"),
        ({"trian": {}}, "did you mean 'train'"),
        ({"train": 3}, "must be a mapping"),
        ({"train": {"max_epochs": 2.5}}, "expected int"),
    ],
)
def test_bad_config_names_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(raw)


def test_set_needs_a_section() -> None:
    with pytest.raises(ConfigError, match="must start with"):
        set_dotted({}, "lr=3")
    with pytest.raises(ConfigError, match="key=value"):
        set_dotted({}, "train.lr")


CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path: Path) -> None:
    """The YAML files the README points at parse into a run or an arena (no training)."""
    from seqarena.arena import spec as arena_spec

    raw = load_yaml(path)
    if "models" in raw:
        assert arena_spec.expand(arena_spec.load(str(path)))  # every run resolves to a valid config
    else:  # a run config, perhaps with the tune: section `seqarena tune` reads
        from seqarena.tune.study import split_config

        assert build(split_config(raw)[0]).model.name
