"""The attention dispatch (bf16 on CPU runs as explicit matmuls + fp32 softmax; it must equal the fused kernel) and the
attention layer against the textbook formula."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from videoflextok.nn import attention as attention_module
from videoflextok.nn.attention import Attention, KVCache, attention
from videoflextok.nn.masks import TimeBlocks, time_block_causal_last_mask, time_block_causal_mask
from videoflextok.nn.rope import AxialRoPE


def _qkv(b: int, h: int, n_q: int, n_k: int, d: int = 16) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return tuple(torch.randn(b, h, n, d, generator=g) for n in (n_q, n_k, n_k))


@pytest.mark.parametrize("mask_fn", [time_block_causal_mask, time_block_causal_last_mask])
def test_bf16_explicit_path_matches_the_fp32_fused_kernel(mask_fn):
    mask = mask_fn(3, 8, 4, "cpu")  # L = 3 * (8 + 4) = 36
    q, k, v = _qkv(2, 3, 36, 36)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out = attention(*(t.bfloat16() for t in (q, k, v)), mask=mask)
    assert out.dtype == torch.bfloat16
    assert_close(out.float(), reference, atol=3e-2, rtol=3e-2)
    # fp32 is handed to the fused kernel unchanged
    assert torch.equal(attention(q, k, v, mask=mask), reference)


def test_bf16_causal_with_fewer_queries_than_keys_is_the_kv_cache_layout():
    q, k, v = _qkv(1, 2, 3, 10)  # the last 3 of 10 positions query everything up to themselves
    mask = torch.ones(3, 10, dtype=torch.bool).tril(diagonal=7)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out = attention(*(t.bfloat16() for t in (q, k, v)), is_causal=True)
    assert_close(out.float(), reference, atol=3e-2, rtol=3e-2)


def test_bf16_gradients_match_and_large_inputs_use_the_fused_kernel(monkeypatch):
    mask = time_block_causal_mask(2, 6, 2, "cpu")
    q, k, v = (t.bfloat16().requires_grad_() for t in _qkv(1, 2, 16, 16))
    attention(q, k, v, mask=mask).float().square().sum().backward()
    explicit = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    monkeypatch.setattr(attention_module, "CPU_BF16_EXPLICIT_MAX_SCORES", 0)  # now the fused kernel
    attention(q, k, v, mask=mask).float().square().sum().backward()
    for a, b in zip(explicit, (q.grad, k.grad, v.grad)):
        assert_close(a.float(), b.float(), atol=5e-2, rtol=5e-2)


@pytest.mark.parametrize("qk_norm", [True, False])
def test_attention_module_is_the_textbook_formula(qk_norm):
    """Queries and keys are normalised and rotated side by side; that must equal doing each on its own."""
    torch.manual_seed(0)
    layer = Attention(32, 4, qk_norm=qk_norm)
    if qk_norm:
        for norm in (layer.q_norm, layer.k_norm):
            torch.nn.init.normal_(norm.weight, 1.0, 0.5)
    rope = AxialRoPE(8, num_axes=2)
    cells = torch.stack([torch.arange(6) // 3, torch.arange(6) % 3], dim=-1)
    x = torch.randn(2, 6, 32)
    q, k, v = layer.qkv(x).view(2, 6, 3, 4, 8).permute(2, 0, 3, 1, 4)
    if qk_norm:
        q = F.rms_norm(q, (8,), layer.q_norm.weight, layer.q_norm.eps)
        k = F.rms_norm(k, (8,), layer.k_norm.weight, layer.k_norm.eps)
    cos, sin = rope.cos_sin(cells)
    q, k = rope.rotate(q, cos, sin), rope.rotate(k, cos, sin)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    reference = layer.proj(out.transpose(1, 2).reshape(2, 6, 32))
    with torch.no_grad():
        assert_close(layer(x, rope=rope.function(cells), is_causal=True), reference)
        # the same positions one at a time through a KV cache
        cache = KVCache(2, 4, 8, 6, "cpu", torch.float32)
        steps = [layer(x[:, i : i + 1], rope=rope.function(cells[i : i + 1]), cache=cache) for i in range(6)]
        assert_close(torch.cat(steps, dim=1), reference)


@pytest.mark.parametrize("registers_causal", [False, True])
def test_time_block_attention_equals_the_dense_mask(registers_causal):
    """Block-by-block attention is the masked attention: values and gradients, fp32; bf16 within rounding."""
    blocks = TimeBlocks(frames=3, patches=5, registers=4, registers_causal=registers_causal)
    q, k, v = (t.requires_grad_() for t in _qkv(2, 3, 27, 27))
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=blocks.dense(), scale=0.3)
    out = attention(q, k, v, mask=blocks, scale=0.3)
    assert_close(out, reference, atol=1e-6, rtol=1e-5)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    expected = torch.autograd.grad(reference.square().sum(), (q, k, v))
    for got, want in zip(grads, expected):
        assert_close(got, want, atol=1e-5, rtol=1e-5)
    low = attention(*(t.detach().bfloat16() for t in (q, k, v)), mask=blocks, scale=0.3)
    assert_close(low.float(), reference.detach(), atol=3e-2, rtol=3e-2)
