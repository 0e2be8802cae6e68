"""``--extra-body`` adds request fields; it cannot take over what bsa or another flag sets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from bsa.cli import main
from bsa.engine.generate import Execution, GenerationSettings, generate
from bsa.errors import BsaError
from bsa.providers.mock import MockProvider
from bsa.runfile.store import Prompt
from bsa.types import Decoding


@pytest.mark.parametrize(
    ("field", "hint"),
    [("messages", "the benchmark prompt"), ("model", "use --model"), ("n", "use -k and --use-n"),
     ("stream", "use --stream"), ("stream_options", "use --stream"),
     ("temperature", "use --temperature"), ("top_k", "use --top-k"),
     ("max_tokens", "use --max-tokens")],
)  # fmt: skip
def test_core_and_flag_fields_are_refused_in_one_line(
    tmp_path: Path, field: str, hint: str
) -> None:
    questions = tmp_path / "q.csv"
    questions.write_text("id,question\nq1,hello\n", encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["generate", "--run", str(tmp_path / "r.sqlite"), "--input", str(questions),
         "--model", "mock", "--extra-body", f'{{"{field}": 1, "chat_template_kwargs": {{}}}}'],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.startswith(f"error: --extra-body must not set '{field}': ")
    assert hint in result.output and len(result.output.splitlines()) == 1
    assert not (tmp_path / "r.sqlite").exists()


def test_the_python_api_refuses_them_too(tmp_path: Path) -> None:
    settings = GenerationSettings("mock", Decoding(extra_body={"messages": []}))
    with pytest.raises(BsaError, match="must not set 'messages'"):
        run = generate(
            tmp_path / "r.sqlite",
            [Prompt("q", "hi")],
            MockProvider("mock"),
            settings,
            Execution(k=1),
        )
        asyncio.run(run)
    assert not (tmp_path / "r.sqlite").exists()
