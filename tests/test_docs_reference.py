"""The Reference section of the docs site stays true to the code.

The command reference and the run-file schema are generated at build time by the MkDocs hooks in
docs/hooks/, loaded here by path. The hand-written pages are checked against what the code does:
every run-file table is described, every documented JSON key and export column is the real one,
every environment variable the code reads is listed, and every public name of ``bsa`` is in the
Python API page, whose example runs.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import click

import bsa
from bsa.cli import main
from tests.bsa_command import bsa_in_process

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"


def _hook(name: str) -> ModuleType:
    """A hook file of docs/hooks/, imported by path as MkDocs imports it."""
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", ROOT / "docs/hooks" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CLI_HOOK = _hook("cli_reference.py")
SCHEMA_HOOK = _hook("run_file_schema.py")


def _page(name: str) -> str:
    return (REFERENCE / name).read_text(encoding="utf-8")


def _built(name: str, hook: ModuleType) -> str:
    """The page as MkDocs renders its Markdown: the hook has replaced the marker."""
    return str(hook.on_page_markdown(_page(name), page=None, config=None, files=None))


# --- reference/cli.md ----------------------------------------------------------------------------


def _commands(
    group: click.Group, ctx: click.Context
) -> Iterator[tuple[str, click.Command, click.Context]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        sub = click.Context(command, info_name=name, parent=ctx)
        yield sub.command_path, command, sub
        if isinstance(command, click.Group):
            yield from _commands(command, sub)


def test_the_command_reference_names_every_command_and_every_flag() -> None:
    text = CLI_HOOK.cli_reference_markdown()
    root = click.Context(main, info_name="bsa")
    commands = list(_commands(main, root))
    assert {"bsa generate", "bsa data stats"} <= {path for path, _, _ in commands}
    for path, command, ctx in commands:
        assert f"\n## {path}\n" in text, path
        section = text.split(f"\n## {path}\n", 1)[1].split("\n## ", 1)[0]
        for param in command.params:
            if isinstance(param, click.Argument):
                assert f"`{param.make_metavar(ctx)}` (argument)" in section, (path, param.name)
                continue
            for opt in [*param.opts, *param.secondary_opts]:
                assert f"`{opt}" in section, (path, opt)
    # Provider-declared flags are click options like any other.
    generate = text.split("\n## bsa generate\n", 1)[1].split("\n## ", 1)[0]
    assert "`--thinking-budget`" in generate and "`--batch-size`" in generate


def test_the_built_command_page_has_no_marker_left_and_links_to_its_own_anchors() -> None:
    built = _built("cli.md", CLI_HOOK)
    assert CLI_HOOK.MARKER not in built
    assert "\n## bsa run\n" in built and "[`stats`](#bsa-data-stats)" in built


def test_a_command_section_escapes_help_and_shows_types_defaults_and_environment() -> None:
    @click.command("demo")
    @click.option("--mode", type=click.Choice(["a", "b"]), default="a", show_default=True)
    @click.option("--x/--no-x", default=False, help="Pipes | and <b>tags</b> and *stars*.")
    @click.option("--name", multiple=True, envvar="BSA_DEMO_NAME", help="Repeat it.")
    @click.option("--count", type=click.IntRange(min=1), default=6)
    def demo(**_: Any) -> None:
        """Help with a [link](x) and a `tick`."""

    ctx = click.Context(demo, info_name="demo", parent=click.Context(main, info_name="bsa"))
    text = CLI_HOOK.command_markdown(demo, ctx)
    assert "## bsa demo" in text and "bsa demo [OPTIONS]" in text
    assert "Help with a \\[link\\](x) and a \\`tick\\`." in text
    assert "Pipes \\| and &lt;b&gt;tags&lt;/b&gt; and \\*stars\\*." in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| `")}
    assert rows["| `--x`, `--no-x`"].split(" | ")[1:3] == ["flag", "`--no-x`"]
    assert rows["| `--mode`"].split(" | ")[1:3] == ["`a`, `b`", "`a`"]
    assert rows["| `--name`"].split(" | ")[2:4] == ["repeatable", "`BSA_DEMO_NAME`"]
    assert rows["| `--count`"].split(" | ")[1:3] == ["integer ≥ 1", "`6`"]
    # Every row has as many cells as the header: no unescaped pipe split one.
    cells = {line.count(" | ") for line in text.splitlines() if line.startswith("| ")}
    assert cells == {4}


# --- reference/run-file.md -----------------------------------------------------------------------


def _fresh_run_file(tmp_path: Path) -> sqlite3.Connection:
    bsa.RunStore(tmp_path / "fresh.sqlite").close()
    return sqlite3.connect(tmp_path / "fresh.sqlite")


def test_every_table_of_a_run_file_is_described_by_hand(tmp_path: Path) -> None:
    prose = _page("run-file.md").split(SCHEMA_HOOK.MARKER)[0]
    connection = _fresh_run_file(tmp_path)
    tables = SCHEMA_HOOK.table_names(connection)
    assert {"meta", "prompts", "generations", "judgements", "batches"} <= set(tables)
    for table in tables:
        assert f"| `{table}` |" in prose, f"table {table} is not described in run-file.md"


def test_the_generated_schema_lists_every_column(tmp_path: Path) -> None:
    built = _built("run-file.md", SCHEMA_HOOK)
    assert SCHEMA_HOOK.MARKER not in built
    connection = _fresh_run_file(tmp_path)
    for table in SCHEMA_HOOK.table_names(connection):
        section = built.split(f"### Table `{table}`\n", 1)[1].split("\n### ", 1)[0]
        for column in connection.execute(f"PRAGMA table_info({table})"):
            assert f"| `{column[1]}` | {column[2]} |" in section, (table, column[1])


# --- reference/outputs.md ------------------------------------------------------------------------


def documented_keys(page: str, heading: str) -> set[str]:
    """The keys a section documents: the backticked names in the first column of its first
    table (the section ends at the next heading of any level)."""
    section = page.split(f"\n{heading}\n", 1)[1]
    section = re.split(r"\n#{1,6} ", section, maxsplit=1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    assert rows, f"no table under {heading}"
    return {key for row in rows for key in re.findall(r"`([^`]+)`", row.split("|")[1])}


def _json(*args: str | Path) -> Any:
    result = bsa_in_process(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _csv_header(*args: str | Path) -> set[str]:
    result = bsa_in_process(*args, "-o", "-")
    assert result.returncode == 0, result.stderr
    return set(next(csv.reader(io.StringIO(result.stdout))))


def test_the_documented_score_and_status_keys_are_the_real_ones(mock_run_path: Path) -> None:
    page = _page("outputs.md")
    score = _json("score", "--run", mock_run_path, "--json", "--bootstrap", "0")
    assert documented_keys(page, "## bsa score --json") == set(score)
    assert documented_keys(page, "### coverage") == set(score["coverage"])
    assert documented_keys(page, "### counts") == set(score["counts"])
    assert documented_keys(page, "### cost") == set(score["cost"]["model"])
    status = _json("status", "--run", mock_run_path, "--json")
    assert documented_keys(page, "## bsa status --json") == set(status)


def test_the_documented_columns_and_other_keys_are_the_real_ones(mock_run_path: Path) -> None:
    page = _page("outputs.md")
    exported = _csv_header("export", "--run", mock_run_path, "--format", "csv")
    assert documented_keys(page, "## bsa export") == exported
    verdicts = _csv_header("export", "--run", mock_run_path, "--format", "verdicts-csv")
    assert documented_keys(page, "### Verdicts") == verdicts
    items = _csv_header("data", "export", "--format", "csv", "--limit", "1")
    assert documented_keys(page, "## bsa data export") == items
    runs = (mock_run_path, mock_run_path)
    compared = _json("compare", *runs, "--json", "--bootstrap", "0")
    assert documented_keys(page, "## bsa compare --json") == set(compared)
    board = _json("leaderboard", mock_run_path, "--format", "json")
    assert documented_keys(page, "## bsa leaderboard") == set(board["rows"][0])
    estimate = _json("estimate", "--run", mock_run_path, "--model", "mock", "--judge", "mock",
                     "--sample", "100", "-k", "3", "--json")  # fmt: skip
    assert documented_keys(page, "## bsa estimate --json") == set(estimate)
    stats = _json("data", "stats", "--json", "--limit", "3")
    assert documented_keys(page, "## bsa data stats --json") == set(stats)


# --- reference/environment.md --------------------------------------------------------------------

ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")


def environment_names_read(source: str) -> set[str]:
    """The environment variables a module reads: string arguments of ``os.environ.get``,
    ``os.getenv``, ``os.environ[...]``, ``envvar=`` and a provider's ``key_env=``, with names
    and loop variables resolved through the module's literal assignments."""
    tree = ast.parse(source)
    values = _literal_strings(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            arguments = node.args[:1] if _reads_environment(node.func) else []
            arguments += [k.value for k in node.keywords if k.arg in ("envvar", "key_env")]
            for argument in arguments:
                names |= _strings(argument, values)
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            names |= _strings(node.slice, values)
    return {name for name in names if ENV_NAME.fullmatch(name)}


def _literal_strings(tree: ast.AST) -> dict[str, set[str]]:
    """Each name bound to a literal (or looping over one), mapped to the strings in it."""
    values: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, (ast.For, ast.comprehension)):
            target, value = node.target, node.iter
        else:
            continue
        strings = _strings(value, values)
        for name in ast.walk(target):
            if isinstance(name, ast.Name) and strings:
                values.setdefault(name.id, set()).update(strings)
    return values


