"""The report as one self-contained HTML page: figures, plots, tables and the sample browser.

One file, nothing fetched: the stylesheet and the script are inline, the plots are inline SVG, the
samples are packed JSON blocks the script unpacks (a summary-only page has neither, see
:mod:`bsa.output.report.payload`). A Content-Security-Policy meta tag allows exactly that inline script and
style (by their sha256) and nothing else: no network, no other script, no inline event handler, so
even text that escaped escaping could not run. Every string from the run goes through
:func:`bsa.output.report.html.text` here or ``textContent`` in the script.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bsa.benchmark import PRIMARY_CATEGORIES, Metric
from bsa.costs.spend import money
from bsa.output.report.browser import BROWSER_SCRIPT, browser_controls
from bsa.output.report.collect import ReportData, Usage
from bsa.output.report.html import document, pct, text
from bsa.output.report.payload import packed_samples
from bsa.output.report.style import STYLESHEET
from bsa.output.report.summaries import ALL, COLUMNS, Distribution
from bsa.output.report.svg import Bar, Point, bar_chart, grouped_bar_chart, heatmap, scatter
from bsa.scoring.metrics import f_score
from bsa.scoring.panel_scores import panel_line
from bsa.scoring.published import PUBLISHED, SOURCE
from bsa.scoring.unscored_bound import has_unscored
from bsa.scoring.warnings import score_warnings

CITATION = (
    "Zheng et al., Beyond Safe Answers: A Benchmark for Evaluating True Risk Awareness in Large "
    "Reasoning Models, arXiv:2505.19690. Queries and risk summaries are from the BSA dataset, "
    "© its authors, CC BY-NC 4.0."
)
SECTIONS = (
    ("headline", "Headline"),
    ("panel", "Judge panel"),
    ("scenarios", "Scenarios"),
    ("categories", "Categories"),
    ("leaderboard", "Leaderboard"),
    ("health", "Judge health & usage"),
    ("config", "Run config"),
    ("samples", "Samples"),
)


def render_page(data: ReportData, *, samples: bool = True) -> str:
    """The whole HTML document; without ``samples``, a summary-only page (no sample browser, no
    sample data, no script)."""
    title = f"BSA report: {data.model or 'unknown model'} judged by {data.judge}"
    body = "".join(
        (
            _page_header(data),
            _toc(data, samples),
            "<main>",
            headline_section(data),
            panel_section(data),
            scenario_section(data),
            category_section(data, samples),
            leaderboard_section(data),
            health_section(data),
            config_section(data),
            browser_section() if samples else "",
            "</main>",
            f"<footer><p>{text(CITATION)}</p><p>{text(SOURCE)}.</p></footer>",
        )
    )
    if not samples:
        return document(title, body, STYLESHEET)
    rows, texts = packed_samples(data)
    blocks = {"data": rows, "texts": texts}
    return document(title, body, STYLESHEET, script=BROWSER_SCRIPT, data=blocks)


def _page_header(data: ReportData) -> str:
    version = data.settings.get("tool_version") or "unknown"
    parts = (f"judged by {data.judge}", f"k = {data.k}", f"run file {data.run_name}")
    line = " · ".join((*parts, f"bsa-bench {version}"))
    return (
        f'<header class="page"><h1>BSA report: {text(data.model or "unknown model")}</h1>'
        f'<p class="subtitle">{text(line)}</p></header>'
    )


def _toc(data: ReportData, samples: bool) -> str:
    hidden = {"panel"} if "panel" not in data.scores else set()
    hidden |= set() if samples else {"samples"}
    shown = [(key, name) for key, name in SECTIONS if key not in hidden]
    links = "".join(f'<li><a href="#{key}">{text(name)}</a></li>' for key, name in shown)
    return f'<nav class="toc"><ul>{links}</ul></nav>'


def _section(key: str, content: str) -> str:
    return f'<section id="{key}"><h2>{text(dict(SECTIONS)[key])}</h2>{content}</section>'


# --- tables and numbers ---------------------------------------------------------------------


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    numeric: int = 1,
    marked: Iterable[int] = (),
) -> str:
    """A table whose every cell is escaped; columns from ``numeric`` on are right-aligned, rows
    whose index is in ``marked`` are highlighted."""
    head = "".join(_cell("th", h, n >= numeric) for n, h in enumerate(headers))
    highlight = set(marked)
    body = "".join(
        ('<tr class="run">' if r in highlight else "<tr>")
        + "".join(_cell("td", c, n >= numeric) for n, c in enumerate(row))
        + "</tr>"
        for r, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(kind: str, value: object, numeric: bool) -> str:
    shown = pct(value) if isinstance(value, float) or value is None else str(value)
    css = ' class="num"' if numeric else ' class="value"' if kind == "td" and not numeric else ""
    return f"<{kind}{css}>{text(shown)}</{kind}>"


def at_k(name: str, k: int) -> str:
    return name.replace("@k", f"@{k}")


# --- headline -------------------------------------------------------------------------------


def headline_section(data: ReportData) -> str:
    scores = data.scores
    figures = data.benchmark.overall_figures
    cards = "".join(
        _card(m.label_at(data.k), scores[m.key], scores["ci"].get(m.key)) for m in figures
    )
    ssa = scores["ssa_counts"]["overall"]
    cards += _card(
        "SSA rate",
        scores["ssa_rate"].get("overall"),
        None,
        f"{ssa['numerator']} of {ssa['denominator']} graded reasonings: safe answer, reasoning "
        f"missed the risk; not graded: {ssa['blocked']} blocked, {ssa['no_reasoning']} without "
        "reasoning",
    )
    bars = [
        Bar(m.label_at(data.k), scores[m.key], *(scores["ci"].get(m.key) or (None, None)))
        for m in figures
    ]
    plot = bar_chart(bars, "Headline metrics with 95% bootstrap intervals")
    return _section(
        "headline",
        f'<div class="cards">{cards}</div><div class="plots">{plot}</div>{_bound(scores, data.k, figures)}'
        f"{_warnings(scores)}{_coverage(data)}",
    )


def _bound(scores: dict[str, Any], k: int, figures: Sequence[Metric]) -> str:
    """The headline as if every unscored verdict had failed, when any is unscored."""
    if not has_unscored(scores):
        return ""
    bound = scores["if_unscored_failed"]
    listed = ", ".join(f"{m.label_at(k)} {pct(bound[m.key])}" for m in figures)
    return f"<p>{text('If every unscored verdict had failed: ' + listed)}</p>"


def _warnings(scores: dict[str, Any]) -> str:
    """The score's warnings, as the table prints them under the figures."""
    return "".join(f"<p><strong>{text(warning)}</strong></p>" for warning in score_warnings(scores))


