"""Property-based checks of the config layer: any value given to any numeric option is either accepted, and then
inside the option's documented range, or refused with a ConfigError naming the key; never another exception."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqarena.config import EvalConfig, TrainConfig, build
from seqarena.errors import ConfigError
from seqarena.ranges import VOCABULARY
from seqarena.registry import get_model, get_task, task_names


def _numeric(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if "range" in f.metadata or f.name in VOCABULARY]


SECTIONS = {"train": TrainConfig, "eval": EvalConfig, "model": get_model("transformer").Config}
SECTIONS |= {f"task:{name}": get_task(name).Config for name in task_names()}
KEYS = [(section, key) for section, cls in SECTIONS.items() for key in _numeric(cls)]
VALUES = st.one_of(
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 1.0, 2, "abc", "1k", None, True, [1, 2]]),
)


def _raw(section: str, key: str, value: object) -> tuple[dict, str]:
    if section.startswith("task:"):
        return {"task": {"name": section.split(":")[1], key: value}}, f"task.{key}"
    if section == "model":
        return {"model": {"name": "transformer", key: value}}, f"model.{key}"
    return {section: {key: value}}, f"{section}.{key}"


def test_every_numeric_option_has_a_range() -> None:
    assert len(KEYS) > 40
    assert ("train", "lr") in KEYS and ("task:forecast", "lookback") in KEYS and ("model", "dropout") in KEYS


@settings(max_examples=400, deadline=None)
@given(where=st.sampled_from(KEYS), value=VALUES)
def test_a_value_is_in_range_or_refused_naming_its_key(where: tuple[str, str], value: object) -> None:
    section, key = where
    raw, dotted = _raw(section, key, value)
    try:
        cfg = build(raw)
    except ConfigError as exc:
        assert dotted in str(exc), str(exc)
        return
    part = cfg.task if section.startswith("task:") else getattr(cfg, section)
    got = getattr(part, key)
    field = next(f for f in dataclasses.fields(part) if f.name == key)
    valid = field.metadata.get("range") or VOCABULARY[key]
    values = got if isinstance(got, list) else got.values() if isinstance(got, dict) else [got]
    for v in values:
        assert v is None or (isinstance(v, (int, float)) and math.isfinite(v) and v in valid), (dotted, got)


@pytest.mark.parametrize("value", [0, -1, 1.5, math.nan, math.inf])
def test_dropout_outside_zero_one_is_refused_for_every_model(value: float) -> None:
    from seqarena.registry import model_names

    for name in model_names():
        if "dropout" in {f.name for f in dataclasses.fields(get_model(name).Config)}:
            if value == 0:
                build({"model": {"name": name, "dropout": value}})
                continue
            with pytest.raises(ConfigError, match=f"model.dropout={value!r}|model.dropout"):
                build({"model": {"name": name, "dropout": value}})
