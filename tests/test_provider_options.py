"""Each provider owns its options: declared beside its spec, offered as flags and as ``-o KEY VALUE``
by the CLI, routed to the provider that declares them (over real HTTP to the loopback fakes), and
the stage's timeout and concurrency given once, in its Execution, and derived for the provider."""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from bsa import pipeline
from bsa.cli import main
from bsa.cli.generate import generation_options
from bsa.errors import BsaError
from bsa.providers import Limits, ProviderOptions, check_credentials, provider_options
from bsa.testing.openai_server import OpenAIServer, ServerConfig
from tests.fake_anthropic import TEST_KEY, FakeAnthropic
from tests.test_provider_registry import install_plugin, site  # noqa: F401 - a fixture

BUILTIN_OPTIONS = {
    "openai": ("stream",),
    "openai-responses": ("reasoning_summary",),
    "zhipuai": (),
    "anthropic": ("thinking_budget", "thinking"),
    "gemini": ("thinking_budget",),
    "hf": ("batch_size",),
    "mock": (),
}


def bsa(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def questions(tmp_path: Path) -> Path:
    path = tmp_path / "q.csv"
    path.write_text("id,question\nq1,Hello there\n", encoding="utf-8")
    return path


def generate(tmp_path: Path, model: str, *extra: object) -> Result:
    run = tmp_path / "run.sqlite"
    return bsa("generate", "--run", run, "--input", questions(tmp_path), "--model", model,
               "-k", "1", *extra)  # fmt: skip


def stored(run: Path, query: str) -> list[Any]:
    with sqlite3.connect(run) as connection:
        return [row[0] for row in connection.execute(query)]


@pytest.fixture
def anthropic(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    pytest.importorskip("anthropic")
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEY)
    fake = FakeAnthropic()
    with fake.serve():
        yield fake


def budgets(fake: FakeAnthropic) -> set[int | None]:
    """The thinking budget of every request the fake received (None: thinking off)."""
    return {(r.body.get("thinking") or {}).get("budget_tokens") for r in fake.requests}


# ---------------------------------------------------------------- declarations


def test_each_builtin_declares_only_its_own_options() -> None:
    assert {name: tuple(o.name for o in provider_options(name)) for name in BUILTIN_OPTIONS} == (
        BUILTIN_OPTIONS
    )
    budget, mode = provider_options("anthropic")
    assert (budget.kind, budget.default, budget.about.flag, budget.about.judge_flag) == (
        int, 8192, "--thinking-budget", "--judge-thinking-budget",
    )  # fmt: skip
    assert (mode.kind, mode.default, mode.about.flag) == (str, "enabled", "--thinking")


def test_provider_options_carry_no_stage_setting_and_no_providers_knob() -> None:
    """One carrier per setting: timeout and pool size come from the Execution, use_n stays in it,
    and each provider's knobs in its own record."""
    fields = {field.name for field in dataclasses.fields(ProviderOptions)}
    assert fields == {
        "base_url", "replica_urls", "api_key_env", "api_key_file", "settings", "flag_prefix",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("model", "settings", "message"),
    [("mock", {"x": 1}, "provider 'mock' has no option 'x' (it has none)"),
     ("hf:m", {"batch_size": "4"}, "option batch_size: '4' is not an integer"),
     ("hf:m", {"batch_size": True}, "option batch_size: True is not an integer"),
     ("anthropic:m", {"thinking_budget": -1}, "option thinking_budget: -1 is below the smallest")],
    ids=["unknown", "text-for-int", "bool-for-int", "below-minimum"],
)  # fmt: skip
def test_the_python_api_checks_settings_like_the_command_line(
    model: str, settings: dict[str, Any], message: str
) -> None:
    """Nothing is built or connected: the check comes first."""
    with pytest.raises(BsaError, match=re.escape(message)):
        check_credentials(model, ProviderOptions(settings=settings))


# ---------------------------------------------------------------- routed over real HTTP


@pytest.mark.parametrize(
    "given",
    [("--thinking-budget", "2048"), ("-o", "thinking_budget", "2048"),
     ("--option", "thinking-budget", "2048")],
    ids=["flag", "o", "option-hyphen"],
)  # fmt: skip
def test_the_thinking_budget_reaches_the_anthropic_model(
    anthropic: FakeAnthropic, tmp_path: Path, given: tuple[str, ...]
) -> None:
    result = generate(tmp_path, "anthropic:claude-test", "--base-url", anthropic.base_url, *given)
    assert result.exit_code == 0, result.output
    assert budgets(anthropic) == {2048}
    (settings,) = stored(tmp_path / "run.sqlite", "SELECT value FROM meta WHERE key='generation'")
    assert json.loads(settings)["thinking_budget"] == 2048, "recorded from the same option"


def test_o_turns_anthropic_thinking_off(anthropic: FakeAnthropic, tmp_path: Path) -> None:
    result = generate(tmp_path, "anthropic:claude-test", "--base-url", anthropic.base_url,
                      "-o", "thinking_budget", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert budgets(anthropic) == {None}


def test_thinking_adaptive_reaches_the_anthropic_model(
    anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    result = generate(tmp_path, "anthropic:claude-test", "--base-url", anthropic.base_url,
                      "--thinking", "adaptive")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r.body["thinking"] for r in anthropic.requests] == [
        {"type": "adaptive", "display": "summarized"}
    ]


def test_an_unknown_thinking_mode_is_one_line(anthropic: FakeAnthropic, tmp_path: Path) -> None:
    result = generate(tmp_path, "anthropic:claude-test", "--base-url", anthropic.base_url,
                      "--thinking", "sometimes")  # fmt: skip
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == (
        "error: --thinking 'sometimes': choose enabled or adaptive"
    )
    assert "Traceback" not in result.output
    assert anthropic.requests == []


@pytest.mark.parametrize(
    ("given", "streamed"),
    [((), False), (("--stream",), True), (("-o", "stream", "true"), True),
     (("-o", "stream", "off"), False), (("--thinking-budget", "0"), False)],
    ids=["default", "flag", "o-true", "o-off", "another-providers-flag-is-ignored"],
)  # fmt: skip
def test_stream_reaches_the_openai_provider(
    tmp_path: Path, given: tuple[str, ...], streamed: bool
) -> None:
    with OpenAIServer(ServerConfig()) as server:
        result = generate(tmp_path, "openai:test-model", "--base-url", server.base_url, *given)
    assert result.exit_code == 0, result.output
    (raw,) = stored(tmp_path / "run.sqlite", "SELECT raw FROM generations")
    assert json.loads(raw).get("streamed", False) is streamed


@pytest.mark.parametrize(
    ("given", "batch_size"),
    [((), 8), (("--batch-size", "3"), 3), (("-o", "batch_size", "3"), 3)],
    ids=["default", "flag", "o"],
)
def test_the_batch_size_reaches_the_local_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: tuple[str, ...], batch_size: int
) -> None:
    """The local provider makes no HTTP call; the provider the stage builds is looked at, and the
    stage stopped before any model would load."""
    pytest.importorskip("torch")
    built: list[Any] = []
    create = pipeline.create_provider

    def build_then_stop(model: str, options: ProviderOptions, **kwargs: Any) -> Any:
        built.append(create(model, options, **kwargs))
        raise BsaError("stopped before loading the model")

    monkeypatch.setattr(pipeline, "create_provider", build_then_stop)
    result = generate(tmp_path, "hf:./no-model-here", *given)
    assert result.output == "error: stopped before loading the model\n"
    assert [provider.batch_size for provider in built] == [batch_size]


@pytest.mark.parametrize(
    "given",
    [("--judge-option", "thinking_budget", "1024"), ("--judge-thinking-budget", "1024")],
    ids=["judge-option", "flag"],
)
def test_a_judge_option_reaches_only_the_judges_that_take_it(
    anthropic: FakeAnthropic, tmp_path: Path, given: tuple[str, ...]
) -> None:
    """A panel of the mock and an Anthropic judge: the budget goes to the Anthropic judge, and
    the mock, which has no such option, is left alone."""
    run = tmp_path / "run.sqlite"
    assert (
        bsa("generate", "--run", run, "--model", "mock", "-k", "1", "--limit", "2").exit_code == 0
    )
    judges = ("--judge", "mock", "--judge", "anthropic:claude-judge",
              "--judge-base-url", anthropic.base_url)  # fmt: skip
    result = bsa("judge", "--run", run, *judges, *given)
    assert result.exit_code == 0, result.output
    assert anthropic.requests and budgets(anthropic) == {1024}


# ---------------------------------------------------------------- -o errors


@pytest.mark.parametrize(
    ("model", "given", "message"),
    [
        ("mock", ("-o", "thinking_budget", "0"),
         "-o thinking_budget: provider 'mock' has no option 'thinking_budget' (it has none); "
         "thinking_budget is an option of anthropic, gemini"),
        ("openai:m", ("-o", "nope", "1"),
         "-o nope: provider 'openai' has no option 'nope' (its options: stream)"),
        ("anthropic:m", ("-o", "thinking_budget", "lots"),
         "-o thinking_budget: 'lots' is not an integer"),
        ("anthropic:m", ("-o", "thinking_budget", "-1"),
         "-o thinking_budget: -1 is below the smallest allowed, 0"),
        ("openai:m", ("-o", "stream", "maybe"), "-o stream: 'maybe' is not true or false"),
        ("hf:m", ("-o", "batch_size", "0"), "-o batch_size: 0 is below the smallest allowed, 1"),
    ],
    ids=["other-providers", "unknown", "not-int", "below-minimum", "not-bool", "hf-minimum"],
)  # fmt: skip
def test_a_bad_o_is_one_line_before_any_call(
    tmp_path: Path, model: str, given: tuple[str, ...], message: str
) -> None:
    result = generate(tmp_path, model, "--base-url", "http://127.0.0.1:9/v1", *given)
    assert result.exit_code == 1
    assert result.output == f"error: {message}\n"


@pytest.mark.parametrize(
    ("given", "message"),
    [(("stream", "yes"), "stream: no judge's provider takes 'stream' (it is an option of openai)"),
     (("thinking_budget", "lots"), "thinking_budget: 'lots' is not an integer")],
    ids=["no-judge-takes-it", "not-int"],
)  # fmt: skip
def test_a_bad_judge_option_is_one_line(
    tmp_path: Path, given: tuple[str, str], message: str
) -> None:
    judges = ("--judge", "mock", "--judge", "anthropic:m")
    result = bsa("judge", "--run", tmp_path / "run.sqlite", *judges, "--judge-option", *given)
    assert result.exit_code == 1
    assert result.output == f"error: --judge-option {message}\n"


# ---------------------------------------------------------------- a plugin's option

OPTIONED_PLUGIN = """
from dataclasses import dataclass
from bsa.providers import ProviderSpec, option
from bsa.providers.mock import MockProvider
from bsa.types import Completion, Usage

@dataclass(frozen=True)
class ParrotOptions:
    prefix: str = option("", help="Said before every answer.", flag="--parrot-prefix")
    repeats: int = option(1, help="How often the answer is said.", minimum=1)
    model: str = option("", help="A flag named like bsa's own is not offered.", flag="--model")

class Parrot(MockProvider):
    name = "parrot"
    def __init__(self, model, options):
        super().__init__(model)
        self.options = options
    async def complete(self, request):
        said = self.options.prefix + " ".join([request.messages[-1].content] * self.options.repeats)
        return [Completion(said, "", "none", "stop", False, Usage(), {}) for _ in range(request.n)]

provider = ProviderSpec("parrot", lambda model, o, c: Parrot(model, o), options=ParrotOptions)
"""


def test_a_plugins_options_need_no_cli_edit(site: Path, tmp_path: Path) -> None:  # noqa: F811
    install_plugin(
        site, "bsa_parrot_options", OPTIONED_PLUGIN, "parrot = bsa_parrot_options:provider"
    )
    result = generate(tmp_path, "parrot:polly", "-o", "prefix", ">> ", "-o", "repeats", "2")
    assert result.exit_code == 0, result.output
    assert stored(tmp_path / "run.sqlite", "SELECT answer FROM generations") == [
        ">> Hello there Hello there"
    ]
    bad = generate(tmp_path, "parrot:polly", "-o", "repeats", "0")
    assert bad.output == "error: -o repeats: 0 is below the smallest allowed, 1\n"


def test_a_plugins_flag_is_offered_unless_it_takes_a_name_bsa_uses(site: Path) -> None:  # noqa: F811
    """The flags are built from the registry when a command is built (here, a fresh one)."""
    install_plugin(
        site, "bsa_parrot_options", OPTIONED_PLUGIN, "parrot = bsa_parrot_options:provider"
    )
    command = click.command()(generation_options(lambda **options: None))
    flags = [name for param in command.params for name in getattr(param, "opts", ())]
    assert flags.count("--parrot-prefix") == 1 and flags.count("--model") == 1
    assert flags.count("--thinking-budget") == 1 and "--judge-thinking-budget" not in flags


# ---------------------------------------------------------------- one carrier per setting


def test_concurrency_and_timeout_are_given_once_and_reach_the_pool_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--concurrency 7 --timeout 33`` set the scheduler's Execution, and the provider's HTTP
    client is built from that same Execution; the judge's flags do the same for the judge."""
    built: dict[str, Limits] = {}
    executions: dict[str, Any] = {}
    create = pipeline.create_provider

    def spy(model: str, options: ProviderOptions, **kwargs: Any) -> Any:
        built[model] = kwargs["limits"]
        return create(model, options, **kwargs)

    def generate_spy(run_path: Path, prompts: Any, provider: Any, settings: Any,
                     execution: Any, **kwargs: Any) -> Any:  # fmt: skip
        executions["generate"] = execution
        return real_generate(run_path, prompts, provider, settings, execution, **kwargs)

    real_generate = pipeline.generate
    monkeypatch.setattr(pipeline, "create_provider", spy)
    monkeypatch.setattr(pipeline, "generate", generate_spy)
    with OpenAIServer(ServerConfig()) as server:
        result = bsa("run", "--run", tmp_path / "run.sqlite", "--model", "openai:test-model",
                     "--base-url", server.base_url, "--concurrency", "7", "--timeout", "33",
                     "--judge", "mock", "--judge-concurrency", "5", "--judge-timeout", "12",
                     "--limit", "2", "-k", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert built == {"openai:test-model": Limits(33.0, 7), "mock": Limits(12.0, 5)}
    execution = executions["generate"]
    assert (execution.concurrency, execution.policy.timeout_s) == (7, 33.0)
