"""The run file: one SQLite database that holds every stage of a run.

Why SQLite: a result is committed the moment it arrives, so a crash, Ctrl-C or kill -9 loses only
the calls in flight, and a rerun asks the file what is missing instead of paying twice. Writes grow
linearly with results (one row each), unlike a JSON checkpoint that is rewritten whole. WAL mode
lets readers (``bsa status``, exports) look while a run writes.

The schema grows by numbered, append-only migrations (:data:`MIGRATIONS`); ``PRAGMA user_version``
records how many have run. Never edit a released migration: add one.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bsa.errors import BsaError
from bsa.redaction import redact_json

MIGRATIONS: tuple[str, ...] = (
    # 1: the run's settings, its prompts, and one row per generated sample.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL  -- JSON
    );
    CREATE TABLE prompts (
        item_id TEXT PRIMARY KEY,
        position INTEGER NOT NULL,  -- order in the dataset or input file
        scenario TEXT,              -- NULL for a plain id,question input
        query TEXT NOT NULL,
        risk_summary TEXT,
        label TEXT
    );
    CREATE TABLE generations (
        item_id TEXT NOT NULL REFERENCES prompts(item_id),
        sample INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'blocked', 'failed')),
        answer TEXT,
        reasoning TEXT,
        reasoning_source TEXT,
        finish_reason TEXT,
        truncated INTEGER NOT NULL DEFAULT 0,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        reasoning_tokens INTEGER,
        latency_s REAL,
        attempts INTEGER NOT NULL,
        error TEXT,
        raw TEXT,  -- the provider's response JSON, as received
        created_at REAL NOT NULL,
        PRIMARY KEY (item_id, sample)
    );
    """,
    # 2: judge verdicts, one row per (sample, kind, judge), beside those of other judges.
    """
    CREATE TABLE judgements (
        item_id TEXT NOT NULL,
        sample INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('safety', 'thinking')),
        judge TEXT NOT NULL,        -- provider:model of the judge
        status TEXT NOT NULL CHECK (status IN ('scored', 'unscored', 'failed')),
        verdict TEXT,               -- canonical label, or 'no_reasoning'
        passed INTEGER,             -- 1 or 0; NULL unless scored
        rationale TEXT,             -- the judge's own explanation
        reason TEXT,                -- 'blocked', 'no_reasoning', or why unscored or failed
        prompt_sha256 TEXT,         -- of the rendered judge prompt; NULL when no call was made
        raw TEXT,                   -- the judge's reply as received
        attempts INTEGER NOT NULL,
        latency_s REAL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        created_at REAL NOT NULL,
        PRIMARY KEY (item_id, sample, kind, judge),
        FOREIGN KEY (item_id, sample) REFERENCES generations (item_id, sample)
    );
    """,
)

STATUSES = ("ok", "blocked", "failed")
JUDGEMENT_STATUSES = ("scored", "unscored", "failed")


class RunFileError(BsaError):
    """A run file that cannot be used: not a run file, newer than this tool, or another run's."""


@dataclass(frozen=True)
class Prompt:
    """What the model under test is asked, with the item fields judging needs later."""

    item_id: str
    query: str
    scenario: str | None = None
    risk_summary: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Generation:
    """One stored sample; mirrors a row of ``generations``."""

    item_id: str
    sample: int
    status: str
    answer: str | None
    reasoning: str | None
    reasoning_source: str | None
    finish_reason: str | None
    truncated: bool
    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None
    latency_s: float | None
    attempts: int
    error: str | None
    raw: str | None


GENERATION_COLUMNS: tuple[str, ...] = tuple(Generation.__dataclass_fields__)


@dataclass(frozen=True)
class SampleOutcome:
    """A stored sample without its texts: which one it is and how it ended."""

    item_id: str
    sample: int
    status: str
    truncated: bool


@dataclass(frozen=True)
class Judgement:
    """One stored verdict; mirrors a row of ``judgements``."""

    item_id: str
    sample: int
    kind: str
    judge: str
    status: str
    verdict: str | None
    passed: bool | None
    rationale: str | None
    reason: str | None
    prompt_sha256: str | None
    raw: str | None
    attempts: int
    latency_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None


