"""The run file: pinned schema, migrations, prompts, and the group-commit writer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bsa.runfile.store import (
    GENERATION_COLUMNS,
    INSERT_GENERATION,
    MIGRATIONS,
    Generation,
    Prompt,
    RunFileError,
    RunInfo,
    RunStore,
    generation_row,
)
from bsa.runfile.writer import ResultWriter


def columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as connection:
        return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]


def test_schema_is_pinned(tmp_path: Path) -> None:
    """Changing these columns breaks every run file already on users' disks: add a migration."""
    path = tmp_path / "run.sqlite"
    RunStore(path).close()
    assert columns(path, "meta") == ["key", "value"]
    assert columns(path, "prompts") == [
        "item_id", "position", "scenario", "query", "risk_summary", "label",
    ]  # fmt: skip
    assert columns(path, "generations") == [
        "item_id", "sample", "status", "answer", "reasoning", "reasoning_source",
        "finish_reason", "truncated", "prompt_tokens", "completion_tokens", "reasoning_tokens",
        "latency_s", "attempts", "error", "raw", "created_at", "seed", "replica", "cached_tokens",
        "cache_write_tokens",
    ]  # fmt: skip
    assert columns(path, "judgements") == [
        "item_id", "sample", "kind", "judge", "status", "verdict", "passed", "rationale",
        "reason", "prompt_sha256", "raw", "attempts", "latency_s", "prompt_tokens",
        "completion_tokens", "created_at", "replica", "cached_tokens", "cache_write_tokens",
    ]  # fmt: skip
    assert columns(path, "batches") == [
        "batch_id", "stage", "state", "done", "counts", "created_at", "updated_at",
        "abandoned_at",
    ]  # fmt: skip
    assert columns(path, "batch_requests") == [
        "batch_id", "custom_id", "item_id", "sample", "kind",
    ]  # fmt: skip
    assert columns(path, "batch_submits") == ["digest", "stage", "requests", "started_at"]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 7
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_version_1_run_file_is_migrated_in_place(tmp_path: Path) -> None:
    """Run files written before judging existed gain the judgements table and keep their rows."""
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(MIGRATIONS[0])
        connection.execute("PRAGMA user_version = 1")
        connection.execute("INSERT INTO prompts VALUES ('a', 0, NULL, 'Q?', NULL, NULL)")
    with RunStore(path) as store:
        assert [p.item_id for p in store.prompts()] == ["a"]
        assert store.judges() == []
    assert "judgements" in {
        row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")
    }


@pytest.fixture
def version_2_run(tmp_path: Path) -> Path:
    """A run file as bsa-bench wrote it before seeds were recorded: one prompt, one sample."""
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as connection:
        for migration in MIGRATIONS[:2]:
            connection.executescript(migration)
        connection.execute("PRAGMA user_version = 2")
        connection.execute("INSERT INTO prompts VALUES ('a', 0, NULL, 'Q?', NULL, NULL)")
        connection.execute(
            "INSERT INTO generations (item_id, sample, status, answer, attempts, created_at) "
            "VALUES ('a', 0, 'ok', 'A.', 1, 0)"
        )
    connection.close()
    return path


def test_a_version_2_run_file_gains_the_seed_column(version_2_run: Path) -> None:
    """Samples stored before seeds were recorded keep their rows, with no seed (NULL)."""
    with RunStore(version_2_run) as store:
        (stored,) = store.generations()
    assert (stored.item_id, stored.status, stored.seed) == ("a", "ok", None)


def test_an_older_run_file_is_read_through_an_upgraded_copy_and_left_as_it_is(
    version_2_run: Path,
) -> None:
    """Reading commands (score, status, export) work on a run made before an upgrade of
    bsa-bench, without writing to it: the file keeps its bytes and its schema version."""
    path = version_2_run
    before = path.read_bytes()
    with RunStore(path, read_only=True) as store:
        (stored,) = store.generations()
        assert (stored.answer, stored.seed) == ("A.", None)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.connection.execute("DELETE FROM prompts")
    assert path.read_bytes() == before
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2


