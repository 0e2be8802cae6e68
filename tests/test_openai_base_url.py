"""``OPENAI_BASE_URL`` for ``openai:`` and ``openai-responses:``, model and judge alike.

The OpenAI SDK reads the variable and bsa's own HTTP client must too, or a setup that works with
the SDK sends bsa's calls to api.openai.com. The flag wins over the variable, the variable over
the default. Over real HTTP: the project's test server plays the model and the judge; an address
where nothing listens stands for an endpoint that must not be used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bsa.testing.openai_server import OpenAIServer, ServerConfig, mock_judge_hook
from tests.bsa_command import bsa_in_process
from tests.fake_openai_responses import TEST_KEY, FakeResponses
from tests.provider_contract import QUESTION

#: Nothing listens here: a call sent to it fails, so a test passes only if the other URL is used.
NOWHERE = "http://127.0.0.1:9/v1"


@pytest.fixture(scope="module")
def model_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def judge_server() -> Iterator[OpenAIServer]:
    with OpenAIServer(ServerConfig(respond=mock_judge_hook)) as server:
        yield server


def generate(run: Path, *flags: str, base_url_env: str) -> int:
    """``bsa generate`` of one item, once, with $OPENAI_BASE_URL set and no key (a server on
    this machine needs none)."""
    result = bsa_in_process(
        "generate", "--run", run, "--limit", "1", "-k", "1", "--max-attempts", "1", *flags,
        env={"OPENAI_BASE_URL": base_url_env, "OPENAI_API_KEY": None},
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    return result.returncode


def judge(run: Path, *flags: str, base_url_env: str) -> int:
    """``bsa run`` of one mock sample judged by ``openai:gpt-4o``, with $OPENAI_BASE_URL set."""
    result = bsa_in_process(
        "run", "--run", run, "--model", "mock", "--limit", "1", "-k", "1",
        "--judge", "openai:gpt-4o", "--judge-max-attempts", "1", *flags,
        env={"OPENAI_BASE_URL": base_url_env, "OPENAI_API_KEY": None},
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    return result.returncode


def test_the_variable_points_the_model_at_its_endpoint(
    model_server: OpenAIServer, tmp_path: Path
) -> None:
    model_server.reset()
    status = generate(
        tmp_path / "r.sqlite", "--model", "openai:m", base_url_env=model_server.base_url
    )
    assert (status, len(model_server.requests)) == (0, 1)


def test_base_url_wins_over_the_variable(model_server: OpenAIServer, tmp_path: Path) -> None:
    model_server.reset()
    flags = ("--model", "openai:m", "--base-url", model_server.base_url)
    assert generate(tmp_path / "r.sqlite", *flags, base_url_env=NOWHERE) == 0
    assert len(model_server.requests) == 1


def test_the_variable_points_the_judge_at_its_endpoint(
    judge_server: OpenAIServer, tmp_path: Path
) -> None:
    judge_server.reset()
    assert judge(tmp_path / "r.sqlite", base_url_env=judge_server.base_url) == 0
    assert len(judge_server.requests) == 2  # the safety and the thinking verdict


def test_judge_base_url_wins_over_the_variable(judge_server: OpenAIServer, tmp_path: Path) -> None:
    judge_server.reset()
    flags = ("--judge-base-url", judge_server.base_url)
    assert judge(tmp_path / "r.sqlite", *flags, base_url_env=NOWHERE) == 0
    assert len(judge_server.requests) == 2


def test_the_variable_points_the_responses_api_at_its_endpoint(tmp_path: Path) -> None:
    questions = tmp_path / "q.csv"
    questions.write_text(f"id,question\nq1,{QUESTION}\n", encoding="utf-8")
    fake = FakeResponses()
    with fake.serve():
        result = bsa_in_process(
            "generate", "--run", tmp_path / "r.sqlite", "--input", questions, "-k", "1",
            "--model", "openai-responses:o3",
            env={"OPENAI_BASE_URL": f"{fake.base_url}/v1", "OPENAI_API_KEY": TEST_KEY},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(fake.requests) == 1
