"""The recurrent-memory Transformer: only its memory crosses a segment boundary, its state keeps one size however
long the stream, and it learns to carry a token across segments that attention alone cannot see."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqarena.models.memory_transformer import MemoryTransformer, MemoryTransformerConfig


def test_only_the_memory_crosses_a_segment_boundary() -> None:
    torch.manual_seed(0)
    model = MemoryTransformer(MemoryTransformerConfig(d_model=16, num_heads=2, segment=6, memory=2)).eval()
    x = torch.randn(2, 18, 16)
    changed = x.clone()
    changed[:, 2] += 1.0  # one input in the first segment
    with torch.no_grad():
        a, (offset, buf, k) = model(x)
        b, _ = model(changed)
        zero = model.memory.detach().clone()
        model.memory.data.zero_()
        blind, _ = model(changed)
        model.memory.data.copy_(zero)
    assert not torch.allclose(a[:, 12:], b[:, 12:])  # it reaches the third segment ...
    assert torch.equal(a[:, :2], b[:, :2])  # ... and never an earlier step
    assert int(k) == 0 and torch.equal(buf, torch.zeros_like(buf))  # three full segments: an empty buffer
    assert offset.abs().sum() > 0 and not torch.allclose(blind, b)  # the memory is read


def test_the_state_keeps_its_size_over_a_long_stream() -> None:
    torch.manual_seed(0)
    model = MemoryTransformer(MemoryTransformerConfig(d_model=8, num_heads=2, segment=5, memory=3)).eval()
    x = torch.randn(1, 23, 8)
    state = model.init_state(1)
    shapes = {tuple(s.shape) for s in state}
    outs = []
    with torch.no_grad():
        for t in range(23):
            y, state = model(x[:, t : t + 1], state)
            outs.append(y)
            assert {tuple(s.shape) for s in state} == shapes
        whole, last = model(x)
    assert int(state[2]) == 23 % 5 == int(last[2])
    torch.testing.assert_close(torch.cat(outs, 1), whole, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(state[0], last[0], rtol=1e-5, atol=1e-5)


def test_it_learns_to_carry_the_first_token_through_its_memory() -> None:
    """Output at every step: the sequence's first token. From the second segment on only the memory holds it;
    learning nothing scores 1/4 there."""
    torch.manual_seed(0)
    net = MemoryTransformer(MemoryTransformerConfig(d_model=32, num_heads=2, segment=8, memory=2))
    embed, head = torch.nn.Embedding(4, 32), torch.nn.Linear(32, 4)
    params = [*net.parameters(), *embed.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)
    gen = torch.Generator().manual_seed(0)

    def make() -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randint(0, 4, (32, 32), generator=gen)
        return x, x[:, :1].expand(-1, 32)

    for _ in range(300):
        x, y = make()
        loss = F.cross_entropy(head(net(embed(x))[0]).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = make()
    with torch.no_grad():
        right = head(net.eval()(embed(x))[0]).argmax(-1) == y  # (B, T)
    assert float(right[:, 8:].float().mean()) > 0.9  # segments 2-4: through the memory only
