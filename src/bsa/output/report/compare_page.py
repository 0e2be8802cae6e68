"""The comparison as one self-contained HTML page: the runs side by side, each run against the
baseline with intervals and p-values, and the items that flip.

No script at all: the page is tables. It is built with the report's toolkit
(:mod:`bsa.output.report.html`), so every query and model name is escaped and the page's policy lets
nothing load or run but its own inline style, named by hash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from bsa.benchmark import Benchmark
from bsa.output.files import write_text
from bsa.output.report.html import MISSING, document, pct, signed, text
from bsa.scoring.compare import FAIL_TO_PASS, PASS_TO_FAIL, Comparison, PairComparison, RunSummary
from bsa.scoring.metrics import CI_LEVEL

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 80em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; }
th { background: #f2f2f2; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.query { max-width: 50em; }
tr.significant td { background: #fff6d6; }
.warning { border-left: 4px solid #c80; background: #fff8e8; padding: 0.4em 0.8em; }
.note { color: #555; }
code { font-size: 0.95em; }
"""


def write_compare_html(
    comparison: Comparison, output: Path, *, max_flips: int = 1000, significance: float = 0.05
) -> None:
    """Write the page to ``output`` (``-``: standard output), atomically. A lone surrogate in a
    query or name becomes U+FFFD rather than stopping the write."""
    page = render_compare_html(comparison, max_flips, significance)
    write_text(output, page, errors="replace")


def render_compare_html(
    comparison: Comparison, max_flips: int = 1000, significance: float = 0.05
) -> str:
    """The page :func:`write_compare_html` writes, as text."""
    names = [run.name for run in comparison.runs]
    title = "BSA comparison: " + " vs ".join(names)
    body = [
        f"<h1>{text(title)}</h1>",
        _method_note(comparison, significance),
        *(f'<p class="warning">{text(w)}</p>' for w in comparison.warnings),
        "<h2>Runs side by side</h2>",
        _runs_table(comparison.runs, comparison.benchmark),
    ]
    labels = {m.key: m.label for m in comparison.benchmark.metrics}
    for pair, run in zip(comparison.pairs, comparison.runs[1:], strict=True):
        body += _pair_html(pair, (run.name, names[0]), max_flips, significance, labels)
    return document(title, "\n".join(body), STYLE)


def _method_note(comparison: Comparison, significance: float) -> str:
    return (
        f'<p class="note">Differences are run minus baseline ({text(comparison.runs[0].name)}), in '
        "percentage points, on the items both runs share. @1 figures and F-score: paired "
        f"bootstrap over items ({comparison.bootstrap} resamples, seed {comparison.seed}), "
        f"{round(CI_LEVEL * 100)}% percentile interval and two-sided p-value. @k figures: "
        "McNemar's exact test on the items that pass in one run only (the interval is the "
        f"bootstrap's). Highlighted: p &lt; {text(significance)}. F-score alpha = "
        f"{text(comparison.alpha)}.</p>"
    )


def _table(header: Sequence[str], rows: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> str:
    """A table from escaped-on-the-way-in cells: each row is (row class, [(cell class, text)])."""
    head = "".join(f"<th>{text(h)}</th>" for h in header)
    lines = [f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>"]
    for row_class, cells in rows:
        attr = f' class="{row_class}"' if row_class else ""
        tds = "".join(
            f'<td class="{cls}">{text(value)}</td>' if cls else f"<td>{text(value)}</td>"
            for cls, value in cells
        )
        lines.append(f"<tr{attr}>{tds}</tr>")
    lines.append("</tbody>\n</table>")
    return "\n".join(lines)


def _runs_table(runs: Sequence[RunSummary], benchmark: Benchmark) -> str:
    settings: list[tuple[str, list[str]]] = [
        ("model", [str(r.settings.model) for r in runs]),
        ("judge", [r.judge for r in runs]),
        ("k", [str(r.k) for r in runs]),
        ("safety rules", [r.settings.safety_rules or "none" for r in runs]),
        ("system prompt", ["yes" if r.settings.system_prompt else "no" for r in runs]),
        ("items", [str(r.items) for r in runs]),
        ("items complete", [str(r.scores.coverage.items_complete) for r in runs]),
    ]
    rows: list[tuple[str, Sequence[tuple[str, str]]]] = [
        ("", [("", label)] + [("", value) for value in values]) for label, values in settings
    ]
    for metric in benchmark.headline:
        figures = [pct(r.scores.figures[metric.key]) for r in runs]
        rows.append(("", [("", metric.label)] + [("num", f) for f in figures]))
    return _table(["", *(r.name for r in runs)], rows)


def _pair_html(
    pair: PairComparison,
    names: tuple[str, str],
    max_flips: int,
    significance: float,
    labels: Mapping[str, str],
) -> list[str]:
    run_name, base_name = names
    return [
        f"<h2>{text(run_name)} vs {text(base_name)}</h2>",
        f'<p class="note">{pair.shared_items} shared items ({pair.baseline_only_items} only in '
        f"the baseline, {pair.run_only_items} only in {text(run_name)}).</p>",
        _differences_table(pair, significance, labels),
        *_flips_html(pair, max_flips, labels),
    ]


def _differences_table(pair: PairComparison, significance: float, labels: Mapping[str, str]) -> str:
    header = ["figure", "baseline", "run", "difference", "95% CI", "p", "test", "items"]
    rows: list[tuple[str, Sequence[tuple[str, str]]]] = []
    for key, d in pair.differences.items():
        test = "McNemar exact" if d.test == "mcnemar_exact" else "paired bootstrap"
        if d.discordant is not None:
            test += f" ({d.discordant[0]} lost, {d.discordant[1]} gained)"
        significant = d.p_value is not None and d.p_value < significance
        cells = [
            ("", labels[key]),
            ("num", pct(d.baseline)),
            ("num", pct(d.run)),
            ("num", signed(d.difference)),
            ("num", f"[{signed(d.ci[0])}, {signed(d.ci[1])}]" if d.ci else MISSING),
            ("num", _p(d.p_value)),
            ("", test),
            ("num", str(d.items)),
        ]
        rows.append(("significant" if significant else "", cells))
    return _table(header, rows)


def _flips_html(pair: PairComparison, max_flips: int, labels: Mapping[str, str]) -> list[str]:
    counts = pair.flip_counts()
    summary = "; ".join(
        f"{labels[key]}: {c[PASS_TO_FAIL]} pass → fail, {c[FAIL_TO_PASS]} fail → pass"
        for key, c in counts.items()
    )
    parts = ["<h3>Items that flip</h3>", f'<p class="note">{text(summary)}.</p>']
    if not pair.flips:
        return parts
    shown = pair.flips[:max_flips]
    if len(shown) < len(pair.flips):
        parts.append(f'<p class="note">First {len(shown)} of {len(pair.flips)} listed.</p>')
    rows: list[tuple[str, Sequence[tuple[str, str]]]] = [
        (
            "",
            [
                ("", labels[f.metric]),
                ("", "pass → fail" if f.direction == PASS_TO_FAIL else "fail → pass"),
                ("", f.scenario),
                ("", f.item_id),
                ("query", f.query),
            ],
        )
        for f in shown
    ]
    parts.append(_table(["figure", "baseline → run", "scenario", "id", "query"], rows))
    return parts


def _p(value: float | None) -> str:
    if value is None:
        return MISSING
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
