"""Encoder-decoders built from the zoo's backbones, for sequence-to-sequence tasks.

- RecurrentEncDec: a recurrent backbone (rnn/lstm/gru, bidirectional or not) encodes the source; a unidirectional
  copy decodes, starting from the encoder's final state (both directions concatenated when bidirectional).
  Attention (`bahdanau`: additive, `luong`: multiplicative) reads the encoder outputs with the decoder's current
  output as the query and mixes the context in before the output layer (Luong et al.'s arrangement for both
  scores, so teacher-forced training runs the decoder as one fused kernel); `none` is the plain Cho/Sutskever model.
- TransformerEncDec: the zoo's Transformer encoder (key-padding mask) and pre-norm decoder blocks with causal
  self-attention (a KV cache when decoding) and cross-attention to the encoder output.

Both decode through one interface: `start(src, mask) -> state`, `step(tokens, state) -> (log-probs, state)` and
`reorder(state, index)` for beam search. With `keep_attention = True`, `step` records the attention weights over
the source (for plots).

Each form is registered for the backbones it is built from (`register_encdec`); the seq2seq task asks the registry.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.attention import SoftmaxAttention
from seqarena.models.transformer import Transformer, sinusoidal
from seqarena.registry import get_model, register_encdec

State = dict[str, Any]
PAD = 0


class SourceAttention(nn.Module):
    """Scores each encoder output against each decoder output: additive (Bahdanau) or multiplicative (Luong)."""

    def __init__(self, d: int, kind: str) -> None:
        super().__init__()
        self.kind = kind
        if kind == "bahdanau":
            self.wq, self.wk, self.v = nn.Linear(d, d, bias=False), nn.Linear(d, d), nn.Linear(d, 1, bias=False)
        else:
            self.w = nn.Linear(d, d, bias=False)
        self.combine = nn.Linear(2 * d, d)

    def forward(self, y: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # y: (B, T, D) decoder outputs, memory: (B, S, D), mask: (B, S) valid source steps
        if self.kind == "bahdanau":
            scores = self.v(torch.tanh(self.wq(y)[:, :, None] + self.wk(memory)[:, None])).squeeze(-1)  # (B, T, S)
        else:
            scores = self.w(y) @ memory.transpose(1, 2)  # (B, T, S)
        weights = torch.softmax(scores.masked_fill(~mask[:, None, :], float("-inf")), dim=-1)
        context = weights @ memory  # (B, T, D)
        return torch.tanh(self.combine(torch.cat([y, context], dim=-1))), weights


class RecurrentEncDec(nn.Module):
    def __init__(self, net_cls: type, cfg: Any, src_vocab: int, tgt_vocab: int, attention: str) -> None:
        super().__init__()
        if attention not in ("none", "bahdanau", "luong"):
            raise ConfigError(f"model.attention={attention!r} must be none, bahdanau or luong")
        d = cfg.d_model
        self.cfg, self.keep_attention, self.last_attention = cfg, False, []
        self.src_embed = nn.Embedding(src_vocab, d, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(tgt_vocab, d, padding_idx=PAD)
        self.encoder = net_cls(cfg)
        self.decoder = net_cls(replace(cfg, bidirectional=False))
        self.attn = SourceAttention(d, attention) if attention != "none" else None
        self.out = nn.Linear(d, tgt_vocab)
        self.drop = nn.Dropout(cfg.dropout)

    def encode(self, src: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        memory, state = self.encoder(self.drop(self.src_embed(src)), mask=mask)  # packed: state at the last step
        if self.cfg.bidirectional:  # (2L, B, D/2) forward/backward rows -> (L, B, D)
            state = tuple(torch.cat([s[0::2], s[1::2]], dim=-1) for s in state)
        return memory, state

    def _read(self, y: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.attn is None:
            return self.out(self.drop(y))
        mixed, weights = self.attn(y, memory, mask)
        if self.keep_attention:
            self.last_attention.append(weights[:, -1])  # (B, S)
        return self.out(self.drop(mixed))  # (B, T, V)

    def forward(self, src: torch.Tensor, mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: (B, S) source, (B, S) mask, (B, T) target inputs -> (B, T, V) logits."""
        memory, state = self.encode(src, mask)
        y, _ = self.decoder(self.drop(self.tgt_embed(tgt_in)), state)  # (B, T, D)
        return self._read(y, memory, mask)

    def start(self, src: torch.Tensor, mask: torch.Tensor) -> State:
        memory, state = self.encode(src, mask)
        return {"memory": memory, "mask": mask, "dec": state}

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        y, dec = self.decoder(self.tgt_embed(tokens)[:, None], state["dec"])  # (N, 1, D)
        logits = self._read(y, state["memory"], state["mask"])[:, 0]
        return F.log_softmax(logits.float(), -1), {**state, "dec": dec}

    @staticmethod
    def reorder(state: State, index: torch.Tensor) -> State:
        return {
            "memory": state["memory"][index],
            "mask": state["mask"][index],
            "dec": tuple(s[:, index] for s in state["dec"]),  # (L, N, D): batch is dim 1
        }