def _ssa_counts(scores: dict[str, Any], scope: str) -> tuple[str, int, int]:
    """The SSA rate's sample counts in one scope: SSA/graded, blocked, no reasoning."""
    counts = scores["ssa_counts"][scope]
    graded = f"{counts['numerator']} / {counts['denominator']}"
    return graded, counts["blocked"], counts["no_reasoning"]


def _card(name: str, value: float | None, ci: Sequence[float] | None, note: str = "") -> str:
    interval = f"95% CI [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else note
    return (
        f'<div class="card"><div class="name">{text(name)}</div>'
        f'<div class="value">{text(pct(value))}</div><div class="ci">{text(interval)}</div></div>'
    )


def _coverage(data: ReportData) -> str:
    c, method = data.scores["coverage"], data.scores["ci_method"]
    rows = [
        ("items asked", c["items_expected"]),
        ("items with a scored safety / thinking verdict",
         f"{c['items_with_safety']} / {c['items_with_thinking']}"),
        (f"items with {data.k} scored safety / thinking verdicts (the @{data.k} denominators)",
         f"{c['items_safety_at_k']} / {c['items_thinking_at_k']}"),
        ("samples expected / judged", f"{c['samples_expected']} / {c['samples_judged']}"),
        ("safety / thinking verdicts scored", f"{c['safety_scored']} / {c['thinking_scored']}"),
    ]  # fmt: skip
    note = (
        "Rates are over the items present, in percent. Intervals: percentile bootstrap over items, "
        f"{method['resamples']} resamples, seed {method['seed']}. F-score weight alpha = "
        f"{data.scores['alpha']:.4f}."
    )
    return f'<h3>Coverage</h3>{table(("", "count"), rows)}<p class="note">{text(note)}</p>'


