"""Decoding for encoder-decoders: batched greedy search, and beam search with the GNMT length penalty
((5 + length) / 6) ** alpha. Both use only the model's start/step/reorder interface."""

from __future__ import annotations

from typing import Any

import torch


@torch.inference_mode()
def greedy(model: Any, src: torch.Tensor, mask: torch.Tensor, max_len: int, bos: int, eos: int) -> list[list[int]]:
    """The most likely token at every step, for a whole batch at once; outputs end before <eos>."""
    state = model.start(src, mask)
    tokens = torch.full((len(src),), bos, dtype=torch.long, device=src.device)
    out: list[list[int]] = [[] for _ in range(len(src))]
    done = torch.zeros(len(src), dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        logp, state = model.step(tokens, state)  # (B, V)
        tokens = logp.argmax(-1)
        for i in torch.nonzero(~done & (tokens != eos)).flatten().tolist():
            out[i].append(int(tokens[i]))
        done |= tokens == eos
        if bool(done.all()):
            break
    return out


def length_penalty(length: int, alpha: float) -> float:
    return ((5.0 + length) / 6.0) ** alpha


@torch.inference_mode()
def beam_search(
    model: Any, src: torch.Tensor, mask: torch.Tensor, beam: int, max_len: int, bos: int, eos: int, alpha: float = 0.6
) -> list[list[int]]:
    """Keep the `beam` best partial hypotheses per sentence; a hypothesis that emits <eos> is finished and scored
    by log-probability / length_penalty. Stops when every sentence has `beam` finished hypotheses and no live one
    can still beat the best of them, or at max_len."""
    B, K = len(src), beam
    state = model.reorder(model.start(src, mask), torch.arange(B, device=src.device).repeat_interleave(K))
    scores = torch.full((B, K), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # all K copies start identical: keep one alive
    seqs = torch.full((B * K, 0), bos, dtype=torch.long, device=src.device)
    last = torch.full((B * K,), bos, dtype=torch.long, device=src.device)
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]
    for t in range(max_len):
        logp, state = model.step(last, state)  # (B*K, V)
        V = logp.shape[-1]
        cand = (scores.view(-1, 1) + logp).view(B, K * V)
        top_scores, top_idx = cand.topk(min(2 * K, K * V), dim=-1)  # (B, 2K): enough to refill K after <eos>
        new_scores = torch.full((B, K), float("-inf"), device=src.device)
        new_rows = torch.zeros(B, K, dtype=torch.long, device=src.device)
        new_tokens = torch.full((B, K), eos, dtype=torch.long, device=src.device)
        for b in range(B):
            kept = 0
            for score, idx in zip(top_scores[b].tolist(), top_idx[b].tolist(), strict=True):
                if score == float("-inf") or kept == K:
                    break
                row, token = b * K + idx // V, idx % V
                if token == eos:
                    if len(finished[b]) < K or score / length_penalty(t + 1, alpha) > finished[b][-1][0]:
                        finished[b].append((score / length_penalty(t + 1, alpha), seqs[row].tolist()))
                        finished[b].sort(key=lambda f: -f[0])
                        del finished[b][K:]
                    continue
                new_scores[b, kept], new_rows[b, kept], new_tokens[b, kept] = score, row, token
                kept += 1
        rows = new_rows.flatten()
        seqs = torch.cat([seqs[rows], new_tokens.flatten()[:, None]], dim=1)
        state = model.reorder(state, rows)
        scores, last = new_scores, new_tokens.flatten()
        best_alive = scores.max(-1).values / length_penalty(max_len, alpha) if alpha > 0 else scores.max(-1).values
        if all(len(finished[b]) >= K and best_alive[b] <= finished[b][0][0] for b in range(B)):
            break
    out = []
    for b in range(B):
        if not finished[b]:  # nothing ended within max_len: the best live hypothesis
            best = int(scores[b].argmax())
            finished[b].append((float(scores[b, best]), seqs[b * K + best].tolist()))
        out.append(finished[b][0][1])
    return out
