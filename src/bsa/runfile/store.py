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
from dataclasses import dataclass
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
    # 3: the seed sent with each sample's request (NULL: none was sent, or an older bsa made it).
    """
    ALTER TABLE generations ADD COLUMN seed INTEGER;
    """,
    # 4: the replica that answered (its base URL without userinfo or query), when the model or
    # judge has several endpoints; NULL with one.
    """
    ALTER TABLE generations ADD COLUMN replica TEXT;
    ALTER TABLE judgements ADD COLUMN replica TEXT;
    """,
    # 5: input tokens read from (cached_tokens) and written to (cache_write_tokens) the
    # provider's prompt cache, both also counted in prompt_tokens; NULL: not reported.
    """
    ALTER TABLE generations ADD COLUMN cached_tokens INTEGER;
    ALTER TABLE generations ADD COLUMN cache_write_tokens INTEGER;
    ALTER TABLE judgements ADD COLUMN cached_tokens INTEGER;
    ALTER TABLE judgements ADD COLUMN cache_write_tokens INTEGER;
    """,
    # 6: provider batches (--batch): each submitted batch, its vendor state and request counts,
    #    and which sample or verdict each request's custom id stands for, so a rerun polls the
    #    stored batches instead of submitting (and paying) again.
    """
    CREATE TABLE batches (
        batch_id TEXT PRIMARY KEY,
        stage TEXT NOT NULL,        -- 'generate', or 'judge:' and the judge's provider:model
        state TEXT NOT NULL,        -- the vendor's status (in_progress, completed, ended...)
        done INTEGER NOT NULL DEFAULT 0,  -- 1 once its results are stored
        counts TEXT,                -- JSON: the vendor's request counts
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE batch_requests (
        batch_id TEXT NOT NULL REFERENCES batches (batch_id),
        custom_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        sample INTEGER NOT NULL,
        kind TEXT NOT NULL,         -- 'generation', or the verdict's kind
        PRIMARY KEY (batch_id, custom_id)
    );
    """,
    # 7: batches given up (bsa batches abandon: done without results, their requests asked again),
    #    and each batch being submitted, recorded before the vendor is asked to create it: a kill
    #    after the vendor accepted it but before its id was committed leaves this row, so a rerun
    #    can find the batch at the vendor (or say it may be there) instead of paying again blind.
    """
    ALTER TABLE batches ADD COLUMN abandoned_at REAL;  -- when it was given up; NULL if not
    CREATE TABLE batch_submits (
        digest TEXT PRIMARY KEY,    -- sha256 of the batch's encoded requests (custom ids, bodies)
        stage TEXT NOT NULL,
        requests TEXT NOT NULL,     -- JSON: custom id -> [item_id, sample, kind]
        started_at REAL NOT NULL
    );
    """,
)

#: ``PRAGMA application_id`` of a run file ("BSA!"): another application's SQLite file is refused,
#: never adopted. Files made before it was set have 0 and are recognised by their tables.
APPLICATION_ID = 0x42534121
RUN_TABLES = frozenset({"meta", "prompts", "generations"})

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
    #: The seed sent with the request that made this sample (see ``Decoding.for_sample``).
    seed: int | None = None
    #: The endpoint that answered, when the model has several (``Completion.replica``).
    replica: str | None = None
    #: Of ``prompt_tokens``, those read from / written to the provider's prompt cache.
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


GENERATION_COLUMNS: tuple[str, ...] = tuple(Generation.__dataclass_fields__)


@dataclass(frozen=True)
class SampleOutcome:
    """A stored sample without its texts: which one it is and how it ended."""

    item_id: str
    sample: int
    status: str
    truncated: bool
    #: No answer text (or only whitespace): what a budget-cut sample is usually left with.
    empty_answer: bool = False


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
    #: The judge's endpoint that answered, when the judge has several (``Completion.replica``).
    replica: str | None = None
    #: Of ``prompt_tokens``, those read from / written to the provider's prompt cache.
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


JUDGEMENT_COLUMNS: tuple[str, ...] = tuple(Judgement.__dataclass_fields__)


