"""``videoflextok eval``: reconstruction and generation metrics.

``videoflextok eval reconstruction --tokenizer DIR --dataset shapes --num 64 --tokens 1,2,4,8 --out OUT``
  -> ``OUT/reconstruction.json`` (per tokens-per-frame: MAE, MSE, PSNR, SSIM, rFVD, probe class score) and
  ``OUT/reconstruction.png`` (one panel per metric against tokens per frame).

``videoflextok eval generation --generator DIR --tokenizer DIR --num 256 --out OUT``
  -> samples in ``OUT/samples/shard_*.npz`` and ``OUT/generation.json`` (gFVD, class or caption score).
  Split across processes with ``--shard I/N`` (each writes its shard only), then ``--merge`` scores them all.
"""

from __future__ import annotations

import argparse
import json

from videoflextok.atomic import atomic_write_text, check_out_folder, make_folder
from videoflextok.checks import MAX_SEED, check_float, check_int, check_optional
from videoflextok.cli.pretokenize import default_device
from videoflextok.data.config import DATASETS, SPLITS
from videoflextok.errors import ConfigError
from videoflextok.generator.sampling import check_sampling


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="evaluate a tokenizer (reconstruction) or a generator (generation)",
                              description="Reconstruction and generation metrics with JSON output.")
    sub = p.add_subparsers(dest="eval_command", metavar="KIND", parser_class=type(p))
    p.set_defaults(func=lambda args: p.print_help() or 2)

    r = sub.add_parser("reconstruction", help="MAE/MSE/PSNR/SSIM/rFVD/class score per tokens per frame",
                       description="Tokenize clips, decode them with k tokens per latent frame for each k, and "
                       "measure the reconstructions.")
    r.add_argument("--tokenizer", required=True, help="tokenizer checkpoint folder or training run folder")
    r.add_argument("--dataset", default="shapes", choices=DATASETS, help="which dataset (default: shapes)")
    r.add_argument("--path", default=None, help="folder of videos or manifest file (folder / manifest datasets)")
    r.add_argument("--num", type=int, required=True, help="number of clips evaluated")
    r.add_argument("--tokens", default=None, help="tokens per frame to evaluate, e.g. 1,2,4 (default: powers of "
                   "two up to the tokenizer's K)")
    r.add_argument("--out", required=True, help="output folder (reconstruction.json, reconstruction.png)")
    r.add_argument("--split", default="heldout", choices=SPLITS, help="synthetic data split (default: heldout)")
    r.add_argument("--frames", "--num-frames", dest="frames", type=int, default=None,
                   help="frames per clip (default: the tokenizer's chunk)")
    _common(r)
    r.set_defaults(func=run_reconstruction)

    g = sub.add_parser("generation", help="gFVD, class score and caption score of generated samples",
                       description="Sample videos conditioned on real shapes clips' labels or captions, write them "
                       "as .npz shards and score them against those clips.")
    g.add_argument("--generator", default=None, help="generator checkpoint folder or training run folder")
    g.add_argument("--tokenizer", default=None, help="tokenizer checkpoint folder or training run folder")
    g.add_argument("--num", type=int, default=None, help="number of samples (and real clips)")
    g.add_argument("--out", required=True, help="output folder (samples/, generation.json)")
    g.add_argument("--tokens-per-frame", type=int, default=None, help="tokens sampled per latent frame "
                   "(default: the generator's)")
    g.add_argument("--frames", "--num-frames", dest="frames", type=int, default=None,
                   help="video frames (default: the tokenizer's chunk)")
    g.add_argument("--cfg", type=float, default=1.0, help="classifier-free guidance on logits (1 = off)")
    g.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0 = greedy)")
    g.add_argument("--top-k", type=int, default=None, help="sample only among the k most likely tokens")
    g.add_argument("--top-p", type=float, default=None, help="nucleus sampling mass in (0, 1]")
    g.add_argument("--split", default="train", choices=SPLITS, help="shapes split of the conditions and real "
                   "clips (default: train)")
    g.add_argument("--shard", default=None, help="I/N: write only shard I of N (no scoring); then run --merge")
    g.add_argument("--merge", action="store_true", help="score the shards already in OUT/samples")
    _common(g)
    g.set_defaults(func=run_generation)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=int, default=8, help="clips per forward pass (default: 8)")
    p.add_argument("--steps", type=int, default=None, help="flow decoder Euler steps (default: tokenizer's)")
    p.add_argument("--guidance", type=float, default=None, help="flow decoder guidance (default: tokenizer's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and of sampling (default: 0)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--fvd", action=argparse.BooleanOptionalAction, default=True,
                   help="compute FVD with the Kinetics-400 I3D (default: on)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")


def _check_options(args: argparse.Namespace, *names: str) -> None:
    """The options both kinds share, and the integer options ``names`` (at least 1 when given)."""
    for name in ("batch_size", "steps", "frames", *names):
        check_optional(check_int, f"--{name.replace('_', '-')}", getattr(args, name), 1)
    check_optional(check_float, "--guidance", args.guidance, 0.0)
    check_int("--seed", args.seed, 0, MAX_SEED)


