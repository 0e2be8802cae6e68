"""API keys never reach a file bsa writes or a line it prints, even when a provider echoes them.

The test server's ``echo_key_*`` faults repeat the Authorization header in a 400/429/500 error body
or in a completion's text; every run file, export, report and printed line is then searched for
the keys of the model, the judge, ``--extra-body`` and the base URL.
"""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bsa.cli import main
from bsa.output.report.payload import readable
from bsa.redaction import (
    MASK,
    forget_secrets,
    redact,
    redact_json,
    register_field_secrets,
    register_secret,
    register_url_secrets,
)
from bsa.testing.openai_server import OpenAIServer, ServerConfig

from .bsa_command import bsa_in_process
from .conftest import SHARED_BSA, SHARED_DATASET

MODEL_KEY = "sk-model-0f3c9a1e7b2d4c6e8a0b-SECRET"
JUDGE_KEY = "judge-key-71c2e9d04b5a4f3e-SECRET"
EXTRA_KEY = "extra-body-token-5d8e2a9c1f-SECRET"
QUERY_KEY = "query-key-2b7f4e1d9c-SECRET"
USER_KEY = "userinfo-key-8e1a6c3d5f-SECRET"
KEYS = (MODEL_KEY, JUDGE_KEY, EXTRA_KEY, QUERY_KEY, USER_KEY)


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    """Each test starts as a fresh process does: no key registered."""
    forget_secrets()
    yield
    forget_secrets()


def leaked(*texts: str | bytes) -> list[str]:
    """The keys (or their first 16 characters) found in any of ``texts``."""
    found = []
    for key in KEYS:
        for text in texts:
            blob = text if isinstance(text, str) else text.decode("utf-8", "replace")
            if key[:16] in blob:
                found.append(key)
    return found


def bsa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``bsa ARGS`` in process, its registry emptied first: it starts as a user's process does."""
    forget_secrets()
    return bsa_in_process(*args, env=env)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def write_dataset(path: Path, markers: list[str]) -> Path:
    """Official Risk Omission items, one per marker, each query followed by its marker."""
    with SHARED_DATASET.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["dataset_name"] == "Risk Omission"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row, marker in zip(rows, markers, strict=False):
            writer.writerow({**row, "query": f"{row['query']} {marker}".strip()})
    return path


# --- the registry and the patterns ----------------------------------------------------------


def test_registered_keys_and_key_shapes_are_masked() -> None:
    register_secret("zhipu-id.5f2c8e1a9b")
    assert redact("echo zhipu-id.5f2c8e1a9b!") == f"echo {MASK}!"
    assert redact("Authorization: Bearer abc.def-ghi_123") == f"Authorization: Bearer {MASK}"
    assert redact("bad key sk-proj-abcdefghijklmnop1234") == f"bad key {MASK}"
    assert redact('{"api_key": "abcdefgh1234"}') == f'{{"api_key": "{MASK}"}}'
    assert redact("x-api-key: abcdefgh1234, ok") == f"x-api-key: {MASK}, ok"
    assert redact("GET /v1?access_token=abcdefgh1234&x=1") == f"GET /v1?access_token={MASK}&x=1"


@pytest.mark.parametrize(
    "text",
    ["a high-risk-assessment-framework-for-kids", "the token budget: 2048 tokens",
     "max_tokens=4096", "the api key is kept in a vault", "short sk-abc", "EMPTY", ""],
)  # fmt: skip
def test_prose_passes_unchanged(text: str) -> None:
    register_secret("EMPTY")  # too short to be a key: the local placeholder is not masked
    assert redact(text) is text


