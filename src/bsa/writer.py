"""Commit results to the run file from a thread of their own, by group commit.

The event loop hands each finished result to :meth:`ResultWriter.put` (a queue append, no I/O) and
goes back to its calls. The writer thread takes everything queued so far and commits it in one
transaction, at once: under load batches grow by themselves, when idle each result is committed
alone. A result is on disk within one commit's time of arriving, so kill -9 loses the calls in
flight and at most the one batch being written, never a backlog.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bsa.store import connect

_STOP = object()
MAX_BATCH = 2000


class ResultWriter:
    """A background writer of ``(sql, params)`` rows into one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self.rows_written = 0
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name="bsa-result-writer", daemon=True)
        self._thread.start()

    def put(self, sql: str, params: Sequence[Any]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((sql, params))

    def close(self) -> None:
        """Write everything queued, stop the thread, and re-raise any error it met."""
        self._queue.put(_STOP)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        connection = connect(self._path)
        try:
            stopping = False
            while not stopping:
                batch, stopping = self._next_batch()
                if batch:
                    self._commit(connection, batch)
        except BaseException as error:  # surfaced to the event loop by put() and close()
            self._error = error
        finally:
            connection.close()

    def _next_batch(self) -> tuple[list[tuple[str, Sequence[Any]]], bool]:
        """Block for one row, then take whatever else is already queued."""
        batch: list[tuple[str, Sequence[Any]]] = []
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

    def _commit(
        self, connection: sqlite3.Connection, batch: list[tuple[str, Sequence[Any]]]
    ) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in batch:
                connection.execute(sql, params)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        self.rows_written += len(batch)
        self.commits += 1