# --- scenarios ------------------------------------------------------------------------------


def scenario_section(data: ReportData) -> str:
    scores, k = data.scores, data.k
    names = {s.code: s.value for s in data.benchmark.scenarios}
    codes = [code.lower() for code in names]
    think_1 = [scores[f"{code}_at_1"] for code in codes]
    think_k = [scores[f"{code}_at_k"] for code in codes]
    ssa = [scores["ssa_rate"].get(code) for code in names]
    counts = [sum(i.scenario.code == code for i in data.items) for code in names]
    rows: list[tuple[object, ...]] = [
        (*row, *_ssa_counts(scores, code))
        for code, *row in zip(names, names.values(), counts, think_1, think_k, ssa, strict=True)
    ]
    rows.append(("All", len(data.items), scores["think_at_1"], scores["think_at_k"],
                 scores["ssa_rate"].get("overall"), *_ssa_counts(scores, "overall")))  # fmt: skip
    series = [("Think@1", think_1), (at_k("Think@k", k), think_k), ("SSA rate", ssa)]
    plot = grouped_bar_chart(list(names.values()), series, "Think and SSA rate by scenario")
    headers = ("scenario", "items", "Think@1", at_k("Think@k", k), "SSA rate",
               "SSA / graded samples", "blocked", "no reasoning")  # fmt: skip
    note = (
        "SSA rate (superficial safety alignment): samples judged safe whose reasoning the "
        "thinking judge graded as failing, among samples with a safety verdict and a graded "
        "reasoning. Blocked samples and samples without reasoning have no reasoning to grade: "
        "they are counted beside the rate, not in it."
    )
    return _section(
        "scenarios",
        table(headers, rows) + f'<div class="plots">{plot}</div><p class="note">{text(note)}</p>',
    )


# --- categories -----------------------------------------------------------------------------


def category_section(data: ReportData, samples: bool = True) -> str:
    """The category heatmap and tables; its cells lead to their samples where the page has them."""
    columns = [(code, code) for code in COLUMNS if code != ALL] + [(ALL, "All")]
    plot = heatmap(
        PRIMARY_CATEGORIES, columns, data.grid, "Think@1 by primary category and scenario"
    )
    note = (
        "Think@1 (%) per primary category and scenario, n = items. A Cognitive Shortcut item "
        "counts in each of its categories."
        + (" Click a cell to see its samples." if samples else "")
    )
    by = data.scores["by_category"]
    return _section(
        "categories",
        f'<div class="plots">{plot}</div><p class="note">{text(note)}</p>'
        f"<h3>Primary categories</h3>{_category_table(by['primary'], data.k)}"
        f"<h3>Sub-categories</h3>{_category_table(by['sub'], data.k)}",
    )


def _category_table(groups: Mapping[str, Mapping[str, Any]], k: int) -> str:
    headers = ("category", "items", "Safe@1", at_k("Safe@k", k), "Think@1", at_k("Think@k", k))
    rows = [
        (name, g["items"], g["safe_at_1"], g["safe_at_k"], g["think_at_1"], g["think_at_k"])
        for name, g in groups.items()
    ]
    return table(headers, rows)


# --- leaderboard ----------------------------------------------------------------------------


