"""The command line: what it maps to exit codes, and that its choices are the library's."""

import pytest

import framefix.cli as cli
from framefix.color import METHODS
from framefix.flow import PRESETS


def subcommand(name):
    parser = cli._build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    return commands.choices[name]


def choices(command, option):
    return next(a for a in subcommand(command)._actions if option in a.option_strings).choices


def test_choices_come_from_the_library():
    assert list(choices("match-color", "--method")) == list(METHODS)
    assert list(choices("flow", "--preset")) == list(PRESETS)


def test_a_type_error_is_a_bug_not_bad_input(monkeypatch, tmp_path):
    def broken(args):
        raise TypeError("unsupported operand type(s)")

    monkeypatch.setattr(cli, "_run_info", broken)
    with pytest.raises(TypeError, match="unsupported operand"):
        cli.main(["info", str(tmp_path)])


def test_bad_input_is_exit_2_with_one_line(monkeypatch, capsys, tmp_path):
    def bad(args):
        raise ValueError("estimate_flow: frames must be at least 16 pixels on each side\nmore detail")

    monkeypatch.setattr(cli, "_run_info", bad)
    assert cli.main(["info", str(tmp_path)]) == cli.EXIT_BAD_INPUT
    assert capsys.readouterr().err == "framefix: error: estimate_flow: frames must be at least 16 pixels on each side\n"
