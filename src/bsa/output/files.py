"""Where a command's result goes: a file, replaced atomically, or standard output for ``-``.

A file is written to a temporary sibling and renamed over the target, so an interrupted write never
leaves half a file where a complete one was. ``-`` lets a result be piped (``bsa export … -o - |
jq``) and gets the same UTF-8 bytes a file would. A path that cannot be written (a directory, no
permission, a full disk) is one BsaError line naming it, never a traceback.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO, cast

from bsa.errors import BsaError

#: The output name that means standard output, as in most command-line tools.
STDOUT_NAME = "-"


def is_stdout(path: Path) -> bool:
    return str(path) == STDOUT_NAME


def describe(path: Path) -> str:
    """The output's name for a message: its path, or "standard output"."""
    return "standard output" if is_stdout(path) else str(path)


@contextmanager
def text_output(path: Path, *, errors: str = "strict") -> Iterator[TextIO]:
    """A UTF-8 text handle on ``path`` (``-``: standard output). ``errors="replace"`` suits pages
    for reading, where a lone surrogate in model text must not stop the whole write."""
    if is_stdout(path):
        sys.stdout.flush()
        with _utf8_text(_stdout_bytes(), errors) as out:
            yield out
        return
    with _atomic(path) as raw, _utf8_text(raw, errors) as out:
        yield out


@contextmanager
def _utf8_text(raw: BinaryIO, errors: str) -> Iterator[TextIO]:
    """Text over ``raw`` that leaves it open when done (standard output must stay usable)."""
    wrapper = io.TextIOWrapper(raw, encoding="utf-8", errors=errors, newline="")
    try:
        yield wrapper
    finally:
        wrapper.detach()  # flushes first


def write_text(path: Path, text: str, *, errors: str = "strict") -> None:
    """Write ``text`` to ``path`` or standard output, as :func:`text_output`."""
    with text_output(path, errors=errors) as out:
        out.write(text)


@contextmanager
def binary_output(path: Path, what: str) -> Iterator[BinaryIO]:
    """A binary handle on ``path``; standard output only when it is not a terminal, where the
    bytes of ``what`` would be garbage (and can upset the terminal)."""
    if not is_stdout(path):
        with _atomic(path) as raw:
            yield raw
        return
    if sys.stdout.isatty():
        raise BsaError(f"{what} is binary: redirect standard output to a file, or name one with -o")
    sys.stdout.flush()
    target = _stdout_bytes()
    yield target
    target.flush()


def _stdout_bytes() -> BinaryIO:
    return cast(BinaryIO, sys.stdout.buffer)


@contextmanager
def _atomic(path: Path) -> Iterator[BinaryIO]:
    """A binary handle on a temporary file beside ``path``, renamed onto it once written."""
    name = None
    try:
        _make_parent(path)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        with os.fdopen(handle, "wb") as raw:
            yield cast(BinaryIO, raw)
        os.replace(name, path)
    except OSError as error:
        raise BsaError(f"cannot write {path}: {error.strerror or error}") from error
    finally:
        if name is not None:
            Path(name).unlink(missing_ok=True)


def _make_parent(path: Path) -> None:
    """Create the output's folder; a file in the way is named (``mkdir`` says "File exists")."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise BsaError(f"cannot write {path}: {error.filename} is not a folder") from error
