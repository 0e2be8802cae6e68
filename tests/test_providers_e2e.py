"""``bsa run`` (in process) end to end with each SDK provider as the model under test and as the judge, each
against its loopback fake server (no network, no real key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bsa.providers.mock import mock_judge_reply

from .bsa_command import bsa_in_process
from .fake_anthropic import TEST_KEY as ANTHROPIC_KEY
from .fake_anthropic import FakeAnthropic
from .fake_openai_responses import TEST_KEY as RESPONSES_KEY
from .fake_openai_responses import FakeResponses
from .fake_zhipu import TEST_KEY as ZHIPU_KEY
from .fake_zhipu import FakeZhipu, last_user_text
from .optional import requires

needs = requires("anthropic", "zhipuai")


def zhipu_judge(body: dict[str, Any]) -> str | None:
    return mock_judge_reply(last_user_text(body.get("messages")))


def bsa_run(run: Path, *args: str) -> dict[str, Any]:
    env = {
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ZHIPUAI_API_KEY": ZHIPU_KEY,
        "OPENAI_API_KEY": RESPONSES_KEY,
    }
    result = bsa_in_process(
        "run", "--run", run, "--sample", "6", "-k", "2", "--json", *args, env=env
    )
    assert result.returncode == 0, result.stderr
    scores: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
    assert scores["coverage"]["items_complete"] == 6
    return scores


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model_side", "judge_side"),
    [("anthropic", "zhipuai"), ("zhipuai", "anthropic"), ("openai-responses", "anthropic"),
     ("zhipuai", "openai-responses")],
)  # fmt: skip
def test_bsa_run_with_sdk_providers(tmp_path: Path, model_side: str, judge_side: str) -> None:
    anthropic, zhipu, responses = FakeAnthropic(), FakeZhipu(respond=zhipu_judge), FakeResponses()
    with anthropic.serve() as anthropic_url, zhipu.serve() as zhipu_url, responses.serve() as url:
        endpoints = {
            "anthropic": ("anthropic:claude-test", anthropic_url),
            "zhipuai": ("zhipuai:glm-z1-air", zhipu_url),
            "openai-responses": ("openai-responses:o4-mini-test", f"{url}/v1"),
        }
        model, model_url = endpoints[model_side]
        judge, judge_url = endpoints[judge_side]
        scores = bsa_run(
            tmp_path / "run.sqlite", "--model", model, "--base-url", model_url,
            "--judge", judge, "--judge-base-url", judge_url,
        )  # fmt: skip
        assert scores["judge"] == judge
        assert scores["counts"]["no_reasoning"] == 0, "both providers return reasoning"
        again = bsa_run(
            tmp_path / "run.sqlite", "--model", model, "--base-url", model_url,
            "--judge", judge, "--judge-base-url", judge_url,
        )  # fmt: skip
        assert again["safe_at_1"] == scores["safe_at_1"], "the rerun resumes, it does not redo"
    calls = sum(anthropic.calls().values()) + zhipu.calls + sum(responses.calls().values())
    assert calls == 12 + 24, "no call twice"
    if model_side == "openai-responses":
        assert scores["reasoning_kind"] == "summary"
