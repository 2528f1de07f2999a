"""FSQ: id range, ids <-> codes round trip, precision independence, straight-through gradients."""

from __future__ import annotations

import torch

from videoflextok.tokenizer.fsq import FSQ


def test_ids_cover_the_vocabulary_range():
    fsq = FSQ((8, 8, 8, 5, 5, 5))
    assert fsq.vocab_size == 64000
    z = torch.randn(20000, 6) * 3
    codes, ids = fsq(z)
    assert ids.dtype == torch.int64
    assert int(ids.min()) >= 0 and int(ids.max()) < 64000
    assert codes.abs().max() <= 1.0
    # extreme inputs hit the corners of the grid
    _, corner = fsq(torch.tensor([[-50.0] * 6, [50.0] * 6]))
    assert corner.tolist() == [0, 63999]


def test_ids_codes_ids_is_identity():
    fsq = FSQ((8, 8, 8, 5, 5, 5))
    ids = torch.arange(64000)
    codes = fsq.ids_to_codes(ids)
    assert torch.equal(fsq.codes_to_ids(codes), ids)
    # and codes produced by quantization map back to the same ids
    qcodes, qids = fsq(torch.randn(1000, 6) * 2)
    assert torch.equal(fsq.codes_to_ids(qcodes), qids)
    assert torch.equal(fsq.ids_to_codes(qids), qcodes)


def test_same_ids_under_bf16_autocast():
    fsq = FSQ((8, 8, 8, 5, 5, 5))
    z = torch.randn(4096, 6) * 2
    _, ids = fsq(z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        codes_bf, ids_bf = fsq(z)
        _, ids_from_bf16_input = fsq(z.bfloat16().float())
    assert torch.equal(ids, ids_bf)
    assert codes_bf.dtype == torch.float32
    _, ids_ref = fsq(z.bfloat16().float())
    assert torch.equal(ids_from_bf16_input, ids_ref)


def test_other_levels_and_straight_through_gradient():
    fsq = FSQ((3, 4))
    assert fsq.vocab_size == 12
    ids = torch.arange(12)
    assert torch.equal(fsq.codes_to_ids(fsq.ids_to_codes(ids)), ids)
    z = torch.randn(64, 2, requires_grad=True)
    codes, _ = fsq(z)
    codes.sum().backward()
    assert z.grad is not None and (z.grad.abs() > 0).all()
