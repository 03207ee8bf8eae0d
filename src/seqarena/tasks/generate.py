"""Text generation through the shared state interface: a Transformer's KV cache and an RNN's hidden state are
the same thing here. Greedy, temperature, top-k, top-p and repetition-penalty sampling; batched; seeded.

A model whose state grows (a KV cache) sees at most `context` tokens: when the window is full, the last half is
fed again from a fresh state, and generation without a cache (`use_cache=False`) recomputes over exactly the same
window, so both paths give the same tokens under greedy decoding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from seqarena.data.tokenizers import Tokenizer
from seqarena.errors import ConfigError
from seqarena.tasks.lm_model import LMModel


@dataclass(kw_only=True)
class Sampling:
    max_new_tokens: int = 200
    temperature: float = 1.0  # 0: greedy
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0  # > 1 discourages tokens already in the sample (CTRL)
    seed: int = 0
    use_cache: bool = True

    def check(self) -> None:
        if self.max_new_tokens < 0 or self.temperature < 0:
            raise ConfigError("max_new_tokens and temperature must be >= 0")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"top_k={self.top_k} must be >= 1")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p={self.top_p} must be in (0, 1]")
        if self.repetition_penalty <= 0:
            raise ConfigError("repetition_penalty must be > 0")


@dataclass
class Generation:
    tokens: torch.Tensor  # (B, P + n) prompt and new tokens
    new_tokens: int  # per sample
    seconds: float
    threads: int
    batch: int
    cache: bool
    stopped: bool = False  # on_step asked to stop before max_new_tokens

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens * self.batch / max(self.seconds, 1e-9)


def pick(logp: torch.Tensor, history: torch.Tensor, s: Sampling, generator: torch.Generator) -> torch.Tensor:
    """The next token of each row: (B, V) log-probabilities, (B, t) tokens so far -> (B,)."""
    scores = logp.float().clone()
    if s.repetition_penalty != 1.0:
        seen = torch.gather(scores, 1, history)
        seen = torch.where(seen < 0, seen * s.repetition_penalty, seen / s.repetition_penalty)
        scores.scatter_(1, history, seen)
    if s.temperature == 0:
        return scores.argmax(-1)
    scores = scores / s.temperature
    if s.top_k is not None and s.top_k < scores.shape[-1]:
        kth = torch.topk(scores, s.top_k, dim=-1).values[:, -1:]  # (B, 1)
        scores = scores.masked_fill(scores < kth, -torch.inf)
    if s.top_p is not None and s.top_p < 1:
        sorted_scores, order = scores.sort(dim=-1, descending=True)
        cum = sorted_scores.softmax(-1).cumsum(-1)
        drop = cum - sorted_scores.softmax(-1) >= s.top_p  # keep the smallest prefix reaching top_p
        scores = scores.scatter(1, order, sorted_scores.masked_fill(drop, -torch.inf))
    probs = scores.softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.inference_mode()
def generate(
    model: LMModel,
    prompt: torch.Tensor,
    s: Sampling,
    context: int,
    on_step: Callable[[torch.Tensor], bool] | None = None,
) -> Generation:
    """Extend each row of `prompt` (B, P) by up to s.max_new_tokens tokens. `on_step(tokens)` sees the tokens so
    far after every step and returns True to stop (stop sequences, streaming output)."""
    s.check()
    model.eval()
    cap = model.capabilities()
    if cap.kind != "backbone" or not cap.causal:
        raise ConfigError(f"model '{model.net.name}' cannot generate: it is not causal (it sees the future)")
    use_cache = s.use_cache and cap.stateful
    window = None if cap.streaming else max(context, 2)
    generator = torch.Generator().manual_seed(s.seed)
    tokens = prompt.clone()
    start = max(0, tokens.shape[1] - window) if window else 0  # the window's first token
    started = time.perf_counter()
    state, h, steps, stopped = None, None, 0, False
    for steps in range(1, s.max_new_tokens + 1):  # noqa: B007 - steps is reported
        if window and tokens.shape[1] - start > window:
            start, state = tokens.shape[1] - window // 2, None  # slide: refill from the window's last half
        if not use_cache:
            h, _ = model.hidden(tokens[:, start:])
        elif state is None:
            h, state = model.hidden(tokens[:, start:], model.init_state(len(tokens), tokens.device))
        else:
            h, state = model.hidden(tokens[:, -1:], state)
        nxt = pick(model.log_probs(h[:, -1]), tokens, s, generator)  # (B,)
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
        if on_step is not None and on_step(tokens):
            stopped = True
            break
    seconds = time.perf_counter() - started
    new = steps if s.max_new_tokens else 0
    return Generation(tokens, new, seconds, torch.get_num_threads(), len(tokens), use_cache, stopped)


def generate_text(
    model: LMModel,
    tokenizer: Tokenizer,
    prompt: str,
    s: Sampling,
    context: int,
    num_samples: int = 1,
    stop: list[str] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> tuple[list[str], Generation]:
    """Sample `num_samples` continuations of `prompt`; each is cut before its first stop sequence. `on_text`
    receives sample 0's new text piece by piece as it is produced (held back while it could begin a stop)."""
    ids = tokenizer.encode(prompt) if prompt else [tokenizer.start_id()]
    if not ids:
        ids = [tokenizer.start_id()]
    prompt_tokens = torch.tensor([ids] * num_samples)  # (B, P)
    P, stop = prompt_tokens.shape[1], [t for t in (stop or []) if t]
    hold = max((len(t) for t in stop), default=1) - 1
    shown = 0

    def cut(text: str) -> tuple[str, bool]:
        hits = [text.find(t) for t in stop if t in text]
        return (text[: min(hits)], True) if hits else (text, False)

    def on_step(tokens: torch.Tensor) -> bool:
        nonlocal shown
        texts = [cut(tokenizer.decode(row[P:].tolist())) for row in tokens]
        if on_text is not None:
            text, done = texts[0]
            upto = len(text) if done else max(len(text) - hold, shown)
            if upto > shown:
                on_text(text[shown:upto])
                shown = upto
        return bool(stop) and all(done for _, done in texts)

    result = generate(model, prompt_tokens, s, context, on_step)
    texts = [cut(tokenizer.decode(row[P:].tolist()))[0] for row in result.tokens]
    if on_text is not None and len(texts[0]) > shown:
        on_text(texts[0][shown:])
    return texts, result
