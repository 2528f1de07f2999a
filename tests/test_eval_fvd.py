"""Fréchet distance: closed forms, a scipy reference, monotonicity in noise, cached statistics, FVD with the I3D."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from bench_helpers import load_bench
from videoflextok.errors import CheckpointError
from videoflextok.eval import I3D, FeatureStats, compute_fvd, frechet_distance, i3d_features, preprocess_for_i3d
from videoflextok.eval.fvd import frechet_distance_from_stats


def _reference_fd(a: np.ndarray, b: np.ndarray) -> float:
    """Textbook formula with scipy.linalg.sqrtm (real part)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


def test_self_distance_is_zero():
    feats = np.random.default_rng(0).normal(size=(500, 32))
    assert frechet_distance(feats, feats) < 1e-8
    assert frechet_distance(torch.from_numpy(feats).float(), feats) < 1e-4


def test_matches_scipy_reference_and_is_symmetric():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16))
    b = rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16)) + 0.5
    d = frechet_distance(a, b)
    assert d == pytest.approx(_reference_fd(a, b), rel=1e-6)
    assert d == pytest.approx(frechet_distance(b, a), rel=1e-9)


def test_closed_form_for_diagonal_gaussians():
    # d^2 = |mu_a - mu_b|^2 + sum (sqrt(var_a) - sqrt(var_b))^2
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    stats_a = FeatureStats(mean=mu_a, cov=np.diag(var_a), count=10)
    stats_b = FeatureStats(mean=mu_b, cov=np.diag(var_b), count=10)
    expected = 1.0 + 0.0 + 4.0 + (1.0 + 1.0 + 0.0)
    assert frechet_distance_from_stats(stats_a, stats_b) == pytest.approx(expected, rel=1e-12)


def test_grows_monotonically_with_noise():
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(1000, 24)) @ rng.normal(size=(24, 24))
    noise = rng.normal(size=feats.shape)
    dists = [frechet_distance(feats, feats + s * noise) for s in (0.0, 0.1, 0.3, 1.0, 3.0)]
    assert dists[0] < 1e-8
    assert all(d1 < d2 for d1, d2 in zip(dists, dists[1:]))


def test_rank_deficient_covariances_are_handled():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 50))  # N < D: singular covariances
    b = rng.normal(size=(6, 50)) + 1.0
    d = frechet_distance(a, b)
    assert np.isfinite(d) and d == pytest.approx(_reference_fd(a, b), rel=1e-4)


def test_needs_two_samples():
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(np.zeros((1, 4)), np.zeros((3, 4)))


def test_stats_round_trip_through_disk(tmp_path):
    feats = np.random.default_rng(4).normal(size=(50, 8))
    stats = FeatureStats.from_features(feats)
    path = tmp_path / "sub" / "ref_stats.npz"
    stats.save(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["ref_stats.npz"]
    loaded = FeatureStats.load(path)
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_array_equal(loaded.cov, stats.cov)
    assert loaded.count == 50
    assert frechet_distance(loaded, feats) < 1e-10


def test_bad_stats_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="Cannot read feature statistics"):
        FeatureStats.load(path)


def test_preprocess_protocol():
    video = torch.linspace(-1, 1, 17)[None, None, :, None, None].expand(2, 3, 17, 64, 48).contiguous()
    x = preprocess_for_i3d(video)
    assert x.shape == (2, 3, 16, 224, 224)
    # first 16 frames kept; a constant frame stays constant through the resize
    torch.testing.assert_close(x[:, :, :, 100, 100], video[:, :, :16, 0, 0])
    with pytest.raises(ValueError, match="16 frames"):
        preprocess_for_i3d(video[:, :, :12])


@pytest.fixture(scope="module")
def i3d(tmp_path_factory) -> I3D:
    return I3D(cache_dir=tmp_path_factory.mktemp("i3d_cache"))


def test_fvd_with_i3d_is_zero_on_itself_and_grows_with_noise(i3d):
    mk = load_bench("make_i3d_fixture")
    videos = torch.from_numpy(mk.fixture_videos(2, 16, 2)).permute(0, 4, 1, 2, 3)[..., ::4, ::4].contiguous()
    # 56x56 clips, resized to 224 by the protocol; an iterable of batches is accepted
    clean = i3d_features([videos[:1], videos[1:]], i3d, batch_size=2, progress=False)
    assert clean.shape == (2, 400)
    stats = FeatureStats.from_features(clean)
    assert compute_fvd(stats, stats, i3d) < 1e-6
    noise = torch.randn(videos.shape, generator=torch.Generator().manual_seed(0))
    fvds = [compute_fvd((videos + s * noise).clamp(-1, 1), stats, i3d, progress=False) for s in (0.2, 0.8)]
    assert 0 < fvds[0] < fvds[1]