@dataclass(frozen=True)
class RunInfo:
    """What a run file says about itself, read once and typed, so no reader looks meta up by
    string. Every field has the value an empty or older run file reads as."""

    #: The model under test (``provider:model``); None before anything was generated.
    model: str | None
    #: The largest k any generate command asked for (0 before any did).
    k: int
    #: Judges with verdicts, in the order they first judged.
    judges: tuple[str, ...]
    #: The generation settings as stored (model, decoding, safety rules...); empty when none.
    generation: Mapping[str, Any]
    #: Where the dataset came from (its identity: name, revision, sha256...); None for a file
    #: made from a plain input or by an older bsa.
    source: Mapping[str, Any] | None
    #: The bsa-bench version that started the run.
    tool_version: str | None
    #: Request parameters the endpoint refused and the run dropped.
    dropped_parameters: tuple[str, ...]

    @property
    def safety_rules(self) -> str | None:
        """The safety rules mode (``system``, ``prefix``), None when the prompts had none."""
        rules = self.generation.get("safety_rules")
        return None if rules in (None, "none") else str(rules)

    @property
    def system_prompt(self) -> str | None:
        prompt = self.generation.get("system_prompt")
        return None if prompt is None else str(prompt)

    @property
    def temperature(self) -> float | None:
        """The stored sampling temperature; None when none was sent (the endpoint's default)."""
        value = (self.generation.get("decoding") or {}).get("temperature")
        return None if value is None else float(value)


