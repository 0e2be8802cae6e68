"""Bad input on the command line is one ``error:`` line and exit status 1, never a traceback, and
nothing is lost: no run file is started, no output file is replaced. In process with click's
CliRunner except where a real terminal or process is the point."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bsa.cli import main
from bsa.runfile.store import RunStore

from .conftest import SHARED_DATASET, isolate


def bsa(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_one_error(result: Result, starts: str) -> None:
    """Exit 1, one ``error:`` line on stderr that starts with ``starts``, no traceback."""
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stderr.startswith(f"error: {starts}"), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run generated and judged by the mock provider (no network); read only."""
    run = tmp_path_factory.mktemp("run") / "judged.sqlite"
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, tmp_path_factory)
        result = bsa(
            "run", "--run", run, "--model", "mock", "--judge", "mock", "--limit", "3", "-k", "2"
        )
    assert result.exit_code == 0, result.output
    return run


# --- numbers must be finite -----------------------------------------------------------------

GENERATE_FLAGS = [
    ("--timeout", "inf"),
    ("--timeout", "nan"),
    ("--temperature", "nan"),
    ("--temperature", "-inf"),
    ("--top-p", "nan"),
    ("--rpm", "inf"),
    ("--top-k", "nan"),
    ("--max-tokens", "1.5"),
    ("--tpm", "nan"),
]
JUDGE_FLAGS = [
    ("--judge-timeout", "inf"),
    ("--judge-temperature", "nan"),
    ("--judge-rpm", "nan"),
    ("--judge-tpm", "inf"),
    ("--alpha", "nan"),
    ("--alpha", "1.5"),
]


@pytest.mark.parametrize(("flag", "value"), GENERATE_FLAGS + JUDGE_FLAGS)
def test_a_number_that_is_not_finite_is_one_line_and_starts_no_run(
    tmp_path: Path, flag: str, value: str
) -> None:
    run = tmp_path / "r.sqlite"
    result = bsa(
        "run", "--run", run, "--model", "mock", "--judge", "mock", "--limit", "1", flag, value
    )
    assert_one_error(result, f"{flag}: ")
    assert not run.exists()


@pytest.mark.parametrize("command", [("score",), ("leaderboard",), ("compare",)])
def test_alpha_is_checked_by_every_command_that_takes_it(
    judged_run: Path, command: tuple[str, ...]
) -> None:
    extra = ("--run", judged_run) if command == ("score",) else (judged_run,)
    assert_one_error(bsa(*command, *extra, "--alpha", "nan"), "--alpha: 'nan' is not a finite")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"top_k": NaN}', "--extra-body: NaN is not a JSON number"),
        ('{"a": {"b": [Infinity]}}', "--extra-body: Infinity is not a JSON number"),
        ('{"a": -Infinity}', "--extra-body: -Infinity is not a JSON number"),
        ('{"a": -1e400}', "--extra-body: -1e400 is too large for a number"),
        ("[" * 100_000, "--extra-body: nested too deeply"),
        ("[1]", "--extra-body: must be a JSON object"),
        ("{x", "--extra-body: not JSON"),
    ],
)
def test_extra_body_must_be_a_strict_json_object(tmp_path: Path, body: str, message: str) -> None:
    run = tmp_path / "r.sqlite"
    result = bsa("generate", "--run", run, "--model", "mock", "--limit", "1", "--extra-body", body)
    assert_one_error(result, message)
    assert not run.exists()


def test_config_with_nan_temperature_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  model_name: m\n  temperature: .nan\n", encoding="utf-8")
    result = bsa("generate", "--config", config, "--run", tmp_path / "r.sqlite", "--limit", "1")
    assert_one_error(result, f"{config}: model.temperature: Input should be a finite number")


# --- -o: a directory is refused, - is standard output ----------------------------------------


def output_commands(run: Path) -> dict[str, Sequence[str | Path]]:
    """Every command that writes a file with -o, with the rest of its arguments."""
    return {
        "data export": ("data", "export", "--format", "jsonl", "--limit", "2"),
        "data croissant": ("data", "croissant"),
        "export": ("export", "--run", run, "--format", "csv"),
        "report": ("report", "--run", run),
        "compare": ("compare", run, run),
        "leaderboard": ("leaderboard", run, "--format", "json"),
    }