def test_an_empty_file_is_no_run_to_read(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    with pytest.raises(RunFileError, match="is an empty file, not a bsa run file yet"):
        RunStore(path, read_only=True)


def test_reopening_does_not_migrate_twice(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore(path) as store:
        store.set_meta("k", 5)
    with RunStore(path) as store:
        assert store.get_meta("k") == 5


SETTINGS = {
    "model": "openai:m",
    "decoding": {"temperature": 0.6},
    "safety_rules": "prefix",
    "system_prompt": "Be brief.",
}
SOURCE = {"name": "bsa", "sha256": "abc"}


def test_run_info_reads_what_older_runs_stored_under_their_meta_keys(tmp_path: Path) -> None:
    """The stored format is the meta table's string keys as released: a run file made before
    :class:`RunInfo` existed reads the same through it."""
    path = tmp_path / "run.sqlite"
    with RunStore(path) as store:
        for key, value in {
            "generation": SETTINGS, "k": 5, "tool_version": "0.0.9", "source": SOURCE,
            "dropped_parameters": ["top_k"], "judge:mock:mock": {"judge": "mock:mock"},
        }.items():  # fmt: skip
            store.set_meta(key, value)
    with RunStore(path, read_only=True) as store:
        info = store.info()
        judge_settings = store.judge_settings("mock:mock")
    assert info == RunInfo(
        model="openai:m", k=5, judges=(), generation=SETTINGS, source=SOURCE,
        tool_version="0.0.9", dropped_parameters=("top_k",),
    )  # fmt: skip
    assert (info.safety_rules, info.system_prompt, info.temperature) == ("prefix", "Be brief.", 0.6)
    assert judge_settings == {"judge": "mock:mock"}


def test_run_info_writers_keep_the_stored_format(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore(path) as store:
        store.start_run(SETTINGS, "0.1.0", SOURCE)
        store.raise_k(5)
        store.raise_k(3)  # a later command with a smaller k leaves the run's k alone
        store.set_dropped_parameters(("top_k",))
        store.set_judge_settings("mock:mock", {"judge": "mock:mock"})
        assert store.meta() == {
            "generation": SETTINGS, "k": 5, "tool_version": "0.1.0", "source": SOURCE,
            "dropped_parameters": ["top_k"], "judge:mock:mock": {"judge": "mock:mock"},
        }  # fmt: skip


def test_a_new_run_has_empty_info(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run.sqlite") as store:
        info = store.info()
        assert (store.generation_settings(), store.judge_settings("mock:mock")) == (None, None)
    assert info == RunInfo(None, 0, (), {}, None, None, ())
    assert (info.safety_rules, info.system_prompt, info.temperature) == (None, None, None)


def test_a_newer_run_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    RunStore(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RunFileError, match="written by a newer bsa-bench"):
        RunStore(path)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(RunFileError, match="is not a bsa run file"):
        RunStore(path)


def test_prompts_keep_their_order_and_refuse_changes(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run.sqlite") as store:
        assert store.add_prompts([Prompt("b", "B?"), Prompt("a", "A?")]) == 2
        assert store.add_prompts([Prompt("a", "A?"), Prompt("c", "C?")]) == 1
        assert [p.item_id for p in store.prompts()] == ["b", "a", "c"]
        with pytest.raises(RunFileError, match="item 'a' is stored with a different query"):
            store.add_prompts([Prompt("a", "A changed?")])


def sample(item_id: str, index: int, status: str = "ok") -> Generation:
    return Generation(
        item_id, index, status, "answer", "reasoning", "reasoning_content", "stop", False,
        10, 20, 5, 0.5, 1, None, "{}",
    )  # fmt: skip


def test_writer_commits_everything_and_failed_samples_are_replaced(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore(path) as store:
        store.add_prompts([Prompt(f"p{n}", "?") for n in range(50)])
        with ResultWriter(path) as writer:
            for n in range(50):
                for s in range(3):
                    status = "failed" if (n, s) == (7, 2) else "ok"
                    writer.put(INSERT_GENERATION, generation_row(sample(f"p{n}", s, status)))
        assert writer.rows_written == 150
        assert 1 <= writer.commits <= 150
        assert store.status_counts() == {"ok": 149, "blocked": 0, "failed": 1}
        assert 2 not in store.done_samples()["p7"]
        with ResultWriter(path) as writer:
            writer.put(INSERT_GENERATION, generation_row(sample("p7", 2)))
        assert store.status_counts() == {"ok": 150, "blocked": 0, "failed": 0}
        rows = list(store.generations())
        assert [(g.item_id, g.sample) for g in rows[:4]] == [
            ("p0", 0), ("p0", 1), ("p0", 2), ("p1", 0),
        ]  # fmt: skip
        assert rows[0] == sample("p0", 0)
    assert len(GENERATION_COLUMNS) == 19


def test_a_refused_row_is_counted_and_takes_no_other_row_with_it(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore(path) as store:
        store.add_prompts([Prompt("a", "q")])
    writer = ResultWriter(path)
    writer.put(INSERT_GENERATION, generation_row(sample("a", 0)))
    writer.put(INSERT_GENERATION, generation_row(sample("unknown-prompt", 0)))
    writer.put(INSERT_GENERATION, generation_row(sample("a", 1)))
    writer.close()
    assert len(writer.rejected) == 1 and "FOREIGN KEY" in writer.rejected[0]
    with RunStore(path) as store:
        assert sorted(g.sample for g in store.generations()) == [0, 1]
