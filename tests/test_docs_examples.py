"""The documentation's examples, checked against the code so the docs never show a flag that is gone.

Every ``$ bsa ...`` line of a ```` ```console ```` block in ``docs/**/*.md`` and ``README.md`` is
parsed against the click command line: the command path exists, every flag exists, every value
that is not a placeholder (``RUN``, ``openai:MODEL``, ``…``) converts, and no argument is left
over. An error the page shows as the command's output (``error: ...``) is the example's point.

A block preceded by ``<!-- docs-test: NAME -->`` on its own line (then a blank line, then the
fence) also runs, in process: all blocks of one NAME on a page in document order, in one fresh
folder, so later blocks see earlier files; one test per page and NAME. The model answers at
vLLM's default address ``http://localhost:8000/v1`` (and at the hosted URLs of
:data:`HOSTED_URLS`), a second replica of it at ``http://localhost:8001/v1`` (its own server,
since bsa refuses one URL given twice), a judge behind ``OPENAI_BASE_URL``, so
``--judge openai:gpt-4o`` needs no URL; every ``*_API_KEY`` the block names gets a dummy value, and ``export NAME=…`` sets one.
Every command must exit 0, except the last of a block marked ``exit=N``, which must exit N.
Lines that cannot run offline are skipped by name (:data:`SKIPPED`); any other command that is
not ``bsa`` fails the test, so nothing is silently ignored.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

from bsa.cli import main
from bsa.testing.openai_server import OpenAIServer, ServerConfig, mock_judge_hook
from tests.bsa_command import bsa_in_process

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Lines a runnable block may show but the test cannot run offline (installing, serving a model
#: on a GPU, a directory change, another tool's run); they are skipped, never silently: any other
#: command that is not ``bsa`` or ``export`` fails the test.
SKIPPED = (
    ("pip", "install"),
    ("git", "clone"),
    ("cd",),
    ("vllm", "serve"),
    ("python", "-m", "sglang.launch_server"),
    ("inspect", "eval"),
    ("mkdocs",),
)
#: The model server's address as the docs write it: vLLM's default.
LOCAL_MODEL_URL = "http://localhost:8000/v1"
#: A second server of the same model, as the replicas guide writes it (one vLLM per GPU: the next
#: port). It is served by a server of its own, so the two replicas are two addresses, as bsa
#: requires, and a run spreads its calls over both.
SECOND_REPLICA_URL = "http://localhost:8001/v1"
#: Hosted endpoints a runnable block may name; each is served by the model server. A URL missing
#: here fails the test rather than reach the network.
HOSTED_URLS = (
    "https://api.deepseek.com/v1",
    "https://api.deepseek.com",
    "https://api.openai.com/v1",
    "https://dashscope.aliyuncs.com/compatible-mode/v1",
    "https://openrouter.ai/api/v1",
    "https://api.together.xyz/v1",
    "https://api.moonshot.ai/v1",
)
#: What ``export NAME=…`` sets: a dummy that is not a key anywhere.
DUMMY = "dummy-for-docs-test"

MARKER = re.compile(
    r"^\s*<!--\s*docs-test:\s*(?P<name>[\w.-]+)(?:\s+exit=(?P<exit>\d+))?\s*-->\s*$"
)
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
KEY_NAME = re.compile(r"\b[A-Z][A-Z0-9_]*_API_KEY\b")
PLACEHOLDER = re.compile(r"…|\.\.\.|\b[A-Z][A-Z0-9_]*\b")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SEPARATORS = frozenset({"&&", ";", "||", "|"})
REDIRECTS = frozenset({">", ">>", "2>", "2>&1"})


# ---------------------------------------------------------------- reading the pages


@dataclass(frozen=True)
class Command:
    """One ``$ `` line of a console block, its ``\\`` continuations joined."""

    page: str
    line: int
    text: str
    #: The output the page shows under the command.
    output: str = ""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass
class Block:
    """A console block; ``name`` is set when a docs-test comment marks it runnable."""

    page: str
    line: int
    name: str | None = None
    exit_status: int | None = None
    commands: list[Command] = field(default_factory=list)


@dataclass
class Page:
    name: str
    blocks: list[Block] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def commands(self) -> list[Command]:
        return [command for block in self.blocks for command in block.commands]


def read_page(name: str, text: str) -> Page:
    """The console blocks of one Markdown page, with what is malformed about its markers."""
    page = Page(name)
    lines = text.splitlines()
    marker: tuple[int, re.Match[str]] | None = None
    number = 0
    while number < len(lines):
        line = lines[number]
        opening = FENCE.match(line)
        if marker is not None and line.strip() and not opening:
            page.problems.append(f"{name}:{marker[0]}: docs-test comment not followed by a block")
            marker = None
        # A marker is a comment line of its own; prose may name the convention in backticks.
        if line.lstrip().startswith("<!--") and "docs-test" in line:
            marker = _read_marker(page, number + 1, line)
            number += 1
            continue
        if opening is None:
            number += 1
            continue
        number = _read_fence(page, lines, number, opening, marker)
        marker = None
    if marker is not None:
        page.problems.append(f"{name}:{marker[0]}: docs-test comment not followed by a block")
    return page


def _read_marker(page: Page, number: int, line: str) -> tuple[int, re.Match[str]] | None:
    found = MARKER.match(line)
    if found is None:
        page.problems.append(
            f"{page.name}:{number}: malformed docs-test comment (write <!-- docs-test: NAME -->"
            " or <!-- docs-test: NAME exit=N -->)"
        )
    return (number, found) if found else None


def _read_fence(
    page: Page,
    lines: Sequence[str],
    start: int,
    opening: re.Match[str],
    marker: tuple[int, re.Match[str]] | None,
) -> int:
    """Read the fence opened at ``start``; return the index of the line after it."""
    indent, fence, lang = opening["indent"], opening["fence"], opening["lang"]
    end = start + 1
    while end < len(lines) and not _closes(lines[end], fence):
        end += 1
    body = [
        line[len(indent) :] if line.startswith(indent) else line for line in lines[start + 1 : end]
    ]
    if lang == "console":
        block = Block(page.name, start + 1, commands=_commands(page.name, start + 2, body))
        if marker is not None:
            block.name = marker[1]["name"]
            block.exit_status = int(marker[1]["exit"]) if marker[1]["exit"] else None
            if not block.commands:
                page.problems.append(f"{page.name}:{marker[0]}: a docs-test block has no $ line")
        page.blocks.append(block)
    elif marker is not None:
        page.problems.append(f"{page.name}:{marker[0]}: a docs-test block must be ```console")
    elif any(line.startswith("$ bsa") for line in body):
        page.problems.append(f"{page.name}:{start + 1}: a $ bsa line outside a ```console block")
    return end + 1


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def _commands(page: str, first_line: int, body: Sequence[str]) -> list[Command]:
    """The ``$ `` lines of a console block's body (numbered from ``first_line``)."""
    commands: list[Command] = []
    pending: list[str] = []
    start = 0
    for offset, line in enumerate(body):
        if not pending:
            if not line.startswith("$ "):
                _add_output(commands, line)
                continue
            start, line = first_line + offset, line[2:]
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1].strip())
            continue
        commands.append(Command(page, start, " ".join([*pending, line.strip()]).strip()))
        pending = []
    if pending:
        commands.append(Command(page, start, " ".join(pending)))
    return commands


