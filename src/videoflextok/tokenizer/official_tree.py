"""The model tree of a released checkpoint (Hydra-style ``_target_`` nodes with constructor arguments) read as
data into our :class:`TokenizerConfig`: every node's target must be one named here, every argument is checked and
mapped (or known to matter only for the official code's plumbing or its training), and anything else is refused
with one sentence. Nothing is ever built from a name in the file."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from videoflextok.errors import CheckpointError, ConfigError
from videoflextok.tokenizer.config import CompressorConfig, TokenizerConfig

VIDTOK_ID = "vidtok_kl_causal_488_16chn"
ROOTS = ("videoflextok.wrappers.VideoFlexTok", "videoflextok.resamplers.video_wrappers.VideoFlowMatchingResampler")
# training-time noise modules: accepted, their settings are not imported (our trainer's own apply)
NOISE_MODULES = tuple(
    f"videoflextok.flow_matching.noise_modules.{name}"
    for name in ("MinRFNoiseModule", "PrefixMinRFNoiseModule", "MultiResFlowMatchingNoiseModule", "FullNoiseModule")
)
_P = "videoflextok.model."
_KEYS = ("read_key", "write_key")  # data-dict plumbing, meaningless for us


def fail(message: str) -> CheckpointError:
    """The one-sentence error of every refused official checkpoint."""
    return CheckpointError(f"official checkpoint: {message}.")


class _Node:
    """One ``_target_`` node: its arguments, consumed one by one so that leftovers can be refused."""

    def __init__(self, node: Any, where: str) -> None:
        if not isinstance(node, dict) or not isinstance(node.get("_target_"), str):
            raise fail(f"'{where}' is not a node with a _target_")
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
            raise fail(f"{self.name} '{self.where}' has {key}={value!r}; only {list(allowed)} is supported")
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
            raise fail(f"{self.name} '{self.where}' has the argument '{first}' this importer does not know")


def literal(value: Any, where: str) -> Any:
    """A metadata value of the single-file layout: a Python literal string (dicts, lists, True, None)."""
    if not isinstance(value, str) or not value.lstrip().startswith(("{", "[")):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise fail(f"the metadata entry '{where}' is not a readable literal") from None


def _modules(node: _Node) -> list[tuple[str, _Node]]:
    """The (name, node) entries of a SequentialModuleDictWrapper, in order (a list of pairs or a mapping)."""
    if node.target != f"{_P}utils.wrappers.SequentialModuleDictWrapper":
        raise fail(f"'{node.where}' has the unknown target '{node.target}'")
    entries = node.take("module_dict")
    node.done()
    if isinstance(entries, dict):
        entries = list(entries.items())
    if not isinstance(entries, list) or not all(isinstance(e, (list, tuple)) and len(e) == 2 for e in entries):
        raise fail(f"'{node.where}.module_dict' is neither a mapping nor a list of [name, node] pairs")
    return [(str(name), _Node(sub, f"{node.where}.{name}")) for name, sub in entries]


class _Reader:
    """Walks the tree, collecting our config fields in ``fields`` and checking that sizes agree."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.patch: list[int] | None = None

    def set(self, key: str, value: Any, where: str) -> None:
        if key in self.fields and self.fields[key] != value:
            raise fail(f"'{where}' sets {key} = {value!r}, elsewhere it is {self.fields[key]!r}")
        self.fields[key] = value

    def patches(self, node: _Node, part: str) -> None:
        self.set("latent_channels", node.take("channels_in"), node.where)
        self.set(f"{part}_dim", node.take("dim"), node.where)
        sizes = [int(p) for p in node.take("patch_sizes", [])]
        if len(sizes) != 3 or sizes[0] != 1 or sizes[1] != sizes[2]:
            raise fail(f"'{node.where}' has patch_sizes {sizes}; only [1, p, p] is supported")
        self.set("patch_size", sizes[1], node.where)
        node.expect("flatten_patches", (False,), True)
        node.ignore("weight_init_style")

    def positions(self, node: _Node, part: str) -> None:
        self.set(f"{part}_dim", node.take("dim"), node.where)
        node.expect("posemb_type", ("learnable_sum",), "sincos")
        node.expect("posemb_scaling", ("absolute",), "absolute")
        sizes = {int(m) for m in node.take("max_sizes", [])}
        if len(sizes) != 1:
            raise fail(f"'{node.where}' needs one max_size for all three axes")
        self.set("posemb_max", sizes.pop(), node.where)

    def transformer(self, node: _Node, part: str, adaln: bool) -> None:
        dim, head_dim = int(node.take("dim", 768)), int(node.take("head_dim", 64))
        if dim % head_dim:
            raise fail(f"'{node.where}' has dim {dim} not divisible by head_dim {head_dim}")
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
            raise fail(f"'{node.where}' {'lacks' if adaln else 'has'} the adaLN time conditioning")
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
            raise fail(f"'{node.where}' {'lacks' if adaln else 'has'} the adaLN time conditioning")
        node.ignore("weight_init_style", "adaLN_packing_fn_read_key")

    def common(self, node: _Node, part: str, mask_mode: str) -> bool:
        """Nodes both trunks share; True when handled."""
        if node.name == "PerSampleOp":
            op = _Node(node.take("per_sample_op"), f"{node.where}.per_sample_op")
            if op.target not in tuple(f"{_P}utils.dict_ops.channels_{x}" for x in ("first_to_last", "last_to_first")):
                raise fail(f"'{op.where}' has the unknown target '{op.target}'")
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
                raise fail(f"'{node.where}' has the unknown target '{node.target}'")
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
                raise fail(f"'{node.where}' has the unknown target '{node.target}'")
            node.done()
        self.fields["prefix"] = prefix

    def leaves(self, root: _Node) -> None:
        vae = _Node(root.take("vae"), "vae")
        if vae.target != "videoflextok.compressors.vidtok.VidTokVAE":
            raise fail(f"'vae' has the unknown target '{vae.target}'")
        vae.expect("tokenizer_id", (VIDTOK_ID,))
        vae.expect("chunk_size", (None,), None)
        vae.ignore("compile", "force_vae_encode")
        vae.done()
        fsq = _Node(root.take("regularizer"), "regularizer")
        if fsq.target != "videoflextok.regularizers.quantize_fsq.FSQ":
            raise fail(f"'regularizer' has the unknown target '{fsq.target}'")
        self.fields["fsq_levels"] = tuple(int(level) for level in fsq.take("levels", ()))
        fsq.ignore("drop_quant_p", "corrupt_tokens_p", "min_corrupt_tokens_p", "apply_corrupt_tokens_p", "packed_call")
        fsq.done()
        pipeline = _Node(root.take("pipeline"), "pipeline")
        if pipeline.target != "videoflextok.flow_matching.pipelines.VideoMinRFPipeline":
            raise fail(f"'pipeline' has the unknown target '{pipeline.target}'")
        self.set("latent_channels", pipeline.take("out_channels"), "pipeline")
        pipeline.expect("zero_noise", (False,), False)
        pipeline.expect("noise_read_key", (None,), None)
        pipeline.ignore("target_sizes_read_key", "cond_vae_latents_key", "noised_videos_read_key")
        pipeline.done()
        noise = root.take("flow_matching_noise_module")
        if noise is not None and _Node(noise, "flow_matching_noise_module").target not in NOISE_MODULES:
            raise fail(f"'flow_matching_noise_module' has the unknown target '{noise.get('_target_')}'")


