"""The tokenizer's model config: compressor, encoder, FSQ, nested dropout, flow decoder, sampler defaults.

A preset is ``configs/tokenizer/<name>.yaml``; its ``model:`` section is a :class:`TokenizerConfig`.
Widths follow the paper's rule (width = 64 * depth, heads = depth, head_dim 64) for the full presets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from videoflextok.checks import MAX_RESOLUTION
from videoflextok.compressors.config import CompressorConfig
from videoflextok.errors import ConfigError
from videoflextok.tokenizer.mixing import MIXING_INITS

REPA_NETWORKS = ("none", "efficientnet_lite0")  # feature networks a training run can build (tokenizer/repa.py)


@dataclass
class TokenizerConfig:
    """Everything needed to rebuild a :class:`videoflextok.tokenizer.model.VideoFlexTok`."""

    resolution: int = 32  # input H = W in pixels
    chunk_frames: int = 17  # frames per chunk; long videos are chunks with a one-frame overlap
    max_frames: int = 81  # longest video accepted (1 + 16n when longer than one chunk)
    K: int = 32  # registers (= tokens) per latent frame
    fsq_levels: tuple[int, ...] = (8, 8, 8, 5, 5, 5)  # FSQ levels per code dim; vocabulary = their product
    nested_dropout: bool = True  # train with one k per sample (keep_k_sampling); False = 3D-grid baseline
    compressor: CompressorConfig = field(default_factory=CompressorConfig)  # latent space the flow works in
    patch_size: int = 2  # latent cells per patch token along H and W
    pos_std: float = 0.02  # init std of the patch position embeddings; ~1 makes position as loud as content at step 0
    reg_pos_std: float = 0.02  # init std of the decoder's register-index embeddings (tells registers apart)
    # a learned linear map per latent frame between its N patches and its K registers, added to the inputs:
    # encoder register k += sum_n W[k, n] patch_n, decoder patch n += sum_k U[n, k] register_k (see README)
    register_mixing: bool = False
    mixing_init: str = "random"  # start of those maps: "random" or "pyramid" (coarse-to-fine cells, see mixing.py)
    encoder_depth: int = 2  # encoder transformer blocks
    encoder_dim: int = 128  # encoder width
    encoder_heads: int = 2  # encoder attention heads
    decoder_depth: int = 2  # flow-decoder transformer blocks
    decoder_dim: int = 128  # flow-decoder width
    decoder_heads: int = 2  # flow-decoder attention heads
    decoder_head: str = "linear"  # output head: "linear" (per patch) or "conv" (+ a residual 3x3 conv stack)
    head_channels: int = 64  # decoder_head "conv": hidden channels of the conv stack
    # numerics and conditioning details of the trunks: the released checkpoints (presets d18-d18, d18-d28) use the
    # second value of each
    qk_norm: str = "rms"  # QK-norm: "rms" (RMSNorm with a learned scale) or "layernorm" (no affine, in fp32)
    norm_eps: float = 1e-6  # eps of every LayerNorm (and of the QK-norm); released: 1e-5
    attn_scale: str = "sqrt"  # attention score scale: "sqrt" (1 / sqrt(head_dim)) or "mup" (8 / head_dim)
    bias: bool = False  # biases on the patch embeddings, the FSQ projection, the code embedding, time MLP and output
    posemb: str = "table"  # "table": patch [N, d] + frame [T, d] tables, also on registers; "axial": summed learned
    #                        (t, h, w) tables of posemb_max rows each, on patch tokens only
    posemb_max: int = 16  # "axial": rows per axis table (latent grid side and latent frames may not exceed it)
    time_period: float = 10000.0  # max period of the decoder's flow-time features; released: 256
    prefix: str = "null"  # registers of a clean prefix frame: "null" (the null registers) or "token" (a learned token)
    prefix_time: str = "own"  # flow time the decoder sees for a clean prefix frame: "own" (~0) or "shared" (sample's)
    keep_k_sampling: str = "pow2"  # training k: uniform over {1, 2, 4, ..., K} ("pow2") or over 1..K ("uniform")
    cfg_dropout: float = 0.1  # training: probability that a sample's registers become the null registers
    clean_prefix_prob: float = 0.5  # training: probability that latent frame 0 is given (almost) clean
    clean_prefix_max_noise: float = 0.02  # training: noise level of the clean prefix ~ U[0, this]
    time_mean: float = 0.0  # logit-normal timestep: mean of the normal
    time_std: float = 1.0  # logit-normal timestep: std of the normal
    time_shift: float = 1.0  # timestep shift (>1 spends more time at high noise); used in training and sampling
    prediction: str = "v"  # decoder output: "v" (velocity) or "x" (clean latent, turned into v; for wide patches)
    x_pred_min_time: float = 0.05  # prediction "x": v = (x_s - x_hat) / max(s, this)
    flow_loss: str = "v"  # "v": MSE of velocities; "x" (prediction x only): MSE of x = v loss * max(s, min)^2
    guidance_scale: float = 1.0  # default guidance of detokenize (1.0 = no guidance)
    guidance_mode: str = "cfg"  # "cfg" (classifier-free) or "apg" (adaptive projected guidance)
    apg_eta: float = 0.0  # APG: weight of the guidance component parallel to the conditional prediction
    apg_norm_threshold: float = 0.0  # APG: clip the guidance update to this norm per latent channel (0 = off)
    apg_momentum: float = 0.0  # APG: the update accumulates the previous step's times this factor (0 = off)
    sample_steps: int = 25  # default Euler steps of detokenize
    repa_feature_dim: int = 0  # REPA: channels of the frozen feature network's output (0 = REPA off)
    repa_layer: int = 1  # REPA: decoder block whose output is aligned (1 = after the first block)
    repa_weight: float = 1.0  # REPA: weight of the alignment loss
    # REPA in training runs: the frozen network the CLI builds; "none" = no network (attach_repa in Python), or
    # "efficientnet_lite0" (ImageNet weights from the perceptual extra; repa_feature_dim = the block's channels)
    repa_network: str = "none"
    repa_block: int = 4  # repa_network efficientnet_lite0: the block (0..15) whose output is the target
    repa_image_size: int = 0  # repa_network: frames are resized to this side first (0 = as they come)

    def __post_init__(self) -> None:
        c = self.compressor
        if self.K < 1:
            raise ConfigError(f"K must be at least 1, got {self.K}")
        if len(self.fsq_levels) < 1 or any(level < 2 for level in self.fsq_levels):
            raise ConfigError(f"fsq_levels must be integers >= 2, got {list(self.fsq_levels)}")
        if self.chunk_frames < 1 + c.temporal_factor:
            raise ConfigError(f"chunk_frames must be at least 1 + temporal_factor = {1 + c.temporal_factor}")
        if (self.chunk_frames - 1) % c.temporal_factor:
            raise ConfigError(
                f"chunk_frames - 1 ({self.chunk_frames - 1}) must be a multiple of compressor.temporal_factor "
                f"({c.temporal_factor})"
            )
        if self.max_frames > self.chunk_frames and (self.max_frames - 1) % (self.chunk_frames - 1):
            raise ConfigError(
                f"max_frames ({self.max_frames}) must be 1 + n * {self.chunk_frames - 1} to be split into chunks"
            )
        cell = c.spatial_factor * self.patch_size
        if not cell <= self.resolution <= MAX_RESOLUTION:
            raise ConfigError(f"resolution must be between {cell} and {MAX_RESOLUTION} pixels, got {self.resolution}")
        if self.resolution % cell:
            raise ConfigError(
                f"resolution {self.resolution} must be a multiple of spatial_factor * patch_size = {cell}"
            )
        for part in ("encoder", "decoder"):
            dim, heads = getattr(self, f"{part}_dim"), getattr(self, f"{part}_heads")
            if dim % heads:
                raise ConfigError(f"{part}_dim {dim} is not divisible by {part}_heads {heads}")
        if self.pos_std <= 0 or self.reg_pos_std <= 0:
            raise ConfigError(f"pos_std and reg_pos_std must be positive, got {self.pos_std}, {self.reg_pos_std}")
        if self.prediction not in ("v", "x"):
            raise ConfigError(f"prediction must be 'v' or 'x', got {self.prediction!r}")
        if self.flow_loss not in ("v", "x") or (self.flow_loss == "x" and self.prediction != "x"):
            raise ConfigError(f"flow_loss must be 'v', or 'x' with prediction 'x'; got {self.flow_loss!r}")
        choices = {
            "qk_norm": ("rms", "layernorm"),
            "attn_scale": ("sqrt", "mup"),
            "posemb": ("table", "axial"),
            "prefix": ("null", "token"),
            "prefix_time": ("own", "shared"),
            "keep_k_sampling": ("pow2", "uniform"),
            "mixing_init": MIXING_INITS,
            "decoder_head": ("linear", "conv"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        if self.head_channels < 1:
            raise ConfigError(f"head_channels must be at least 1, got {self.head_channels}")
        if self.norm_eps <= 0 or self.time_period <= 1:
            raise ConfigError(f"norm_eps must be > 0 and time_period > 1, got {self.norm_eps}, {self.time_period}")
        if self.posemb == "axial":
            largest = max(self.latent_size // self.patch_size, self.chunk_latent_frames)
            if largest > self.posemb_max:
                raise ConfigError(f"posemb_max {self.posemb_max} is smaller than the latent grid ({largest} per axis)")
        if self.guidance_mode not in ("cfg", "apg"):
            raise ConfigError(f"guidance_mode must be 'cfg' or 'apg', got {self.guidance_mode!r}")
        if self.repa_network not in REPA_NETWORKS:
            raise ConfigError(f"repa_network must be one of {', '.join(REPA_NETWORKS)}, got {self.repa_network!r}")
        if self.repa_network != "none" and self.repa_feature_dim < 1:
            raise ConfigError(f"repa_network {self.repa_network} needs repa_feature_dim (the feature channels)")
        if self.repa_image_size < 0:
            raise ConfigError(f"repa_image_size must be >= 0, got {self.repa_image_size}")
        if not 1 <= self.repa_layer <= self.decoder_depth:
            raise ConfigError(f"repa_layer must be in 1..decoder_depth ({self.decoder_depth}), got {self.repa_layer}")

    # ------------------------------------------------------------------ derived sizes
    @property
    def vocab_size(self) -> int:
        """Number of distinct token ids: the product of the FSQ levels (64,000 by default)."""
        return math.prod(self.fsq_levels)

    @property
    def chunk_latent_frames(self) -> int:
        """Latent frames of one chunk (5 for 17 frames and 4x temporal compression)."""
        return 1 + (self.chunk_frames - 1) // self.compressor.temporal_factor

    @property
    def latent_size(self) -> int:
        """Latent grid side h = w."""
        return self.resolution // self.compressor.spatial_factor

    @property
    def num_patches(self) -> int:
        """Patch tokens per latent frame."""
        return (self.latent_size // self.patch_size) ** 2

    @property
    def patch_dim(self) -> int:
        """Values per patch token: channels * patch_size**2."""
        return self.compressor.channels * self.patch_size**2

    def latent_frames(self, num_frames: int) -> int:
        """Latent frames (= token rows) of a ``num_frames`` video: 1 + (T - 1) / temporal_factor."""
        return 1 + (num_frames - 1) // self.compressor.temporal_factor

    def supports_frames(self, num_frames: int) -> bool:
        """True when a video of ``num_frames`` frames can be tokenized (1 + 4n in one chunk, else 1 + 16n)."""
        tf = self.compressor.temporal_factor
        if num_frames < 1 or num_frames > self.max_frames:
            return False
        if num_frames <= self.chunk_frames:
            return (num_frames - 1) % tf == 0
        return (num_frames - 1) % (self.chunk_frames - 1) == 0

    def frames_rule(self) -> str:
        """The clip lengths this tokenizer takes, in words (the one wording of every error about them)."""
        tf, step = self.compressor.temporal_factor, self.chunk_frames - 1
        return f"1 + {tf}n frames up to {self.chunk_frames}, or 1 + {step}n up to {self.max_frames}"

    def longest_prefix(self, num_frames: int, capped: bool = True) -> int:
        """The frames of the longest prefix of a ``num_frames`` video that is a supported length (1 + 4n within one
        chunk, 1 + 16n beyond; at most ``max_frames`` when ``capped``, any length for the streaming encoder); 0 for
        an empty video."""
        if num_frames < 1:
            return 0
        if capped:
            num_frames = min(num_frames, self.max_frames)
        step = self.chunk_frames - 1 if num_frames >= self.chunk_frames else self.compressor.temporal_factor
        return 1 + (num_frames - 1) // step * step

    def supports_latent_frames(self, latent_frames: int) -> bool:
        """True when ``latent_frames`` token rows correspond to a supported video length."""
        return self.supports_frames(1 + (latent_frames - 1) * self.compressor.temporal_factor) and latent_frames >= 1
