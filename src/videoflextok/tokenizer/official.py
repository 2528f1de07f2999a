"""Reading the released VideoFlexTok checkpoints (the official inference code's formats) into our model.

Two layouts are recognised: a Hub folder (``config.json`` whose ``video_flex_tok`` entry is a Hydra-style tree of
``_target_`` nodes, plus ``model.safetensors`` with keys under ``video_tokenizer.``) and a single ``.safetensors``
file whose header metadata holds the same tree as Python literals. The tree is read as data: every node's
``_target_`` must be one this module knows, each known argument is checked and mapped onto a
:class:`TokenizerConfig` field, and nothing is ever built from a name found in the file. Any mismatch (an unknown
target or argument, a setting we do not implement, a missing, extra or mis-shaped tensor) raises
:class:`CheckpointError` with one sentence.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from videoflextok.checkpoint import read_safetensors, read_safetensors_metadata
from videoflextok.errors import CheckpointError, ConfigError
from videoflextok.tokenizer.config import CompressorConfig, TokenizerConfig

HUB_CONFIG, HUB_WEIGHTS = "config.json", "model.safetensors"
HUB_PREFIX = "video_tokenizer."  # key prefix of the Hub layout's state dict
VIDTOK_PREFIX = "vae.vidtok."
VIDTOK_ID = "vidtok_kl_causal_488_16chn"
ROOTS = ("videoflextok.wrappers.VideoFlexTok", "videoflextok.resamplers.video_wrappers.VideoFlowMatchingResampler")
# training-time noise modules: accepted, their settings are not imported (our trainer's own apply)
NOISE_MODULES = tuple(
    f"videoflextok.flow_matching.noise_modules.{name}"
    for name in ("MinRFNoiseModule", "PrefixMinRFNoiseModule", "MultiResFlowMatchingNoiseModule", "FullNoiseModule")
)
_P = "videoflextok.model."
_KEYS = ("read_key", "write_key")  # data-dict plumbing, meaningless for us


def _fail(message: str) -> CheckpointError:
    return CheckpointError(f"official checkpoint: {message}.")


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
# the Hydra tree -> TokenizerConfig


class _Node:
    """One ``_target_`` node: its arguments, consumed one by one so that leftovers can be refused."""

    def __init__(self, node: Any, where: str) -> None:
        if not isinstance(node, dict) or not isinstance(node.get("_target_"), str):
            raise _fail(f"'{where}' is not a node with a _target_")
        self.target, self.where = node["_target_"], where
        self.args = {k: v for k, v in node.items() if k not in ("_target_", "_partial_")}

    @property
    def name(self) -> str:
        return self.target.rsplit(".", 1)[-1]

    def take(self, key: str, default: Any = None) -> Any:
        return self.args.pop(key, default)

    def expect(self, key: str, allowed: tuple, default: Any = None) -> Any:
        value = self.take(key, default)
        if value not in allowed:
            raise _fail(f"{self.name} '{self.where}' has {key}={value!r}; only {list(allowed)} is supported")
        return value

    def ignore(self, *keys: str) -> None:
        """Drop arguments that only matter for training or for the data-dict plumbing."""
        for key in list(self.args):
            if key in keys or key.endswith(_KEYS):
                self.args.pop(key)

    def done(self) -> None:
        self.ignore()
        if self.args:
            first = sorted(self.args)[0]
            raise _fail(f"{self.name} '{self.where}' has the argument '{first}' this importer does not know")


def _literal(value: Any, where: str) -> Any:
    """A metadata value of the single-file layout: a Python literal string (dicts, lists, True, None)."""
    if not isinstance(value, str) or not value.lstrip().startswith(("{", "[")):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise _fail(f"the metadata entry '{where}' is not a readable literal") from None


def _modules(node: _Node) -> list[tuple[str, _Node]]:
    """The (name, node) entries of a SequentialModuleDictWrapper, in order (a list of pairs or a mapping)."""
    if node.target != f"{_P}utils.wrappers.SequentialModuleDictWrapper":
        raise _fail(f"'{node.where}' has the unknown target '{node.target}'")
    entries = node.take("module_dict")
    node.done()
    if isinstance(entries, dict):
        entries = list(entries.items())
    if not isinstance(entries, list) or not all(isinstance(e, (list, tuple)) and len(e) == 2 for e in entries):
        raise _fail(f"'{node.where}.module_dict' is neither a mapping nor a list of [name, node] pairs")
    return [(str(name), _Node(sub, f"{node.where}.{name}")) for name, sub in entries]


class _Reader:
    """Walks the tree, collecting our config fields in ``fields`` and checking that sizes agree."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.patch: list[int] | None = None

    def set(self, key: str, value: Any, where: str) -> None:
        if key in self.fields and self.fields[key] != value:
            raise _fail(f"'{where}' sets {key} = {value!r}, elsewhere it is {self.fields[key]!r}")
        self.fields[key] = value

    def patches(self, node: _Node, part: str) -> None:
        self.set("latent_channels", node.take("channels_in"), node.where)
        self.set(f"{part}_dim", node.take("dim"), node.where)
        sizes = [int(p) for p in node.take("patch_sizes", [])]
        if len(sizes) != 3 or sizes[0] != 1 or sizes[1] != sizes[2]:
            raise _fail(f"'{node.where}' has patch_sizes {sizes}; only [1, p, p] is supported")
        self.set("patch_size", sizes[1], node.where)
        node.expect("flatten_patches", (False,), True)
        node.ignore("weight_init_style")

    def positions(self, node: _Node, part: str) -> None:
        self.set(f"{part}_dim", node.take("dim"), node.where)
        node.expect("posemb_type", ("learnable_sum",), "sincos")
        node.expect("posemb_scaling", ("absolute",), "absolute")
        sizes = {int(m) for m in node.take("max_sizes", [])}
        if len(sizes) != 1:
            raise _fail(f"'{node.where}' needs one max_size for all three axes")
        self.set("posemb_max", sizes.pop(), node.where)

    def transformer(self, node: _Node, part: str, adaln: bool) -> None:
        dim, head_dim = int(node.take("dim", 768)), int(node.take("head_dim", 64))
        if dim % head_dim:
            raise _fail(f"'{node.where}' has dim {dim} not divisible by head_dim {head_dim}")
        self.set(f"{part}_dim", dim, node.where)
        self.set(f"{part}_depth", int(node.take("depth", 12)), node.where)
        self.set(f"{part}_heads", dim // head_dim, node.where)
        node.expect("mlp_ratio", (4.0, 4), 4.0)
        for key in ("qkv_bias", "proj_bias", "mlp_bias"):
            node.expect(key, (False,), False)
        node.expect("gated_mlp", (True,), True)
        node.expect("qk_norm", (True,), True)
        node.expect("rope_forward_read_key", (None,), None)
        node.expect("score_mod_read_key", (None,), None)
        node.expect("adaLN_expansion", (2,) if adaln else (1,), 1)
        if adaln != (node.take("adaLN_emb_read_key") is not None):
            raise _fail(f"'{node.where}' {'lacks' if adaln else 'has'} the adaLN time conditioning")
        node.ignore(
            "drop", "drop_path_rate", "use_act_checkpoint", "weight_init_style", "zero_init_query_proj",
            "intermediate_layers", "adaLN_packing_fn_read_key",
        )

    def head(self, node: _Node, where_dim: str, adaln: bool) -> None:
        self.set(where_dim, node.take("dim"), node.where)
        node.expect("use_mup_readout", (False,), None)
        node.expect("proj_bias", (True,), True)
        node.expect("adaLN_bias", (True,), True)
        node.expect("dtype_override", (None,), None)
        if adaln != (node.take("adaLN_emb_read_key") is not None):
            raise _fail(f"'{node.where}' {'lacks' if adaln else 'has'} the adaLN time conditioning")
        node.ignore("weight_init_style", "adaLN_packing_fn_read_key")

    def common(self, node: _Node, part: str, mask_mode: str) -> bool:
        """Nodes both trunks share; True when handled."""
        if node.name == "PerSampleOp":
            op = _Node(node.take("per_sample_op"), f"{node.where}.per_sample_op")
            if op.target not in tuple(f"{_P}utils.dict_ops.channels_{x}" for x in ("first_to_last", "last_to_first")):
                raise _fail(f"'{op.where}' has the unknown target '{op.target}'")
            op.done()
        elif node.name == "PatchEmbedder":
            self.patches(node, part)
        elif node.name == "PositionalEmbeddingAdder":
            self.positions(node, part)
        elif node.name == "BlockWiseSequenceInterleavePacker":
            node.expect("mask_mode", (mask_mode,))
            node.expect("per_subseq_embs", (part == "decoder",), False)
            node.ignore("pad_to_multiple", "input_list_read_keys", "block_mask_write_key")
        elif node.name == "SequenceInterleavedUnpacker":
            node.ignore("inner_seq_write_keys")
        elif node.name == "FlexTransformer":
            self.transformer(node, part, adaln=part == "decoder")
        else:
            return False
        return True

    def encoder(self, tree: _Node) -> None:
        for _, node in _modules(tree):
            if node.target.startswith(_P) and self.common(node, "encoder", "time_block_causal_last"):
                pass
            elif node.target == f"{_P}preprocessors.registers.RegistersTemporal2D":
                self.set("encoder_dim", node.take("dim"), node.where)
                self.set("K", int(node.take("n_max")), node.where)
                self.set("register_frames", int(node.take("t_max")), node.where)
                node.expect("n_eval", (None, self.fields["K"]), None)
                node.expect("ordering_mode", ("nested",), "nested")
                node.expect("extra_registers_write_key", (None,), None)
                node.ignore("n_min", "size_sampling_mode", "register_sizes_read_write_key", "extra_registers_dim")
            elif node.target == f"{_P}postprocessors.heads.LinearHead":
                self.head(node, "encoder_dim", adaln=False)
                self.set("code_dims", node.take("dim_out"), node.where)
            else:
                raise _fail(f"'{node.where}' has the unknown target '{node.target}'")
            node.done()

    def decoder(self, tree: _Node) -> None:
        prefix = "null"
        for _, node in _modules(tree):
            if node.target.startswith(_P) and self.common(node, "decoder", "time_block_causal"):
                pass
            elif node.target == f"{_P}preprocessors.linear.LinearLayer":
                self.set("decoder_dim", node.take("dim"), node.where)
                self.set("code_dims", node.take("dim_in"), node.where)
                node.expect("proj_bias", (True,), True)
                node.expect("dtype_override", (None,), None)
                node.ignore("weight_init_style")
            elif node.target == f"{_P}preprocessors.token_dropout.MaskedNestedDropout":
                self.set("decoder_dim", node.take("dim"), node.where)
                self.fields["keep_k_sampling"] = node.expect("size_sampling_mode", ("uniform", "pow2"), "uniform")
                node.ignore("eval_keep_k_read_key", "train_keep_k_write_key", "zipf_a")
            elif node.target == f"{_P}preprocessors.token_dropout.MaskedPrefixDropout":
                self.set("decoder_dim", node.take("dim"), node.where)
                node.ignore("prefix_len_read_key", "eval_prefix_len_read_key")
                prefix = "token"
            elif node.target == f"{_P}preprocessors.nullcond.LearnedNullCond":
                self.set("decoder_dim", node.take("dim"), node.where)
                self.fields["cfg_dropout"] = float(node.take("dropout_prob", 0.0))
                node.expect("replace_with_single_token", (False,), False)
                node.ignore("eval_drop_flag_read_key")
            elif node.target == f"{_P}preprocessors.time_embedding.TimestepEmbedder":
                self.set("decoder_dim", node.take("dim"), node.where)
                node.expect("frequency_embedding_size", (256,), 256)
                node.expect("max_timestep", (1.0, 1), 1000.0)
                node.expect("temb_as_tokens", (False,), False)
                node.ignore("weight_init_style", "timesteps_read_key", "time_embedding_write_key")
            elif node.target == f"{_P}postprocessors.heads.ToPatchesLinearHead":
                self.head(node, "decoder_dim", adaln=True)
                self.set("latent_channels", node.take("channels_out"), node.where)
                sizes = [int(p) for p in node.take("patch_sizes", [])]
                self.set("patch_size", sizes[1] if len(sizes) == 3 else None, node.where)
            else:
                raise _fail(f"'{node.where}' has the unknown target '{node.target}'")
            node.done()
        self.fields["prefix"] = prefix

    def leaves(self, root: _Node) -> None:
        vae = _Node(root.take("vae"), "vae")
        if vae.target != "videoflextok.compressors.vidtok.VidTokVAE":
            raise _fail(f"'vae' has the unknown target '{vae.target}'")
        vae.expect("tokenizer_id", (VIDTOK_ID,))
        vae.expect("chunk_size", (None,), None)
        vae.ignore("compile", "force_vae_encode")
        vae.done()
        fsq = _Node(root.take("regularizer"), "regularizer")
        if fsq.target != "videoflextok.regularizers.quantize_fsq.FSQ":
            raise _fail(f"'regularizer' has the unknown target '{fsq.target}'")
        self.fields["fsq_levels"] = tuple(int(level) for level in fsq.take("levels", ()))
        fsq.ignore("drop_quant_p", "corrupt_tokens_p", "min_corrupt_tokens_p", "apply_corrupt_tokens_p", "packed_call")
        fsq.done()
        pipeline = _Node(root.take("pipeline"), "pipeline")
        if pipeline.target != "videoflextok.flow_matching.pipelines.VideoMinRFPipeline":
            raise _fail(f"'pipeline' has the unknown target '{pipeline.target}'")
        self.set("latent_channels", pipeline.take("out_channels"), "pipeline")
        pipeline.expect("zero_noise", (False,), False)
        pipeline.expect("noise_read_key", (None,), None)
        pipeline.ignore("target_sizes_read_key", "cond_vae_latents_key", "noised_videos_read_key")
        pipeline.done()
        noise = root.take("flow_matching_noise_module")
        if noise is not None and _Node(noise, "flow_matching_noise_module").target not in NOISE_MODULES:
            raise _fail(f"'flow_matching_noise_module' has the unknown target '{noise.get('_target_')}'")


def official_config(
    tree: Mapping[str, Any], chunk_size: int, overlap: int, resolution: int | None, vidtok_widths: tuple
) -> TokenizerConfig:
    """Our config for the official tree ``tree`` (the ``video_flex_tok`` node) at ``resolution`` pixels (None: the
    largest frame side its position tables cover)."""
    root = _Node(dict(tree), "video_flex_tok")
    if root.target not in ROOTS:
        raise _fail(f"the root has the unknown target '{root.target}'")
    reader = _Reader()
    reader.encoder(_Node(root.take("encoder"), "encoder"))
    reader.decoder(_Node(root.take("decoder"), "decoder"))
    reader.leaves(root)
    root.done()
    if overlap != 1:
        raise _fail(f"overlap_size_frames is {overlap}; only 1 is supported")
    f = reader.fields
    if f.get("code_dims") != len(f["fsq_levels"]):
        raise _fail(f"the code width {f.get('code_dims')} differs from the {len(f['fsq_levels'])} FSQ levels")
    ch, mults, blocks = vidtok_widths
    resolution = resolution or 8 * f["patch_size"] * f["posemb_max"]
    chunk_latents = 1 + (chunk_size - 1) // 4
    if f["register_frames"] < chunk_latents:
        raise _fail(f"the encoder has registers for {f['register_frames']} latent frames, a chunk has {chunk_latents}")
    try:
        return TokenizerConfig(
            resolution=resolution, chunk_frames=chunk_size, K=f["K"], fsq_levels=f["fsq_levels"],
            compressor=CompressorConfig(
                kind="vidtok", temporal_factor=4, spatial_factor=8, channels=f["latent_channels"],
                base_channels=ch, channel_mults=tuple(mults), num_res_blocks=blocks,
            ),
            patch_size=f["patch_size"], encoder_depth=f["encoder_depth"], encoder_dim=f["encoder_dim"],
            encoder_heads=f["encoder_heads"], decoder_depth=f["decoder_depth"], decoder_dim=f["decoder_dim"],
            decoder_heads=f["decoder_heads"], cfg_dropout=f["cfg_dropout"], time_shift=1.0, prediction="v",
            qk_norm="layernorm", norm_eps=1e-5, attn_scale="mup", bias=True, posemb="axial",
            posemb_max=f["posemb_max"], time_period=256.0, prefix=f["prefix"], prefix_time="shared",
            keep_k_sampling=f["keep_k_sampling"], guidance_scale=20.0, guidance_mode="apg", apg_eta=0.0,
            apg_norm_threshold=0.6, apg_momentum=0.0, sample_steps=30,
        )
    except ConfigError as exc:
        raise _fail(f"its settings do not form a valid model ({exc})") from None


# ----------------------------------------------------------------------------------------------------
# reading a checkpoint


def read_official(path: str | Path, resolution: int | None = None) -> tuple[TokenizerConfig, dict[str, torch.Tensor]]:
    """(our config, the official tensors without the Hub prefix) of a Hub folder or single file.

    resolution: the frame side in pixels the model will take (default: the Hub config's ``vae_video_sizes``, or for
    a single file the largest side its position tables cover).
    """
    from videoflextok.compressors.vidtok import infer_vidtok_widths

    path = Path(path)
    if path.is_dir():
        try:
            meta = json.loads((path / HUB_CONFIG).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise _fail(f"'{path / HUB_CONFIG}' is not readable JSON") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("video_flex_tok"), dict):
            raise _fail(f"'{path / HUB_CONFIG}' has no video_flex_tok tree")
        tree, weights, prefix = meta["video_flex_tok"], path / HUB_WEIGHTS, HUB_PREFIX
        chunk, overlap = meta.get("chunk_size", 17), meta.get("overlap_size_frames", 1)
        sizes = meta.get("vae_video_sizes")
    else:
        tree = {k: _literal(v, k) for k, v in read_safetensors_metadata(path).items() if k != "format"}
        weights, prefix, chunk, overlap, sizes = path, "", 17, 1, None
    if not isinstance(chunk, int) or chunk < 5 or (chunk - 1) % 4:
        raise _fail(f"chunk_size {chunk!r} is not 1 + 4n frames")
    state = read_safetensors(weights)
    if prefix:
        stray = next((k for k in state if not k.startswith(prefix)), None)
        if stray is not None:
            raise _fail(f"the tensor '{stray}' is outside '{prefix}'")
        state = {k[len(prefix) :]: v for k, v in state.items()}
    widths = infer_vidtok_widths(state, VIDTOK_PREFIX)
    if sizes is not None:
        square = isinstance(sizes, list) and len(sizes) == 3 and sizes[1] == sizes[2]
        if not square or sizes[0] != 1 + (chunk - 1) // 4:
            raise _fail(f"vae_video_sizes {sizes!r} does not describe one square chunk of {chunk} frames")
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
    from videoflextok.compressors.vidtok import vidtok_state_from_official

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
        raise _fail(f"the tensor '{exc.args[0]}' is missing") from None
    except IndexError:
        raise _fail("a patch or position tensor does not match the patch size in its config") from None
    if state:
        raise _fail(f"it holds the tensor '{sorted(state)[0]}' this importer does not know")
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
            raise _fail(f"our model needs '{name}', which its tensors do not give")
        if tuple(got.shape) != tuple(ref.shape):
            raise _fail(f"'{name}' has shape {list(got.shape)} where its config implies {list(ref.shape)}")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise _fail(f"the tensor mapped to '{extra[0]}' has no place in the model its config describes")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model.to(device).eval()