def connect(path: Path) -> sqlite3.Connection:
    """A writing connection in WAL mode. ``synchronous=NORMAL`` keeps every committed result
    through a process crash or kill -9 (only a power cut can lose the last commits) at a fraction
    of the cost of an fsync per commit."""
    connection = _open(path)
    try:
        _configure(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def _open(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)


def _configure(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that changes nothing in the run.

    The first that works of: an ordinary connection with ``query_only`` (which, closing last,
    folds the WAL back into the file and removes it, so the run stays one file to copy);
    ``mode=ro`` (when the file is read-only but its folder is not); ``immutable`` (a read-only
    folder, where SQLite cannot make the WAL index; it then reads the file as it is on disk,
    which is right when nobody can be writing it)."""
    uri = path.resolve().as_uri()
    for suffix in ("", "?mode=ro", "?immutable=1"):
        connection = sqlite3.connect(uri + suffix, uri=True, timeout=30.0, isolation_level=None)
        try:
            connection.execute("PRAGMA query_only = 1")
            connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            connection.close()
            if suffix == "?immutable=1":
                raise
            continue
        return connection
    raise AssertionError("unreachable")  # pragma: no cover


#: Run files this process has open for writing, and how many times (a pipelined run opens one per
#: stage). Their header is not read again with plain file I/O: closing any descriptor of a file
#: drops every POSIX lock the process holds on it, SQLite's included, and another process closing
#: its last connection (a reader) could then checkpoint and delete the WAL that our connections go
#: on writing to, losing every later commit.
_open_for_writing: dict[Path, int] = {}


class RunStore:
    """Reads and small writes of one run file. Bulk results go through :class:`bsa.runfile.writer.ResultWriter`."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """Open (and, unless ``read_only``, create or upgrade) the run file at ``path``.

        Writing commands hold :func:`bsa.runfile.lock.run_lock` around this; readers need no lock.
        Every way the file can be unusable (a folder, another application's database, a damaged
        or read-only file) is a :class:`RunFileError` naming the file.
        """
        self.path = path
        self.read_only = read_only
        self._key = path.resolve()
        self._counted = False
        _check_path(path, must_exist=read_only, header=self._key not in _open_for_writing)
        try:
            if read_only:
                self.connection = connect_read_only(path)
                if _check_schema(self.connection, path, writable=False) < len(MIGRATIONS):
                    self.connection = upgraded_copy(self.connection, path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.connection = _open(path)
                # Before WAL mode rewrites the header: another application's file stays as it is.
                _check_schema(self.connection, path, writable=True)
                _configure(self.connection)
                migrate(self.connection, path)
                _open_for_writing[self._key] = _open_for_writing.get(self._key, 0) + 1
                self._counted = True
        except sqlite3.Error as error:
            self._close_quietly()
            raise unusable_run_file(path, error) from None
        except OSError as error:
            self._close_quietly()
            raise RunFileError(f"cannot open {path}: {error.strerror or error}") from None
        except BaseException:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        connection = getattr(self, "connection", None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        self.connection.close()
        if self._counted:
            self._counted = False
            _open_for_writing[self._key] -= 1
            if not _open_for_writing[self._key]:
                del _open_for_writing[self._key]

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- settings -------------------------------------------------------------------------

    def info(self) -> RunInfo:
        """The run's settings and identity, typed (see :class:`RunInfo`)."""
        generation = self.get_meta("generation") or {}
        return RunInfo(
            model=generation.get("model"),
            k=self.k(),
            judges=tuple(self.judges()),
            generation=generation,
            source=self.get_meta("source"),
            tool_version=self.get_meta("tool_version"),
            dropped_parameters=tuple(self.get_meta("dropped_parameters") or ()),
        )

    def k(self) -> int:
        """The run's k: the largest any generate command asked for (0 before any did)."""
        return int(self.get_meta("k") or 0)

    def generation_settings(self) -> dict[str, Any] | None:
        """The generation settings as stored, None on a new run file."""
        settings: dict[str, Any] | None = self.get_meta("generation")
        return settings

    def start_run(
        self, settings: Mapping[str, Any], tool_version: str, source: Mapping[str, Any] | None
    ) -> None:
        """Record what defines a new run's samples, the tool that made them and the dataset."""
        self.set_meta("generation", settings)
        self.set_meta("tool_version", tool_version)
        if source is not None:
            self.set_meta("source", source)

    def raise_k(self, k: int) -> None:
        """Record that ``k`` samples per prompt were asked for; the run's k never shrinks."""
        self.set_meta("k", max(k, self.k()))

    def set_dropped_parameters(self, names: Iterable[str]) -> None:
        self.set_meta("dropped_parameters", list(names))

    def judge_settings(self, judge: str) -> dict[str, Any] | None:
        """The settings ``judge`` last judged this run with (as stored), None if it has not."""
        settings: dict[str, Any] | None = self.get_meta(f"judge:{judge}")
        return settings

    def set_judge_settings(self, judge: str, settings: Mapping[str, Any]) -> None:
        self.set_meta(f"judge:{judge}", settings)

    def get_meta(self, key: str) -> Any:
        """One stored setting by its key: the raw layer under the typed accessors above."""
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def meta(self) -> dict[str, Any]:
        """Every recorded setting, by key (never a secret: none is ever stored)."""
        rows = self.connection.execute("SELECT key, value FROM meta ORDER BY key")
        return {key: json.loads(value) for key, value in rows}

    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, storable(json.dumps(redact_json(value), ensure_ascii=False, sort_keys=True))),
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

    def status_counts_of(self, item_ids: Iterable[str], k: int) -> dict[str, int]:
        """Counts by status of the samples below ``k`` of ``item_ids`` (the run may hold more)."""
        wanted = set(item_ids)
        counts = dict.fromkeys(STATUSES, 0)
        for item_id, sample, status in self.connection.execute(
            "SELECT item_id, sample, status FROM generations"
        ):
            if item_id in wanted and sample < k:
                counts[status] += 1
        return counts

    def outcomes(self) -> Iterator[SampleOutcome]:
        """Every stored sample's id and outcome, in prompt then sample order, without its texts:
        scoring needs only these, and reading every reasoning and raw body would cost more I/O
        than the scoring itself."""
        rows = self.connection.execute(
            "SELECT g.item_id, g.sample, g.status, g.truncated, "
            "TRIM(COALESCE(g.answer, ''), ' ' || char(9, 10, 13)) = '' FROM generations g "
            "JOIN prompts p USING (item_id) ORDER BY p.position, g.sample"
        )
        for item_id, sample, status, truncated, empty in rows:
            yield SampleOutcome(item_id, sample, status, bool(truncated), bool(empty))

    def reasoning_sources(self) -> set[str | None]:
        """Where the stored samples' reasoning came from (see :mod:`bsa.scoring.reasoning_kind`)."""
        rows = self.connection.execute("SELECT DISTINCT reasoning_source FROM generations")
        return {source for (source,) in rows}

    def repeated_samples(self, k: int) -> tuple[int, int]:
        """Items with at least two ``ok`` samples below ``k``, and how many of those have every
        such sample byte-identical (answer and reasoning; a NULL differs from a text). A column
        is constant when its MIN is its MAX (BINARY collation: byte order) and it is NULL in all
        rows or in none; compared in SQL, so no text is read into Python."""
        row = self.connection.execute(
            "SELECT COUNT(*), COALESCE(SUM(same), 0) FROM (SELECT "
            "MIN(answer) IS MAX(answer) AND COUNT(answer) IN (0, COUNT(*)) AND "
            "MIN(reasoning) IS MAX(reasoning) AND COUNT(reasoning) IN (0, COUNT(*)) AS same "
            "FROM generations WHERE status = 'ok' AND sample < ? "
            "GROUP BY item_id HAVING COUNT(*) >= 2)",
            (k,),
        ).fetchone()
        return int(row[0]), int(row[1])

    def generations(self) -> Iterator[Generation]:
        """Every stored sample, in prompt order then sample order."""
        return (generation for generation, _ in self.stored_generations())

    def stored_generations(self) -> Iterator[tuple[Generation, float]]:
        """Every stored sample with the Unix time it was stored (exports carry it), in prompt
        order then sample order."""
        columns = ", ".join(f"g.{c}" for c in (*GENERATION_COLUMNS, "created_at"))
        rows = self.connection.execute(
            f"SELECT {columns} FROM generations g JOIN prompts p USING (item_id) "
            "ORDER BY p.position, g.sample"
        )
        for *row, created_at in rows:
            values = dict(zip(GENERATION_COLUMNS, row, strict=True))
            values["truncated"] = bool(values["truncated"])
            yield Generation(**values), created_at

    def replica_counts(self) -> dict[str, int]:
        """Stored samples by the replica that answered them (none for a one-endpoint model)."""
        rows = self.connection.execute(
            "SELECT replica, COUNT(*) FROM generations WHERE replica IS NOT NULL "
            "GROUP BY replica ORDER BY replica"
        )
        return {replica: count for replica, count in rows}

    # --- judgements -----------------------------------------------------------------------

    def judge_replica_counts(self) -> dict[str, dict[str, int]]:
        """Each judge's stored verdicts by the replica that answered them (judges with one
        endpoint are left out)."""
        counts: dict[str, dict[str, int]] = {}
        for judge, replica, count in self.connection.execute(
            "SELECT judge, replica, COUNT(*) FROM judgements WHERE replica IS NOT NULL "
            "GROUP BY judge, replica ORDER BY judge, replica"
        ):
            counts.setdefault(judge, {})[replica] = count
        return counts

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
            yield _judgement(row)

    def stored_judgements(self) -> Iterator[tuple[Judgement, float]]:
        """Every judge's verdicts with the Unix time each was stored (exports carry it), in
        prompt, sample, judge and kind order."""
        columns = ", ".join(f"j.{c}" for c in (*JUDGEMENT_COLUMNS, "created_at"))
        rows = self.connection.execute(
            f"SELECT {columns} FROM judgements j JOIN prompts p USING (item_id) "
            "ORDER BY p.position, j.sample, j.judge, j.kind"
        )
        for *row, created_at in rows:
            yield _judgement(row), created_at

    def judgement_counts(self, judge: str) -> dict[str, int]:
        counts = dict.fromkeys(JUDGEMENT_STATUSES, 0)
        for status, count in self.connection.execute(
            "SELECT status, COUNT(*) FROM judgements WHERE judge = ? GROUP BY status", (judge,)
        ):
            counts[status] = count
        return counts

    def transaction(self) -> _Transaction:
        return _Transaction(self.connection, self.path)


class _Transaction:
    """A write transaction whose SQLite errors (read-only file, full disk) name the run file."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise unusable_run_file(self.path, error) from None
        return self.connection

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is not None:
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise unusable_run_file(self.path, exc) from None
            return
        try:
            self.connection.execute("COMMIT")
        except sqlite3.Error as error:
            raise unusable_run_file(self.path, error) from None


def _judgement(row: Iterable[Any]) -> Judgement:
    values = dict(zip(JUDGEMENT_COLUMNS, row, strict=True))
    values["passed"] = None if values["passed"] is None else bool(values["passed"])
    return Judgement(**values)


def _upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...], done: str) -> str:
    """An insert that replaces a stored row only while that row is not ``done``: a late result
    (a retry that raced, a second process) never overwrites a result that was paid for."""
    names = (*columns, "created_at")
    updates = ", ".join(f"{c} = excluded.{c}" for c in names if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} WHERE {table}.{done}"
    )


#: A stored ``ok`` or ``blocked`` sample is final; only a ``failed`` one is replaced.
INSERT_GENERATION = _upsert(
    "generations", GENERATION_COLUMNS, ("item_id", "sample"), "status = 'failed'"
)


def generation_row(generation: Generation) -> tuple[Any, ...]:
    """The row to insert, every text with keys masked (bsa.redaction): providers echo keys in
    error bodies and even in completions, and a run file is made to be shared."""
    # getattr, not asdict: asdict deep-copies every field, a tenth of the client's CPU per call.
    values = (getattr(generation, c) for c in GENERATION_COLUMNS)
    return (*(storable(redact_json(v)) for v in values), time.time())


#: A ``scored`` verdict is final; unscored and failed ones are asked again and replaced.
INSERT_JUDGEMENT = _upsert(
    "judgements", JUDGEMENT_COLUMNS, ("item_id", "sample", "kind", "judge"), "status != 'scored'"
)


def judgement_row(judgement: Judgement) -> tuple[Any, ...]:
    values = (getattr(judgement, c) for c in JUDGEMENT_COLUMNS)
    return (*(storable(redact_json(v)) for v in values), time.time())


def migrate(connection: sqlite3.Connection, path: Path) -> None:
    """Bring the schema up to date in one transaction.

    The version is read inside the same ``BEGIN IMMEDIATE`` that applies the migrations, so two
    processes opening a new file at once cannot both create its tables."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = _check_schema(connection, path, writable=True)
        for number in range(version, len(MIGRATIONS)):
            for statement in _statements(MIGRATIONS[number]):
                connection.execute(statement)
        if version < len(MIGRATIONS):
            connection.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _check_schema(connection: sqlite3.Connection, path: Path, *, writable: bool) -> int:
    """The file's schema version, after making sure it is a run file this tool can use."""
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    application = int(connection.execute("PRAGMA application_id").fetchone()[0])
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    ours = application == APPLICATION_ID or (application == 0 and tables >= RUN_TABLES)
    if not ours and (tables or version or application):
        raise RunFileError(
            f"{path} is an SQLite database of another application, not a bsa run file; "
            "choose another --run path"
        )
    if version > len(MIGRATIONS):
        raise RunFileError(
            f"{path} was written by a newer bsa-bench (schema {version}, this one knows "
            f"{len(MIGRATIONS)}); upgrade bsa-bench to use it"
        )
    if not writable and version == 0:
        raise RunFileError(f"{path} is an empty file, not a bsa run file yet")
    return version


def upgraded_copy(connection: sqlite3.Connection, path: Path) -> sqlite3.Connection:
    """An in-memory copy of an older run file, upgraded to this tool's schema; ``connection``
    is closed. Migrations only add, so reading an older run through its upgraded copy shows what
    the file holds (new columns empty) while the file itself stays exactly as it is, until a
    writing command upgrades it in place. The copy costs memory of the file's size, once."""
    copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    try:
        connection.backup(copy)
        connection.close()
        migrate(copy, path)
        copy.execute("PRAGMA query_only = 1")
    except BaseException:
        copy.close()
        raise
    return copy


def _statements(script: str) -> list[str]:
    """The SQL statements of a migration script, split where SQLite's own parser says a
    statement is complete (so a ';' inside a comment or string does not split)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {current.strip()[:60]!r}")
    return statements


def storable(value: Any) -> Any:
    """``value`` as SQLite can store it. Model and judge text may hold lone UTF-16 surrogates
    (valid JSON such as ``"A\\ud800B"``), which UTF-8 cannot encode: each becomes U+FFFD in
    the text columns. The ``raw`` column keeps them exactly, as JSON escapes (see
    :func:`raw_json`)."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Through UTF-16: a split surrogate pair is joined, a lone surrogate is one U+FFFD.
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def raw_json(value: Any) -> str:
    """A provider's response as stored: JSON, with non-ASCII text as is, except that a lone
    surrogate is kept as its ``\\uXXXX`` escape so the raw body stays exact."""
    text = json.dumps(value, ensure_ascii=False)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True)
    return text


