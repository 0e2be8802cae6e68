"""The ``bsa`` command for tests: in this process through click's CliRunner, or as a real process.

Most CLI tests are about what the command prints and its exit status, which CliRunner gives without
a new interpreter and a fresh import of the package (about a second each on the CI machine). Both
helpers return a :class:`subprocess.CompletedProcess`, so a test reads ``returncode``, ``stdout``
and ``stderr`` the same way whichever it uses, and switching costs one name. Tests about the
process itself (Ctrl-C, kill -9, import weight, locks held by another process, warnings at import,
the ``python -m bsa`` entry point) use :func:`bsa_process`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path

from click.testing import CliRunner, Result

from bsa.cli import main


def bsa_in_process(
    *args: str | Path, env: Mapping[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """``bsa ARGS`` in this process, with ``env`` added to the environment while it runs (a
    ``None`` value unsets that variable)."""
    arguments = [str(arg) for arg in args]
    result = CliRunner().invoke(main, arguments, env=dict(env or {}))
    return subprocess.CompletedProcess(
        ["bsa", *arguments], result.exit_code, result.stdout, _stderr_of(result)
    )


def _stderr_of(result: Result) -> str:
    """What a child process would have printed on stderr: a crash's traceback is there too (the
    interpreter prints it), so a "no traceback" assertion still catches an unexpected exception."""
    if result.exc_info is None or isinstance(result.exc_info[1], SystemExit):
        return result.stderr
    return result.stderr + "".join(traceback.format_exception(*result.exc_info))


def bsa_process(
    *args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m bsa ARGS`` in a child process with the test's environment plus ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "bsa", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