def _add_output(commands: list[Command], line: str) -> None:
    """A line shown after a command is its output."""
    if commands:
        last = commands[-1]
        commands[-1] = Command(last.page, last.line, last.text, f"{last.output}{line}\n")


def read_pages(root: Path = ROOT) -> list[Page]:
    """README.md and every page under docs/."""
    paths = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    return [read_page(_page_name(path, root), path.read_text(encoding="utf-8")) for path in paths]


def _page_name(path: Path, root: Path) -> str:
    docs = root / "docs"
    return str(path.relative_to(docs if path.is_relative_to(docs) else root))


# ---------------------------------------------------------------- one command line


def simple_commands(text: str) -> list[list[str]]:
    """The words of each command in ``text`` (split at ``&&``, ``;``, ``|``), comments dropped."""
    commands: list[list[str]] = [[]]
    for word in shlex.split(text, comments=True):
        if word in SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    return [words for words in commands if words]


def without_assignments(words: Sequence[str]) -> list[str]:
    """``words`` without the ``NAME=VALUE`` prefixes of a command's own environment."""
    index = 0
    while index < len(words) and ASSIGNMENT.match(words[index]):
        index += 1
    return list(words[index:])


def without_redirects(words: Sequence[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in REDIRECTS:
            skip = word != "2>&1"
        else:
            kept.append(word)
    return kept


def unbracketed(words: Sequence[str]) -> list[str]:
    """Optional parts written ``[--reference]`` are checked as if given."""
    return [word[1:-1] if word.startswith("[") and word.endswith("]") else word for word in words]


def check_bsa_words(words: Sequence[str]) -> list[str]:
    """What is wrong with ``bsa WORDS`` (no ``bsa``): an unknown command, flag or choice, a
    value that does not convert and is no placeholder, an argument too many."""
    command: click.Command = main
    name = "bsa"
    rest = unbracketed(words)
    while True:
        ctx = click.Context(command, info_name=name)
        try:
            opts, positional, _ = command.make_parser(ctx).parse_args(list(rest))
        except click.UsageError as error:
            return [error.format_message()]
        problems = _check_values(command, ctx, opts)
        if not isinstance(command, click.Group) or not positional:
            return problems + _check_arguments(command, ctx, positional, name)
        sub = command.get_command(ctx, positional[0])
        if sub is None:
            return [*problems, f"{name}: no such command {positional[0]!r}"]
        command, name, rest = sub, f"{name} {positional[0]}", positional[1:]


def _check_values(
    command: click.Command, ctx: click.Context, opts: Mapping[str, object]
) -> list[str]:
    problems: list[str] = []
    for param in command.params:
        if param.name in opts and isinstance(param, click.Option) and not param.is_flag:
            problems += _check_raw(param, ctx, opts[param.name])
    return problems


def _check_arguments(
    command: click.Command, ctx: click.Context, positional: Sequence[str], name: str
) -> list[str]:
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    if any(argument.nargs < 0 for argument in arguments):
        return []
    wanted = sum(argument.nargs for argument in arguments)
    if len(positional) > wanted:
        return [f"{name}: unexpected extra arguments {' '.join(positional[wanted:])}"]
    problems: list[str] = []
    for argument, value in zip(arguments, positional, strict=False):
        problems += _check_raw(argument, ctx, value)
    return problems


def _check_raw(param: click.Parameter, ctx: click.Context, raw: object) -> list[str]:
    """Convert each raw value as click would; a placeholder that does not convert is fine, and
    paths are not checked (the docs' files need not exist here)."""
    values = raw if isinstance(raw, (list, tuple)) else [raw]
    types = param.type.types if isinstance(param.type, click.Tuple) else None
    problems: list[str] = []
    for index, value in enumerate(_flat(values)):
        kind = types[index % len(types)] if types else param.type
        if isinstance(kind, (click.Path, click.File)) or not isinstance(value, str):
            continue
        try:
            kind.convert(value, param, ctx)
        except click.ClickException as error:
            if not PLACEHOLDER.search(value):
                problems.append(error.format_message())
    return problems


def _flat(values: Sequence[object]) -> Iterator[object]:
    for value in values:
        if isinstance(value, (list, tuple)):
            yield from value
        else:
            yield value


def check_command(command: Command) -> list[str]:
    """What is wrong with every ``bsa`` command of one ``$ `` line. An error the page shows as
    the command's output is the point of the example (an errors page), not a mistake."""
    try:
        commands = simple_commands(command.text)
    except ValueError as error:  # unbalanced quotes
        return [f"{command.where}: cannot split {command.text!r}: {error}"]
    problems: list[str] = []
    for words in commands:
        words = without_redirects(without_assignments(words))
        if words and words[0] == "bsa":
            found = check_bsa_words(words[1:])
            problems += [f"{command.where}: {p}" for p in found if p not in command.output]
    return problems


# ---------------------------------------------------------------- running a block


@dataclass(frozen=True)
class Servers:
    """Where the runnable examples' model and judge answer."""

    model_url: str
    judge_url: str
    replica_url: str

    def url_for(self, url: str, where: str) -> str:
        """The test server that plays the endpoint the page names."""
        served = dict.fromkeys((LOCAL_MODEL_URL, *HOSTED_URLS), self.model_url)
        served[SECOND_REPLICA_URL] = self.replica_url
        try:
            return served[url.rstrip("/")]
        except KeyError:
            raise AssertionError(
                f"{where}: {url} is not served offline; add it to HOSTED_URLS in "
                "tests/test_docs_examples.py or do not mark the block runnable"
            ) from None


def rewrite_urls(words: Sequence[str], servers: Servers, where: str) -> list[str]:
    """The words with every URL replaced by its test server's (``--flag=URL`` too)."""
    rewritten: list[str] = []
    for word in words:
        flag, equals, value = word.partition("=") if word.startswith("--") else ("", "", word)
        if value.startswith(("http://", "https://")):
            value = servers.url_for(value, where)
        rewritten.append(f"{flag}{equals}{value}")
    return rewritten


@dataclass(frozen=True)
class Group:
    """The runnable blocks of one name on one page: one test."""

    page: str
    name: str
    blocks: tuple[Block, ...]

    @property
    def id(self) -> str:
        return f"{self.page}::{self.name}"

    def key_names(self) -> set[str]:
        return {key for b in self.blocks for c in b.commands for key in KEY_NAME.findall(c.text)}


def runnable_groups(pages: Sequence[Page]) -> list[Group]:
    groups: dict[tuple[str, str], list[Block]] = {}
    for page in pages:
        for block in page.blocks:
            if block.name is not None:
                groups.setdefault((page.name, block.name), []).append(block)
    return [Group(page, name, tuple(blocks)) for (page, name), blocks in groups.items()]


def run_group(group: Group, servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the group's commands in order in the current folder; AssertionError names the first
    that does not do what the page says."""
    for key in group.key_names():
        monkeypatch.setenv(key, DUMMY)
    monkeypatch.setenv("OPENAI_BASE_URL", servers.judge_url)
    for block in group.blocks:
        for index, command in enumerate(block.commands):
            last = index == len(block.commands) - 1
            expected = block.exit_status if last and block.exit_status is not None else 0
            run_command(command, expected, servers, monkeypatch)


def run_command(
    command: Command, expected: int, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "|" in shlex.split(command.text, comments=True):
        raise AssertionError(f"{command.where}: a pipe cannot run here: {command.text}")
    steps = simple_commands(command.text)
    for index, words in enumerate(steps):
        status = expected if index == len(steps) - 1 else 0
        run_words(words, command, status, servers, monkeypatch)


def run_words(
    words: Sequence[str],
    command: Command,
    expected: int,
    servers: Servers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if words[0] == "export":
        for assignment in words[1:]:
            name, _, value = assignment.partition("=")
            is_url = value.startswith(("http://", "https://"))
            value = servers.url_for(value, command.where) if is_url else value
            monkeypatch.setenv(name, DUMMY if value in ("…", "...", "") else value)
        return
    if any(tuple(words[: len(prefix)]) == prefix for prefix in SKIPPED):
        return
    if words[0] != "bsa" and not (ASSIGNMENT.match(words[0]) and "bsa" in words):
        raise AssertionError(
            f"{command.where}: {words[0]!r} cannot run offline; add it to SKIPPED in "
            "tests/test_docs_examples.py if it is only shown, or do not mark the block runnable"
        )
    run_bsa(words, command, expected, servers)


def run_bsa(words: Sequence[str], command: Command, expected: int, servers: Servers) -> None:
    """``bsa ...`` in this process, with its own ``NAME=VALUE`` prefixes and a ``> FILE``."""
    env = dict(word.split("=", 1) for word in words[: words.index("bsa")])
    args = rewrite_urls(words[words.index("bsa") + 1 :], servers, command.where)
    target = args[args.index(">") + 1] if ">" in args else None
    args = without_redirects(args)
    result = bsa_in_process(*args, env=env)
    if result.returncode != expected:
        output = (result.stdout + result.stderr)[-3000:]  # a crash's traceback included
        raise AssertionError(
            f"{command.where}: `{command.text}` exited {result.returncode}, the page expects "
            f"{expected}:\n{output}"
        )
    if target is not None:
        Path(target).write_text(result.stdout, encoding="utf-8")


# ---------------------------------------------------------------- the tests

PAGES = read_pages()
GROUPS = runnable_groups(PAGES)


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """The model at vLLM's default address, its second replica, and a judge behind
    OPENAI_BASE_URL, for the module."""
    with (
        OpenAIServer() as model,
        OpenAIServer() as replica,
        OpenAIServer(ServerConfig(respond=mock_judge_hook)) as judge,
    ):
        yield Servers(model.base_url, judge.base_url, replica.base_url)


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_bsa_command_shown_exists(page: Page) -> None:
    problems = page.problems + [p for c in page.commands for p in check_command(c)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("group", GROUPS, ids=[group.id for group in GROUPS])
def test_runnable_examples_run(
    group: Group, servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run_group(group, servers, monkeypatch)


# ---------------------------------------------------------------- the harness catches mistakes

SNIPPET = """\
Some prose.

<!-- docs-test: demo -->

```console
$ bsa run --run dry.sqlite --model mock --judge mock \\
    --sample 20 -k 1   # a comment
output line
$ bsa status --run dry.sqlite
```

```console
$ bsa score --run RUN --judge openai:MODEL --bootstrap N
```
"""


def test_the_parser_reads_blocks_continuations_and_markers() -> None:
    page = read_page("snippet.md", SNIPPET)
    assert page.problems == []
    first, second = page.blocks
    assert (first.name, first.exit_status, second.name) == ("demo", None, None)
    assert [c.text for c in first.commands] == [
        "bsa run --run dry.sqlite --model mock --judge mock --sample 20 -k 1   # a comment",
        "bsa status --run dry.sqlite",
    ]
    assert [c.line for c in page.commands] == [6, 9, 13]
    assert first.commands[0].output == "output line\n"


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("bsa run --run r.sqlite --model mock --no-such-flag", "--no-such-flag"),
        ("bsa no-such-command --run r.sqlite", "no such command"),
        ("bsa generate --run r.sqlite --safety-rules sometimes", "sometimes"),
        ("bsa score --run r.sqlite --bootstrap many", "many"),
        ("bsa score --run r.sqlite extra", "extra"),
        ("bsa data --no-such-flag", "--no-such-flag"),
        ("pip install x && bsa status --run r.sqlite --nope", "--nope"),
    ],
)
def test_a_wrong_command_flag_or_value_is_caught(line: str, complaint: str) -> None:
    problems = check_command(Command("snippet.md", 1, line))
    assert len(problems) == 1 and complaint in problems[0], problems


def test_placeholders_and_missing_files_are_not_complaints() -> None:
    line = (
        "bsa generate --run RUN --model openai:MODEL --sample N --ids missing.txt "
        "--extra-body '{\"chat_template_kwargs\": {…}}' [--use-n] --concurrency auto"
    )
    assert check_command(Command("snippet.md", 1, line)) == []


def test_a_malformed_marker_or_a_marker_without_a_block_is_a_problem() -> None:
    page = read_page("bad.md", "<!-- docs-test: a b -->\n\ntext\n<!-- docs-test: c -->\n")
    assert len(page.problems) == 2


def run_snippet(text: str, servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    (group,) = runnable_groups([read_page("snippet.md", text)])
    run_group(group, servers, monkeypatch)


def test_an_unknown_command_in_a_runnable_block_fails(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = "<!-- docs-test: x -->\n\n```console\n$ pip install bsa-bench\n$ rm -rf data\n```\n"
    with pytest.raises(AssertionError, match="'rm' cannot run offline"):
        run_snippet(text, servers, monkeypatch)


def test_an_unmapped_url_in_a_runnable_block_fails(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = (
        "<!-- docs-test: x -->\n\n```console\n"
        "$ bsa status --run r.sqlite --base-url https://example.com/v1\n```\n"
    )
    with pytest.raises(
        AssertionError, match=re.escape("https://example.com/v1 is not served offline")
    ):
        run_snippet(text, servers, monkeypatch)


def test_the_exit_status_is_checked(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    failing = "```console\n$ bsa status --run missing.sqlite\n```\n"
    run_snippet(f"<!-- docs-test: x exit=1 -->\n\n{failing}", servers, monkeypatch)
    with pytest.raises(AssertionError, match="exited 1, the page expects 0"):
        run_snippet(f"<!-- docs-test: x -->\n\n{failing}", servers, monkeypatch)


def test_a_runnable_block_reaches_the_model_and_judge_servers(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM's default address and a hosted URL reach the model server; ``--judge openai:gpt-4o``
    with no URL reaches the judge through OPENAI_BASE_URL; later blocks see earlier files."""
    monkeypatch.chdir(tmp_path)
    text = (
        "<!-- docs-test: x -->\n\n```console\n$ export OPENAI_API_KEY=…\n"
        "$ bsa run --run local.sqlite --model openai:m --base-url http://localhost:8000/v1 \\\n"
        "    --judge openai:gpt-4o --limit 2 -k 1\n```\n\n"
        "<!-- docs-test: x -->\n\n```console\n$ bsa score --run local.sqlite --json > s.json\n"
        "$ bsa run --run hosted.sqlite --model openai:m --base-url https://api.deepseek.com/v1 "
        "--api-key-env DEEPSEEK_API_KEY --judge openai:gpt-4o --limit 2 -k 1\n```\n"
    )
    run_snippet(text, servers, monkeypatch)
    assert '"safe_at_1"' in (tmp_path / "s.json").read_text(encoding="utf-8")
    assert (tmp_path / "hosted.sqlite").is_file()


def test_two_local_replicas_reach_two_servers(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replicas guide's two ports are two servers of the model, so bsa accepts them (one URL
    given twice is refused) and the run's calls reach both."""
    monkeypatch.chdir(tmp_path)
    text = (
        "<!-- docs-test: x -->\n\n```console\n"
        "$ bsa run --run replicas.sqlite --model openai:m \\\n"
        "    --base-url http://localhost:8000/v1 --base-url http://localhost:8001/v1 \\\n"
        "    --judge mock --limit 8 -k 1\n"
        "$ bsa status --run replicas.sqlite --json > status.json\n```\n"
    )
    run_snippet(text, servers, monkeypatch)
    status = json.loads((tmp_path / "status.json").read_text(encoding="utf-8"))
    assert set(status["replicas"]["model"]) == {servers.model_url, servers.replica_url}
