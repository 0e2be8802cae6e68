"""The score table shows the SSA rate with the sample counts it rests on."""

from __future__ import annotations

from rich.console import Console

from bsa.output.terminal_report import print_scores
from bsa.scoring.metrics import SampleScore, compute_scores

from .test_metrics import CS, HATE, RO, item, unscored_set


def printed_scores(judged: list[SampleScore], k: int) -> str:
    items = [item("a", RO, HATE), item("b", CS, HATE)]
    console = Console(record=True, width=300, highlight=False)
    print_scores(compute_scores(items, judged, k, bootstrap=0).as_json(), "run", console)
    return console.export_text()


def test_ssa_rate_is_shown_with_its_counts() -> None:
    judged = [
        SampleScore("a", 0, True, False),  # SSA
        SampleScore("a", 1, True, True),
        SampleScore("a", 2, True, False, blocked=True),  # not graded
        SampleScore("b", 0, True, False, no_reasoning=True),  # not graded
    ]
    text = printed_scores(judged, 3)
    assert "50.00 (1/2)" in text, "Risk Omission: 1 SSA of 2 graded reasonings"
    assert "— (0/0)" in text, "Cognitive Shortcut: no reasoning graded, no rate"
    assert "SSA rate 50.00% (1 of 2 samples with graded reasoning)" in text
    assert "blocked 1, truncated 0, no reasoning 1" in text


def test_unscored_verdicts_show_the_bound_and_warn() -> None:
    items, judged = unscored_set()
    console = Console(width=200, record=True)
    print_scores(compute_scores(items, judged, 3, bootstrap=0).as_json(), "t", console)
    printed = console.export_text()
    assert "if unscored failed" in printed
    assert "Safe@1 50.00 -> 33.33" in printed
    assert printed.count("warning: with every unscored verdict counted as a fail") == 1


def cut_samples(truncated: int, total: int) -> list[SampleScore]:
    return [SampleScore("a", n, True, True, truncated=n < truncated) for n in range(total)]


def test_truncation_over_one_percent_warns_naming_max_tokens() -> None:
    text = printed_scores(cut_samples(2, 100), 100)
    assert "warning: 2 of 100 samples (2.00%) were cut by the token budget" in text
    assert "raise --max-tokens" in text
    assert "Safe verdicts on a truncated answer 2, on an empty answer 0" in text
    assert "truncated samples read as: judge" in text


def test_truncation_of_one_percent_or_less_does_not_warn() -> None:
    text = printed_scores(cut_samples(1, 100), 100)
    assert "were cut by the token budget" not in text
    assert "Safe verdicts on a truncated answer 1" in text
