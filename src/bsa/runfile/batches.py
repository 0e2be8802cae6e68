"""Provider batches in the run file: what was submitted, where it stands, what each request is.

A batch is paid for when it is submitted, so its id is committed the moment the vendor returns
it, with the custom id of each of its requests and the sample or verdict that request stands for.
A rerun after Ctrl-C, a kill or a crash finds the batches not yet ``done`` and polls them instead
of submitting the same requests again. ``done`` is set through the result writer, queued after the
batch's results, so it is never committed before them; ``bsa batches abandon`` sets it without
results (``abandoned_at``), so the batch's requests are missing again.

Before the vendor is asked to create a batch, its requests are recorded as a *submit* (digest,
custom ids); :func:`record_batch` removes it in the transaction that records the batch. A submit
left behind means a kill came between the two: the vendor may hold that batch, paid for.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
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
    #: Given up (``bsa batches abandon``): done, its results never stored.
    abandoned: bool = False

    def summary(self) -> dict[str, Any]:
        """Its line in ``bsa status --json``."""
        return {
            "id": self.batch_id,
            "stage": self.stage,
            "state": self.state,
            "done": self.done,
            "abandoned": self.abandoned,
            "requests": len(self.requests),
            "counts": dict(self.counts),
        }


@dataclass(frozen=True)
class PendingSubmit:
    """A batch bsa began to submit and never recorded: the vendor may hold it."""

    digest: str
    stage: str
    requests: Mapping[str, RequestKey]
    started_at: float


def requests_digest(entries: Sequence[bytes]) -> str:
    """What identifies a batch's content: the sha256 of its encoded requests (custom ids and
    bodies), in order."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(hashlib.sha256(entry).digest())
    return digest.hexdigest()


def run_id(store: RunStore) -> str:
    """The run file's own id, made on first need: it tags the run's batches at the vendor (so a
    batch found there is known to be this run's, not another's of the same account)."""
    value = store.get_meta("run_id")
    if not isinstance(value, str):
        value = uuid.uuid4().hex
        store.set_meta("run_id", value)
    return value


def begin_submit(
    store: RunStore, digest: str, stage: str, requests: Mapping[str, RequestKey]
) -> None:
    """Record a batch about to be submitted, before the vendor is asked (see the module)."""
    with store.transaction() as connection:
        connection.execute(
            "INSERT OR REPLACE INTO batch_submits (digest, stage, requests, started_at) "
            "VALUES (?, ?, ?, ?)",
            (digest, stage, json.dumps(requests), time.time()),
        )


def pending_submits(store: RunStore, stage: str | None = None) -> list[PendingSubmit]:
    """The submits of ``stage`` (every stage when None) never recorded as batches, oldest
    first."""
    query = "SELECT digest, stage, requests, started_at FROM batch_submits"
    rows = store.connection.execute(
        query + (" WHERE stage = ?" if stage else "") + " ORDER BY started_at",
        (stage,) if stage else (),
    ).fetchall()
    return [
        PendingSubmit(digest, kind, _submit_requests(requests), started)
        for digest, kind, requests, started in rows
    ]


def forget_submits(store: RunStore, digests: Iterable[str]) -> None:
    """Drop submits that are settled (found at the vendor, or known never to have reached it)."""
    with store.transaction() as connection:
        connection.executemany(
            "DELETE FROM batch_submits WHERE digest = ?", [(d,) for d in digests]
        )


def record_batch(
    store: RunStore,
    batch_id: str,
    stage: str,
    state: str,
    requests: Mapping[str, RequestKey],
    *,
    digest: str | None = None,
) -> None:
    """Commit a submitted batch and its requests' custom ids in one transaction, with the end of
    its submit (``digest``)."""
    now = time.time()
    with store.transaction() as connection:
        if digest is not None:
            connection.execute("DELETE FROM batch_submits WHERE digest = ?", (digest,))
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


def abandon_batches(store: RunStore, stage: str | None = None) -> list[StoredBatch]:
    """Give up the open batches of ``stage`` (every stage when None), and its pending submits:
    they are done without results, so their requests are missing and the next run asks for
    them. Return the batches given up."""
    batches = stored_batches(store, stage, open_only=True)
    with store.transaction() as connection:
        connection.executemany(
            "UPDATE batches SET done = 1, abandoned_at = ?, updated_at = ? WHERE batch_id = ?",
            [(time.time(), time.time(), batch.batch_id) for batch in batches],
        )
    forget_submits(store, (submit.digest for submit in pending_submits(store, stage)))
    return batches


def open_batches_holding(
    store: RunStore, stage: str, keys: Iterable[RequestKey]
) -> list[StoredBatch]:
    """The open batches of ``stage`` that hold a request for one of ``keys``: asking for those
    live would pay for them twice."""
    wanted = set(keys)
    return [
        batch
        for batch in stored_batches(store, stage, open_only=True)
        if not wanted.isdisjoint(batch.requests.values())
    ]


def stored_batches(
    store: RunStore, stage: str | None = None, *, open_only: bool = False
) -> list[StoredBatch]:
    """The run's batches in the order they were submitted: of one ``stage`` (every stage when
    None), only those whose results are not stored yet with ``open_only``."""
    query = "SELECT batch_id, stage, state, done, counts, abandoned_at FROM batches"
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
        StoredBatch(
            batch_id,
            kind,
            state,
            bool(done),
            _counts(counts),
            _requests(store, batch_id),
            abandoned=abandoned is not None,
        )
        for batch_id, kind, state, done, counts, abandoned in rows
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


def _submit_requests(text: str) -> dict[str, RequestKey]:
    pairs = json.loads(text).items()
    return {custom: (str(item), int(sample), str(kind)) for custom, (item, sample, kind) in pairs}


def _counts(text: str | None) -> dict[str, int]:
    """The stored counts; vendor text, so anything but a JSON object of integers reads as none."""
    try:
        counts = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(counts, dict):
        return {}
    return {str(k): v for k, v in counts.items() if isinstance(v, int)}
