"""BigBird block-sparse and Reformer LSH attention: the blocked computation equals the dense mask of the same
pattern, the pattern is what it says (window, global and random blocks; a causal prefix never changes), LSH with a
single bucket and a wide window is full attention without the self-key, and both learn a copy task that needs
attention across the sequence."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqarena.models.bigbird import BigBirdAttention
from seqarena.models.reformer import LSHAttention
from seqarena.registry import get_model


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("length", [5, 32, 77])
def test_bigbird_blocked_attention_equals_its_dense_mask(causal: bool, length: int) -> None:
    torch.manual_seed(0)
    attn = BigBirdAttention(16, 2, 0.0, block=8, global_blocks=1, random_blocks=2, seed=3, max_len=128).eval()
    x = torch.randn(2, length, 16)
    q, k, v = attn.split(x)
    valid = torch.ones(2, length, dtype=torch.bool)
    valid[1, length // 2 + 1 :] = False
    for key_mask in (None, valid):
        blocked = attn._blocked(q, k, v, causal, key_mask)
        dense = attn._dense(q, k, v, causal, key_mask)
        keep = valid[:, None, :, None] if key_mask is not None else torch.ones_like(blocked, dtype=torch.bool)
        assert torch.allclose(blocked * keep, dense * keep, atol=1e-5)


def test_bigbird_pattern_holds_window_global_and_random_blocks() -> None:
    attn = BigBirdAttention(16, 2, 0.0, block=4, global_blocks=1, random_blocks=2, seed=0, max_len=64)
    blocks = torch.arange(16)
    full = attn.pattern(blocks, blocks, 16, causal=False)
    assert full[0].all() and full[:, 0].all()  # the global block sees and is seen by everything
    for i in range(1, 16):
        near = {j for j in (i - 1, i, i + 1) if 0 <= j < 16} | {0}
        seen = set(full[i].nonzero().flatten().tolist())
        assert near <= seen and len(seen) <= len(near) + 2  # at most two random blocks more
    assert sum(int(full[i].sum()) - len({i - 1, i, i + 1} & set(range(16)) | {0}) for i in range(1, 16)) > 15
    causal = attn.pattern(blocks, blocks, 16, causal=True)
    assert not causal.triu(1).any()  # no block sees a later one
    assert torch.equal(attn.pattern(blocks[:9], blocks[:9], 9, causal=True), causal[:9, :9])  # prefixes keep theirs
    other = BigBirdAttention(16, 2, 0.0, block=4, global_blocks=1, random_blocks=2, seed=1, max_len=64)
    assert not torch.equal(other.pattern(blocks, blocks, 16, causal=False), full)  # each layer its own pattern
    with pytest.raises(ValueError, match="exceeds model.max_len"):
        attn(torch.randn(1, 65, 16), False, None, 0)


def test_lsh_with_one_bucket_and_a_wide_window_is_full_attention_without_the_self_key() -> None:
    torch.manual_seed(0)
    attn = LSHAttention(8, 1, 0.0, bucket_size=64, n_buckets=2, n_hashes=1, seed=0).eval()
    attn.rotations.zero_()  # every token hashes to bucket 0
    x = torch.randn(1, 10, 8)
    with torch.no_grad():
        y, _ = attn(x, False, None, 0)
        qk, v = attn.qk(x), attn.v(x)
        scores = qk @ F.normalize(qk, dim=-1).transpose(1, 2) / 8**0.5
        scores.diagonal(dim1=1, dim2=2).fill_(float("-inf"))
        assert torch.allclose(y, attn.out(torch.softmax(scores, -1) @ v), atol=1e-5)


def test_lsh_hashing_is_reproducible_across_instances() -> None:
    cls = get_model("lsh_attention")
    torch.manual_seed(0)
    a = cls(cls.Config(d_model=16, num_heads=2, bucket_size=4))
    b = cls(cls.Config(d_model=16, num_heads=2, bucket_size=4))
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 40, 16)
    assert torch.equal(a.eval()(x)[0], b.eval()(x)[0])


def _train(name: str, extra: dict, vocab: int, labels: int, make) -> float:
    """Train a 2-layer causal model on batches from make(generator) -> (tokens, labels); held-out accuracy."""
    torch.manual_seed(0)
    cls = get_model(name)
    net = cls(cls.Config(d_model=32, num_heads=2, num_layers=2, causal=True, **extra))
    embed, head = torch.nn.Embedding(vocab, 32), torch.nn.Linear(32, labels)
    params = [*net.parameters(), *embed.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        x, y = make(gen)
        loss = F.cross_entropy(head(net(embed(x))[0]).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = make(gen)
    with torch.no_grad():
        return float((head(net.eval()(embed(x))[0]).argmax(-1) == y).float().mean())


def test_bigbird_learns_to_recall_the_first_token_through_its_global_block() -> None:
    """Output at every step: the sequence's first token, up to 31 steps back; learning nothing scores 1/4."""

    def make(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randint(0, 4, (32, 32), generator=gen)
        return x, x[:, :1].expand(-1, 32)

    assert _train("bigbird", {"block": 4}, 4, 4, make) > 0.9


def test_lsh_attention_learns_whether_a_token_occurred_before() -> None:
    """Output at every step: has this token occurred earlier? Identical tokens hash alike, so LSH finds them; the
    majority answer ("no") scores about 0.63."""

    def make(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randint(0, 24, (32, 24), generator=gen)
        seen = (x[:, :, None] == x[:, None, :]).tril(-1).any(-1)  # (B, T): an equal token at an earlier step
        return x, seen.long()

    accuracy = _train("lsh_attention", {"bucket_size": 4, "positions": "none"}, 24, 2, make)
    assert accuracy > 0.9, accuracy
