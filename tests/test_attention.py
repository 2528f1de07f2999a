"""The attention dispatch: bf16 on CPU runs as explicit matmuls + fp32 softmax; it must equal the fused kernel."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from videoflextok.nn import attention as attention_module
from videoflextok.nn.attention import attention
from videoflextok.nn.masks import time_block_causal_last_mask, time_block_causal_mask


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
