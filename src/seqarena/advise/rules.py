"""The articles' decision trees as explicit rules: when a rule applies it adds or takes points from models or whole
families, with a plain reason and where the advice comes from. The advisor adds the points up; `seqarena advise
--verify` races the result, and `--evaluate` says how often these rules pick the measured winner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from seqarena.advise.properties import Properties


@dataclass(frozen=True)
class Rule:
    name: str
    applies: Callable[[Properties], bool]
    effects: dict[str, float]  # a model name, or "family:<family>" (recurrent, attention, state-space, ...)
    reason: str
    source: str


def _len(p: Properties) -> int:
    return p.seq_len or 0


RULES = (
    Rule(
        "short sequences",
        lambda p: 0 < _len(p) < 50,
        {"gru": 2, "lstm": 1, "rnn": 1},
        "below ~50 steps a GRU does as well as an LSTM with a quarter fewer weights; even a vanilla RNN copes",
        "RNN/LSTM/GRU decision trees ('GRU below 50 steps')",
    ),
    Rule(
        "medium sequences",
        lambda p: 50 <= _len(p) <= 1000,
        {"lstm": 2, "gru": 1, "tcn": 1, "s4d": 1, "rnn": -2},
        "from 50 to 1,000 steps gated recurrences, convolutions and state-space layers hold the dependencies; a "
        "vanilla RNN forgets them",
        "LSTM articles ('LSTM is far better than RNN beyond 100 steps')",
    ),
    Rule(
        "long sequences",
        lambda p: 1000 < _len(p) <= 10000,
        {
            "transformer": 2,
            "s4d": 2,
            "mamba": 1,
            "local_attention": 1,
            "linear_attention": 1,
            "tcn": 1,
            "rnn": -3,
            "lstm": -1,
            "gru": -1,
        },
        "beyond 1,000 steps attention and state-space models reach back directly; recurrences must carry it "
        "step by step",
        "decision trees ('Transformer above 1,000 steps'); S4 (Gu et al. 2022)",
    ),
    Rule(
        "very long sequences",
        lambda p: _len(p) > 10000,
        {"local_attention": 2, "linear_attention": 2, "s4d": 2, "mamba": 1, "transformer": -2, "family:recurrent": -2},
        "beyond 10,000 steps full attention's quadratic time is the bottleneck: an efficient variant or a "
        "state-space model",
        "decision trees ('an efficient variant such as Reformer above 10,000')",
    ),
    Rule(
        "small data",
        lambda p: p.samples is not None and p.samples < 2000,
        {"transformer": -2, "local_attention": -1, "linear_attention": -1, "linear": 2, "gru": 1},
        "with under 2,000 training examples a Transformer tends to overfit; small recurrent or linear models are safer",
        "RNN vs Transformer tables ('small dataset: LSTM/GRU')",
    ),
    Rule(
        "large data",
        lambda p: p.samples is not None and p.samples > 50000,
        {"transformer": 1, "s4d": 1},
        "with over 50,000 examples the more flexible models have the data to use their capacity",
        "RNN vs Transformer tables ('large dataset: Transformer')",
    ),
    Rule(
        "strong seasonality",
        lambda p: p.seasonal_strength > 0.5,
        {"linear": 3, "transformer": -1},
        "a strongly seasonal series is forecast well by a linear model on the decomposed window",
        "Zeng et al. 2023, 'Are Transformers effective for time series forecasting?' (DLinear)",
    ),
    Rule(
        "many channels",
        lambda p: (p.channels or 0) > 32,
        {"linear": 1, "transformer": 1},
        "many channels favour models that share weights across them",
        "PatchTST / DLinear channel independence",
    ),
    Rule(
        "irregular sampling",
        lambda p: p.irregular,
        {"grud": 3},
        "uneven sampling times: a time-aware recurrence (GRU-D) reads the gaps instead of ignoring them",
        "Che et al. 2018 (GRU-D)",
    ),
    Rule(
        "streaming",
        lambda p: p.streaming,
        {"family:recurrent": 2, "s4d": 1, "mamba": 1, "linear_attention": 1},
        "step-by-step predictions want a constant-size state; a KV cache grows with the stream",
        "articles recommending RNNs for real-time and on-device inference",
    ),
    Rule(
        "CPU training",
        lambda p: p.device == "cpu",
        {"gru": -1, "mamba": -2, "peephole_lstm": -1, "layernorm_lstm": -1, "grud": -1},
        "on a CPU the GRU has no fused oneDNN kernel (about 3x an LSTM), and Python-loop cells and Mamba's "
        "sequential scan are several times slower",
        "seqarena's own measurements on this CPU",
    ),
    Rule(
        "GPU training",
        lambda p: p.device == "cuda",
        {"transformer": 1, "mamba": 1, "family:recurrent": -1},
        "a GPU runs attention and parallel scans in parallel over time; recurrences stay sequential",
        "Transformer and Mamba papers",
    ),
    Rule(
        "whole-sequence classification",
        lambda p: p.classes is not None and not p.streaming,
        {"lstm": 1, "transformer": 1},
        "a label for the whole sequence may read it in both directions",
        "bidirectional RNN articles",
    ),
)


def score(model: str, family: str, props: Properties) -> tuple[float, list[tuple[float, str]]]:
    """The model's points under the rules that apply, and (points, rule name) per rule that moved them."""
    total, why = 0.0, []
    for rule in RULES:
        if not rule.applies(props):
            continue
        points = rule.effects.get(model, 0.0) + rule.effects.get(f"family:{family}", 0.0)
        if points:
            total += points
            why.append((points, rule.name))
    return total, why


def fired(props: Properties) -> list[Rule]:
    return [r for r in RULES if r.applies(props)]