class DecoderBlock(nn.Module):
    """Pre-norm: causal self-attention (cached), cross-attention to the encoder output, MLP."""

    def __init__(self, d: int, heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn = SoftmaxAttention(d, heads, dropout)
        self.q, self.kv, self.proj = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Linear(d_ff, d))
        self.drop, self.p = nn.Dropout(dropout), dropout
        self.keep_attention = False

    def memory_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, S, D = memory.shape
        kv = self.kv(memory).view(B, S, 2, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        return kv[0], kv[1]  # each (B, h, S, hd)

    def forward(
        self, x: torch.Tensor, cache: Any, pos: int, kv: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor
    ) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        a, cache = self.self_attn(self.norm1(x), True, cache, pos)
        x = x + self.drop(a)  # (B, T, D)
        B, T, D = x.shape
        q = self.q(self.norm2(x)).view(B, T, self.heads, D // self.heads).transpose(1, 2)  # (B, h, T, hd)
        drop = self.p if self.training else 0.0
        c = F.scaled_dot_product_attention(q, kv[0], kv[1], attn_mask=mask[:, None, None, :], dropout_p=drop)
        x = x + self.drop(self.proj(c.transpose(1, 2).reshape(B, T, D)))
        weights = None
        if not self.training and self.keep_attention:  # explicit weights, only for plots
            scores = (q @ kv[0].transpose(-1, -2)) / math.sqrt(q.shape[-1])
            weights = torch.softmax(scores.masked_fill(~mask[:, None, None, :], float("-inf")), -1).mean(1)
        return x + self.drop(self.mlp(self.norm3(x))), cache, weights


class TransformerEncDec(nn.Module):
    def __init__(self, cfg: Any, src_vocab: int, tgt_vocab: int) -> None:
        super().__init__()
        d, self.cfg = cfg.d_model, cfg
        self.keep_attention, self.last_attention = False, []
        self.src_embed = nn.Embedding(src_vocab, d, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(tgt_vocab, d, padding_idx=PAD)
        self.encoder = Transformer(replace(cfg, causal=False))
        d_ff = cfg.d_ff or 4 * d
        self.blocks = nn.ModuleList(DecoderBlock(d, cfg.num_heads, d_ff, cfg.dropout) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, tgt_vocab)
        self.drop = nn.Dropout(cfg.dropout)

    def _decode(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        pos = state["pos"]
        T = tokens.shape[1]
        x = self.tgt_embed(tokens) + sinusoidal(torch.arange(pos, pos + T, device=tokens.device), self.cfg.d_model)
        x = self.drop(x)
        caches = []
        for i, block in enumerate(self.blocks):
            block.keep_attention = self.keep_attention
            x, cache, weights = block(x, state["caches"][i], pos, state["kv"][i], state["mask"])
            caches.append(cache)
            if weights is not None and i == len(self.blocks) - 1:
                self.last_attention.append(weights[:, -1])  # (B, S)
        return self.out(self.norm(x)), {**state, "caches": caches, "pos": pos + T}

    def start(self, src: torch.Tensor, mask: torch.Tensor) -> State:
        memory, _ = self.encoder(self.drop(self.src_embed(src)), mask=mask)  # (B, S, D)
        return {
            "kv": [block.memory_kv(memory) for block in self.blocks],
            "mask": mask,
            "caches": [None] * len(self.blocks),
            "pos": 0,
        }

    def forward(self, src: torch.Tensor, mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        logits, _ = self._decode(tgt_in, self.start(src, mask))
        return logits  # (B, T, V)

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        logits, state = self._decode(tokens[:, None], state)
        return F.log_softmax(logits[:, -1].float(), -1), state

    @staticmethod
    def reorder(state: State, index: torch.Tensor) -> State:
        return {
            "kv": [(k[index], v[index]) for k, v in state["kv"]],
            "mask": state["mask"][index],
            "caches": [None if c is None else (c[0][index], c[1][index]) for c in state["caches"]],
            "pos": state["pos"],
        }


@register_encdec("rnn", "lstm", "gru", attention=("none", "bahdanau", "luong"))
def recurrent_form(cfg: Any, src_vocab: int, tgt_vocab: int, attention: str) -> RecurrentEncDec:
    return RecurrentEncDec(get_model(cfg.name), cfg, src_vocab, tgt_vocab, attention)


@register_encdec("transformer")
def transformer_form(cfg: Any, src_vocab: int, tgt_vocab: int, attention: str) -> TransformerEncDec:
    return TransformerEncDec(cfg, src_vocab, tgt_vocab)