def test_url_and_field_secrets_are_registered() -> None:
    register_url_secrets(f"https://someuser:{USER_KEY}@host/v1?key={QUERY_KEY}&api-version=1")
    register_field_secrets({"headers": {"X-Auth-Token": EXTRA_KEY}, "max_tokens": "12345678"})
    text = f"someuser {USER_KEY} {QUERY_KEY} {EXTRA_KEY} 12345678 1"
    assert redact(text) == f"someuser {MASK} {MASK} {MASK} 12345678 1"
    assert redact_json({"api_key": "anything", "top_k": 20, "note": [EXTRA_KEY]}) == {
        "api_key": MASK, "top_k": 20, "note": [MASK],
    }  # fmt: skip


# --- a run whose providers echo the keys ------------------------------------------------------


@dataclass(frozen=True)
class EchoedRun:
    run: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def echoed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EchoedRun]:
    """``bsa run`` against a model that echoes its key in a 200 body, a 429 and a 500, and a judge
    that echoes its own key in every reply; ``--extra-body`` carries a third key."""
    forget_secrets()
    folder = tmp_path_factory.mktemp("echo")
    dataset = write_dataset(
        folder / "items.csv",
        ["", "[[fault:echo_key_200:*]]", "[[fault:echo_key_429:*]]", "[[fault:echo_key_500:*]]"],
    )
    run = folder / "run.sqlite"
    # Module scope runs outside conftest's per-test isolation, so it is spelled out here.
    offline = {
        "BSA_DATA_DIR": str(SHARED_BSA), "BSA_CACHE_DIR": str(folder / "cache"),
        "BSA_UPSTREAM_URL": "http://127.0.0.1:9/unreachable", "HF_HUB_OFFLINE": "1",
    }  # fmt: skip
    model = OpenAIServer(ServerConfig(api_key=MODEL_KEY, retry_after=0))
    judge = OpenAIServer(ServerConfig(api_key=JUDGE_KEY, retry_after=0, respond=_echoing_judge))
    with model, judge:
        result = bsa(
            "run", "--run", str(run), "--dataset", str(dataset), "-k", "1", "--concurrency", "1",
            "--model", "openai:test-model", "--base-url", model.base_url, "--max-attempts", "2",
            "--extra-body", f'{{"api_key": "{EXTRA_KEY}", "chat_template_kwargs": {{}}}}',
            "--judge", "openai:judge-model", "--judge-base-url", judge.base_url,
            "--judge-api-key-env", "BSA_TEST_JUDGE_KEY", "--judge-parse-attempts", "1",
            env={"OPENAI_API_KEY": MODEL_KEY, "BSA_TEST_JUDGE_KEY": JUDGE_KEY, **offline},
        )  # fmt: skip
    yield EchoedRun(run, result)


def _echoing_judge(body: dict[str, object], index: int) -> tuple[str, str]:
    """A judge that quotes its key in every reply (the hook sees no headers, so the test's
    constant stands in for the echo)."""
    return "", f"Key {JUDGE_KEY}."


def test_the_run_file_and_the_terminal_hold_no_key(echoed_run: EchoedRun) -> None:
    result = echoed_run.result
    assert result.returncode == 3, result.stderr  # the 429 and 500 samples stay failed
    files = [p for p in echoed_run.run.parent.iterdir() if p.is_file()]
    assert not leaked(result.stdout, result.stderr, *(p.read_bytes() for p in files))
    stored = b"".join(p.read_bytes() for p in files).decode("utf-8", "replace")
    # The echoes did reach bsa, and were masked: in an answer, two errors, the judge's replies and
    # the recorded --extra-body.
    assert f"You sent Bearer {MASK}" in stored
    assert stored.count(f"Authorization: Bearer {MASK} (key {MASK})") >= 2
    assert f"Key {MASK}." in stored and f'"api_key": "{MASK}"' in stored


