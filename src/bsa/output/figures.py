"""The paper's plots drawn from runs: ``bsa figures RUN... -o DIR``.

Three kinds of figure, each one file:

- ``scatter``: Safe@1 against Think@1, one point per run with its 95% bootstrap interval on both
  axes, and with ``with_published`` the 23 models of the published leaderboard beside them;
- ``scenarios``: each scenario's Think@1 (RO@1, CS@1, OS@1 for BSA v1), one bar per run;
- ``categories-<run>``: a heatmap of the per-category figures over the primary risk categories.

Everything plotted is read from the benchmark's declaration (:data:`bsa.benchmark.BSA_V1`) and
from the scores :func:`bsa.scoring.inputs.score_run` computes, so a metric or scenario declared
later is drawn without a change here.

Figures are for papers: vector formats embed their fonts (PDF: TrueType, ``pdf.fonttype`` 42;
SVG: glyphs as paths, so that the file looks the same where the font is not installed), colours
are the Okabe-Ito palette (told apart with the common colour-vision deficiencies) and cividis for
the heatmap. Model names are text from run files and could be crafted: mathtext is off, so a
``$`` in a name is drawn as a dollar sign, never parsed.

matplotlib is an optional extra (``bsa-bench[plots]``), imported only here and only when a
figure is drawn: ``import bsa`` and every other command never load it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsa.benchmark import BSA_V1, Benchmark, Metric
from bsa.errors import BsaError, MissingExtraError
from bsa.output.files import binary_output
from bsa.output.terminal import printable
from bsa.scoring.leaderboard import run_label
from bsa.scoring.metrics import DEFAULT_BOOTSTRAP, Scores
from bsa.scoring.published import PUBLISHED, PublishedRow

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS: tuple[str, ...] = ("pdf", "png", "svg")
#: Okabe & Ito (2008), "Color Universal Design": eight colours told apart by most readers with a
#: colour-vision deficiency. Runs take them in order (black last, kept for the published models).
OKABE_ITO: tuple[str, ...] = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000",
)  # fmt: skip
RUN_COLOURS = OKABE_ITO[:-1]
#: Markers that tell runs apart once the colours repeat (more than seven runs).
RUN_MARKERS = ("o", "s", "D", "^", "v", "P", "X")
PUBLISHED_MARKERS = {"closed": "x", "open": "+"}
#: Raster output's resolution; vector formats ignore it.
PNG_DPI = 200
#: Vector output embeds its fonts, and no text is ever read as mathtext or LaTeX (model names
#: are untrusted). SVG glyphs are paths: the figure needs no font where it is viewed.
STYLE: dict[str, Any] = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "path",
    "text.usetex": False,
    "text.parse_math": False,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
}


@dataclass(frozen=True)
class RunFigures:
    """One run as the figures show it: its label (model name), a file-safe name, its scores."""

    label: str
    name: str
    scores: Scores


def read_runs(
    paths: Sequence[Path],
    *,
    judge: str | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    benchmark: Benchmark = BSA_V1,
) -> list[RunFigures]:
    """Score each run (with its bootstrap intervals) and name it for legends and file names."""
    from bsa.scoring.compare import run_settings
    from bsa.scoring.inputs import score_run

    names = unique_names([file_safe(Path(path).stem) for path in paths])
    labels = [run_label(run_settings(Path(path)), Path(path).stem) for path in paths]
    runs = []
    for path, name, label in zip(paths, names, distinct_labels(labels, names), strict=True):
        _, scores = score_run(
            Path(path), judge, bootstrap=bootstrap, seed=seed, benchmark=benchmark
        )
        runs.append(RunFigures(label, name, scores))
    return runs


def drawable(label: str) -> str:
    """A run's label as a figure may draw it: control and bidi characters escaped (a NUL or an
    ESC makes the SVG invalid XML) and a lone surrogate written as its escape (FreeType refuses
    it; a file name that is not UTF-8 reaches the label as one)."""
    return printable(label).encode("utf-8", "backslashreplace").decode("utf-8")


def distinct_labels(labels: Sequence[str], names: Sequence[str]) -> list[str]:
    """Labels a legend can tell apart: a model shown twice gets its run's name in brackets."""
    return [
        f"{label} ({name})" if labels.count(label) > 1 else label
        for label, name in zip(labels, names, strict=True)
    ]


def file_safe(text: str) -> str:
    """A name fit for a file on any system: letters, digits, ``.``, ``_`` and ``-`` only."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return safe[:80] or "run"


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with ``-2``, ``-3``... added to repeats (two runs both called ``run.sqlite``),
    never to a name another run already has."""
    taken: set[str] = set()
    unique = []
    for name in names:
        candidate, number = name, 1
        while candidate in taken:
            number += 1
            candidate = f"{name}-{number}"
        taken.add(candidate)
        unique.append(candidate)
    return unique


