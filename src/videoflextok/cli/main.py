"""Entry point of the ``videoflextok`` / ``vft`` command.

Each command group lives in its own module with a ``register(subparsers)`` function that adds its
parsers and sets ``func`` (called with the parsed args, returns an exit code or None). User errors
(:class:`videoflextok.errors.VideoFlexTokError`) end with one sentence on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from videoflextok.errors import VideoFlexTokError

# Command-group modules under videoflextok.cli, in the order they appear in --help.
COMMAND_MODULES: list[str] = [
    "info",
    "data",
    "convert",
    "train",
    "cache_latents",
    "pretokenize",
    "generate",
    "eval",
    "demo",
    "tokens",
]


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and a single line on bad usage (its default is a usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="videoflextok",
        description="VideoFlexTok: coarse-to-fine video tokenizer, flow decoder and generators.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"videoflextok.cli.{name}").register(sub)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``, letting KEY=VALUE overrides sit on either side of options.

    argparse fills the ``overrides`` positional with the first run of them only
    (``--preset demo model.K=16 --out run train.steps=10``); the later runs come back as unknown
    arguments and are appended in order. Anything else unknown is a usage error.
    """
    args, extra = parser.parse_known_args(argv)
    if not extra:
        return args
    if isinstance(getattr(args, "overrides", None), list) and all(
        "=" in item and not item.startswith("-") for item in extra
    ):
        args.overrides.extend(extra)
        return args
    parser.error(f"unrecognized arguments: {' '.join(extra)}")
    raise AssertionError("unreachable")  # parser.error exits


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except VideoFlexTokError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
