"""Recurrent-memory Transformer (RMT, Bulatov et al., 2022; segment-level recurrence as in Transformer-XL): the
sequence is cut into segments of `segment` steps and a causal Transformer reads each one as
[memory; segment; memory]; its outputs at the trailing memory places become the next segment's memory. Only the
memory (B, M, D) crosses a segment boundary, so attention costs O(T (S + 2M)) instead of O(T^2) and the state has a
fixed size: the model streams like an RNN. Within a window gradients flow through the memory across segments
(backpropagation through time); a state carried from one training window to the next is detached like an RNN's.

State: (memory offset (B, M, D), the current segment's inputs so far (B, S, D), steps into the segment (1,) long).
The memory is kept as its offset from the learned initial memory, so the zero state is the start. A single step
(T = 1, and so every exported step graph) runs branch-free on the fixed-size buffer: the input is written at its
place by a one-hot mask, the whole segment is read (causal, so the empty places after it change nothing), and
when the segment is full the new memory and an empty buffer are swapped in by torch.where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.attention import SoftmaxAttention
from seqarena.models.base import Capabilities, SequenceModel, State
from seqarena.models.transformer import Block, sinusoidal
from seqarena.ranges import at_least, opt
from seqarena.registry import register_model


@dataclass(kw_only=True)
class MemoryTransformerConfig:
    name: str = "memory_transformer"
    d_model: int = 64
    num_layers: int = 2
    num_heads: int = 4
    d_ff: int | None = None  # None: 4 * d_model
    dropout: float = 0.0
    segment: int = opt(32, at_least(1))  # steps per segment: attention spans a segment and the memory
    memory: int = opt(8, at_least(1))  # memory tokens carried from segment to segment
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


@register_model("memory_transformer")
class MemoryTransformer(SequenceModel):
    Config = MemoryTransformerConfig
    onnx_variable_length = False  # a Python loop over segments: a window graph keeps the traced length

    def __init__(self, cfg: MemoryTransformerConfig) -> None:
        super().__init__()
        if cfg.d_model % cfg.num_heads:
            raise ConfigError(f"model.d_model={cfg.d_model} must be divisible by model.num_heads={cfg.num_heads}")
        if cfg.segment < 1 or cfg.memory < 1:
            raise ConfigError("model.segment and model.memory must be >= 1")
        self.cfg = cfg
        d_ff = cfg.d_ff or 4 * cfg.d_model
        self.memory = nn.Parameter(torch.randn(cfg.memory, cfg.d_model) * 0.02)  # (M, D) the first read
        attn = lambda: SoftmaxAttention(cfg.d_model, cfg.num_heads, cfg.dropout)  # noqa: E731
        self.blocks = nn.ModuleList(Block(cfg.d_model, d_ff, cfg.dropout, attn()) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.register_buffer("places", sinusoidal(torch.arange(cfg.segment), cfg.d_model), persistent=False)

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="attention", causal=True, stateful=True, streaming=True)

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        c = self.cfg
        return (
            torch.zeros(batch, c.memory, c.d_model, device=device),  # offset from the learned memory
            torch.zeros(batch, c.segment, c.d_model, device=device),  # this segment's inputs so far
            torch.zeros(1, dtype=torch.long, device=device),  # steps into this segment
        )

    def read(self, memory: torch.Tensor, seg: torch.Tensor, write: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """memory (B, M, D), seg (B, s, D) inputs of one segment (s <= S) -> (outputs (B, s, D), the memory written
        at the trailing places (B, M, D), or the read memory when `write` is false)."""
        M, s = self.cfg.memory, seg.shape[1]
        parts = [memory, self.drop(seg + self.places[:s].to(seg.dtype))]
        h = torch.cat([*parts, memory] if write else parts, dim=1)  # (B, M + s [+ M], D)
        for block in self.blocks:
            h, _ = block(h, True, None, 0)
        h = self.norm(h)
        return h[:, M : M + s], h[:, M + s :] if write else memory

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State | None]:
        # x: (B, T, D)
        B, T, _ = x.shape
        S = self.cfg.segment
        k = 0 if state is None else int(state[2].item())  # a window graph is traced without a state
        if state is None:
            state = self.init_state(B, x.device)
        if T == 1:
            return self._step(x, state)
        offset, buf, k0 = state
        memory = self.memory.to(x.dtype) + offset  # (B, M, D)
        outs, i = [], 0
        while i < T:
            n = min(S - k, T - i)
            seg = torch.cat([buf[:, :k], x[:, i : i + n]], dim=1)  # (B, k + n, D)
            full = k + n == S
            y, memory = self.read(memory, seg, write=full)
            outs.append(y[:, k:])
            if full:
                buf, k = torch.zeros_like(buf), 0
            else:
                buf, k = torch.cat([seg, buf[:, k + n :]], dim=1), k + n
            i += n
        new = (memory - self.memory.to(x.dtype), buf, torch.full_like(k0, k))
        return torch.cat(outs, dim=1), new

    def _step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One step on the fixed-size buffer, without a branch on data (what an exported step graph runs)."""
        offset, buf, k = state  # (B, M, D), (B, S, D), (1,)
        S = self.cfg.segment
        here = (torch.arange(S, device=x.device) == k).to(x.dtype)[None, :, None]  # (1, S, 1)
        buf = buf * (1 - here) + x * here  # x (B, 1, D) written at place k
        init = self.memory.to(x.dtype)
        y, written = self.read(init + offset, buf, write=True)  # (B, S, D), (B, M, D)
        y = y.index_select(1, k)  # (B, 1, D)
        full = (k + 1 == S).view(1, 1, 1)
        offset = torch.where(full, written - init, offset)
        buf = torch.where(full, torch.zeros_like(buf), buf)
        k = torch.where(full.view(1), torch.zeros_like(k), k + 1)
        return y, (offset, buf, k)