def official_config(
    tree: Mapping[str, Any], chunk_size: int, overlap: int, resolution: int | None, vidtok_widths: tuple
) -> TokenizerConfig:
    """Our config for the official tree ``tree`` (the ``video_flex_tok`` node) at ``resolution`` pixels (None: the
    largest frame side its position tables cover)."""
    root = _Node(dict(tree), "video_flex_tok")
    if root.target not in ROOTS:
        raise fail(f"the root has the unknown target '{root.target}'")
    reader = _Reader()
    reader.encoder(_Node(root.take("encoder"), "encoder"))
    reader.decoder(_Node(root.take("decoder"), "decoder"))
    reader.leaves(root)
    root.done()
    if overlap != 1:
        raise fail(f"overlap_size_frames is {overlap}; only 1 is supported")
    f = reader.fields
    if f.get("code_dims") != len(f["fsq_levels"]):
        raise fail(f"the code width {f.get('code_dims')} differs from the {len(f['fsq_levels'])} FSQ levels")
    ch, mults, blocks = vidtok_widths
    resolution = resolution or 8 * f["patch_size"] * f["posemb_max"]
    chunk_latents = 1 + (chunk_size - 1) // 4
    if f["register_frames"] < chunk_latents:
        raise fail(f"the encoder has registers for {f['register_frames']} latent frames, a chunk has {chunk_latents}")
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
        raise fail(f"its settings do not form a valid model ({exc})") from None
