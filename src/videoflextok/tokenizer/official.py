"""Reading the released VideoFlexTok checkpoints (the official inference code's formats) into our model.

Two layouts are recognised: a Hub folder (``config.json`` whose ``video_flex_tok`` entry is a Hydra-style tree of
``_target_`` nodes, plus ``model.safetensors`` with keys under ``video_tokenizer.``) and a single ``.safetensors``
file whose header metadata holds the same tree as Python literals. The tree becomes our config
(:mod:`.official_tree`), the official tensors our state dict (:func:`official_state_dict`). Any mismatch (an
unknown target or argument, a setting we do not implement, a missing, extra or mis-shaped tensor) raises
:class:`CheckpointError` with one sentence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from videoflextok.errors import CheckpointError
from videoflextok.safetensors_io import read_safetensors, read_safetensors_metadata
from videoflextok.tokenizer.config import TokenizerConfig
from videoflextok.tokenizer.official_tree import fail, literal, official_config

HUB_CONFIG, HUB_WEIGHTS = "config.json", "model.safetensors"
HUB_PREFIX = "video_tokenizer."  # key prefix of the Hub layout's state dict
VIDTOK_PREFIX = "vae.vidtok."


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # "org/name" of a Hugging Face Hub model


def local_path(source: str | Path) -> Path:
    """``source`` as a local path; a Hub id ("org/name") that is not a local path is downloaded by the optional
    huggingface_hub package (the one download this package ever makes, and only when asked like this)."""
    path = Path(source)
    if path.exists() or not _HUB_ID.fullmatch(str(source)):
        return path
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise CheckpointError(
            f"'{source}' is not a local path; to download it install the optional huggingface_hub package "
            f"(pip install huggingface_hub) or fetch the folder yourself (huggingface-cli download {source})"
        ) from None
    return Path(snapshot_download(str(source)))


def is_official(path: str | Path) -> bool:
    """True for a Hub folder or a single ``.safetensors`` file of the released code (a cheap look, no weights)."""
    path = Path(path)
    try:
        if path.is_dir():
            meta = json.loads((path / HUB_CONFIG).read_text()) if (path / HUB_CONFIG).is_file() else {}
            return isinstance(meta, dict) and "video_flex_tok" in meta
        if path.is_file() and path.suffix == ".safetensors":
            return "_target_" in read_safetensors_metadata(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, CheckpointError):
        return False
    return False


# ----------------------------------------------------------------------------------------------------
# reading a checkpoint


def read_official(path: str | Path, resolution: int | None = None) -> tuple[TokenizerConfig, dict[str, torch.Tensor]]:
    """(our config, the official tensors without the Hub prefix) of a Hub folder or single file.

    resolution: the frame side in pixels the model will take (default: the Hub config's ``vae_video_sizes``, or for
    a single file the largest side its position tables cover).
    """
    from videoflextok.compressors.vidtok_import import infer_vidtok_widths

    path = Path(path)
    if path.is_dir():
        try:
            meta = json.loads((path / HUB_CONFIG).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise fail(f"'{path / HUB_CONFIG}' is not readable JSON") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("video_flex_tok"), dict):
            raise fail(f"'{path / HUB_CONFIG}' has no video_flex_tok tree")
        tree, weights, prefix = meta["video_flex_tok"], path / HUB_WEIGHTS, HUB_PREFIX
        chunk, overlap = meta.get("chunk_size", 17), meta.get("overlap_size_frames", 1)
        sizes = meta.get("vae_video_sizes")
    else:
        tree = {k: literal(v, k) for k, v in read_safetensors_metadata(path).items() if k != "format"}
        weights, prefix, chunk, overlap, sizes = path, "", 17, 1, None
    if not isinstance(chunk, int) or chunk < 5 or (chunk - 1) % 4:
        raise fail(f"chunk_size {chunk!r} is not 1 + 4n frames")
    state = read_safetensors(weights)
    if prefix:
        stray = next((k for k in state if not k.startswith(prefix)), None)
        if stray is not None:
            raise fail(f"the tensor '{stray}' is outside '{prefix}'")
        state = {k[len(prefix) :]: v for k, v in state.items()}
    widths = infer_vidtok_widths(state, VIDTOK_PREFIX)
    if sizes is not None:
        square = isinstance(sizes, list) and len(sizes) == 3 and sizes[1] == sizes[2]
        if not square or sizes[0] != 1 + (chunk - 1) // 4:
            raise fail(f"vae_video_sizes {sizes!r} does not describe one square chunk of {chunk} frames")
        resolution = resolution or 8 * int(sizes[1])
    config = official_config(tree, chunk, overlap, resolution, widths)
    return config, state


def _patch_order(channels: int, p: int) -> torch.Tensor:
    """Index map from our patch-vector order (c, ph, pw) to the official one (ph, pw, c): ours[j] = theirs[map[j]]."""
    c, ph, pw = torch.meshgrid(torch.arange(channels), torch.arange(p), torch.arange(p), indexing="ij")
    return ((ph * p + pw) * channels + c).flatten()


def _trunk(out: dict, state: dict, ours: str, theirs: str, adaln: bool) -> None:
    """Map the official blocks under ``theirs`` onto ours under ``ours`` (q/k/v and SwiGLU matrices fused)."""
    i = 0
    while f"{theirs}{i}.attn.wq.weight" in state:
        t, o = f"{theirs}{i}.", f"{ours}{i}."
        out[f"{o}attn.qkv.weight"] = torch.cat([state.pop(f"{t}attn.w{n}.weight") for n in "qkv"])
        out[f"{o}attn.proj.weight"] = state.pop(f"{t}attn.proj.weight")
        out[f"{o}mlp.w_in.weight"] = torch.cat([state.pop(f"{t}mlp.fc1.weight"), state.pop(f"{t}mlp.fc3.weight")])
        out[f"{o}mlp.w_out.weight"] = state.pop(f"{t}mlp.fc2.weight")
        if adaln:  # one linear: patch group then register group, each gate_msa, gate_mlp, shift/scale msa, mlp
            weight, bias = state.pop(f"{t}adaLN_modulation.1.weight"), state.pop(f"{t}adaLN_modulation.1.bias")
            order = [2, 3, 0, 4, 5, 1]  # ours: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp
            for group, (w, b) in enumerate(zip(weight.chunk(2), bias.chunk(2))):
                out[f"{o}adaln.linears.{group}.weight"] = torch.cat([w.chunk(6)[j] for j in order])
                out[f"{o}adaln.linears.{group}.bias"] = torch.cat([b.chunk(6)[j] for j in order])
        i += 1


def official_state_dict(config: TokenizerConfig, official: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state dict for the official tensors (Hub prefix removed); every official tensor must be used."""
    from videoflextok.compressors.vidtok_import import vidtok_state_from_official

    state = dict(official)
    out = {f"compressor.{k}": v for k, v in vidtok_state_from_official(state, VIDTOK_PREFIX).items()}
    for key in [k for k in state if k.startswith(VIDTOK_PREFIX)]:
        state.pop(key)
    order = _patch_order(config.compressor.channels, config.patch_size)
    lc = config.chunk_latent_frames
    try:
        enc, dec = "encoder.module_dict.enc_", "decoder.module_dict.dec_"
        out["encoder.patch_embed.weight"] = state.pop(f"{enc}patching.patch_proj.weight")[:, order]
        out["encoder.patch_embed.bias"] = state.pop(f"{enc}patching.patch_proj.bias")
        out["encoder.pos_axial.table"] = state.pop(f"{enc}posemb.posembs")[:, 0].transpose(1, 2)
        out["encoder.registers"] = state.pop(f"{enc}registers.registers")[:lc]
        _trunk(out, state, "encoder.transformer.blocks.", f"{enc}transformer.blocks.", adaln=False)
        out["encoder.to_code.weight"] = state.pop(f"{enc}to_latents.proj.weight")
        out["encoder.to_code.bias"] = state.pop(f"{enc}to_latents.proj.bias")
        out["decoder.patch_in.weight"] = state.pop(f"{dec}patching.patch_proj.weight")[:, order]
        out["decoder.patch_in.bias"] = state.pop(f"{dec}patching.patch_proj.bias")
        out["decoder.pos_axial.table"] = state.pop(f"{dec}posemb.posembs")[:, 0].transpose(1, 2)
        out["decoder.code_in.weight"] = state.pop(f"{dec}from_latents.proj.weight")
        out["decoder.code_in.bias"] = state.pop(f"{dec}from_latents.proj.bias")
        out["decoder.mask_token"] = state.pop(f"{dec}nested_dropout.dropout_mask_token")
        out["decoder.null_registers"] = state.pop(f"{dec}nullcond.nullcond")[None].expand(config.K, -1).clone()
        if config.prefix == "token":
            out["decoder.prefix_token"] = state.pop(f"{dec}prefix_masking.dropout_mask_token")
        for i in (0, 2):
            out[f"decoder.time_embed.mlp.{i}.weight"] = state.pop(f"{dec}time_embedder.mlp.{i}.weight")
            out[f"decoder.time_embed.mlp.{i}.bias"] = state.pop(f"{dec}time_embedder.mlp.{i}.bias")
        _trunk(out, state, "decoder.blocks.", f"{dec}transformer.blocks.", adaln=True)
        out["decoder.final.adaln.linears.0.weight"] = state.pop(f"{dec}to_patches.adaLN_modulation.1.weight")
        out["decoder.final.adaln.linears.0.bias"] = state.pop(f"{dec}to_patches.adaLN_modulation.1.bias")
        out["decoder.final.linear.weight"] = state.pop(f"{dec}to_patches.proj.weight")[order]
        out["decoder.final.linear.bias"] = state.pop(f"{dec}to_patches.proj.bias")[order]
    except KeyError as exc:
        raise fail(f"the tensor '{exc.args[0]}' is missing") from None
    except IndexError:
        raise fail("a patch or position tensor does not match the patch size in its config") from None
    if state:
        raise fail(f"it holds the tensor '{sorted(state)[0]}' this importer does not know")
    return out


def load_official(path: str | Path, resolution: int | None = None, device: str | torch.device = "cpu"):
    """Our :class:`VideoFlexTok` with the weights of a released checkpoint (see :func:`read_official`)."""
    from videoflextok.tokenizer.model import VideoFlexTok

    config, official = read_official(path, resolution)
    state = official_state_dict(config, official)
    model = VideoFlexTok(config)
    expected = model.state_dict()
    for name, ref in expected.items():
        got = state.get(name)
        if got is None:
            raise fail(f"our model needs '{name}', which its tensors do not give")
        if tuple(got.shape) != tuple(ref.shape):
            raise fail(f"'{name}' has shape {list(got.shape)} where its config implies {list(ref.shape)}")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise fail(f"the tensor mapped to '{extra[0]}' has no place in the model its config describes")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model.to(device).eval()