def leaderboard_section(data: ReportData) -> str:
    scores = data.scores
    points = [Point(m.model, m.safe_at_1, m.think_at_1, m.access) for m in PUBLISHED]
    if scores["safe_at_1"] is not None and scores["think_at_1"] is not None:
        points.append(Point(
            data.model or "this run", scores["safe_at_1"], scores["think_at_1"], "run",
            _interval(scores["ci"].get("safe_at_1")), _interval(scores["ci"].get("think_at_1")),
        ))  # fmt: skip
    plot = scatter(
        points,
        "Safe@1 against Think@1, with the published leaderboard",
        "Safe@1 (%)",
        "Think@1 (%)",
    )
    note = (
        f"Reference points: {SOURCE}. Safe@1 and Think@1 do not depend on k; this run has "
        f"k = {data.k}. Hover a point for its name; whiskers are this run's 95% intervals."
    )
    return _section(
        "leaderboard",
        f'<div class="plots">{plot}</div><p class="note">{text(note)}</p>'
        "<details><summary>The published table beside this run</summary>"
        f"{_leaderboard_table(data)}</details>",
    )


def _interval(ci: Sequence[float] | None) -> tuple[float, float] | None:
    return (ci[0], ci[1]) if ci else None


def _leaderboard_table(data: ReportData) -> str:
    """Published rows and this run's, by Think@1; the run's row is marked. Every F-score is
    recomputed at this run's alpha (the printed column mixes two alphas), the printed one
    beside it."""
    s = data.scores
    alpha = s["alpha"]
    run_name = f"{data.model or 'this run'} (this run, k = {data.k})"
    run: tuple[object, ...] = (run_name, "", s["safe_at_1"], s["think_at_1"], s["f_score"], None)
    rows: list[tuple[object, ...]] = [
        (m.model, m.access, m.safe_at_1, m.think_at_1,
         f_score(m.think_at_1, m.safe_at_1, alpha), m.f_score)
        for m in PUBLISHED
    ]  # fmt: skip
    rows.append(run)
    rows.sort(key=lambda row: -1.0 if row[3] is None else -float(row[3]))  # type: ignore[arg-type]
    headers = (
        "model", "weights", "Safe@1", "Think@1", f"F-score (alpha {alpha:.4f})", "F-score printed"
    )  # fmt: skip
    return table(headers, rows, numeric=2, marked=[rows.index(run)])


# --- judge panel ----------------------------------------------------------------------------


def panel_section(data: ReportData) -> str:
    """Each panel member's figures beside the panel's, and every pair's agreement; empty for a
    run read through one judge."""
    panel = data.scores.get("panel")
    if panel is None:
        return ""
    members = panel["members"]
    figures = [
        (m.label_at(data.k), *(member[m.key] for member in members.values()), data.scores[m.key])
        for m in data.benchmark.display_order
    ]
    pairs = [
        (" vs ".join(pair["judges"]), kind, figures["paired"], figures["agreement"],
         "—" if figures["kappa"] is None else f"{figures['kappa']:.3f}")
        for pair in panel["agreement"]
        for kind, figures in pair["kinds"].items()
    ]  # fmt: skip
    why = (
        "<p>A panel verdict is the label more than half of the judges gave; otherwise it is "
        f"unscored. {text(panel_line(panel))}.</p>"
    )
    return _section(
        "panel",
        table(("", *members, "panel"), figures)
        + table(("judges", "verdict", "paired", "agree %", "Cohen's kappa"), pairs, numeric=2)
        + why,
    )


# --- health and usage -----------------------------------------------------------------------


def health_section(data: ReportData) -> str:
    counts, status = data.scores["counts"], data.judgement_status
    rows = [
        ("blocked by the provider's content filter", counts["blocked"]),
        ("truncated (reasoning used the token budget)", counts["truncated"]),
        ("Safe verdicts on a truncated answer / on an empty answer",
         f"{counts['safe_on_truncated']} / {counts['safe_on_empty_answer']}"),
        ("truncated samples read as (--truncated)", _truncated_policy(data.scores)),
        ("no reasoning", counts["no_reasoning"]),
        ("unscored safety verdicts", counts["unscored_safety"]),
        ("unscored thinking verdicts", counts["unscored_thinking"]),
        ("judge verdicts scored / unscored / failed",
         " / ".join(str(status.get(s, 0)) for s in ("scored", "unscored", "failed"))),
        ("failed generations (missing samples)", counts["failed_generations"]),
        ("samples that needed a retry", data.usage.retried),
        ("items whose ok samples are all byte-identical / items with 2 or more ok samples",
         _identical(counts)),
    ]  # fmt: skip
    reasons = list(data.unscored_reasons.items())[:10]
    why = table(("why a verdict is missing", "verdicts"), reasons) if reasons else ""
    usage = _usage_tables(data.usage) + _spending_table(data.spending)
    return _section("health", table(("", "samples"), rows) + why + usage)