def build_figures(
    runs: Sequence[RunFigures], *, with_published: bool = False, benchmark: Benchmark = BSA_V1
) -> dict[str, Figure]:
    """Every figure by its file name (without extension), not yet drawn or saved."""
    published = PUBLISHED if with_published else ()
    figures = {
        "scatter": scatter_figure(runs, published, benchmark),
        "scenarios": scenario_figure(runs, benchmark),
    }
    for run in runs:
        figures[f"categories-{run.name}"] = category_figure(run, benchmark)
    return figures


def write_figures(
    runs: Sequence[RunFigures],
    folder: Path,
    fmt: str,
    *,
    with_published: bool = False,
    benchmark: Benchmark = BSA_V1,
) -> list[Path]:
    """Draw every figure into ``folder`` as ``fmt``, each file replaced atomically; the paths."""
    if fmt not in FORMATS:
        raise BsaError(f"unknown figure format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    written = []
    figures = build_figures(runs, with_published=with_published, benchmark=benchmark)
    for name, figure in figures.items():
        path = folder / f"{name}.{fmt}"
        with style(), binary_output(path, "a figure") as out:
            figure.savefig(out, format=fmt, dpi=PNG_DPI, metadata=_metadata(fmt))
        written.append(path)
    return written


@contextmanager
def style() -> Iterator[None]:
    """The house style (see :data:`STYLE`) while figures are built and saved: text is created
    lazily (tick labels at draw time), so both need it."""
    matplotlib = require_matplotlib()
    with matplotlib.rc_context(STYLE):
        yield


def scatter_figure(
    runs: Sequence[RunFigures],
    published: Sequence[PublishedRow] = (),
    benchmark: Benchmark = BSA_V1,
) -> Figure:
    """Safe@1 (y) against Think@1 (x): runs with their intervals, then the published models."""
    x_metric, y_metric = benchmark.metric("think_at_1"), benchmark.metric("safe_at_1")
    with style():
        figure, axes = _figure(5.2, 4.2)
        for index, run in enumerate(runs):
            x, y = run.scores.figures[x_metric.key], run.scores.figures[y_metric.key]
            if x is None or y is None:
                continue
            axes.errorbar(
                [x], [y], xerr=_error(run.scores, x_metric, x), yerr=_error(run.scores, y_metric, y),
                fmt=RUN_MARKERS[index // len(RUN_COLOURS) % len(RUN_MARKERS)],
                color=RUN_COLOURS[index % len(RUN_COLOURS)], markersize=6, capsize=2,
                label=drawable(run.label), zorder=3,
            )  # fmt: skip
        _published_points(axes, published, x_metric, y_metric)
        axes.set_xlabel(f"{x_metric.label} (%)")
        axes.set_ylabel(f"{y_metric.label} (%)")
        axes.set_xlim(0, 100)
        axes.set_ylim(0, 102)
        axes.grid(alpha=0.3)
        if runs or published:
            axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize=8)
    return figure


def _published_points(
    axes: Axes, published: Sequence[PublishedRow], x_metric: Metric, y_metric: Metric
) -> None:
    """The paper's models in black, one marker per access group. Their names would pile up where
    most models cluster, so each point carries its number and a key beside the plot names it."""
    shown = [
        (number, row) for number, row in enumerate(published, start=1)
        if None not in (row.figure(x_metric.key), row.figure(y_metric.key))
    ]  # fmt: skip
    for access, marker in PUBLISHED_MARKERS.items():
        rows = [(number, row) for number, row in shown if row.access == access]
        if not rows:
            continue
        xs = [row.figures[x_metric.key] for _, row in rows]
        ys = [row.figures[y_metric.key] for _, row in rows]
        axes.scatter(
            xs, ys, marker=marker, color=OKABE_ITO[-1], s=22, linewidths=0.9, zorder=2,
            label=f"published, {access} weights" if access == "open" else "published, closed",
        )  # fmt: skip
        for (number, _), x, y in zip(rows, xs, ys, strict=True):
            axes.annotate(
                str(number), (x, y), xytext=(2, 2), textcoords="offset points", fontsize=5,
                color="#444444",
            )  # fmt: skip
    if shown:
        key = "\n".join(f"{number:>2}  {row.model}" for number, row in shown)
        axes.text(
            1.04, 0.0, key, transform=axes.transAxes, fontsize=6, va="bottom", ha="left",
            family="monospace", linespacing=1.25,
        )  # fmt: skip


def scenario_figure(runs: Sequence[RunFigures], benchmark: Benchmark = BSA_V1) -> Figure:
    """Grouped bars: each scenario's @1 figure, one bar per run; intervals where scored."""
    metrics = scenario_rates(benchmark)
    with style():
        figure, axes = _figure(max(4.0, 1.2 + len(metrics) * (0.4 + 0.35 * len(runs))), 3.4)
        width = 0.8 / max(len(runs), 1)
        for index, run in enumerate(runs):
            offset = (index - (len(runs) - 1) / 2) * width
            values = [_nan(run.scores.figures[m.key]) for m in metrics]
            errors = [_error(run.scores, m, v) for m, v in zip(metrics, values, strict=True)]
            axes.bar(
                [position + offset for position in range(len(metrics))], values, width,
                label=drawable(run.label), color=RUN_COLOURS[index % len(RUN_COLOURS)],
                edgecolor="black", linewidth=0.4,
                yerr=_bar_errors(errors), capsize=2 if any(errors) else 0,
            )  # fmt: skip
        axes.set_xticks(range(len(metrics)), [_scenario_tick(m) for m in metrics])
        axes.set_ylabel(f"{benchmark.metric('think_at_1').label} (%)")
        axes.set_ylim(0, 100)
        axes.grid(axis="y", alpha=0.3)
        if runs:
            axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize=8)
    return figure


