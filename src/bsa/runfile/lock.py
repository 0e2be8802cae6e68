"""One writing process per run file.

Two ``bsa run`` on one file would make every call twice and race each other's results, so every
command that writes a run (generate, judge, run) holds an exclusive lock on ``RUN.lock`` beside the
run file for as long as it works. Readers (status, score, report, export) take no lock: SQLite's
WAL mode lets them read beside the writer.

The lock is an OS file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows): the kernel drops it
when the holder exits, however it exits (kill -9 included), so a stale lock file is harmless and
never needs cleaning up. The file holds the holder's pid and command line, for the error message.
Within one process the lock is re-entrant (``bsa run`` generates, then judges, under one lock).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from bsa.errors import BsaError
from bsa.redaction import redact

#: Seconds between two tries while waiting for another process's lock.
POLL_INTERVAL_S = 0.2


class RunLocked(BsaError):
    """Another process is writing this run file."""


#: Locks this process holds: path -> (open lock file, nesting depth).
_held: dict[Path, tuple[IO[str], int]] = {}


def lock_path(run_path: Path) -> Path:
    return run_path.with_name(run_path.name + ".lock")


@contextlib.contextmanager
def run_lock(
    run_path: Path, *, wait: bool = False, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the run's write lock for the ``with`` block.

    If another process holds it: raise :class:`RunLocked` naming it, or with ``wait`` poll until it
    is free (``on_wait`` is told once who is being waited for).
    """
    key = run_path.resolve()
    if key in _held:
        handle, depth = _held[key]
        _held[key] = (handle, depth + 1)
        try:
            yield
        finally:
            _release(key)
        return
    handle = _open_lock_file(run_path)
    try:
        _acquire(handle, run_path, wait, on_wait)
    except BaseException:
        handle.close()
        raise
    _write_holder(handle)
    _held[key] = (handle, 1)
    try:
        yield
    finally:
        _release(key)


def _release(key: Path) -> None:
    handle, depth = _held[key]
    if depth > 1:
        _held[key] = (handle, depth - 1)
        return
    del _held[key]
    with contextlib.suppress(OSError):
        handle.truncate(0)
    _unlock(handle)
    handle.close()


def _open_lock_file(run_path: Path) -> IO[str]:
    path = lock_path(run_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a+", encoding="utf-8")
    except OSError as error:
        raise BsaError(
            f"cannot write beside {run_path} ({error.strerror or error}): a run needs a "
            "writable folder"
        ) from None


def _acquire(
    handle: IO[str], run_path: Path, wait: bool, on_wait: Callable[[str], None] | None
) -> None:
    told = False
    while not _try_lock(handle):
        holder = _holder(handle)
        if not wait:
            raise RunLocked(
                f"{run_path} is in use by {holder}; wait for it to finish, or pass --wait to "
                "start when it does"
            )
        if on_wait is not None and not told:
            on_wait(f"waiting for {holder} to finish with {run_path}")
            told = True
        time.sleep(POLL_INTERVAL_S)


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    text = handle.read(2000).strip()
    pid, _, command = text.partition(" ")
    if not pid.isdigit():
        return "another bsa process"
    return f"pid {pid} ({command})" if command else f"pid {pid}"


def _write_holder(handle: IO[str]) -> None:
    """Record who holds the lock: pid and command line (secrets masked: ``--extra-body`` may
    carry a token), on one line, printable only."""
    command = " ".join(os.path.basename(a) if n == 0 else a for n, a in enumerate(sys.argv))
    command = "".join(c if c.isprintable() else "?" for c in redact(command))[:300]
    handle.seek(0)
    handle.truncate(0)
    handle.write(f"{os.getpid()} {command}\n")
    handle.flush()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle: IO[str]) -> bool:
        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        with contextlib.suppress(OSError):
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
