"""The score table printed by ``bsa score`` and at the end of ``bsa run``.

It reads the JSON form of the scores (bsa.scoring.metrics.Scores.as_json), so the table and ``--json``
can never disagree. Percentages are shown to the hundredth, like the published leaderboard.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from bsa.benchmark import BSA_V1, Benchmark
from bsa.output.terminal import rich_text
from bsa.scoring.identical_samples import identical_line
from bsa.scoring.panel_scores import panel_line
from bsa.scoring.truncation import truncation_line
from bsa.scoring.unscored_bound import has_unscored
from bsa.scoring.warnings import score_warnings


def pct(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}"


def interval(ci: dict[str, Any], key: str) -> str:
    bounds = ci.get(key)
    if not bounds:
        return ""
    low, high = bounds
    return f"[{low:.2f}, {high:.2f}]"


def print_scores(
    scores: dict[str, Any],
    title: str,
    console: Console | None = None,
    benchmark: Benchmark = BSA_V1,
) -> None:
    """Headline figures with 95% intervals, scenarios, categories, and what was not scored: the
    figures and scenarios ``benchmark`` declares."""
    console = console or Console(highlight=False)
    k = scores["k"]
    bounded = has_unscored(scores)
    columns = ("metric", "%", "95% CI", *(("if unscored failed",) if bounded else ()))
    headline = Table(*columns, title=rich_text(title))
    for metric in benchmark.overall_figures:
        key = metric.key
        bound = (pct(scores["if_unscored_failed"][key]),) if bounded else ()
        row = (metric.label_at(k), pct(scores[key]), interval(scores["ci"], key))
        headline.add_row(*row, *bound)
    console.print(headline)
    scenario = Table(
        "scenario", "Think@1", f"Think@{k}", "SSA rate % (SSA/graded)", title="By scenario"
    )
    for declared in benchmark.scenarios:
        code = declared.code.lower()
        at_1, at_k = pct(scores[f"{code}_at_1"]), pct(scores[f"{code}_at_k"])
        scenario.add_row(declared.value, at_1, at_k, ssa_with_counts(scores, declared.code))
    console.print(scenario)
    _print_categories(scores, console)
    console.print(_health_line(scores), markup=False)
    console.print(truncation_line(scores), markup=False)
    console.print(identical_line(scores["counts"]), markup=False)
    for warning in score_warnings(scores):
        console.print(warning, markup=False)


def print_panel(
    scores: dict[str, Any], console: Console | None = None, benchmark: Benchmark = BSA_V1
) -> None:
    """Each panel member's headline figures beside the panel's, then every pair's agreement."""
    console = console or Console(highlight=False)
    panel, k = scores["panel"], scores["k"]
    members = panel["members"]
    table = Table("metric", title="Judge panel")
    for judge in members:
        table.add_column(rich_text(judge))
    table.add_column("panel")
    for metric in benchmark.display_order:
        figures = (pct(member[metric.key]) for member in members.values())
        table.add_row(metric.label_at(k), *figures, pct(scores[metric.key]))
    console.print(table)
    agreement = Table("judges", "verdict", "paired", "agree %", "Cohen's kappa", title="Agreement")
    for pair in panel["agreement"]:
        for kind, figures in pair["kinds"].items():
            kappa = figures["kappa"]
            agreement.add_row(
                rich_text(" vs ".join(pair["judges"])), kind, str(figures["paired"]),
                pct(figures["agreement"]), "—" if kappa is None else f"{kappa:.3f}",
            )  # fmt: skip
    console.print(agreement)
    console.print(panel_line(panel), markup=False)


def ssa_with_counts(scores: dict[str, Any], scope: str) -> str:
    """The SSA rate beside its sample counts: a rate over few graded reasonings, or over none
    (every sample blocked or without reasoning), must not pass for a measured one."""
    counts = scores["ssa_counts"][scope]
    return f"{pct(scores['ssa_rate'][scope])} ({counts['numerator']}/{counts['denominator']})"


def _print_categories(scores: dict[str, Any], console: Console) -> None:
    k = scores["k"]
    table = Table(
        "primary category", "items", "Safe@1", "Think@1", f"Think@{k}", title="By category"
    )
    for name, figures in scores["by_category"]["primary"].items():
        table.add_row(
            rich_text(name),
            str(figures["items"]),
            pct(figures["safe_at_1"]),
            pct(figures["think_at_1"]),
            pct(figures["think_at_k"]),
        )
    console.print(table)


def _health_line(scores: dict[str, Any]) -> str:
    coverage, counts = scores["coverage"], scores["counts"]
    ssa = scores["ssa_counts"]["overall"]
    return (
        f"coverage: {coverage['items_complete']}/{coverage['items_expected']} items complete, "
        f"{coverage['safety_scored']} safety and {coverage['thinking_scored']} thinking verdicts "
        f"of {coverage['samples_expected']} samples; "
        f"SSA rate {pct(scores['ssa_rate']['overall'])}% ({ssa['numerator']} of "
        f"{ssa['denominator']} samples with graded reasoning); "
        f"blocked {counts['blocked']}, truncated {counts['truncated']}, no reasoning "
        f"{counts['no_reasoning']}, unscored {counts['unscored_safety']} safety / "
        f"{counts['unscored_thinking']} thinking, failed generations {counts['failed_generations']}"
    )
