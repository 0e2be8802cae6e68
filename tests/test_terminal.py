"""Text bsa did not write reaches the terminal as text: no ESC sequence, bidi override or forged
line from a provider message, a model name or a run file gets through."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bsa.cli import main
from bsa.output.terminal import printable, safe_traceback, terminal_json

from .conftest import isolate
from .loopback import serve_loopback

#: Clear screen, set the window title, an OSC-8 link, a C1 CSI, a bidi override, a forged line.
HOSTILE = (
    "evil\x1b[2J\x1b]0;pwned\x07 \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x9b31m \u202egnp.exe"
    "\nerror: forged [link=http://x]y[/link]"
)
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_inert(output: str) -> None:
    assert not [c for c in RAW_CONTROLS if c in output]
    assert not any(line.startswith("error: forged") for line in output.splitlines())


@pytest.mark.parametrize(
    ("text", "shown"),
    [("a\x1b[2Jb", "a\\x1b[2Jb"), ("one\ntwo\tthree\r", "one\\x0atwo\\x09three\\x0d"),
     ("del\x7f c1\x9b", "del\\x7f c1\\x9b"), ("\u202eexe.txt", "\\u202eexe.txt"),
     ("line\u2028sep", "line\\u2028sep"), ("Ünïcode 安全 é", "Ünïcode 安全 é")],
)  # fmt: skip
def test_printable_escapes_controls_and_keeps_text(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_terminal_json_escapes_what_json_leaves_raw_and_parses_back() -> None:
    value = {"model": HOSTILE, "安全": 1}
    text = terminal_json(value)
    assert_inert(text)
    assert json.loads(text) == value


def test_a_traceback_keeps_an_exception_message_on_one_line() -> None:
    try:
        try:
            raise ValueError("inner\nerror: forged")
        except ValueError as inner:
            raise RuntimeError("outer \x1b[2J") from inner
    except RuntimeError as error:
        lines = safe_traceback(error)
    assert "builtins.ValueError: inner\\x0aerror: forged" in lines
    assert "builtins.RuntimeError: outer \\x1b[2J" in lines
    assert_inert("\n".join(lines))


class _HostileProvider(BaseHTTPRequestHandler):
    """An endpoint whose 400 message is made to rewrite the user's terminal."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"error": {"message": HOSTILE, "type": "invalid_request_error"}})
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("debug", [False, True])
def test_a_provider_message_prints_as_one_inert_error_line(tmp_path: Path, debug: bool) -> None:
    questions = tmp_path / "q.csv"
    questions.write_text("id,question\nq1,hello\n", encoding="utf-8")
    with serve_loopback(_HostileProvider) as url:
        result = invoke(
            *(["--debug"] if debug else []), "generate", "--run", str(tmp_path / "r.sqlite"),
            "--input", str(questions), "--model", "openai:m", "--base-url", f"{url}/v1", "-k", "1",
        )  # fmt: skip
    assert result.exit_code == 1
    assert_inert(result.output)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    # The provider already turns the server's control characters into spaces; any that got
    # through would be escaped on printing. Either way the line is one and inert.
    assert len(errors) == 1 and "(HTTP 400): evil" in errors[0]
    assert ("Traceback (most recent call last):" in result.output) is debug


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A judged mock run whose run file names a hostile model (a run file from elsewhere); built
    once for the module, as the commands that print it only read it."""
    run = tmp_path_factory.mktemp("hostile") / "hostile.sqlite"
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, tmp_path_factory)
        result = invoke(
            "run", "--run", str(run), "--model", "mock", "--judge", "mock", "--sample", "3"
        )
    assert result.exit_code == 0, result.output
    with sqlite3.connect(run) as connection:
        (settings,) = connection.execute(
            "SELECT value FROM meta WHERE key = 'generation'"
        ).fetchone()
        settings = json.loads(settings) | {"model": HOSTILE}
        connection.execute(
            "UPDATE meta SET value = ? WHERE key = 'generation'", (json.dumps(settings),)
        )
    yield run


@pytest.mark.parametrize(
    "command",
    [["status"], ["score"], ["score", "--json"], ["score", "--reference"],
     ["leaderboard", "--format", "md"], ["leaderboard", "--format", "csv"],
     ["leaderboard", "--format", "json"]],
)  # fmt: skip
def test_stored_text_prints_inert(hostile_run: Path, command: list[str]) -> None:
    args = (
        [*command, str(hostile_run)]
        if command[0] == "leaderboard"
        else [*command, "--run", str(hostile_run)]
    )
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert_inert(result.output)
    assert "pwned" in result.output  # the text is shown, only its controls are escaped
    if command == ["score"]:
        assert "[link=http://x]y[/link]" in result.output  # rich markup is text, not a link
