"""The guard against k samples that are one sample: which items count as identical in a run file
(by hand-written rows), and over real HTTP a server behind a response cache, whose cached items
``bsa score``, ``bsa status`` and the report name, beside runs that must stay silent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bsa.cli import main
from bsa.output.report import render_report
from bsa.output.report.html import text
from bsa.runfile.store import INSERT_GENERATION, Generation, Prompt, RunStore, generation_row
from bsa.runfile.writer import ResultWriter
from bsa.scoring.identical_samples import identical_warning, sampled
from bsa.testing.openai_server import OpenAIServer, ServerConfig

# ---------------------------------------------------------------- what counts, by hand


def sample(item: str, index: int, status: str, answer: str | None, reasoning: str | None) -> Any:
    return Generation(
        item, index, status, answer, reasoning, None, "stop", False, None, None, None, None, 1,
        None, None,
    )  # fmt: skip


#: Per item: (status, answer, reasoning) of samples 0, 1, 2.
ROWS: dict[str, list[tuple[str, str | None, str | None]]] = {
    "same": [("ok", "a", "r")] * 3,
    "reasoning differs": [("ok", "a", "r1"), ("ok", "a", "r2"), ("ok", "a", "r1")],
    "answer differs": [("ok", "a", "r"), ("ok", "b", "r"), ("ok", "a", "r")],
    "same but blocked": [("ok", "a", "r"), ("ok", "a", "r"), ("blocked", None, None)],
    "one ok": [("ok", "a", "r"), ("failed", None, None), ("blocked", None, None)],
    "none and empty": [("ok", "a", None), ("ok", "a", ""), ("ok", "a", None)],
    "no reasoning": [("ok", "a", None)] * 3,
    "third differs": [("ok", "a", "r"), ("ok", "a", "r"), ("ok", "a", "r "), ("ok", "b", "x")],
}


@pytest.fixture
def hand_run(tmp_path: Path) -> Path:
    path = tmp_path / "hand.sqlite"
    with RunStore(path) as store:
        store.add_prompts(Prompt(item, "q") for item in ROWS)
    with ResultWriter(path) as writer:
        for item, rows in ROWS.items():
            for index, row in enumerate(rows):
                writer.put(INSERT_GENERATION, generation_row(sample(item, index, *row)))
    return path


def test_identical_means_every_ok_sample_below_k_byte_for_byte(hand_run: Path) -> None:
    with RunStore(hand_run, read_only=True) as store:
        # k = 3: compared are all but "one ok" (a single ok sample); identical are "same",
        # "same but blocked" (the blocked sample has no text to compare) and "no reasoning".
        # A NULL reasoning differs from an empty one; "third differs" differs at sample 2.
        assert store.repeated_samples(3) == (7, 3)
        # k = 2: samples 0 and 1 only, so "third differs" is identical; "one ok" still is not
        # compared, and "none and empty" still differs (None against "").
        assert store.repeated_samples(2) == (7, 4)
        # k = 4 adds "third differs"'s sample 3, which differs anyway.
        assert store.repeated_samples(4) == (7, 3)
        assert store.repeated_samples(1) == (0, 0)


def test_only_a_run_that_samples_is_checked() -> None:
    assert sampled({"decoding": {"temperature": 0.6}})
    assert sampled({"decoding": {"temperature": None}}), "the endpoint's default samples"
    assert not sampled({"decoding": {"temperature": 0}})
    assert not sampled({"decoding": {"temperature": 0.0}})
    assert not sampled(None), "no stored settings: nothing to judge by"


def test_the_warning_starts_above_five_percent() -> None:
    def warning(identical: int | None, compared: int) -> str | None:
        return identical_warning(
            {"identical_sample_items": identical, "multi_sample_items": compared}
        )

    assert warning(1, 20) is None, "exactly 5% is not above it"
    assert warning(2, 20) == (
        "warning: 2 of 20 items (10.00%) have all their samples byte-identical although the "
        "run samples (temperature above 0), so their @k figures are @1 figures; likely causes: "
        "a fixed request seed, a response cache in the path, or a server that ignores temperature"
    )
    assert warning(None, 20) is None and warning(0, 0) is None


# ---------------------------------------------------------------- over HTTP


class BodyCache:
    """A response cache in front of a model: a byte-identical request body gets the stored reply.
    It keeps the first ``room`` bodies it sees and never evicts, so exactly ``room`` items (the
    first asked) get k copies of one reply, whatever order the requests arrive in; every other
    request gets a fresh reply."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.stored: dict[str, tuple[str, str]] = {}
        self.replies = 0

    def __call__(self, body: dict[str, Any], index: int) -> tuple[str, str]:
        key = json.dumps(body, sort_keys=True)
        if key in self.stored:
            return self.stored[key]
        self.replies += 1
        reply = (f"Reasoning number {self.replies}.", f"Answer number {self.replies}.")
        if len(self.stored) < self.room:
            self.stored[key] = reply
        return reply