def _strings(node: ast.AST, values: dict[str, set[str]]) -> set[str]:
    if isinstance(node, ast.Name):
        return values.get(node.id, set())
    return {
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _reads_environment(func: ast.AST) -> bool:
    if not isinstance(func, ast.Attribute):
        return False
    return (func.attr == "get" and _is_environ(func.value)) or func.attr == "getenv"


def test_every_environment_variable_the_code_reads_is_on_the_page() -> None:
    package = ROOT / "src" / "bsa"
    read: set[str] = set()
    for path in package.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        reads = any(word in source for word in ("environ", "getenv", "envvar", "key_env"))
        if reads and "testing" not in path.relative_to(package).parts:
            read |= environment_names_read(source)
    expected = {"BSA_DATA_DIR", "BSA_DEBUG", "OPENAI_API_KEY", "OPENAI_ORG_ID", "HF_HUB_OFFLINE"}
    assert expected <= read
    page = _page("environment.md")
    assert sorted(name for name in read if f"`{name}`" not in page) == []


def test_the_environment_scan_resolves_constants_and_loops() -> None:
    source = """
import os
KEY_ENV = "DEMO_API_KEY"
HEADERS = (("Demo-Header", "DEMO_ORG_ID"),)
def read(env):
    os.environ.get(KEY_ENV)
    os.getenv("DEMO_DIRECT")
    os.environ.get(env)
    for header, variable in HEADERS:
        os.environ.get(variable)
    return os.environ["DEMO_INDEXED"]
"""
    assert environment_names_read(source) == {
        "DEMO_API_KEY", "DEMO_DIRECT", "DEMO_ORG_ID", "DEMO_INDEXED"
    }  # fmt: skip


# --- reference/python-api.md ---------------------------------------------------------------------


def test_every_public_name_is_on_the_python_api_page() -> None:
    documented = documented_keys(_page("python-api.md"), "## Public names")
    assert documented == set(bsa.__all__) - {"__version__"}
