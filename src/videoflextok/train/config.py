"""TrainConfig: every knob of the training engine, with its meaning.

Batch sizes: ``batch_size`` samples per rank per micro-batch; one optimizer step consumes
``batch_size * grad_accum * world_size`` samples (the global batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from videoflextok.errors import ConfigError


@dataclass
class TrainConfig:
    steps: int = 1000  # optimizer steps of the whole run (a resumed run continues up to this number)
    stop_at: int = 0  # end this invocation at this step (checkpoint); schedule still spans steps; 0 = off; not resumed
    max_minutes: float = 0.0  # end the run (checkpoint) once its wall time over all sessions reaches this; 0 = off
    batch_size: int = 8  # samples per rank per micro-batch
    grad_accum: int = 1  # micro-batches whose gradients are summed before one optimizer step
    lr: float = 3e-4  # peak learning rate (reached at the end of warmup)
    weight_decay: float = 0.05  # AdamW decoupled weight decay (not applied to norms, embeddings, biases, 1-D)
    betas: tuple[float, float] = (0.9, 0.99)  # AdamW moment decay rates
    eps: float = 1e-8  # AdamW denominator epsilon
    warmup_steps: int = 100  # linear warmup from 0 to lr over this many steps
    min_lr_ratio: float = 0.1  # cosine decays lr to lr * min_lr_ratio at the last step
    grad_clip: float = 1.0  # clip the global gradient norm to this value; <= 0 disables clipping
    ema_decay: float = 0.999  # EMA of weights (decay ramps up as min(d, (1+n)/(10+n))); <= 0 disables EMA
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # bf16 = autocast to bfloat16, weights stay fp32; auto =
    # bf16 where the device runs it natively (GPU with bf16, CPU with AVX512-BF16 or AMX), else fp32
    compile: bool = False  # wrap the loss computation in torch.compile
    activation_checkpointing: bool = False  # recompute block activations in backward (saves memory)
    distributed: Literal["auto", "none", "ddp", "fsdp"] = "auto"  # auto = ddp when torchrun starts > 1 process
    ddp_find_unused: bool = True  # DDP tolerates parameters without a gradient in a step (nested dropout, CFG)
    device: str = "auto"  # auto (cuda when available) | cpu | cuda
    seed: int = 0  # seeds weight init, data order and every step's random draws
    shuffle: bool = True  # visit the training set in a (seed, epoch) permutation; false = in order
    log_every: int = 10  # steps between metric lines in metrics.jsonl / TensorBoard
    progress: bool = True  # rank 0: a progress bar on a terminal; false (or not a terminal): a plain line now and then
    val_every: int = 500  # steps between validation passes (and sample videos); 0 disables
    val_batch_size: int = 4  # size of the fixed validation batch
    val_keep_k: tuple[int, ...] = (1, 4, -1)  # token counts k for validation PSNR and sample videos (-1 = all K)
    val_decode_steps: int = 10  # Euler steps when decoding for validation
    sample_video: bool = True  # write originals next to reconstructions as a video at each validation
    checkpoint_every: int = 500  # steps between checkpoints (the last step always writes one); 0 = last only
    keep_last: int = 3  # checkpoint folders kept on disk (older ones are deleted)
    max_nonfinite: int = 5  # stop after this many non-finite losses/gradients in a row (each one is skipped)

    def __post_init__(self) -> None:
        checks = [
            (self.steps >= 1, "train.steps must be >= 1"),
            (self.batch_size >= 1, "train.batch_size must be >= 1"),
            (self.grad_accum >= 1, "train.grad_accum must be >= 1"),
            (self.lr > 0, "train.lr must be > 0"),
            (self.weight_decay >= 0, "train.weight_decay must be >= 0"),
            (all(0 <= b < 1 for b in self.betas), "train.betas must lie in [0, 1)"),
            (self.warmup_steps >= 0, "train.warmup_steps must be >= 0"),
            (0 <= self.min_lr_ratio <= 1, "train.min_lr_ratio must lie in [0, 1]"),
            (self.ema_decay < 1, "train.ema_decay must be < 1"),
            (self.log_every >= 1, "train.log_every must be >= 1"),
            (self.val_every >= 0, "train.val_every must be >= 0"),
            (self.val_batch_size >= 1, "train.val_batch_size must be >= 1"),
            (self.checkpoint_every >= 0, "train.checkpoint_every must be >= 0"),
            (self.keep_last >= 1, "train.keep_last must be >= 1"),
            (self.max_nonfinite >= 1, "train.max_nonfinite must be >= 1"),
            (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
             "train.device must be auto, cpu or cuda"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