@pytest.fixture
def cached_server() -> Iterator[OpenAIServer]:
    with OpenAIServer(ServerConfig(respond=BodyCache(room=3))) as server:
        yield server


def bsa(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def json_of(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{") :])


def one_line(output: str) -> str:
    """The output with the table's line wrapping undone."""
    return " ".join(output.split())


#: Six Risk Omission items, three samples each, judged by the in-process mock judge.
SIX_ITEMS = ("--judge", "mock", "--scenario", "RO", "--limit", "6", "-k", "3")
CACHE_WARNING = (
    "warning: 3 of 6 items (50.00%) have all their samples byte-identical although the run "
    "samples (temperature above 0), so their @k figures are @1 figures; likely causes: a fixed "
    "request seed, a response cache in the path, or a server that ignores temperature"
)


def cached_run(run: Path, server: OpenAIServer, *extra: str) -> Path:
    result = bsa(
        "run", "--run", run, "--model", "openai:cached", "--base-url", server.base_url,
        *SIX_ITEMS, *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return run


def test_a_response_cache_fires_the_warning_in_score_status_and_report(
    tmp_path: Path, cached_server: OpenAIServer
) -> None:
    run = cached_run(tmp_path / "run.sqlite", cached_server)
    # The cache kept the first 3 bodies: those 3 items got one reply 3 times, the other 3 items
    # 3 fresh replies each; all 18 samples are ok, so all 6 items are compared: 3 of 6 > 5%.
    scores = json_of(bsa("score", "--run", run, "--json"))
    assert (scores["counts"]["identical_sample_items"], scores["counts"]["multi_sample_items"]) == (
        3, 6,
    )  # fmt: skip
    assert CACHE_WARNING in scores["warnings"]
    table = one_line(bsa("score", "--run", run).stdout)
    assert "identical samples: 3 of 6 items with 2 or more ok samples" in table
    assert CACHE_WARNING in table

    status = json_of(bsa("status", "--run", run, "--json"))
    assert (status["identical_sample_items"], status["multi_sample_items"]) == (3, 6)
    assert status["warnings"] == [CACHE_WARNING]
    status_text = bsa("status", "--run", run)
    assert status_text.exit_code == 0, status_text.output
    assert status_text.stdout.splitlines()[1:3] == [
        "identical samples: 3 of 6 items with 2 or more ok samples", CACHE_WARNING,
    ]  # fmt: skip

    page = render_report(run)
    assert f"<p><strong>{text(CACHE_WARNING)}</strong></p>" in page
    row = "items whose ok samples are all byte-identical / items with 2 or more ok samples"
    assert f'<td class="value">{text(row)}</td><td class="num">3 / 6</td>' in page


def test_identical_samples_at_temperature_0_are_expected(
    tmp_path: Path, cached_server: OpenAIServer
) -> None:
    run = cached_run(tmp_path / "run.sqlite", cached_server, "--temperature", "0")
    scores = json_of(bsa("score", "--run", run, "--json"))
    assert (scores["counts"]["identical_sample_items"], scores["counts"]["multi_sample_items"]) == (
        None, 6,
    )  # fmt: skip
    assert not any("byte-identical" in warning for warning in scores["warnings"])
    assert "identical samples: not checked (temperature 0)" in bsa("score", "--run", run).stdout
    status = json_of(bsa("status", "--run", run, "--json"))
    assert (status["identical_sample_items"], status["warnings"]) == (None, [])
    page = render_report(run)
    assert "have all their samples byte-identical" not in page
    assert '<td class="num">not checked (temperature 0) / 6</td>' in page


def test_a_run_whose_samples_differ_stays_silent(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    scores = json_of(bsa("run", "--run", run, "--model", "mock", *SIX_ITEMS, "--json"))
    assert (scores["counts"]["identical_sample_items"], scores["counts"]["multi_sample_items"]) == (
        0, 6,
    )  # fmt: skip
    assert not any("byte-identical" in warning for warning in scores["warnings"])
    status = json_of(bsa("status", "--run", run, "--json"))
    assert (status["identical_sample_items"], status["warnings"]) == (0, [])
    assert '<td class="num">0 / 6</td>' in render_report(run)
