"""``instdiff --help`` and every ``instdiff COMMAND --help`` speak to a user: what the command does, how to call it."""

from __future__ import annotations

import pytest

from instdiff.cli import build_parser, main


def _help(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_is_for_users(capsys):
    text = _help([], capsys)
    assert "reproduced end to end" in text and "snakemake all --cores 2" in text
    assert "register(subparsers)" not in text and "instdiff/commands/" not in text   # the developer docstring
    assert "instdiff summary results/smoke" in text and "`instdiff COMMAND --help`" in text
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:
        assert f"    {name}" in text


def test_every_command_describes_itself(capsys):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        assert parser.description and len(parser.description) > 60, f"instdiff {name}: no description"
        assert "``" not in parser.description
        text = _help([name], capsys)
        assert text.startswith(f"usage: instdiff {name}") and parser.description.split()[1] in text
