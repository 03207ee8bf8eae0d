"""Next-item prediction (sequential recommendation): from a user's items so far, rank every item for the next one;
hit rate and NDCG at task.k over the full catalogue, against recommending the most popular training items. The
split is leave-one-out per user, as SASRec and BERT4Rec evaluate: the last item is the test target, the one before
it the validation target, the rest trains (a causal model learns the next item at every position)."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.config import RunConfig
from seqarena.data.interactions import load_interactions
from seqarena.data.labelled import PAD, UNK
from seqarena.errors import ConfigError, DataError
from seqarena.ranges import at_least, opt
from seqarena.registry import get_model, register_task
from seqarena.sizing import solve_width
from seqarena.tasks.base import COST, LATENCY, Column, Metric, Requires, Task
from seqarena.tasks.tag_model import IGNORE, collate


@dataclass(kw_only=True)
class NextItemConfig:
    name: Literal["next_item"] = "next_item"
    data: str = "synthetic-sessions"  # or a CSV/TSV/Parquet table of interactions
    user_column: str = "user"
    item_column: str = "item"
    time_column: str | None = None  # sort each user's rows by it (default: the file's order)
    max_length: int = opt(50, at_least(2))  # the most recent items a model reads
    k: int = opt(10, at_least(1))  # hit rate and NDCG at k
    tie_weights: bool = True  # the output layer shares the item embedding


NDCG = Metric("ndcg", "test NDCG@k", True, share=True)


class ItemModel(nn.Module):
    def __init__(self, net: nn.Module, n_ids: int, tie: bool) -> None:
        super().__init__()
        d = net.cfg.d_model
        self.net, self.embed = net, nn.Embedding(n_ids, d, padding_idx=PAD)
        self.head = None if tie else nn.Linear(d, n_ids, bias=False)  # tied: the scores are h . embedding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) item ids -> (B, T, N) scores for the next item; padding and unknown never win."""
        h, _ = self.net(self.embed(x))  # (B, T, D)
        scores = h @ self.embed.weight.t() if self.head is None else self.head(h)  # (B, T, N)
        return scores.index_fill(-1, torch.tensor([PAD, UNK], device=x.device), float("-inf"))


