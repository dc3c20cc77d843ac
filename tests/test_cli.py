"""The command line: what it maps to exit codes, and that its choices are the library's."""

import os
import subprocess
import sys

import pytest

import framefix
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


@pytest.mark.parametrize("environment, kernels", [
    ({"FRAMEFIX_BACKEND": "numba"}, "Numba kernels: FRAMEFIX_BACKEND=numba"),
    ({"FRAMEFIX_BACKEND": "native", "FRAMEFIX_NATIVE_ISA": "baseline"}, "native kernels, baseline build"),
])
def test_version_says_which_kernels_run(environment, kernels):
    if environment["FRAMEFIX_BACKEND"] == "native" and not framefix.backend_info()["native_available"]:
        pytest.skip("no compiled core")
    done = subprocess.run([sys.executable, "-m", "framefix", "--version"], capture_output=True, text=True,
                          env={**os.environ, **environment}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"framefix {framefix.__version__} ({kernels})\n"


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


def test_ctrl_c_while_the_command_imports_framefix_is_one_line(monkeypatch, capsys):
    # The command's entry module guards the package's import (a noticeable part of a second),
    # which no code inside the package can: the console script must point at it.
    import importlib.metadata
    import subprocess
    import sys

    import _framefix_entry

    scripts = {e.name: e.value for e in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts["framefix"] == "_framefix_entry:main"
    imported = subprocess.run([sys.executable, "-c", "import sys, _framefix_entry; "
                               "print(sorted(m for m in ('framefix', 'numpy', 'av') if m in sys.modules))"],
                              capture_output=True, text=True, check=True).stdout.strip()
    assert imported == "[]"

    class Interrupted:
        def __getattr__(self, name):
            raise KeyboardInterrupt  # as if it came while framefix.cli was being imported

    monkeypatch.setitem(sys.modules, "framefix.cli", Interrupted())
    assert _framefix_entry.main() == 130
    assert capsys.readouterr().err.strip() == "framefix: interrupted; no output was written"