JUDGEMENT_COLUMNS: tuple[str, ...] = tuple(Judgement.__dataclass_fields__)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode. ``synchronous=NORMAL`` keeps every committed result through a
    process crash or kill -9 (only a power cut can lose the last commits) at a fraction of the
    cost of an fsync per commit."""
    connection = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


class RunStore:
    """Reads and small writes of one run file. Bulk results go through :class:`bsa.writer.ResultWriter`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.exists() and not _is_sqlite(path):
            raise RunFileError(f"{path} is not a bsa run file (not an SQLite database)")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = connect(path)
        migrate(self.connection, path)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- settings -------------------------------------------------------------------------

    def get_meta(self, key: str) -> Any:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def meta(self) -> dict[str, Any]:
        """Every recorded setting, by key (never a secret: none is ever stored)."""
        rows = self.connection.execute("SELECT key, value FROM meta ORDER BY key")
        return {key: json.loads(value) for key, value in rows}

    def set_meta(self, key: str, value: Any) -> None:
        self.connection.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(redact_json(value), ensure_ascii=False, sort_keys=True)),
        )

    # --- prompts --------------------------------------------------------------------------

    def add_prompts(self, prompts: Iterable[Prompt]) -> int:
        """Record the prompts a run asks (new ones only); return how many were new.

        A prompt already stored under the same id must say the same thing: a changed query would
        mix answers to two different questions under one id.
        """
        existing = {
            row[0]: row[1:]
            for row in self.connection.execute(
                "SELECT item_id, query, scenario, risk_summary, label FROM prompts"
            )
        }
        new = []
        for prompt in prompts:
            stored = existing.get(prompt.item_id)
            if stored is None:
                new.append(prompt)
            elif stored != (prompt.query, prompt.scenario, prompt.risk_summary, prompt.label):
                raise RunFileError(
                    f"{self.path}: item {prompt.item_id!r} is stored with a different query or "
                    "annotation than the input has now; use a new --run file for changed data"
                )
        start = len(existing)
        with self.transaction():
            self.connection.executemany(
                "INSERT INTO prompts (item_id, position, scenario, query, risk_summary, label) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (p.item_id, start + n, p.scenario, p.query, p.risk_summary, p.label)
                    for n, p in enumerate(new)
                ],
            )
        return len(new)

    def prompts(self) -> list[Prompt]:
        rows = self.connection.execute(
            "SELECT item_id, query, scenario, risk_summary, label FROM prompts ORDER BY position"
        )
        return [Prompt(*row) for row in rows]

    # --- generations ----------------------------------------------------------------------

    def done_samples(self) -> dict[str, set[int]]:
        """Samples that need no more work (``ok`` or ``blocked``), by item id."""
        done: dict[str, set[int]] = {}
        for item_id, sample in self.connection.execute(
            "SELECT item_id, sample FROM generations WHERE status != 'failed'"
        ):
            done.setdefault(item_id, set()).add(sample)
        return done

    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for status, count in self.connection.execute(
            "SELECT status, COUNT(*) FROM generations GROUP BY status"
        ):
            counts[status] = count
        return counts

    def outcomes(self) -> Iterator[SampleOutcome]:
        """Every stored sample's id and outcome, in prompt then sample order, without its texts:
        scoring needs only these, and reading every reasoning and raw body would cost more I/O
        than the scoring itself."""
        rows = self.connection.execute(
            "SELECT g.item_id, g.sample, g.status, g.truncated FROM generations g "
            "JOIN prompts p USING (item_id) ORDER BY p.position, g.sample"
        )
        for item_id, sample, status, truncated in rows:
            yield SampleOutcome(item_id, sample, status, bool(truncated))

    def generations(self) -> Iterator[Generation]:
        """Every stored sample, in prompt order then sample order."""
        columns = ", ".join(f"g.{c}" for c in GENERATION_COLUMNS)
        rows = self.connection.execute(
            f"SELECT {columns} FROM generations g JOIN prompts p USING (item_id) "
            "ORDER BY p.position, g.sample"
        )
        for row in rows:
            values = dict(zip(GENERATION_COLUMNS, row, strict=True))
            values["truncated"] = bool(values["truncated"])
            yield Generation(**values)

    # --- judgements -----------------------------------------------------------------------

    def judges(self) -> list[str]:
        """Judges with verdicts in this run, in the order they first judged."""
        rows = self.connection.execute(
            "SELECT judge FROM judgements GROUP BY judge ORDER BY MIN(created_at)"
        )
        return [row[0] for row in rows]

    def scored_judgements(self, judge: str) -> set[tuple[str, int, str]]:
        """(item, sample, kind) that ``judge`` has a usable verdict for: no more work needed."""
        rows = self.connection.execute(
            "SELECT item_id, sample, kind FROM judgements WHERE judge = ? AND status = 'scored'",
            (judge,),
        )
        return {(item_id, sample, kind) for item_id, sample, kind in rows}

    def judgements(self, judge: str) -> Iterator[Judgement]:
        columns = ", ".join(JUDGEMENT_COLUMNS)
        rows = self.connection.execute(
            f"SELECT {columns} FROM judgements WHERE judge = ? ORDER BY item_id, sample, kind",
            (judge,),
        )
        for row in rows:
            values = dict(zip(JUDGEMENT_COLUMNS, row, strict=True))
            values["passed"] = None if values["passed"] is None else bool(values["passed"])
            yield Judgement(**values)

    def judgement_counts(self, judge: str) -> dict[str, int]:
        counts = dict.fromkeys(JUDGEMENT_STATUSES, 0)
        for status, count in self.connection.execute(
            "SELECT status, COUNT(*) FROM judgements WHERE judge = ? GROUP BY status", (judge,)
        ):
            counts[status] = count
        return counts

    def transaction(self) -> _Transaction:
        return _Transaction(self.connection)


