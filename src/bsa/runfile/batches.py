"""Provider batches in the run file: what was submitted, where it stands, what each request is.

A batch is paid for when it is submitted, so its id is committed the moment the vendor returns
it, with the custom id of each of its requests and the sample or verdict that request stands for.
A rerun after Ctrl-C, a kill or a crash finds the batches not yet ``done`` and polls them instead
of submitting the same requests again. ``done`` is set through the result writer, queued after the
batch's results, so it is never committed before them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bsa.runfile.store import RunStore

#: The ``kind`` of a generation request (a verdict's is ``safety`` or ``thinking``).
GENERATION_KIND = "generation"

#: The stage of a judge's batches is this and the judge's ``provider:model``.
JUDGE_STAGE = "judge:"

#: What a request stands for: (item id, sample, kind).
RequestKey = tuple[str, int, str]

#: For :class:`bsa.runfile.writer.ResultWriter`: the batch's results are all stored.
FINISH_BATCH = "UPDATE batches SET done = 1, updated_at = ? WHERE batch_id = ?"


@dataclass(frozen=True)
class StoredBatch:
    """A batch as the run file records it."""

    batch_id: str
    stage: str
    state: str
    done: bool
    counts: Mapping[str, int]
    #: custom id -> what the request stands for.
    requests: Mapping[str, RequestKey]

    def summary(self) -> dict[str, Any]:
        """Its line in ``bsa status --json``."""
        return {
            "id": self.batch_id,
            "stage": self.stage,
            "state": self.state,
            "done": self.done,
            "requests": len(self.requests),
            "counts": dict(self.counts),
        }


def record_batch(
    store: RunStore, batch_id: str, stage: str, state: str, requests: Mapping[str, RequestKey]
) -> None:
    """Commit a submitted batch and its requests' custom ids in one transaction."""
    now = time.time()
    with store.transaction() as connection:
        connection.execute(
            "INSERT INTO batches (batch_id, stage, state, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (batch_id, stage, state, now, now),
        )
        connection.executemany(
            "INSERT INTO batch_requests (batch_id, custom_id, item_id, sample, kind) "
            "VALUES (?, ?, ?, ?, ?)",
            [(batch_id, custom, *key) for custom, key in requests.items()],
        )


def update_batch(store: RunStore, batch_id: str, state: str, counts: Mapping[str, int]) -> None:
    """Record what the last poll said."""
    with store.transaction() as connection:
        connection.execute(
            "UPDATE batches SET state = ?, counts = ?, updated_at = ? WHERE batch_id = ?",
            (state, json.dumps(dict(counts), sort_keys=True), time.time(), batch_id),
        )


def stored_batches(
    store: RunStore, stage: str | None = None, *, open_only: bool = False
) -> list[StoredBatch]:
    """The run's batches in the order they were submitted: of one ``stage`` (every stage when
    None), only those whose results are not stored yet with ``open_only``."""
    query = "SELECT batch_id, stage, state, done, counts FROM batches"
    clauses, params = [], []
    if stage is not None:
        clauses.append("stage = ?")
        params.append(stage)
    if open_only:
        clauses.append("done = 0")
    if clauses:
        query += " WHERE " + " AND ".join(clauses)
    rows = store.connection.execute(query + " ORDER BY created_at, batch_id", params).fetchall()
    return [
        StoredBatch(batch_id, kind, state, bool(done), _counts(counts), _requests(store, batch_id))
        for batch_id, kind, state, done, counts in rows
    ]


def settled_keys(store: RunStore, stage: str) -> set[RequestKey]:
    """The requests of ``stage`` whose result the run file holds for good (an ``ok`` or
    ``blocked`` sample, a scored verdict of the stage's judge)."""
    if stage.startswith(JUDGE_STAGE):
        return store.scored_judgements(stage.removeprefix(JUDGE_STAGE))
    done = store.done_samples()
    return {(item, sample, GENERATION_KIND) for item, samples in done.items() for sample in samples}


def _requests(store: RunStore, batch_id: str) -> dict[str, RequestKey]:
    rows = store.connection.execute(
        "SELECT custom_id, item_id, sample, kind FROM batch_requests WHERE batch_id = ?",
        (batch_id,),
    )
    return {custom: (item_id, sample, kind) for custom, item_id, sample, kind in rows}


def _counts(text: str | None) -> dict[str, int]:
    """The stored counts; vendor text, so anything but a JSON object of integers reads as none."""
    try:
        counts = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(counts, dict):
        return {}
    return {str(k): v for k, v in counts.items() if isinstance(v, int)}