@pytest.mark.parametrize(
    "name", ["data export", "data croissant", "export", "report", "compare", "leaderboard"]
)
def test_output_that_is_a_directory_is_one_line(
    judged_run: Path, tmp_path: Path, name: str
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    result = bsa(*output_commands(judged_run)[name], "-o", folder)
    assert_one_error(result, f"-o/--output: {folder} is a directory")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "starts"),
    [
        ("data export", '{"id": '),
        ("data croissant", "{"),
        ("export", "id,sample,status,"),
        ("report", "<!doctype html>"),
        ("compare", "<!doctype html>"),
        ("leaderboard", "{"),
    ],
)
def test_dash_writes_the_result_alone_to_standard_output(
    judged_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, starts: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = bsa(*output_commands(judged_run)[name], "-o", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(starts)
    assert list(tmp_path.iterdir()) == []  # no file named "-"
    if name != "leaderboard":
        assert "standard output" in result.stderr
    if name in ("data croissant", "leaderboard"):
        json.loads(result.stdout)


def test_dash_gives_the_bytes_a_file_gets(judged_run: Path, tmp_path: Path) -> None:
    file = tmp_path / "samples.jsonl"
    assert bsa("export", "--run", judged_run, "--format", "jsonl", "-o", file).exit_code == 0
    piped = bsa("export", "--run", judged_run, "--format", "jsonl", "-o", "-")
    assert piped.stdout_bytes == file.read_bytes()


def test_compare_refuses_json_and_page_both_on_standard_output(judged_run: Path) -> None:
    result = bsa("compare", judged_run, judged_run, "--json", "-o", "-")
    assert_one_error(result, "--json and -o - both write to standard output")


def test_parquet_goes_to_a_pipe(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    result = bsa("data", "export", "--format", "parquet", "--limit", "3", "-o", "-")
    assert result.exit_code == 0, result.output
    (tmp_path / "piped.parquet").write_bytes(result.stdout_bytes)
    assert pq.read_table(tmp_path / "piped.parquet").num_rows == 3


def test_a_reader_that_stops_early_ends_the_export_quietly(mock_run_path: Path) -> None:
    """``bsa export -o - | head``: the reader closes the pipe after a few bytes; bsa stops with
    the status a shell gives such a writer (141), no traceback, no "wrote N rows" claim."""
    command = [sys.executable, "-m", "bsa", "export", "--run", str(mock_run_path),
               "--format", "jsonl", "-o", "-"]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.read(100).startswith(b"{")
        child.stdout.close()  # 300 rows are ~200 KB: more than a pipe holds
        stderr = child.stderr.read().decode()
        assert child.wait(timeout=120) == 141, stderr
    assert stderr == ""


def test_parquet_to_a_terminal_is_refused() -> None:
    """A real terminal (a pseudo-terminal on the child's stdout): binary bytes would garble it."""
    pytest.importorskip("pyarrow")
    pytest.importorskip("pty")
    controller, terminal = os.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bsa", "data", "export", "--format", "parquet", "-o", "-"],
            stdout=terminal,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 1
    assert result.stderr == (
        "error: Parquet is binary: redirect standard output to a file, or name one with -o\n"
    )


# --- files that are not UTF-8; ids files with comments ------------------------------------------


def test_ids_file_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_bytes(b"7aa26e4c933d4fc73edffc574995c99a\nab\xffcd\n")
    result = bsa("data", "stats", "--ids", ids)
    assert_one_error(result, f"{ids}: not a UTF-8 ids file (invalid start byte at byte 35)")


def test_config_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_bytes(b"model:\n  model_name: caf\xe9\n")
    result = bsa("generate", "--config", config, "--run", tmp_path / "r.sqlite")
    assert_one_error(
        result, f"{config}: not a UTF-8 config file (invalid continuation byte at byte 24)"
    )
    assert not (tmp_path / "r.sqlite").exists()


def test_csv_offset_is_in_the_file_not_in_a_decoding_chunk(tmp_path: Path) -> None:
    """Past the first 8 KiB a text reader's offset counts from its current chunk."""
    good = SHARED_DATASET.read_bytes()[:20_000]
    bad_at = good.index(b"\n", 12_000) + 1
    dataset = tmp_path / "d.csv"
    dataset.write_bytes(b"\xef\xbb\xbf" + good[:bad_at] + b"\xff" + good[bad_at:])
    result = bsa("data", "stats", "--dataset", dataset)
    assert_one_error(
        result, f"{dataset}: not a UTF-8 CSV file (invalid start byte at byte {bad_at + 3})"
    )


def test_ids_file_takes_trailing_comments(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text(
        "# items the model over-refused\n"
        "7aa26e4c933d4fc73edffc574995c99a  # the first one\n"
        "   # an indented comment\n"
        "9778f4c49027b9ae82ddb8aba8607250\t# after a tab\n"
        "507eb29bb7f430aaea0fb4f86976b022\n",
        encoding="utf-8",
    )
    result = bsa("data", "stats", "--json", "--ids", ids)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"] == 3


# --- CSV rows with extra cells; judged CSVs with unknown labels ----------------------------------


def write_csv(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path


def official_record(scenario: str) -> dict[str, str]:
    with SHARED_DATASET.open(encoding="utf-8-sig", newline="") as handle:
        return next(row for row in csv.DictReader(handle) if row["dataset_name"] == scenario)


EXTRA_CELL = "1 cell more than the header's columns (an unquoted comma?)"


def test_dataset_row_with_an_extra_cell_is_an_error(tmp_path: Path) -> None:
    record = official_record("Risk Omission")
    dataset = write_csv(tmp_path / "d.csv", [list(record), [*record.values(), "stray"]])
    result = bsa("data", "stats", "--dataset", dataset)
    assert_one_error(result, f"{dataset}: row 1 (line 2): {EXTRA_CELL}")


def test_input_row_with_an_extra_cell_is_an_error(tmp_path: Path) -> None:
    questions = write_csv(tmp_path / "q.csv", [["id", "question"], ["1", "Hi", "there"]])
    run = tmp_path / "r.sqlite"
    result = bsa("generate", "--input", questions, "--run", run, "--model", "mock")
    assert_one_error(result, f"{questions}: row 1 (line 2): {EXTRA_CELL}")
    assert not run.exists()


JUDGED_HEADER = ["model_name", "id", "dataset_name", "Safe_Ans_Check", "Thk_Acc_Judge"]


@pytest.mark.parametrize("mode", [(), ("--reference",)])
def test_judged_row_with_an_extra_cell_is_an_error(tmp_path: Path, mode: tuple[str, ...]) -> None:
    item = official_record("Risk Omission")["id"]
    judged = write_csv(
        tmp_path / "j.csv",
        [JUDGED_HEADER, ["m", item, "Risk Omission", "Safe", "True", "x"]],
    )
    result = bsa("score", "--from-csv", judged, "-k", "1", *mode)
    assert_one_error(result, f"{judged}: row 1 (line 2): {EXTRA_CELL}")


@pytest.mark.parametrize("mode", [(), ("--reference",)])
def test_unknown_judged_labels_are_named_not_scored_as_failures(
    tmp_path: Path, mode: tuple[str, ...]
) -> None:
    ro, cs = official_record("Risk Omission")["id"], official_record("Cognitive Shortcut")["id"]
    judged = write_csv(
        tmp_path / "j.csv",
        [
            JUDGED_HEADER,
            ["m", ro, "Risk Omission", "Safe", "True"],
            ["m", ro, "Risk Omission", "safe", "false"],
            ["m", cs, "Cognitive Shortcut", "Unsafe", "Fully covered"],
            ["m", cs, "Cognitive Shortcut", "", ""],
        ],
    )
    result = bsa("score", "--from-csv", judged, "-k", "2", *mode)
    assert result.exit_code == 1, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == 2, result.stderr
    assert errors[0].startswith("error: row 2 (")
    assert "unknown Safe_Ans_Check 'safe' (expected 'Safe', 'Unsafe', or empty" in errors[0]
    assert errors[1].startswith("error: row 3 (")
    assert "unknown Thk_Acc_Judge 'Fully covered' (expected 'Fully Covered'," in errors[1]


# --- --sample larger than the selection ---------------------------------------------------------


def test_sample_larger_than_the_selection_says_how_many_were_selected() -> None:
    result = bsa("data", "stats", "--json", "--scenario", "OS", "--sample", "500")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"] == 200
    assert result.stderr == (
        "notice: --sample 500 is more than the 200 selected items; using all 200\n"
    )


def test_sample_within_the_selection_is_silent() -> None:
    result = bsa("data", "stats", "--json", "--scenario", "OS", "--sample", "200")
    assert (result.exit_code, result.stderr) == (0, "")


def test_output_under_a_file_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder\n", encoding="utf-8")
    target = blocker / "items.csv"
    result = bsa("data", "export", "--format", "csv", "--limit", "1", "-o", target)
    assert_one_error(result, f"cannot write {target}: {blocker} is not a folder")


# --- key files ---------------------------------------------------------------------------------


def test_a_key_file_that_is_not_utf8_is_one_line_without_its_bytes(tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_bytes(b"sk-\xff\xfe-not-text")
    result = bsa(
        "generate", "--run", tmp_path / "r.sqlite", "--model", "openai:m", "--limit", "1",
        "--api-key-file", key_file,
    )  # fmt: skip
    assert_one_error(result, f"API key file {key_file} is not UTF-8 text (byte 3)")
    assert "not-text" not in result.output


def test_a_key_file_with_a_byte_order_mark_gives_the_key_without_it(tmp_path: Path) -> None:
    from bsa.providers import resolve_api_key

    key_file = tmp_path / "key.txt"
    key_file.write_text("\ufeffsk-abc123\n", encoding="utf-8")
    assert resolve_api_key("UNUSED", key_file, None) == "sk-abc123"


def test_a_judge_without_a_key_stops_bsa_run_before_any_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing judge key used to surface only after generation, naming the model's flags."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    run = tmp_path / "r.sqlite"
    result = bsa("run", "--run", run, "--model", "mock", "--judge", "openai:gpt-4o", "--limit", "1")
    assert_one_error(
        result,
        "no API key: set the environment variable OPENAI_API_KEY (or name another with "
        "--judge-api-key-env, or give --judge-api-key-file FILE)",
    )
    assert not run.exists(), "nothing was generated"


def test_a_panel_checks_every_judge_before_the_first_judges(
    judged_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "r.sqlite"
    run.write_bytes(judged_run.read_bytes())
    result = bsa(
        "judge", "--run", run, "--judge", "mock:first", "--judge", "anthropic:claude",
        "--judge-api-key-env", "BSA_TEST_NO_SUCH_KEY",
    )  # fmt: skip
    assert_one_error(result, "no API key: set the environment variable BSA_TEST_NO_SUCH_KEY")
    with RunStore(run, read_only=True) as store:
        assert store.judges() == ["mock:mock"], "mock:first did not judge before the error"