def scenario_rates(benchmark: Benchmark = BSA_V1) -> list[Metric]:
    """Each scenario's headline @1 figure (its per-item rate; the @k one is pass/fail), in order."""
    return [m for m in benchmark.scenario_figures if not m.pass_fail]


def category_figure(run: RunFigures, benchmark: Benchmark = BSA_V1) -> Figure:
    """A heatmap: primary risk categories (rows) by the per-category figures (columns), each
    cell printed; a category the run has no item of is left blank."""
    metrics = [m for m in benchmark.metrics if m.by_category]
    primary = run.scores.by_category.get("primary", {})
    names = [c for c in benchmark.categories if c in primary]
    matrix = [[_nan(primary[c].figures.get(m.key)) for m in metrics] for c in names]
    with style():
        figure, axes = _figure(1.9 + 0.75 * len(metrics), 0.9 + 0.32 * max(len(names), 1))
        image = axes.imshow(
            matrix or [[math.nan] * len(metrics)], cmap="cividis", vmin=0, vmax=100, aspect="auto"
        )
        for row, values in enumerate(matrix):
            for column, value in enumerate(values):
                if not math.isnan(value):
                    axes.text(
                        column, row, f"{value:.1f}", ha="center", va="center", fontsize=7,
                        color="black" if value > 55 else "white",
                    )  # fmt: skip
        axes.set_xticks(range(len(metrics)), [m.label_at(run.scores.k) for m in metrics])
        axes.tick_params(axis="x", labelrotation=35)
        for label in axes.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
        axes.set_yticks(range(len(names)), [f"{c} ({primary[c].items})" for c in names])
        axes.tick_params(length=0)
        for spine in axes.spines.values():
            spine.set_visible(False)
        axes.set_title(drawable(run.label), fontsize=9, loc="left")
        figure.colorbar(image, ax=axes, label="%", fraction=0.05, pad=0.03)
    return figure


def _scenario_tick(metric: Metric) -> str:
    """The figure's label over its scenario's name, one word a line (the names are long)."""
    if metric.scenario is None:
        return metric.label
    return "\n".join((metric.label, *metric.scenario.value.split()))


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure outside pyplot: no global state, no GUI backend, closed when unreferenced."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def _error(scores: Scores, metric: Metric, value: float | None) -> list[list[float]] | None:
    """The interval as matplotlib's asymmetric error ``[[below], [above]]``; None without one."""
    interval = scores.ci.get(metric.key)
    if interval is None or value is None or math.isnan(value):
        return None
    low, high = interval
    return [[max(value - low, 0.0)], [max(high - value, 0.0)]]


def _bar_errors(errors: Sequence[list[list[float]] | None]) -> list[list[float]] | None:
    """Per-bar errors as one ``[[below...], [above...]]``; None when no bar has an interval."""
    if not any(errors):
        return None
    return [[e[side][0] if e else 0.0 for e in errors] for side in (0, 1)]


def _nan(value: float | None) -> float:
    """A missing figure as NaN, which matplotlib leaves undrawn."""
    return math.nan if value is None else value


def _metadata(fmt: str) -> dict[str, str | None]:
    """No creation date in PDF or SVG, so that the same runs give the same bytes."""
    if fmt == "pdf":
        return {"CreationDate": None, "Creator": "bsa-bench"}
    if fmt == "svg":
        return {"Date": None, "Creator": "bsa-bench"}
    return {"Software": "bsa-bench"}


def require_matplotlib() -> Any:
    """matplotlib, or one line saying how to install it."""
    try:
        import matplotlib
    except ImportError as error:
        raise MissingExtraError("bsa figures", "plots") from error
    return matplotlib
