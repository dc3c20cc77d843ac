"""The ``framefix`` command's entry point, outside the package on purpose.

Importing framefix takes a noticeable part of a second (NumPy, PyAV, the kernels) and happens
before any of its code can catch anything: a Ctrl-C then printed a traceback. This module
imports nothing but ``sys`` before it is ready for the interruption.
"""

import sys


def main() -> int:
    """Run the ``framefix`` command (:func:`framefix.cli.main`); an interruption while framefix
    is still being imported is the command's one-line interruption, exit code 130."""
    try:
        from framefix.cli import main as run
    except KeyboardInterrupt:
        print("\nframefix: interrupted; no output was written", file=sys.stderr)
        return 130
    return run()
