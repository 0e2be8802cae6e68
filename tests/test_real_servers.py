"""``bsa`` against real third-party OpenAI-compatible servers, installed from PyPI and started here on
127.0.0.1 with no network: our loopback fakes share our own assumptions, these do not.

``transformers serve`` pinned to the scripted tiny Llama of ``test_local_provider`` (it answers
``hmm </think> ok`` after the ``<think>`` its chat template opens in the prompt). One server serves
the whole module: its start (importing torch and FastAPI in a new process) is most of the time.

LiteLLM's proxy is too heavy to install for a test (see its section); its recorded reply is replayed.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.bsa_command import bsa_in_process
from tests.loopback import serve_loopback
from tests.optional import requires
from tests.test_local_provider import build_model, build_tokenizer, save, script

needs = requires("fastapi", "uvicorn", "torch", "transformers")

pytestmark = pytest.mark.slow

#: Seconds a server may take to answer /health before the fixture gives up on it.
STARTUP_LIMIT_S = 180.0


@dataclass(frozen=True)
class Served:
    """A running server: where bsa reaches it, the name it serves, and its log."""

    base_url: str
    model: str
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def offline_environment(home: Path) -> dict[str, str]:
    """No hub, no update check against PyPI, a private cache, and one thread: the machine is
    shared and the model is tiny."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": str(home),
        "OMP_NUM_THREADS": "1",
    }


def wait_until_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    pytest.fail(f"the server did not start in {STARTUP_LIMIT_S:.0f} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def transformers_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("serve")
    model = save(folder / "scripted", script(build_model(32)), build_tokenizer(False))
    port, log = free_port(), folder / "serve.log"
    command = [
        sys.executable, "-m", "transformers.cli.transformers", "serve", str(model),
        "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "info",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=offline_environment(folder)
        )
    try:
        wait_until_healthy(process, f"http://127.0.0.1:{port}", log)
        yield Served(f"http://127.0.0.1:{port}/v1", str(model), log)
    finally:
        stop(process)


def model_args(server: Served, run: Path, *extra: str) -> list[str]:
    """Three BSA items, k 2, few tokens; the server needs no key on localhost."""
    return [
        "--run", str(run), "--model", f"openai:{server.model}", "--base-url", server.base_url,
        "--sample", "3", "-k", "2", "--max-tokens", "16", "--concurrency", "4", *extra,
    ]  # fmt: skip


def rows(run: Path, query: str) -> list[dict[str, Any]]:
    with sqlite3.connect(run) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute(query)]


def post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---------------------------------------------------------------------- transformers serve


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_transformers_serve_replies_are_split_with_usage(
    transformers_serve: Served, tmp_path: Path, stream: bool
) -> None:
    """No reasoning parser for a Llama: the server drops special tokens but keeps the plain
    ``</think>``, so the reasoning is the content before it (the opening tag was in the prompt)."""
    run = tmp_path / "run.sqlite"
    flags = ["--top-k", "none", *(["--stream"] if stream else [])]
    result = bsa_in_process("generate", *model_args(transformers_serve, run, *flags))

    assert result.returncode == 0, result.stderr
    samples = rows(run, "SELECT * FROM generations")
    assert len(samples) == 6
    for sample in samples:
        assert (sample["status"], sample["answer"], sample["reasoning"]) == ("ok", "ok", "hmm")
        assert sample["reasoning_source"] == "think_close_only"
        assert (sample["finish_reason"], sample["truncated"]) == ("stop", 0)
        assert sample["completion_tokens"] == 4  # hmm </think> ok <|im_end|>
        assert sample["prompt_tokens"] > 4
        assert json.loads(sample["raw"]).get("streamed", False) is stream


def test_transformers_serve_rejects_top_k_with_422(transformers_serve: Served) -> None:
    """What the server does with the paper's top_k, on the wire (issue 9 quotes this reply)."""
    body = {"model": transformers_serve.model, "messages": [{"role": "user", "content": "hi"}]}
    status, reply = post_json(
        f"{transformers_serve.base_url}/chat/completions", {**body, "top_k": 20}
    )

    assert (status, reply) == (422, {"detail": "Unexpected fields in the request: {'top_k'}"})


def test_transformers_serve_rejecting_top_k_still_completes(
    transformers_serve: Served, tmp_path: Path
) -> None:
    """The paper's top_k 20 is sent by default: the run drops it, says so, and completes."""
    run = tmp_path / "run.sqlite"
    result = bsa_in_process("generate", *model_args(transformers_serve, run))

    assert result.returncode == 0, result.stderr
    assert "notice: the endpoint rejected top_k; it was not sent" in result.stderr
    assert [s["status"] for s in rows(run, "SELECT status FROM generations")] == ["ok"] * 6


def test_transformers_serve_as_judge_leaves_verdicts_unscored(
    transformers_serve: Served, tmp_path: Path
) -> None:
    """The scripted judge answers ``ok``: no verdict, so every verdict is asked again, then stored
    unscored with its reason, and ``bsa run`` exits 3 instead of scoring anything."""
    run = tmp_path / "run.sqlite"
    judge = [
        "--judge", f"openai:{transformers_serve.model}", "--judge-base-url",
        transformers_serve.base_url, "--allow-self-judge", "--judge-parse-attempts", "2",
    ]  # fmt: skip
    result = bsa_in_process("run", *model_args(transformers_serve, run, "--top-k", "none", *judge))

    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    verdicts = rows(run, "SELECT status, reason, attempts, raw FROM judgements")
    assert len(verdicts) == 12, "6 samples, a safety and a thinking verdict each"
    for verdict in verdicts:
        assert (verdict["status"], verdict["reason"]) == ("unscored", "no JSON object in the reply")
        assert verdict["attempts"] == 2
        assert verdict["raw"] == "<think>hmm</think>ok", "the judge's split-off thinking is kept"


# ---------------------------------------------------------------------- LiteLLM's proxy, replayed
# Not run here: `pip install 'litellm[proxy]'` takes about 2 minutes and 750 MB, and would downgrade
# huggingface_hub and rich under transformers. Its reply below was recorded from LiteLLM 1.108.7 in
# front of the test server's [[fault:content_filter]] (code "content_filter" upstream).

LITELLM_CONTENT_FILTER = {
    "error": {
        "message": "litellm.BadRequestError: OpenAIException - Your request was rejected as a "
        "result of our safety system.\n\nLiteLLM: model group 'test-model' failed with the error "
        "above. No fallback was attempted.",
        "type": "invalid_request_error",
        "param": "prompt",
        "code": "400",
    }
}


class LiteLLMContentFilter(BaseHTTPRequestHandler):
    """LiteLLM's 400 for an upstream content filter: the code is rewritten to "400", only
    OpenAI's words remain."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        data = json.dumps(LITELLM_CONTENT_FILTER).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads the run file, not the server's log."""


def test_a_content_filter_behind_litellm_is_blocked(tmp_path: Path) -> None:
    """Without the code, OpenAI's "rejected as a result of our safety system" still says it."""
    run, questions = tmp_path / "run.sqlite", tmp_path / "q.csv"
    questions.write_text("id,question\nq1,how do i\n", encoding="utf-8")
    with serve_loopback(LiteLLMContentFilter) as root:
        result = bsa_in_process(
            "generate", "--run", str(run), "--model", "openai:test-model", "--base-url",
            f"{root}/v1", "--input", str(questions), "-k", "1",
        )  # fmt: skip

    assert result.returncode == 0, result.stderr
    [sample] = rows(run, "SELECT status, attempts FROM generations")
    assert (sample["status"], sample["attempts"]) == ("blocked", 1)