def unusable_run_file(path: Path, error: sqlite3.Error) -> RunFileError:
    """One line for an SQLite error that makes the run file unusable."""
    text = str(error)
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        why = "it or its folder is read-only (reading commands such as bsa status still work)"
    elif "unable to open" in lowered:
        why = "SQLite cannot open it or create its journal beside it (is the file or its folder read-only?)"
    elif "not a database" in lowered or "malformed" in lowered:
        why = "it is damaged or not an SQLite database"
    elif "full" in lowered:
        why = "the disk is full; free space and rerun to resume"
    elif "locked" in lowered or "busy" in lowered:
        why = "another process kept it locked for too long"
    else:
        why = text
    return RunFileError(f"cannot use the run file {path}: {why} ({text})")


def _check_path(path: Path, *, must_exist: bool, header: bool = True) -> None:
    if path.is_dir():
        raise RunFileError(f"{path} is a folder; --run needs a file path such as {path}/run.sqlite")
    if not path.exists():
        if must_exist:
            raise RunFileError(f"no run file at {path}")
        return
    if header and not _is_sqlite(path):
        raise RunFileError(f"{path} is not a bsa run file (not an SQLite database)")


def _is_sqlite(path: Path) -> bool:
    try:
        if path.stat().st_size == 0:
            return True
        with closing(path.open("rb")) as handle:
            return handle.read(16) == b"SQLite format 3\x00"
    except OSError as error:
        raise RunFileError(f"cannot read {path}: {error.strerror or error}") from None
