"""Providers as a registry: the built-ins, plugins found through the ``bsa.providers`` entry-point
group, and the example plugin in ``examples/provider-plugin`` installed and run end to end."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bsa.errors import BsaError
from bsa.providers import (
    ProviderOptions,
    check_credentials,
    create_provider,
    provider_names,
    registry,
    split_model,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "provider-plugin"
BUILTIN_NAMES = ("openai", "openai-responses", "zhipuai", "anthropic", "gemini", "hf", "mock")


def install_plugin(site: Path, name: str, module_source: str, target: str) -> None:
    """An installed distribution as importlib.metadata sees one: a module and a dist-info folder
    with its ``entry_points.txt``."""
    (site / f"{name}.py").write_text(module_source, encoding="utf-8")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[bsa.providers]\n{target}\n", encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for plugins; the registry forgets them afterwards."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    registry._plugins.cache_clear()
    yield folder
    registry._plugins.cache_clear()


PLUGIN = """
from bsa.providers import ProviderSpec
from bsa.providers.mock import MockProvider

class Parrot(MockProvider):
    name = "parrot"

provider = ProviderSpec("parrot", lambda model, options, connection: Parrot(model))
keyed = ProviderSpec("keyed", lambda model, options, connection: Parrot(model), key_env="KEYED_KEY")
impostor = ProviderSpec("openai", lambda model, options, connection: Parrot(model))
not_a_spec = 42
"""


def test_a_plugin_is_listed_and_built_by_its_entry_point_name(site: Path) -> None:
    install_plugin(site, "bsa_parrot", PLUGIN, "parrot = bsa_parrot:provider")
    assert provider_names() == (*BUILTIN_NAMES, "parrot")
    provider = create_provider("parrot:polly", ProviderOptions())
    assert type(provider).__name__ == "Parrot" and provider.label == "parrot:polly"


def test_unknown_provider_names_every_registered_one(site: Path) -> None:
    install_plugin(site, "bsa_parrot", PLUGIN, "parrot = bsa_parrot:provider")
    known = "known: openai, openai-responses, zhipuai, anthropic, gemini, hf, mock, parrot"
    with pytest.raises(BsaError, match=f"unknown provider 'nope' in 'nope:x' \\({known}\\)"):
        split_model("nope:x")
    with pytest.raises(BsaError, match=f"must be written provider:model.*providers: {known[7:]}"):
        split_model("gpt-4o")


def test_a_plugin_cannot_take_over_a_builtin_name(site: Path) -> None:
    install_plugin(site, "bsa_impostor", PLUGIN, "openai = bsa_impostor:impostor")
    assert provider_names() == BUILTIN_NAMES
    spec = registry.provider_spec("openai")
    assert spec.build.__module__ == "bsa.providers.builtin"


def test_a_plugin_key_is_checked_like_a_builtin_one(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(site, "bsa_keyed", PLUGIN, "keyed = bsa_keyed:keyed")
    monkeypatch.delenv("KEYED_KEY", raising=False)
    with pytest.raises(BsaError, match="no API key: set the environment variable KEYED_KEY"):
        check_credentials("keyed:m", ProviderOptions())
    monkeypatch.setenv("KEYED_KEY", "k-123")
    check_credentials("keyed:m", ProviderOptions())


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("broken = bsa_broken:not_a_spec", "'broken' .* is not a bsa.providers.ProviderSpec"),
        ("broken = bsa_broken:missing", "'broken' .* failed to load: AttributeError"),
        ("broken = bsa_broken:provider", "'broken' .* declares the name 'parrot'"),
    ],
)
def test_a_broken_plugin_is_one_clear_error(site: Path, target: str, message: str) -> None:
    install_plugin(site, "bsa_broken", PLUGIN, target)
    assert "broken" in provider_names(), "listing loads no plugin"
    with pytest.raises(BsaError, match=message):
        create_provider("broken:m", ProviderOptions())


def test_the_example_plugin_installs_and_generates(tmp_path: Path) -> None:
    """``pip install`` the example package (offline, into a folder of its own), then ``bsa
    generate --model echo:x -o prefix …`` in a fresh process finds it through its dist-info and
    hands it its own option; its flag is offered too, with no edit of bsa's CLI."""
    source = shutil.copytree(EXAMPLE, tmp_path / "plugin")  # the build writes beside the source
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    subprocess.run(
        [*install, "--no-build-isolation", "--target", str(target), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    questions = tmp_path / "q.csv"
    questions.write_text("id,question\nq1,Hello there\nq2,How do I bake bread?\n")
    run = tmp_path / "run.sqlite"
    path = os.pathsep.join([str(target), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    generate = ["generate", "--model", "echo:x", "--run", str(run), "--input", str(questions)]
    env = {**os.environ, "PYTHONPATH": path}

    def bsa(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "bsa", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    result = bsa(*generate, "-k", "2", "-o", "prefix", "echo: ")
    assert result.returncode == 0, result.stderr
    assert "--echo-prefix TEXT" in bsa("generate", "--help").stdout
    with sqlite3.connect(run) as connection:
        rows = connection.execute(
            "SELECT item_id, sample, status, answer, reasoning FROM generations "
            "ORDER BY item_id, sample"
        ).fetchall()
        (generation,) = connection.execute(
            "SELECT value FROM meta WHERE key = 'generation'"
        ).fetchone()
    reasoning = "The user asked something; I will repeat it back."
    assert rows == [
        ("q1", 0, "ok", "echo: Hello there", reasoning),
        ("q1", 1, "ok", "echo: Hello there", reasoning),
        ("q2", 0, "ok", "echo: How do I bake bread?", reasoning),
        ("q2", 1, "ok", "echo: How do I bake bread?", reasoning),
    ]
    assert '"model": "echo:x"' in generation


def test_dropped_parameters_is_part_of_the_interface() -> None:
    """A provider that sends every setting need not say so: the interface's default is empty."""
    provider = create_provider("mock", ProviderOptions())
    assert provider.dropped_parameters == frozenset()
