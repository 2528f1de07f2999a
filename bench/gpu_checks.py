"""Checks that need an accelerator: official parity on the GPU, bf16 against fp32, and a short training run.

    python bench/gpu_checks.py [--device cuda] [--steps 10]     # -> bench/results/gpu_checks.json

1. The parity fixture (``tests/fixtures/official_parity``) on the device in fp32: encoder pre-quantisation
   features, token ids, one decoder call (all tokens, 4 tokens, null condition, prefix frame) and the four
   reconstructions against the official CPU outputs (max abs differences; the CPU tests assert the bounds).
2. The same model in bf16 autocast against its fp32 self (one decoder call, reconstructions) and which scaled
   dot-product attention kernel a bf16 call of the decoder's shape uses.
3. ``--steps`` training steps of the d12-d12 preset (released architecture, random weights, VidTok encode inside
   the step) on 17x128x128 clips, bf16 autocast, AdamW: the losses, seconds per step and the model FLOP
   utilisation against the device's measured bf16 GEMM peak (FLOPs of one step counted by FlopCounterMode).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
from common import machine_info, write_result  # noqa: E402
from official_arch import gemm_peak  # noqa: E402
from official_fixture import HUB, description, io_tensors  # noqa: E402
from videoflextok.tokenizer.model import VideoFlexTok  # noqa: E402
from videoflextok.tokenizer.patches import patchify  # noqa: E402

RECONS = {
    "recon_k16": {},
    "recon_k4": {"keep_k": 4},
    "recon_k4_cfg3": {"keep_k": 4, "guidance": 3.0, "guidance_mode": "cfg"},
    "recon_k4_apg3": {"keep_k": 4, "guidance": 3.0, "guidance_mode": "apg"},
}


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float().cpu() - b.float().cpu()).abs().max())


def _reconstructions(model: VideoFlexTok, io: dict, device: torch.device, bf16: bool) -> dict[str, torch.Tensor]:
    rng = description()["rng"]
    out = {}
    for name, kwargs in RECONS.items():
        torch.manual_seed(rng["detok_global_seed"])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out[name] = model.detokenize([io["tokens"][0].to(device)], steps=4, noise=io["noise"].to(device),
                                         posterior="sample", **{"guidance": 1.0, **kwargs})
    return out


def _decoder_call(model: VideoFlexTok, io: dict, device: torch.device, bf16: bool, **kwargs) -> torch.Tensor:
    codes = io["dec_quants"].to(device)
    keep = kwargs.pop("keep_k", model.config.K)
    registers = model.decoder.embed_registers(codes, torch.tensor([keep], device=device), **kwargs)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        return model.latent_velocity(io["dec_noised"].to(device), io["dec_timesteps"].to(device), registers,
                                     prefix="prefix" in kwargs)


def parity(device: torch.device) -> dict:
    """Max abs differences to the official outputs in IEEE fp32 (TF32 off: cuDNN convolutions default to TF32,
    which the random VAE of the fixture amplifies far beyond these bounds) and of bf16 to fp32."""
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    model = VideoFlexTok.from_pretrained(HUB, device=device)
    io = io_tensors()
    result: dict = {}
    with torch.no_grad():
        features = model.encoder.features(patchify(io["vae_latents"].to(device), 1))
        z = torch.nn.functional.linear(features, model.encoder.to_code.weight, model.encoder.to_code.bias)
        result["enc_fsq_in"] = _diff(z, io["enc_fsq_in"])
        result["tokens_equal"] = bool(torch.equal(model.encoder.quantize(features)[1].cpu(), io["chunk_tokens"]))
    first = torch.zeros(1, 5, dtype=torch.bool, device=device)
    first[:, 0] = True
    calls = {"dec_out": {}, "dec_out_k4": {"keep_k": 4},
             "dec_out_null": {"null": torch.ones(1, 5, dtype=torch.bool, device=device)},
             "dec_out_prefix1": {"prefix": first}}
    for name, kwargs in calls.items():
        fp32 = _decoder_call(model, io, device, False, **dict(kwargs))
        result[name] = _diff(fp32, io[name])
        result[f"{name}_bf16_vs_fp32"] = _diff(_decoder_call(model, io, device, True, **dict(kwargs)), fp32)
    fp32, bf16 = _reconstructions(model, io, device, False), _reconstructions(model, io, device, True)
    for name in RECONS:
        result[name] = _diff(fp32[name], io[name].clamp(-1, 1))
        result[f"{name}_bf16_vs_fp32"] = _diff(bf16[name], fp32[name])
    torch.backends.cudnn.allow_tf32 = True  # back to torch's default for the rest
    return result


def attention_kernel(device: torch.device) -> str:
    """The SDPA kernel a bf16 call of d12's decoder block shape runs on this device (from the profiler)."""
    q = torch.randn(2, 12, 512, 64, device=device, dtype=torch.bfloat16)
    kv = torch.randn(2, 12, 2560, 64, device=device, dtype=torch.bfloat16)
    with torch.profiler.profile() as prof:
        torch.nn.functional.scaled_dot_product_attention(q, kv, kv)
    names = [e.key for e in prof.key_averages() if "attention" in e.key.lower()]
    return ", ".join(sorted(set(names))) or "unknown"


def training(device: torch.device, steps: int) -> dict:
    torch.manual_seed(0)
    model = VideoFlexTok.from_preset("d12-d12").to(device).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=True)
    video = torch.rand(4, 3, 17, 128, 128, device=device) * 2 - 1

    def step() -> float:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = model.training_losses(video)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    with FlopCounterMode(display=False) as counter:
        first = step()
    flops = counter.get_total_flops()
    losses, times = [first], []
    for _ in range(steps):
        torch.cuda.synchronize(device) if device.type == "cuda" else None
        t0 = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    peak = gemm_peak(torch.bfloat16, device) * 1e9
    return {"preset": "d12-d12", "batch": 4, "clip": [17, 128, 128], "losses": losses,
            "all_finite": all(torch.isfinite(torch.tensor(losses)).tolist()), "step_s_median": median,
            "flops_per_step": flops, "mfu_vs_measured_bf16_peak": flops / median / peak,
            "bf16_gemm_peak_tflops": peak / 1e12, "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30
            if device.type == "cuda" else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--skip-training", action="store_true")
    args = p.parse_args()
    device = torch.device(args.device)
    machine = machine_info()
    if device.type == "cuda":
        machine["gpu"] = torch.cuda.get_device_name()
    result = {"parity_fp32_and_bf16": parity(device), "sdpa_kernel_bf16": attention_kernel(device)}
    print(result)
    if not args.skip_training:
        result["training"] = training(device, args.steps)
        print(result["training"])
    write_result(f"gpu_checks_{device.type}", result, machine)


if __name__ == "__main__":
    main()
