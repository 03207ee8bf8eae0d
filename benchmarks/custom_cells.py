"""What the custom-cell LSTM variants cost against the fused nn.LSTM: forward+backward time of a 2-layer model,
medians over repeats, in one process; also a naive loop (x[:, t] indexing, no hoisted input projection) to show
what the hoisting and unbind buy. Prints JSON.

    .venv/bin/python benchmarks/custom_cells.py [--batch 32 --steps 96 --width 64 --reps 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from seqarena.models.lstm_variants import CellLSTMConfig, LayerNormLSTM, LayerNormLSTMConfig, PeepholeLSTM


class NaiveLoopLSTM(nn.Module):
    """The textbook loop: nn.LSTMCell per step, inputs indexed x[:, t]."""

    def __init__(self, width: int, layers: int) -> None:
        super().__init__()
        self.cells = nn.ModuleList(nn.LSTMCell(width, width) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for cell in self.cells:
            h = c = x.new_zeros(x.shape[0], cell.hidden_size)
            outs = []
            for t in range(x.shape[1]):
                h, c = cell(x[:, t], (h, c))
                outs.append(h)
            x = torch.stack(outs, 1)
        return x


def timed(model: nn.Module, x: torch.Tensor, reps: int) -> float:
    def run() -> None:
        out = model(x)
        (out[0] if isinstance(out, tuple) else out).sum().backward()

    for _ in range(2):
        run()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.steps, args.width, requires_grad=True)
    models = {
        "fused_lstm": nn.LSTM(args.width, args.width, args.layers, batch_first=True),
        "peephole_lstm": PeepholeLSTM(CellLSTMConfig(d_model=args.width, num_layers=args.layers)),
        "layernorm_lstm": LayerNormLSTM(LayerNormLSTMConfig(d_model=args.width, num_layers=args.layers)),
        "naive_loop_lstm": NaiveLoopLSTM(args.width, args.layers),
    }
    ms = {name: timed(model, x, args.reps) for name, model in models.items()}
    with torch.backends.mkldnn.flags(enabled=False):  # the fused kernel without oneDNN, for context
        ms["fused_lstm_without_onednn"] = timed(models["fused_lstm"], x, args.reps)
    base = ms["fused_lstm"]
    report = {
        "benchmark": "custom_cells", "batch": args.batch, "steps": args.steps, "width": args.width,
        "layers": args.layers, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "fwd_bwd_ms": {k: round(v, 2) for k, v in ms.items()},
        "ratio_vs_fused": {k: round(v / base, 2) for k, v in ms.items()},
    }  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