def test_exports_report_and_reads_hold_no_key(echoed_run: EchoedRun, tmp_path: Path) -> None:
    run = str(echoed_run.run)
    outputs = []
    for fmt in (
        "jsonl",
        "csv",
        "upstream-csv",
        "upstream-judged",
        "verdicts-jsonl",
        "verdicts-csv",
    ):
        target = tmp_path / f"export.{fmt}"
        result = invoke("export", "--run", run, "--format", fmt, "-o", str(target))
        assert result.exit_code == 0, result.output
        outputs += [result.output, target.read_text(encoding="utf-8")]
    report = invoke("report", "--run", run, "-o", str(tmp_path / "report.html"))
    assert report.exit_code == 0, report.output
    outputs.append(readable((tmp_path / "report.html").read_text(encoding="utf-8")))
    for args in (
        ["status", "--run", run],
        ["score", "--run", run],
        ["score", "--run", run, "--json"],
    ):
        outputs.append(invoke(*args).output)
    assert not leaked(*outputs)
    assert MASK in outputs[1]  # the JSONL export shows where a key was


@pytest.mark.parametrize("debug", [False, True])
def test_a_key_echoed_in_a_fatal_error_is_masked_with_and_without_debug(
    tmp_path: Path, debug: bool
) -> None:
    dataset = write_dataset(tmp_path / "items.csv", ["[[fault:echo_key_400:*]]"])
    with OpenAIServer(ServerConfig(api_key=MODEL_KEY)) as server:
        result = bsa(
            *(["--debug"] if debug else []), "generate", "--run", str(tmp_path / "r.sqlite"),
            "--dataset", str(dataset), "-k", "1", "--model", "openai:m", "--base-url",
            server.base_url, env={"OPENAI_API_KEY": MODEL_KEY},
        )  # fmt: skip
    assert result.returncode == 1
    assert not leaked(result.stdout, result.stderr, (tmp_path / "r.sqlite").read_bytes())
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: request rejected by {server.base_url} (HTTP 400): Request failed for "
        f"Authorization: Bearer {MASK} (key {MASK})"
    ]
    # --debug shows the SDK's chained exception, whose message quotes the body: masked too.
    assert ("openai.BadRequestError: Error code: 400" in result.stderr) is debug


def test_a_key_in_the_base_url_query_is_masked(tmp_path: Path) -> None:
    questions = tmp_path / "q.csv"
    questions.write_text("id,question\nq1,hello\n", encoding="utf-8")
    result = invoke(
        "generate", "--run", str(tmp_path / "r.sqlite"), "--input", str(questions),
        "--model", "openai:m", "--base-url", f"http://127.0.0.1:9/v1?key={QUERY_KEY}",
        "--max-attempts", "1", env={"OPENAI_API_KEY": MODEL_KEY},
    )  # fmt: skip
    assert result.exit_code == 1
    assert (
        "failed the same way and no call has worked yet; check the setup: cannot connect to "
        in (result.output)
    )
    assert f"/v1?key={MASK}" in result.output and not leaked(result.output)


def test_credentials_in_the_base_url_are_one_line_and_masked(tmp_path: Path) -> None:
    questions = tmp_path / "q.csv"
    questions.write_text("id,question\nq1,hello\n", encoding="utf-8")
    result = invoke(
        "generate", "--run", str(tmp_path / "r.sqlite"), "--input", str(questions),
        "--model", "openai:m", "--base-url", f"https://someone:{USER_KEY}@127.0.0.1:9/v1",
        env={"OPENAI_API_KEY": MODEL_KEY},
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output == (
        f"error: base URL https://{MASK}@127.0.0.1:9/v1 has credentials in it (user:password@); "
        "give the key through --api-key-env VAR or --api-key-file FILE instead\n"
    )
    assert not (tmp_path / "r.sqlite").exists()


def test_a_malformed_config_does_not_print_its_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f'model:\n  api_key: "{MODEL_KEY}\n  model_name: m\n', encoding="utf-8")
    result = invoke("--debug", "generate", "--config", str(config), "--run", "r.sqlite")
    assert result.exit_code == 1
    assert not leaked(result.output)
    assert f"error: {config}: not valid YAML (found unexpected end of stream at line 4" in (
        result.output
    )
