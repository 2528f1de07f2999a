"""Command-line parsing: KEY=VALUE overrides on either side of options, other unknown words refused."""

from __future__ import annotations

import pytest

from videoflextok.cli.main import build_parser, parse_args


def test_overrides_before_and_after_options_are_all_kept_in_order():
    argv = ["train", "tokenizer", "--preset", "demo", "model.K=16", "--out", "run", "train.steps=10",
            "--init", "w", "train.lr=0.001"]
    args = parse_args(build_parser(), argv)
    assert args.overrides == ["model.K=16", "train.steps=10", "train.lr=0.001"]
    assert (args.preset, args.out, args.init) == ("demo", "run", "w")


def test_an_unknown_option_after_overrides_is_one_usage_line(capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(build_parser(), ["train", "tokenizer", "--out", "run", "train.steps=10", "--bogus"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unrecognized arguments: --bogus" in err[0]


def test_a_stray_override_on_a_command_without_overrides_is_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(build_parser(), ["info", "clip.mp4", "model.K=16"])
    assert stop.value.code == 2
    assert "unrecognized arguments: model.K=16" in capsys.readouterr().err
