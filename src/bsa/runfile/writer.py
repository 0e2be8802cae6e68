"""Commit results to the run file from a thread of their own, by group commit.

The event loop hands each finished result to :meth:`ResultWriter.put` (a queue append, no I/O) and
goes back to its calls. The writer thread takes everything queued so far and commits it in one
transaction, at once: under load batches grow by themselves, when idle each result is committed
alone. A result is on disk within one commit's time of arriving, so kill -9 loses the calls in
flight and at most the one batch being written, never a backlog.

A row SQLite refuses cannot take its batch down with it: the batch is written again row by row and
only the refused row is left out (counted in :attr:`ResultWriter.rejected`; its sample stays
missing, so a rerun asks for it again). A full disk stops the run instead: every row not yet
written is kept in memory, tried once more at :meth:`ResultWriter.close`, and the error says how
many could not be saved.

A row may carry a note (``put(..., note=…)``): ``on_commit`` hears the notes of the rows each
commit has written, from the writer thread, once they are on disk; a pipelined run hands the
judges its samples this way, so no judge ever sees a sample that a crash could still take back.
:meth:`ResultWriter.barrier` is the same for one waiter: an event set once everything put before
it is on disk (a batch's vendor files are deleted only then).
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bsa.runfile.store import RunFileError, connect, unusable_run_file

_STOP = object()
#: The statement of a barrier row: nothing is executed for it.
_BARRIER = ""
MAX_BATCH = 2000
_Row = tuple[str, Sequence[Any], object]
_SQLITE_FULL = 13  # sqlite3.SQLITE_FULL from Python 3.11 on


class RunFileFull(RunFileError):
    """The disk (or the file system's quota) is full: no more results can be written."""


class ResultWriter:
    """A background writer of ``(sql, params)`` rows into one SQLite file."""

    def __init__(self, path: Path, on_commit: Callable[[list[object]], None] | None = None) -> None:
        self._path = path
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._unwritten: list[_Row] = []
        self.rows_written = 0
        self.commits = 0
        #: Why each refused row was refused (one entry per row).
        self.rejected: list[str] = []
        self._thread = threading.Thread(target=self._run, name="bsa-result-writer", daemon=True)
        self._thread.start()

    def put(self, sql: str, params: Sequence[Any], note: object = None) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((sql, params, note))

    def barrier(self) -> threading.Event:
        """An event set once every row put before it is committed (never, if the writer
        fails: check :meth:`failed` while waiting)."""
        reached = threading.Event()
        self.put(_BARRIER, (), reached)
        return reached

    def failed(self) -> BaseException | None:
        """The error that stopped the writer, if one did."""
        return self._error

    def close(self) -> None:
        """Write everything queued, stop the thread, and re-raise any error it met."""
        self._queue.put(_STOP)
        self._thread.join()
        if self._unwritten:
            self._last_try()
        if self._error is not None:
            raise self._error

    def _last_try(self) -> None:
        """After a full disk: try once more to save what was received (space may be free now)."""
        rows = self._unwritten + _drain(self._queue)
        try:
            with _closing(connect(self._path)) as connection:
                self._commit(connection, rows)
        except sqlite3.Error:
            self._error = RunFileFull(
                f"the disk is full: {self._path} holds {self.rows_written} results of this "
                f"command, {len(rows)} more were received but could not be saved; free space "
                "and rerun the same command to resume"
            )
        else:
            self._unwritten = []

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        batch: list[_Row] = []
        try:
            with _closing(connect(self._path)) as connection:
                stopping = False
                while not stopping:
                    batch, stopping = self._next_batch()
                    if batch:
                        self._commit(connection, batch)
        except sqlite3.Error as error:
            if not _is_full(error):
                self._error = unusable_run_file(self._path, error)
                return
            self._unwritten = batch
            self._error = RunFileFull(
                f"the disk is full: cannot write to {self._path} ({error}); free space and "
                "rerun the same command to resume"
            )
        except BaseException as error:  # surfaced to the event loop by put() and close()
            self._error = error

    def _next_batch(self) -> tuple[list[_Row], bool]:
        """Block for one row, then take whatever else is already queued."""
        batch: list[_Row] = []
        entry = self._queue.get()
        while entry is not _STOP:
            batch.append(entry)  # type: ignore[arg-type]
            if len(batch) >= MAX_BATCH:
                return batch, False
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _commit(self, connection: sqlite3.Connection, batch: list[_Row]) -> None:
        try:
            self._commit_rows(connection, batch)
        except sqlite3.Error:
            self._commit_each(connection, batch)

    def _commit_each(self, connection: sqlite3.Connection, rows: list[_Row]) -> None:
        """One transaction per row, so a refused row costs only itself, and a full disk that
        refused the whole group still takes the rows it has room for. On a full disk, ``rows``
        is left holding only the rows not written, and the error goes on."""
        for index, row in enumerate(rows):
            try:
                self._commit_rows(connection, [row])
            except sqlite3.Error as error:
                if _is_full(error):
                    del rows[:index]
                    raise
                self.rejected.append(str(error))

    def _commit_rows(self, connection: sqlite3.Connection, rows: list[_Row]) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            for sql, params, _ in rows:
                if sql != _BARRIER:
                    connection.execute(sql, params)
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        self.rows_written += sum(sql != _BARRIER for sql, _, _ in rows)
        self.commits += 1
        for sql, _, reached in rows:
            if sql == _BARRIER and isinstance(reached, threading.Event):
                reached.set()
        notes = [note for sql, _, note in rows if note is not None and sql != _BARRIER]
        if notes and self._on_commit is not None:
            self._on_commit(notes)


def _is_full(error: sqlite3.Error) -> bool:
    """SQLITE_FULL: the disk, a quota, or the database's page limit."""
    return getattr(error, "sqlite_errorcode", None) == _SQLITE_FULL or (
        "database or disk is full" in str(error)
    )


def _drain(source: queue.SimpleQueue[object]) -> list[_Row]:
    """The rows still queued (the stop marker left out)."""
    rows: list[_Row] = []
    while True:
        try:
            entry = source.get_nowait()
        except queue.Empty:
            return rows
        if entry is not _STOP:
            rows.append(entry)  # type: ignore[arg-type]


def _closing(connection: sqlite3.Connection) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(connection)