@register_task("next_item")
class NextItemTask(Task):
    Config = NextItemConfig
    requires = Requires(causal=True)
    metric = NDCG
    quality = (NDCG, Metric("hit_rate", "test hit rate@k", True, share=True))
    columns = (Column("test NDCG@k", "test_ndcg", 4, True), Column("test hit@k", "test_hit_rate", 4, True),
               *COST, *LATENCY)  # fmt: skip
    references = {"popular_ndcg": "recommending the most popular training items scores NDCG@k {value:.4f} on the same "
                  "test users."}  # fmt: skip
    loss_name = "cross-entropy"
    baseline = ("ndcg", "popular_ndcg")

    def __init__(self, cfg: RunConfig, run_dir: Path | None = None) -> None:
        tc = cfg.task
        if Path(tc.data).expanduser().exists():
            tc = replace(tc, data=str(Path(tc.data).expanduser().resolve()))
        data = load_interactions(tc.data, tc.user_column, tc.item_column, tc.time_column)
        self.notes: list[str] = []
        train_parts = [s[:-2] for s in data.sequences]
        self.items = sorted({i for s in train_parts for i in s})
        if len(self.items) < 2:
            raise DataError(f"{data.name}: fewer than two items in the training interactions")
        ids = {item: n + 2 for n, item in enumerate(self.items)}
        encode = lambda seq: [ids.get(i, UNK) for i in seq]  # noqa: E731
        L = tc.max_length
        self.train = [torch.tensor(encode(s[-(L + 1) :])) for s in train_parts if len(s) >= 2]
        evaluated = [i for i, s in enumerate(data.sequences) if len(s) >= 3]
        short = len(data.sequences) - len(evaluated)
        if short:
            self.notes.append(f"note: {short} users have fewer than 3 items; they only train")
        if not self.train or not evaluated:
            raise DataError(f"{data.name}: no user has 3 or more items; leave-one-out needs train, val and test items")
        self.eval_sets = {}  # split -> (prefixes, target ids): the item after each prefix
        for split, cut in (("train", -3), ("val", -2), ("test", -1)):
            seqs = [data.sequences[i] for i in evaluated if len(data.sequences[i]) > -cut]
            prefix = [torch.tensor(encode(q[:cut][-L:])) for q in seqs]
            self.eval_sets[split] = (prefix, torch.tensor([ids.get(q[cut], IGNORE) for q in seqs]))
        self.popular = torch.tensor([ids[i] for i, _ in Counter(i for s in train_parts for i in s).most_common()])
        self.data_name, self.data_sha256, self.users = data.name, data.sha256, data.users
        self.cfg = self.resolve(replace(cfg, task=tc))

    @classmethod
    def explain(cls, settings: dict[str, Any]) -> list[str]:
        k = settings.get("k")
        return [f"Hit rate and NDCG at k={k} rank the whole catalogue for each test user's last item (leave-one-out); "
                f"the item before it is the validation target, which selects each model's epoch."]  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {"samples": self.n_train(), "length": self.cfg.task.max_length, "classes": len(self.items)}

    def resolve(self, cfg: RunConfig) -> RunConfig:
        self.check_model(get_model(cfg.model.name), cfg.model)
        return solve_width(cfg, self.build_model)

    @classmethod
    def model_defaults(cls, model_cls: type) -> dict[str, Any]:
        return {"causal": True} if "causal" in getattr(model_cls.Config, "__dataclass_fields__", {}) else {}

    def values_checksum(self) -> str:
        digest = hashlib.sha256()
        for x in self.train:
            digest.update(x.numpy().tobytes())
        return digest.hexdigest()

    def build_model(self, cfg: RunConfig) -> ItemModel:
        return ItemModel(get_model(cfg.model.name)(cfg.model), len(self.items) + 2, cfg.task.tie_weights)

    @classmethod
    def load_model(cls, cfg: RunConfig, artifacts: dict[str, Any]) -> ItemModel:
        return ItemModel(get_model(cfg.model.name)(cfg.model), len(artifacts["items"]) + 2, cfg.task.tie_weights)

    def n_train(self) -> int:
        return len(self.train)

    def train_batches(self, batch_size: int, generator: torch.Generator):
        order = torch.randperm(len(self.train), generator=generator)
        for i in range(0, len(order), batch_size):
            seqs = [self.train[j] for j in order[i : i + batch_size].tolist()]
            x, mask, y = collate([s[:-1] for s in seqs], [s[1:] for s in seqs])
            yield x, mask, y.masked_fill(y == UNK, IGNORE)  # an unknown item is no target

    @staticmethod
    def loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, _, y = batch
        return F.cross_entropy(model(x).flatten(0, 1), y.flatten(), ignore_index=IGNORE)

    @torch.inference_mode()
    def last_scores(self, model: nn.Module, xs: list[torch.Tensor], batch_size: int, device: torch.device):
        """(N, items + 2) scores for the item after each prefix."""
        was_training, out = model.training, []
        model.eval()
        for i in range(0, len(xs), batch_size):
            x, mask = collate(xs[i : i + batch_size])
            scores = model(x.to(device)).float().cpu()  # (B, T, N)
            out.append(scores[torch.arange(len(x)), mask.sum(1) - 1])  # the last valid step
        model.train(was_training)
        return torch.cat(out)

    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]:
        xs, target = self.eval_sets[split]
        scores = self.last_scores(model, xs, batch_size, device)  # (N, I)
        known = target != IGNORE
        loss = F.cross_entropy(scores[known], target[known]) if known.any() else torch.tensor(0.0)
        picked = scores.gather(1, target.clamp_min(0)[:, None])  # (N, 1)
        rank = (scores > picked).sum(1).where(known, torch.full_like(target, 1 << 30))  # 0 = top
        place = {int(item): r for r, item in enumerate(self.popular)}
        popular_rank = torch.tensor([place.get(int(t), 1 << 30) for t in target])
        k = self.cfg.task.k
        popular = {f"popular_{m}": v for m, v in _ranking(popular_rank, k).items()}
        return {"loss": float(loss), **_ranking(rank, k), **popular, "users": len(xs),
                "unknown_targets": int((~known).sum())}  # fmt: skip

    def artifacts(self) -> dict[str, Any]:
        tc = self.cfg.task
        return {"items": self.items, "k": tc.k, "max_length": tc.max_length, "user_column": tc.user_column,
                "item_column": tc.item_column, "time_column": tc.time_column}  # fmt: skip

    def profile(self, model: nn.Module, run_dir: Path, training: dict[str, Any] | None = None) -> dict[str, Any]:
        """Latency of ranking the catalogue for real test users at batch 1 and 64 (median and p95)."""
        from seqarena.profile import batch_latencies

        out = super().profile(model, run_dir, training)
        return {**out, **batch_latencies(model, self.eval_sets["test"][0], lambda xs: collate(xs)[:1])}

    @classmethod
    def predict(cls, run: Any, inputs: Any, **options: Any) -> tuple[Any, str]:
        """The top k next items for each user of an interaction table (the run's column names)."""
        import pandas as pd

        if options:
            raise ConfigError(f"next-item predict takes no {', '.join(options)} option")
        art = run.artifacts
        data = load_interactions(str(inputs), art["user_column"], art["item_column"], art["time_column"])
        ids = {item: n + 2 for n, item in enumerate(art["items"])}
        xs = [torch.tensor([ids.get(i, UNK) for i in s[-art["max_length"] :]]) for s in data.sequences]
        model, rows = run.model.eval(), []
        with torch.inference_mode():
            for user, x in zip(data.users, xs, strict=True):
                scores = model(x[None])[0, -1]  # (N,)
                top = scores.topk(min(art["k"], len(art["items"])))
                rows += [(user, r + 1, art["items"][int(i) - 2], float(s)) for r, (s, i) in
                         enumerate(zip(top.values, top.indices, strict=True))]  # fmt: skip
        frame = pd.DataFrame(rows, columns=["user", "rank", "item", "score"])
        return frame, f"the top {art['k']} next items for {len(xs)} users"


def _ranking(rank: torch.Tensor, k: int) -> dict[str, float]:
    hit = rank < k
    gain = torch.where(hit, 1.0 / torch.log2(rank.double() + 2), torch.zeros((), dtype=torch.float64))
    mrr = torch.where(rank < (1 << 30), 1.0 / (rank.double() + 1), torch.zeros((), dtype=torch.float64))
    return {"hit_rate": float(hit.double().mean()), "ndcg": float(gain.mean()), "mrr": float(mrr.mean())}