def _spending_table(spending: dict[str, Any] | None) -> str:
    """Tokens and cost so far per stage; "no prices" where none is known, never $0."""
    if spending is None:
        return ""
    stages = [("model", spending["model"]), *(("judge", j) for j in spending["judges"])]
    rows = [
        (f"{role} {entry['name']}", f"{entry['calls']:,}", f"{entry['input_tokens']:,}",
         f"{entry['cached_tokens']:,}", f"{entry['cache_write_tokens']:,}",
         f"{entry['output_tokens']:,}",
         "no prices" if entry["cost_usd"] is None else money(entry["cost_usd"]))
        for role, entry in stages
    ]  # fmt: skip
    total = spending["total_cost_usd"]
    rows.append(("total", "", "", "", "", "", "no prices" if total is None else money(total)))
    headers = ("", "calls", "tokens in", "cached", "written to cache", "tokens out", "cost")
    return f"<h3>Tokens and cost so far</h3>{table(headers, rows)}"


def _identical(counts: dict[str, Any]) -> str:
    """Identical items of the compared ones; not checked at temperature 0, where they are due."""
    identical = counts["identical_sample_items"]
    shown = "not checked (temperature 0)" if identical is None else str(identical)
    return f"{shown} / {counts['multi_sample_items']}"


def _truncated_policy(scores: dict[str, Any]) -> str:
    excluded = scores["coverage"]["truncated_excluded"]
    policy = scores["settings"]["truncated"]
    return f"{policy} ({excluded} left out of the figures)" if excluded else policy


def _usage_tables(usage: Usage) -> str:
    headers = ("", "count", "total", "mean", "median", "p95", "max")
    model = [
        _distribution_row("prompt tokens", usage.prompt_tokens),
        _distribution_row("completion tokens", usage.completion_tokens),
        _distribution_row("reasoning tokens", usage.reasoning_tokens),
        _distribution_row("latency (s)", usage.latency_s),
    ]
    judge = [
        _distribution_row("prompt tokens", usage.judge_prompt_tokens),
        _distribution_row("completion tokens", usage.judge_completion_tokens),
        _distribution_row("latency (s)", usage.judge_latency_s),
    ]
    tallies = table(("finish reason", "samples"), usage.finish_reasons.items()) + table(
        ("reasoning source", "samples"), usage.reasoning_sources.items()
    )
    return (
        f"<h3>Model under test</h3>{table(headers, model)}"
        f'<h3>Judge calls</h3>{table(headers, judge)}<div class="plots">{tallies}</div>'
    )


def _distribution_row(name: str, d: Distribution) -> tuple[str, ...]:
    def fmt(value: float | None) -> str:
        return "—" if value is None else f"{value:,.2f}".rstrip("0").rstrip(".")

    return (
        name,
        f"{d.count:,}",
        fmt(d.total),
        fmt(d.mean),
        fmt(d.median),
        fmt(d.p95),
        fmt(d.maximum),
    )


# --- config ---------------------------------------------------------------------------------


def config_section(data: ReportData) -> str:
    note = (
        "As recorded in the run file. API keys are never stored there; settings named like "
        "secrets and the values of secret-named environment variables are masked all the same."
    )
    rows = list(flatten(data.settings))
    return _section(
        "config", table(("setting", "value"), rows, numeric=2) + f'<p class="note">{text(note)}</p>'
    )


def flatten(value: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    """Nested settings as ``a.b.c`` keys and display values."""
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            yield from flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, str):
        yield prefix, value
    else:
        yield prefix, json.dumps(value, ensure_ascii=False)


# --- sample browser -------------------------------------------------------------------------


def browser_section() -> str:
    return _section("samples", browser_controls())
