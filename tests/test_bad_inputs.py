"""The bad-input corpus: every CLI command and public function given wrong types, out-of-range numbers, NaN / inf,
huge sizes, and missing, foreign or truncated files.

Each case is a CLI command (run in-process, in the workspace of ``bad_inputs_workspace``) or a Python call, with
the fragment its one-sentence error must hold. A CLI case must exit with code 2 and print no traceback (our own
errors: exactly one ``error:`` line); a Python case must raise a VideoFlexTokError. After every case no file of the
workspace has changed, appeared or vanished: a refused command writes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest
import torch

from bad_inputs_workspace import build_workspace, snapshot
from videoflextok.cli.main import main
from videoflextok.data import DataConfig, VideoFileDataset, build_dataset, probe_video, read_video, write_video
from videoflextok.data.manifest import VideoEntry
from videoflextok.errors import VideoFlexTokError
from videoflextok.eval.generation import load_samples
from videoflextok.generator.model import VideoGenerator
from videoflextok.generator.token_shards import TokenShardDataset
from videoflextok.tokenizer.model import VideoFlexTok
from videoflextok.vae.latent_cache import LatentCacheDataset
from videoflextok.vae.model import VideoVAE

NAN, INF = "nan", "inf"


@dataclass(frozen=True)
class Case:
    name: str
    message: str  # a fragment of the error sentence
    args: tuple[str, ...] = ()  # CLI words (paths relative to the workspace)
    call: Callable | None = None  # or a Python call, given the World


def cli(name: str, message: str, *args: str) -> Case:
    return Case(name, message, args=args)


def api(name: str, message: str, call: Callable) -> Case:
    return Case(name, message, call=call)


class World:
    """The workspace's models and tensors for the Python cases (loaded on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @cached_property
    def tok(self) -> VideoFlexTok:
        return VideoFlexTok.from_pretrained(self.root / "tok").eval()

    @cached_property
    def gen(self) -> VideoGenerator:
        return VideoGenerator.from_pretrained(self.root / "gen").eval()

    @cached_property
    def vae(self):
        return VideoVAE.from_pretrained(self.root / "vae").eval()

    def video(self, frames: int = 17, size: int = 16) -> torch.Tensor:
        return torch.rand(1, 3, frames, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1

    @cached_property
    def tokens(self) -> list[torch.Tensor]:
        return self.tok.tokenize(self.video())


def _nan_video(w: World) -> torch.Tensor:
    v = w.video()
    v[0, 0, 3, 2, 2] = math.nan
    return v


GEN = ("generate", "--generator", "gen", "--tokenizer", "tok", "--class", "1", "--out", "new/x.mp4")
REC = ("eval", "reconstruction", "--tokenizer", "tok", "--num", "2", "--out", "new_rec", "--no-fvd")
EGEN = ("eval", "generation", "--generator", "gen", "--tokenizer", "tok", "--num", "2", "--out", "new_gen", "--no-fvd")
PRE = ("pretokenize", "--tokenizer", "tok", "--num", "2", "--out", "new_tokens")
LAT = ("cache-latents", "--vae", "vae", "--num", "2", "--resolution", "16", "--frames", "5", "--out", "new_latents")
DEMO = ("demo", "--tokenizer", "tok", "--out", "new_demo", "--no-progress")
PREVIEW = ("data", "preview", "--out", "new/grid.gif")
TRAIN = ("train", "tokenizer", "--preset", "tiny", "--out", "new_run")
TINY16 = ("data.resolution=16", "model.resolution=16")

CASES = [
    # the entry point
    cli("no-command", "usage"),
    cli("unknown-command", "invalid choice", "frobnicate"),
    cli("train-no-kind", "required", "train"),
    # info
    cli("info-missing", "does not exist", "info", "nothing.mp4"),
    cli("info-text", "not a readable video", "info", "notes.txt"),
    cli("info-truncated", "not a readable video", "info", "truncated.mp4"),
    cli("info-random-bytes", "not a readable video", "info", "random.mp4"),
    cli("info-folder", "not a", "info", "empty"),
    cli("info-unknown-preset", "unknown tokenizer preset", "info", "clip.mp4", "--preset", "huge"),
    # data preview
    cli("preview-num-0", "--num must be at least 1", *PREVIEW, "--num", "0"),
    cli("preview-num-negative", "--num must be at least 1", *PREVIEW, "--num", "-3"),
    cli("preview-num-text", "invalid int", *PREVIEW, "--num", "many"),
    cli("preview-fps-0", "--fps must be greater than 0", *PREVIEW, "--fps", "0"),
    cli("preview-fps-nan", "--fps must be a finite number", *PREVIEW, "--fps", NAN),
    cli("preview-fps-inf", "--fps must be a finite number", *PREVIEW, "--fps", INF),
    cli("preview-resolution-huge", "--resolution must be at most 4096", *PREVIEW, "--resolution", "100000"),
    cli("preview-resolution-tiny", "--resolution must be at least 8", *PREVIEW, "--resolution", "4"),
    cli("preview-frames-0", "--frames must be at least 1", *PREVIEW, "--frames", "0"),
    cli("preview-frames-huge", "--frames must be at most", *PREVIEW, "--frames", "100000"),
    cli("preview-seed-negative", "--seed must be at least 0", *PREVIEW, "--seed", "-1"),
    cli("preview-memory", "GiB of memory", *PREVIEW, "--num", "100000", "--resolution", "4096", "--frames", "4097"),
    cli("preview-extension", "must end in", "data", "preview", "--out", "grid.avi"),
    cli("preview-out-under-file", "is a file", "data", "preview", "--out", "keep.txt/grid.gif"),
    cli("preview-out-folder", "is a folder", "data", "preview", "--out", "demo_out"),
    cli("preview-folder-no-path", "needs --path", *PREVIEW, "--dataset", "folder"),
    cli("preview-empty-folder", "holds no video files", *PREVIEW, "--dataset", "folder", "--path", "empty"),
    cli("preview-manifest-missing-file", "do not exist", *PREVIEW, "--dataset", "manifest", "--path", "missing.csv"),
    cli("preview-manifest-bad-label", "not an integer", *PREVIEW, "--dataset", "manifest", "--path", "badlabel.csv"),
    cli("preview-manifest-not-csv", ".csv or .jsonl", *PREVIEW, "--dataset", "manifest", "--path", "notes.txt"),
    cli("preview-unknown-dataset", "invalid choice", *PREVIEW, "--dataset", "imagenet"),
    # train
    cli("train-existing-run", "already holds checkpoints", "train", "tokenizer", "--out", "run", "train.steps=2"),
    cli("train-vae-existing-run", "already holds checkpoints", "train", "vae", "--out", "vae", "train.steps=2"),
    cli("train-gen-existing-run", "already holds checkpoints", "train", "generator", "--tokens", "shards", "--out",
        "gen", "model.tokens_per_frame=4"),
    cli("train-resume-missing", "holds no run to continue", "train", "tokenizer", "--out", "rnu", "--resume"),
    cli("train-resume-vae-as-tokenizer", "is a vae run", "train", "tokenizer", "--out", "vae", "--resume"),
    cli("train-resume-tokenizer-as-vae", "is a tokenizer run", "train", "vae", "--out", "run", "--resume"),
    cli("train-resume-tokenizer-as-gen", "is a tokenizer run", "train", "generator", "--out", "run", "--resume"),
    cli("train-resume-changed-model", "the model needs", "train", "tokenizer", "--out", "run", "--resume",
        "model.decoder_dim=64", "model.decoder_heads=2"),
    cli("train-steps-0", "train.steps must be >= 1", *TRAIN, "train.steps=0"),
    cli("train-lr-negative", "train.lr must be > 0", *TRAIN, "train.lr=-1"),
    cli("train-lr-nan", "train.lr", *TRAIN, "train.lr=nan"),
    cli("train-unknown-key", "unknown config key", *TRAIN, "train.stpes=3"),
    cli("train-wrong-type", "train.steps", *TRAIN, "train.steps=many"),
    cli("train-not-key-value", "must look like", *TRAIN, "steps"),
    cli("train-huge-resolution", "4096 pixels", *TRAIN, "data.resolution=100000", "model.resolution=100000"),
    cli("train-resolution-mismatch", "must equal model.resolution", *TRAIN, "data.resolution=64"),
    cli("train-bad-frames", "data.num_frames", *TRAIN, "data.num_frames=16"),
    cli("train-K-0", "K must be at least 1", *TRAIN, "model.K=0"),
    cli("train-unknown-preset", "preset", "train", "tokenizer", "--preset", "huge", "--out", "new_run"),
    cli("train-missing-config", "does not exist", "train", "tokenizer", "--config", "nothing.yaml", "--out", "x"),
    cli("train-config-not-yaml-mapping", "", "train", "tokenizer", "--config", "notes.txt", "--out", "new_run"),
    cli("train-out-file", "exists and is not a folder", *TRAIN[:-1], "keep.txt"),
    cli("train-out-under-file", "is a file", *TRAIN[:-1], "keep.txt/run"),
    cli("train-init-missing", "does not exist", *TRAIN, "--init", "nothing"),
    cli("train-init-weights-do-not-fit", "do not fit", *TRAIN, "--init", "tok", "data.resolution=16",
        "model.decoder_dim=64"),
    cli("train-init-not-checkpoint", "not", *TRAIN, "--init", "notes.txt"),
    cli("train-empty-folder-data", "holds no video files", *TRAIN, "data.dataset=folder", "data.path=empty"),
    cli("train-precision", "train.precision", *TRAIN, "train.precision=fp16"),
    cli("train-unknown-dataset", "data.dataset", *TRAIN, "data.dataset=imagenet"),
    cli("train-device-cuda", "CUDA", *TRAIN, *TINY16, "train.device=cuda"),
    cli("train-latents-pixel-compressor", "needs model.compressor.kind=vae", *TRAIN, *TINY16, "data.latents=latents"),
    cli("train-latents-not-a-folder", "not a latent folder", *TRAIN, *TINY16, "data.latents=empty",
        "model.compressor.kind=vae", "model.compressor.path=vae", "model.compressor.channels=16",
        "model.compressor.spatial_factor=8", "model.patch_size=1"),
    cli("train-vae-on-latents", "trains tokenizers", "train", "vae", "--out", "new_vae", "data.latents=latents"),
    cli("train-vae-frames", "1 + 4n", "train", "vae", "--out", "new_vae", "data.num_frames=6"),
    cli("train-gen-no-tokens", "give --tokens", "train", "generator", "--out", "new_gen"),
    cli("train-gen-missing-tokens", "does not exist", "train", "generator", "--tokens", "nothing", "--out", "new_gen"),
    cli("train-gen-foreign-tokens", "not a token folder", "train", "generator", "--tokens", "empty", "--out", "ng"),
    cli("train-gen-vocab", "vocabulary", "train", "generator", "--tokens", "shards", "--out", "ng",
        "model.vocab_size=10"),
    cli("train-gen-other-tokenizer", "model.tokenizer_id", "train", "generator", "--tokens", "shards", "--out", "ng",
        "model.tokens_per_frame=4", "model.tokenizer_id=0123456789abcdef"),
    # cache-latents
    cli("latents-vae-missing", "does not exist", *LAT[:2], "nothing", *LAT[3:]),
    cli("latents-vae-is-tokenizer", "not a 'vae'", *LAT[:2], "tok", *LAT[3:]),
    cli("latents-num-0", "--num must be at least 1", *LAT, "--num", "0"),
    cli("latents-resolution-huge", "--resolution must be at most 4096", *LAT, "--resolution", "100000"),
    cli("latents-frames", "--frames", *LAT, "--frames", "6"),
    cli("latents-out-file", "exists and is not a folder", *LAT, "--out", "keep.txt"),
    cli("latents-out-foreign-folder", "not a latent folder", *LAT, "--out", "demo_out"),
    cli("latents-out-token-folder", "different settings", *LAT, "--out", "shards"),
    cli("latents-no-num", "give --num", "cache-latents", "--vae", "vae", "--out", "new_latents"),
    cli("latents-batch-memory", "GiB of memory", *LAT, "--batch-size", "100000000", "--resolution", "4096"),
    cli("latents-dtype", "invalid choice", *LAT, "--dtype", "float64"),
    # pretokenize
    cli("pretok-tokenizer-missing", "does not exist", *PRE[:2], "nothing", *PRE[3:]),
    cli("pretok-tokenizer-is-vae", "not a 'VideoFlexTok'", *PRE[:2], "vae", *PRE[3:]),
    cli("pretok-out-file", "exists and is not a folder", *PRE, "--out", "keep.txt"),
    cli("pretok-out-foreign-folder", "not a token folder", *PRE, "--out", "demo_out"),
    cli("pretok-other-settings", "different settings", *PRE, "--out", "shards", "--seed", "5"),
    cli("pretok-num-0", "--num must be at least 1", *PRE, "--num", "0"),
    cli("pretok-batch-0", "--batch-size must be at least 1", *PRE, "--batch-size", "0"),
    cli("pretok-shard-negative", "--shard-size must be at least 1", *PRE, "--shard-size", "-1"),
    cli("pretok-frames", "cannot take 16-frame clips", *PRE, "--frames", "16"),
    cli("pretok-seed-negative", "--seed must be at least 0", *PRE, "--seed", "-1"),
    cli("pretok-manifest-missing-file", "do not exist", *PRE, "--dataset", "manifest", "--path", "missing.csv"),
    cli("pretok-manifest-unreadable-file", "truncated.mp4' cannot be used", *PRE, "--dataset", "manifest", "--path",
        "unreadable.csv"),
    cli("pretok-folder-no-path", "needs --path", *PRE, "--dataset", "folder"),
    cli("pretok-cuda", "CUDA is not available", *PRE, "--device", "cuda"),
    # generate
    cli("gen-steps-0", "--steps must be at least 1", *GEN, "--steps", "0"),
    cli("gen-steps-negative", "--steps must be at least 1", *GEN, "--steps", "-1"),
    cli("gen-tokens-per-frame-0", "--tokens-per-frame must be at least 1", *GEN, "--tokens-per-frame", "0"),
    cli("gen-tokens-per-frame-big", "tokens per frame must be between 1 and 4", *GEN, "--tokens-per-frame", "9"),
    cli("gen-cfg-negative", "--cfg must be at least 0", *GEN, "--cfg", "-3"),
    cli("gen-cfg-nan", "--cfg must be a finite number", *GEN, "--cfg", NAN),
    cli("gen-guidance-negative", "--guidance must be at least 0", *GEN, "--guidance", "-5"),
    cli("gen-guidance-inf", "--guidance must be a finite number", *GEN, "--guidance", INF),
    cli("gen-temperature-negative", "temperature must be at least 0", *GEN, "--temperature", "-1"),
    cli("gen-top-p-0", "top_p must be greater than 0", *GEN, "--top-p", "0"),
    cli("gen-top-p-big", "top_p must be at most 1", *GEN, "--top-p", "1.5"),
    cli("gen-top-k-0", "top_k must be at least 1", *GEN, "--top-k", "0"),
    cli("gen-num-samples-0", "--num-samples must be at least 1", *GEN, "--num-samples", "0"),
    cli("gen-num-samples-huge", "--num-samples must be at most", *GEN, "--num-samples", "100000000000"),
    cli("gen-fps-0", "--fps must be greater than 0", *GEN, "--fps", "0"),
    cli("gen-seed-huge", "--seed must be at most", *GEN, "--seed", str(2**70)),
    cli("gen-extension", "must end in", *GEN, "--out", "x.avi"),
    cli("gen-out-folder", "is a folder", *GEN, "--out", "demo_out"),
    cli("gen-unknown-class", "class id 999 is outside", *GEN[:-4], "--class", "999", "--out", "x.mp4"),
    cli("gen-prompt-for-class-model", "class-conditioned", *GEN[:-4], "--prompt", "a red circle", "--out", "x.mp4"),
    cli("gen-other-tokenizer", "another tokenizer", *GEN[:4], "tok2", *GEN[5:]),
    cli("gen-frames", "this tokenizer takes 1 + 4n frames", *GEN, "--num-frames", "16"),
    cli("gen-generator-is-tokenizer", "not a 'VideoGenerator'", *GEN[:2], "tok", *GEN[3:]),
    cli("gen-generator-missing", "does not exist", *GEN[:2], "nothing", *GEN[3:]),
    cli("gen-class-and-prompt", "not allowed with", *GEN, "--prompt", "x"),
    # eval reconstruction
    cli("rec-num-0", "--num must be at least 1", *REC, "--num", "0"),
    cli("rec-tokens-not-increasing", "positive and increasing", *REC, "--tokens", "2,1"),
    cli("rec-tokens-text", "comma-separated integers", *REC, "--tokens", "a,b"),
    cli("rec-tokens-over-K", "only K=4", *REC, "--tokens", "1,64"),
    cli("rec-out-file", "exists and is not a folder", *REC, "--out", "keep.txt"),
    cli("rec-folder-no-path", "needs --path", *REC, "--dataset", "folder"),
    cli("rec-steps-0", "--steps must be at least 1", *REC, "--steps", "0"),
    cli("rec-guidance-nan", "--guidance must be a finite number", *REC, "--guidance", NAN),
    cli("rec-tokenizer-missing", "does not exist", *REC[:3], "nothing", *REC[4:]),
    cli("rec-manifest-missing-file", "do not exist", *REC, "--dataset", "manifest", "--path", "missing.csv"),
    cli("rec-frames", "cannot take 16-frame clips", *REC, "--frames", "16"),
    cli("rec-seed-negative", "--seed must be at least 0", *REC, "--seed", "-2"),
    # eval generation
    cli("egen-empty-shard", "too few for 2 shards", *EGEN, "--num", "8", "--shard", "0/2"),
    cli("egen-num-huge", "GiB of memory", *EGEN, "--num", str(10**12)),
    cli("egen-shard-range", "0 <= I < N", *EGEN, "--shard", "2/2"),
    cli("egen-shard-text", "I/N", *EGEN, "--shard", "half"),
    cli("egen-merge-and-shard", "not both", "eval", "generation", "--merge", "--shard", "0/1", "--out", "samples"),
    cli("egen-merge-num-mismatch", "hold 2 samples", "eval", "generation", "--merge", "--num", "16", "--out",
        "samples", "--no-fvd"),
    cli("egen-merge-missing", "does not exist", "eval", "generation", "--merge", "--out", "nothing"),
    cli("egen-merge-no-shards", "no sample shards", "eval", "generation", "--merge", "--out", "empty"),
    cli("egen-no-generator", "needs --generator", "eval", "generation", "--num", "2", "--out", "new_gen"),
    cli("egen-other-tokenizer", "another tokenizer", *EGEN[:5], "tok2", *EGEN[6:]),
    cli("egen-cfg-negative", "cfg scale must be at least 0", *EGEN, "--cfg", "-1"),
    cli("egen-top-p-big", "top_p must be at most 1", *EGEN, "--top-p", "2"),
    # demo
    cli("demo-start-negative", "--start must be at least 0", *DEMO, "--start", "-5"),
    cli("demo-start-nan", "--start must be a finite number", *DEMO, "--start", NAN),
    cli("demo-fps-0", "--fps must be greater than 0", *DEMO, "--fps", "0"),
    cli("demo-scale-0", "--scale must be at least 1", *DEMO, "--scale", "0"),
    cli("demo-scale-huge", "--scale must be at most 32", *DEMO, "--scale", "100000"),
    cli("demo-steps-0", "--steps must be at least 1", *DEMO, "--steps", "0"),
    cli("demo-frames", "cannot take 16-frame clips", *DEMO, "--frames", "16"),
    cli("demo-video-missing", "does not exist", *DEMO, "--video", "nothing.mp4"),
    cli("demo-video-truncated", "not a readable video", *DEMO, "--video", "truncated.mp4"),
    cli("demo-video-short", "only 9 frames", *DEMO, "--video", "short.mp4"),
    cli("demo-out-file", "is not a folder", *DEMO, "--out", "keep.txt"),
    cli("demo-into-existing-bad-video", "not a readable video", *DEMO, "--out", "demo_out", "--video", "random.mp4"),
    cli("demo-tokenizer-missing", "does not exist", "demo", "--tokenizer", "nothing", "--out", "new_demo"),
    cli("demo-seed-negative", "--seed must be at least 0", *DEMO, "--seed", "-1"),
    # convert-official
    cli("convert-missing", "does not exist", "convert-official", "nothing", "--out", "converted"),
    cli("convert-not-official", "not an official VideoFlexTok checkpoint", "convert-official", "plain", "--out", "c"),
    cli("convert-truncated", "truncated", "convert-official", "official_truncated", "--out", "converted"),
    cli("convert-out-exists", "already exists", "convert-official", "official_truncated", "--out", "tok"),
    cli("convert-resolution-odd", "multiple of 8", "convert-official", "official_truncated", "--out", "c",
        "--resolution", "12"),
    cli("convert-resolution-huge", "multiple of 8 from 8 to 4096", "convert-official", "official_truncated", "--out",
        "c", "--resolution", "100000"),
    cli("convert-out-under-file", "is a file", "convert-official", "official_truncated", "--out", "keep.txt/c"),
    # Python: the tokenizer
    api("tokenize-nan", "NaN", lambda w: w.tok.tokenize(_nan_video(w))),
    api("tokenize-0-255", "must lie in [-1, 1]", lambda w: w.tok.tokenize((w.video() + 1) * 127.5)),
    api("tokenize-int", "float tensor", lambda w: w.tok.tokenize(torch.zeros(1, 3, 17, 16, 16, dtype=torch.uint8))),
    api("tokenize-shape", "[B, 3, T, H, W]", lambda w: w.tok.tokenize(torch.zeros(3, 17, 16, 16))),
    api("tokenize-resolution", "takes 16x16", lambda w: w.tok.tokenize(w.video(size=32))),
    api("tokenize-frames", "16 frames", lambda w: w.tok.tokenize(w.video(frames=16))),
    api("tokenize-too-long", "97 frames", lambda w: w.tok.tokenize(w.video(frames=97))),
    api("tokenize-posterior", "posterior", lambda w: w.tok.tokenize(w.video(), posterior="median")),
    api("detok-keep-k-float", "keep_k must be an integer", lambda w: w.tok.detokenize(w.tokens, keep_k=2.5)),
    api("detok-keep-k-bool", "keep_k must be an integer", lambda w: w.tok.detokenize(w.tokens, keep_k=True)),
    api("detok-keep-k-0", "keep_k must be between 1 and 4", lambda w: w.tok.detokenize(w.tokens, keep_k=0)),
    api("detok-steps-0", "steps must be at least 1", lambda w: w.tok.detokenize(w.tokens, steps=0)),
    api("detok-steps-float", "steps must be an integer", lambda w: w.tok.detokenize(w.tokens, steps=2.0)),
    api("detok-guidance-nan", "guidance must be a finite", lambda w: w.tok.detokenize(w.tokens, guidance=math.nan)),
    api("detok-guidance-negative", "guidance must be at least 0", lambda w: w.tok.detokenize(w.tokens, guidance=-1)),
    api("detok-guidance-mode", "guidance_mode", lambda w: w.tok.detokenize(w.tokens, guidance_mode="pag")),
    api("detok-float-ids", "integer tensor", lambda w: w.tok.detokenize([w.tokens[0].float()])),
    api("detok-ids-range", "token ids must be in", lambda w: w.tok.detokenize([w.tokens[0] + 70000])),
    api("detok-tensor-not-list", "list of LongTensor", lambda w: w.tok.detokenize(w.tokens[0])),
    api("detok-rows", "latent frames", lambda w: w.tok.detokenize([w.tokens[0].repeat(2, 1)[:6]])),
    api("detok-noise-shape", "noise must be", lambda w: w.tok.detokenize(w.tokens, noise=torch.zeros(1, 2, 3))),
    api("tok-from-pretrained-missing", "does not exist", lambda w: VideoFlexTok.from_pretrained(w.root / "none")),
    api("tok-from-pretrained-truncated", "truncated", lambda w: VideoFlexTok.from_pretrained(
        w.root / "official_truncated")),
    api("tok-from-pretrained-generator", "not a 'VideoFlexTok'", lambda w: VideoFlexTok.from_pretrained(
        w.root / "gen")),
    api("tok-from-preset-unknown", "preset", lambda w: VideoFlexTok.from_preset("huge")),
    api("tok-from-preset-resolution", "4096 pixels", lambda w: VideoFlexTok.from_preset("tiny", ["resolution=99968"])),
    # Python: VAE, generator, data
    api("vae-encode-0-255", "must lie in [-1, 1]", lambda w: w.vae.encode((w.video(frames=5) + 1) * 127.5)),
    api("vae-encode-inf", "infinite", lambda w: w.vae.encode(w.video(frames=5) / 0)),
    api("vae-encode-frames", "frames", lambda w: w.vae.encode(w.video(frames=6))),
    api("gen-api-temperature-nan", "must be a finite", lambda w: w.gen.generate([1], 5, temperature=math.nan)),
    api("gen-api-top-k-float", "top_k must be an integer", lambda w: w.gen.generate([1], 5, top_k=2.5)),
    api("gen-api-tokens-per-frame-0", "must be at least 1", lambda w: w.gen.generate([1], 5, tokens_per_frame=0)),
    api("gen-api-cfg-negative", "cfg scale must be at least 0", lambda w: w.gen.generate([1], 5, cfg_scale=-2.0)),
    api("gen-api-frames-0", "latent frames must be at least 1", lambda w: w.gen.generate([1], 0)),
    api("gen-api-class-float", "integers", lambda w: w.gen.generate([1.5], 5)),
    api("gen-api-from-pretrained-vae", "not a", lambda w: VideoGenerator.from_pretrained(w.root / "vae")),
    api("read-video-missing", "does not exist", lambda w: read_video(w.root / "nothing.mp4")),
    api("read-video-truncated", "not a readable video", lambda w: read_video(w.root / "truncated.mp4")),
    api("read-video-short", "only 9 frames", lambda w: read_video(w.root / "short.mp4", num_frames=17)),
    api("probe-video-text", "not a readable video", lambda w: probe_video(w.root / "notes.txt")),
    api("write-video-fps-nan", "fps must be a finite", lambda w: write_video(w.root / "n.gif", w.video()[0], math.nan)),
    api("write-video-extension", "extension", lambda w: write_video(w.root / "n.avi", w.video()[0], 8)),
    api("data-config-resolution", "at most 4096", lambda w: DataConfig(resolution=100000)),
    api("data-config-frames-float", "data.num_frames must be an integer", lambda w: DataConfig(num_frames=2.5)),
    api("data-config-seed", "data.seed must be at least 0", lambda w: DataConfig(seed=-1)),
    api("dataset-strict-missing", "do not exist", lambda w: build_dataset(
        DataConfig(dataset="manifest", path=str(w.root / "missing.csv")), skip_unreadable=False)),
    api("dataset-strict-unreadable", "cannot be used", lambda w: VideoFileDataset(
        [VideoEntry(w.root / "truncated.mp4")], resolution=16, skip_unreadable=False)[0]),
    api("token-shards-missing", "not a token folder", lambda w: TokenShardDataset(w.root / "empty")),
    api("latent-cache-token-folder", "latent", lambda w: LatentCacheDataset(w.root / "empty")),
    api("load-samples-empty", "no sample shards", lambda w: load_samples(w.root / "empty")),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = build_workspace(tmp_path_factory.mktemp("bad_inputs"))
    return root, World(root)


def test_the_corpus_is_large_and_named_uniquely():
    names = [c.name for c in CASES]
    assert len(names) >= 100 and len(set(names)) == len(names)
    commands = {c.args[0] for c in CASES if c.args}
    assert commands >= {"info", "data", "train", "cache-latents", "pretokenize", "generate", "eval", "demo",
                        "convert-official"}


def _run_cli(args: tuple[str, ...]) -> int:
    try:
        return main(list(args))
    except SystemExit as exc:  # argparse refuses bad usage by exiting
        return int(exc.code)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_with_one_sentence_and_changes_nothing(case, workspace, capsys, monkeypatch):
    root, world = workspace
    monkeypatch.chdir(root)
    before = snapshot(root)
    if case.call is not None:
        with pytest.raises(VideoFlexTokError) as info:
            case.call(world)
        assert case.message in str(info.value)
    else:
        code = _run_cli(case.args)
        out, err = capsys.readouterr()
        assert code == 2, (out, err)
        assert "Traceback" not in out + err
        assert case.message in out + err, (out, err)
        if err.startswith("error: "):  # our own errors: one sentence on one line
            assert err.count("\n") == 1, err
    assert snapshot(root) == before
