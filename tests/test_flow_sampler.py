"""Rectified flow: schedule conventions, Euler sampler with the true velocity, batched CFG, APG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from videoflextok.flow import (
    Guidance,
    add_noise,
    cfg_combine,
    euler_sample,
    guided_velocity,
    sample_times,
    sampling_times,
    shift_time,
    velocity_target,
)


def test_noising_convention_and_target():
    x0, eps = torch.randn(3, 5), torch.randn(3, 5)
    s = torch.tensor([[0.0], [0.3], [1.0]])
    xs = add_noise(x0, eps, s)
    assert_close(xs[0], x0[0])
    assert_close(xs[2], eps[2])
    # v = dx_s/ds along the straight path
    h = 1e-3
    fd = (add_noise(x0, eps, s + h) - add_noise(x0, eps, s)) / h
    assert_close(fd, velocity_target(x0, eps).expand_as(fd), atol=1e-3, rtol=1e-3)


def test_logit_normal_times_and_shift():
    g = torch.Generator().manual_seed(0)
    s = sample_times((20000,), generator=g)
    assert (s > 0).all() and (s < 1).all()
    assert abs(float(s.mean()) - 0.5) < 0.01  # symmetric around 1/2 for mean 0
    shifted = sample_times((20000,), shift=3.0, generator=torch.Generator().manual_seed(0))
    assert float(shifted.mean()) > float(s.mean()) + 0.1
    assert_close(shift_time(torch.tensor([0.0, 1.0]), 3.0), torch.tensor([0.0, 1.0]))
    times = sampling_times(10, shift=2.0)
    assert times[0] == 1 and times[-1] == 0 and (times[1:] < times[:-1]).all()


def test_euler_with_true_velocity_recovers_x0():
    torch.manual_seed(0)
    x0 = torch.randn(4, 3, 8)
    noise = torch.randn(4, 3, 8)

    # For data concentrated at x0 the exact velocity field is (x - x0) / s.
    def velocity(x, s):
        return (x - x0) / s[:, None, None]

    for steps in (1, 4, 25):
        assert_close(euler_sample(velocity, noise, steps), x0, atol=1e-5, rtol=1e-5)
    # the conditional (straight-line) velocity eps - x0 also lands on x0
    assert_close(euler_sample(lambda x, s: noise - x0, noise, 7, shift=3.0), x0, atol=1e-5, rtol=1e-5)


def test_batched_cfg_equals_two_separate_passes():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6 + 1 + 6, 32), torch.nn.Tanh(), torch.nn.Linear(32, 6))

    def model(x, s, cond):
        return net(torch.cat([x, s[:, None].expand(-1, 1), cond], dim=-1))

    x, s = torch.randn(5, 6), torch.rand(5)
    cond, null = torch.randn(5, 6), torch.zeros(5, 6)
    for scale in (1.0, 2.5):
        batched = guided_velocity(model, x, s, cond, null, Guidance(scale))
        separate = model(x, s, null) + scale * (model(x, s, cond) - model(x, s, null))
        assert_close(batched, separate, atol=1e-6, rtol=1e-5)
    assert_close(cfg_combine(cond, null, 3.0), null + 3.0 * (cond - null))


def _apg_reference(v_cond, v_uncond, scale, eta, threshold, previous=None, momentum=0.0):
    """APG written out channel by channel in float64 (numpy): norms over (T, h, w) of each (sample, channel)."""
    vc, vu = v_cond.double().numpy(), v_uncond.double().numpy()
    out = np.empty_like(vc)
    diffs = vc - vu if previous is None else vc - vu + momentum * previous
    for b in range(vc.shape[0]):
        for c in range(vc.shape[1]):
            d, cond = diffs[b, c].ravel(), vc[b, c].ravel()
            if threshold > 0:
                d = d * min(1.0, threshold / np.sqrt((d * d).sum()))
            unit = cond / np.sqrt((cond * cond).sum())
            parallel = (d @ unit) * unit
            out[b, c] = (cond + (scale - 1) * ((d - parallel) + eta * parallel)).reshape(vc.shape[2:])
    return torch.from_numpy(out).float(), diffs


def test_apg_matches_a_per_channel_reference_and_is_cfg_with_eta_1():
    g = torch.Generator().manual_seed(0)
    vc, vu = torch.randn(2, 3, 4, 5, 6, generator=g), torch.randn(2, 3, 4, 5, 6, generator=g)
    for eta, threshold in ((0.0, 0.0), (0.0, 0.6), (0.5, 2.0)):
        expected, _ = _apg_reference(vc, vu, 3.0, eta, threshold)
        assert_close(Guidance(3.0, "apg", eta, threshold)(vc, vu), expected, atol=1e-5, rtol=1e-5)
    assert_close(Guidance(3.0, "apg", eta=1.0)(vc, vu), cfg_combine(vc, vu, 3.0), atol=1e-5, rtol=1e-5)
    # the update with eta 0 is orthogonal to v_cond in every (sample, channel)
    update = Guidance(2.0, "apg")(vc, vu) - vc
    assert_close((update * vc).sum(dim=(2, 3, 4)), torch.zeros(2, 3), atol=1e-4, rtol=0)
    # momentum: the second step's update accumulates the first one
    guide = Guidance(3.0, "apg", 0.0, 0.0, momentum=0.5)
    guide(vc, vu)
    vc2, vu2 = torch.randn(2, 3, 4, 5, 6, generator=g), torch.randn(2, 3, 4, 5, 6, generator=g)
    expected, _ = _apg_reference(vc2, vu2, 3.0, 0.0, 0.0, previous=(vc - vu).double().numpy(), momentum=0.5)
    assert_close(guide(vc2, vu2), expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="guidance mode"):
        Guidance(2.0, "pag")