def run_reconstruction(args: argparse.Namespace) -> int:
    from videoflextok.eval.reconstruction import (
        ReconstructionEvalConfig,
        check_budgets,
        evaluate_reconstruction,
        parse_budgets,
        plot_reconstruction,
    )
    from videoflextok.tokenizer.model import VideoFlexTok

    _check_options(args, "num")
    budgets = parse_budgets(args.tokens) if args.tokens is not None else None
    if args.dataset in ("folder", "manifest") and not args.path:
        raise ConfigError(f"the '{args.dataset}' dataset needs --path")
    out = check_out_folder(args.out)
    device = default_device(args.device)
    tokenizer = VideoFlexTok.from_pretrained(args.tokenizer, device=device).eval()
    if budgets is not None:
        check_budgets(budgets, tokenizer.config.K)
    cfg = ReconstructionEvalConfig(dataset=args.dataset, path=args.path, split=args.split, num=args.num,
                                   tokens=budgets, num_frames=args.frames, batch_size=args.batch_size,
                                   steps=args.steps, guidance=args.guidance, seed=args.seed, fvd=args.fvd)
    result = evaluate_reconstruction(tokenizer, cfg, progress=args.progress)
    result["source"] = {"tokenizer": str(args.tokenizer)}
    make_folder(out)
    atomic_write_text(out / "reconstruction.json", json.dumps(result, indent=2) + "\n")
    plot_reconstruction(result, out / "reconstruction.png")
    for row in result["rows"]:
        extra = "" if row["rfvd"] is None else f"  rFVD {row['rfvd']:.1f}"
        if row["class_score"] is not None:
            extra += (f"  class {row['class_score']:.3f} (primary object found {row['primary_found']:.2f}, "
                      f"shape {row['primary_shape']:.2f}, direction {row['primary_direction']:.2f})  "
                      f"object/background PSNR {row['object_psnr']:.2f}/{row['background_psnr']:.2f}")
        print(f"k={row['tokens_per_frame']:>4}  PSNR {row['psnr']:.2f}  SSIM {row['ssim']:.4f}  "
              f"MAE {row['mae']:.4f}{extra}")
    if result["rfvd_skipped"]:
        print(f"rFVD skipped: {result['rfvd_skipped']}")
    print(f"wrote {out / 'reconstruction.json'} and {out / 'reconstruction.png'}")
    return 0


def run_generation(args: argparse.Namespace) -> int:
    from videoflextok.eval.generation import (
        GenerationEvalConfig,
        evaluate_samples,
        generate_shard,
        load_samples,
        parse_shard,
    )
    from videoflextok.generator.model import VideoGenerator
    from videoflextok.tokenizer.model import VideoFlexTok

    _check_options(args, "num", "tokens_per_frame")
    check_sampling(args.temperature, args.top_k, args.top_p, args.cfg)
    if args.merge and args.shard is not None:
        raise ConfigError("give either --shard I/N (generate one shard) or --merge (score all shards), not both")
    shard = parse_shard(args.shard) if args.shard is not None else (0, 1)
    out = check_out_folder(args.out)
    device = default_device(args.device)
    if not args.merge:
        missing = [f"--{n}" for n in ("generator", "tokenizer", "num") if getattr(args, n) is None]
        if missing:
            raise ConfigError(f"generating samples needs {' and '.join(missing)}")
        generator = VideoGenerator.from_pretrained(args.generator, device=device).eval()
        tokenizer = VideoFlexTok.from_pretrained(args.tokenizer, device=device).eval()
        cfg = GenerationEvalConfig(num=args.num, tokens_per_frame=args.tokens_per_frame, num_frames=args.frames,
                                   cfg=args.cfg, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                                   steps=args.steps, guidance=args.guidance, seed=args.seed, split=args.split,
                                   batch_size=args.batch_size)
        path = generate_shard(generator, tokenizer, cfg, out, *shard, sources=(args.generator, args.tokenizer),
                              progress=args.progress)
        print(f"wrote {path}")
        if args.shard is not None:
            print(f"shard {shard[0]}/{shard[1]} done; score all shards with `videoflextok eval generation "
                  f"--merge --out {out}`")
            return 0
        del generator, tokenizer
    if not out.is_dir():
        raise ConfigError(f"--out '{out}' does not exist; generate shards into it first")
    samples = load_samples(out)
    made = samples["meta"]["config"]["num"]
    if args.num is not None and args.num != made:
        raise ConfigError(f"--num is {args.num} but the shards in '{out}' hold {made} samples; give --num {made} "
                          "or generate the others first")
    result = evaluate_samples(samples, fvd=args.fvd, device=device, batch_size=args.batch_size,
                              progress=args.progress)
    atomic_write_text(out / "generation.json", json.dumps(result, indent=2) + "\n")
    shown = {k: result[k] for k in ("gfvd", "class_score", "caption_score") if result[k] is not None}
    print("  ".join(f"{k} {v:.4f}" for k, v in shown.items()))
    if result["gfvd_skipped"]:
        print(f"gFVD skipped: {result['gfvd_skipped']}")
    print(f"wrote {out / 'generation.json'}")
    return 0
