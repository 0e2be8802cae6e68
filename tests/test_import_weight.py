"""Reading a run loads nothing of generation or judging: ``bsa score``, ``report``, ``export``
and ``leaderboard`` import no provider, no runner and no HTTP client, so they start fast and run
where no provider SDK is installed. Each command runs in a fresh interpreter, which then lists the
modules it holds."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import bsa
from bsa.cli import main
from tests.conftest import isolate

#: Module names (and, with a trailing dot, packages) a reading command must not load.
FORBIDDEN = (
    "bsa.providers", "bsa.providers.", "bsa.engine.runner", "bsa.engine.generate", "bsa.judging.judge",
    "bsa.runfile.writer", "openai", "anthropic", "httpx", "aiohttp", "zhipuai", "torch", "transformers",
    "inspect_ai", "bsa.interop.inspect_task", "bsa.interop.inspect_samples", "bsa_bench", "matplotlib",
    "bsa.batch",
)  # fmt: skip

#: Runs the ``bsa`` command given as JSON arguments, then prints the loaded modules as JSON.
PROBE = """
import json, sys
from bsa.cli import main
try:
    main(json.loads(sys.argv[1]), standalone_mode=False)
finally:
    print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, tmp_path_factory)
        path = tmp_path_factory.mktemp("run") / "run.sqlite"
        arguments = ["run", "--run", str(path), "--model", "mock", "--judge", "mock", "-k", "2"]
        result = CliRunner().invoke(main, [*arguments, "--limit", "6"])
        assert result.exit_code == 0, result.output
        yield path


def modules_after(arguments: list[str]) -> list[str]:
    """The modules a fresh interpreter holds after running ``bsa ARGUMENTS`` (which must work)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(arguments)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stderr.splitlines()[-1])
    return loaded


def forbidden(modules: list[str]) -> list[str]:
    return [m for m in modules if m in FORBIDDEN or m.startswith(FORBIDDEN[1])]


@pytest.mark.parametrize(
    ("command", "own_module"),
    [
        (["score", "--json"], "bsa.scoring.inputs"),
        (["score", "--reference", "--judge", "mock:mock"], "bsa.scoring.reference"),
        (["export", "--format", "upstream-judged", "-o", "OUT"], "bsa.output.run_export"),
        (["report", "-o", "OUT"], "bsa.output.report.page"),
        (["leaderboard"], "bsa.scoring.leaderboard"),
    ],
    ids=["score", "score-reference", "export", "report", "leaderboard"],
)
def test_reading_commands_load_no_provider_runner_or_http_client(
    judged_run: Path, tmp_path: Path, command: list[str], own_module: str
) -> None:
    arguments = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    if command[0] == "leaderboard":
        arguments.append(str(judged_run))
    else:
        arguments[1:1] = ["--run", str(judged_run)]
    modules = modules_after(arguments)
    assert own_module in modules  # the command ran its code path
    assert forbidden(modules) == []


def test_a_judge_named_by_an_alias_loads_only_the_provider_name_table(judged_run: Path) -> None:
    """``--judge mock`` is not a stored label (``mock:mock`` is): the provider table turns it into
    one, or into the one-line error for a malformed name. No provider module, runner or HTTP
    client comes with it."""
    modules = modules_after(["score", "--run", str(judged_run), "--judge", "mock", "--json"])
    name_table = {
        "bsa.providers", "bsa.providers.base", "bsa.providers.builtin",
        "bsa.providers.connection", "bsa.providers.options", "bsa.providers.registry",
    }  # fmt: skip
    assert set(forbidden(modules)) <= name_table, "no provider module, SDK or HTTP client"


def test_the_judging_command_does_load_them(judged_run: Path) -> None:
    """The probe sees what a command imports: judging a run loads the runner and providers."""
    modules = modules_after(["judge", "--run", str(judged_run), "--judge", "mock"])
    assert {"bsa.engine.runner", "bsa.judging.judge", "bsa.providers"} <= set(forbidden(modules))


def test_every_public_name_is_importable_from_bsa() -> None:
    """``bsa`` imports its public names on first use; each must still be there."""
    for name in bsa.__all__:
        assert getattr(bsa, name) is not None, name


def test_no_module_at_the_top_of_bsa_shadows_a_public_name() -> None:
    """Importing a submodule sets it as an attribute of its package: a module ``generate.py`` at
    the top of the package (there was one) replaced the public function of that name once
    anything imported the module."""
    import pkgutil

    import bsa.engine.generate

    modules = {module.name for module in pkgutil.iter_modules(bsa.__path__)}
    assert not modules & set(bsa.__all__)
    public = getattr(bsa, "generate")  # noqa: B009 - the name, as a user's code reaches it
    assert callable(public) and public.__name__ == "generate"