class _Transaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self.connection.execute("BEGIN IMMEDIATE")
        return self.connection

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.connection.execute("ROLLBACK" if exc_type else "COMMIT")


INSERT_GENERATION = (
    f"INSERT OR REPLACE INTO generations ({', '.join(GENERATION_COLUMNS)}, created_at) "
    f"VALUES ({', '.join('?' for _ in GENERATION_COLUMNS)}, ?)"
)


def generation_row(generation: Generation) -> tuple[Any, ...]:
    """The row to insert, every text with keys masked (bsa.redaction): providers echo keys in
    error bodies and even in completions, and a run file is made to be shared."""
    values: Mapping[str, Any] = asdict(generation)
    return (*(redact_json(values[c]) for c in GENERATION_COLUMNS), time.time())


INSERT_JUDGEMENT = (
    f"INSERT OR REPLACE INTO judgements ({', '.join(JUDGEMENT_COLUMNS)}, created_at) "
    f"VALUES ({', '.join('?' for _ in JUDGEMENT_COLUMNS)}, ?)"
)


def judgement_row(judgement: Judgement) -> tuple[Any, ...]:
    values: Mapping[str, Any] = asdict(judgement)
    return (*(redact_json(values[c]) for c in JUDGEMENT_COLUMNS), time.time())


def migrate(connection: sqlite3.Connection, path: Path) -> None:
    """Bring the schema up to date, one numbered migration per transaction."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise RunFileError(
            f"{path} was written by a newer bsa-bench (schema {version}, this one knows "
            f"{len(MIGRATIONS)}); upgrade bsa-bench to use it"
        )
    for number in range(version, len(MIGRATIONS)):
        script = (
            f"BEGIN IMMEDIATE;\n{MIGRATIONS[number]};\nPRAGMA user_version = {number + 1};\nCOMMIT;"
        )
        try:
            connection.executescript(script)  # SQLite's own parser splits the statements
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise


def _is_sqlite(path: Path) -> bool:
    if path.stat().st_size == 0:
        return True
    with closing(path.open("rb")) as handle:
        return handle.read(16) == b"SQLite format 3\x00"
