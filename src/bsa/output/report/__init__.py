"""Reports people want to look at: one self-contained HTML file per run.

``write_report(run, output)`` scores the run (as ``bsa score`` does) and writes a page with the
headline figures and their intervals, scenario and category figures, the run among the published
leaderboard, judge health, usage, the run's settings, and a browser over every sample. The file
needs no network to view and runs nothing but its own script; see :mod:`bsa.output.report.page`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bsa.costs.prices import PriceFlags
from bsa.output.files import write_text
from bsa.output.report.collect import ReportData, collect_report
from bsa.output.report.page import render_page
from bsa.scoring.metrics import TruncatedPolicy


def render_report(
    run_path: Path,
    *,
    judge: str | None = None,
    panel: Sequence[str] | None = None,
    truncated: TruncatedPolicy = "judge",
    samples: bool = True,
    prices: PriceFlags | None = None,
) -> str:
    """The report of ``run_path`` as HTML text: as ``judge`` graded it (the run's only judge when
    None), or by the majority of the ``panel`` judges (every judge of the run when empty).
    Without ``samples``, the summary alone: no sample browser and none of the samples' text."""
    data = collect_report(run_path, judge, panel=panel, truncated=truncated, prices=prices)
    return render_page(data, samples=samples)


def write_report(
    run_path: Path,
    output: Path,
    *,
    judge: str | None = None,
    panel: Sequence[str] | None = None,
    truncated: TruncatedPolicy = "judge",
    samples: bool = True,
    prices: PriceFlags | None = None,
) -> Path:
    """Write the report of ``run_path`` to ``output`` (``-``: standard output) and return ``output``.

    Written to a temporary file and renamed, so an interrupted write never leaves half a report
    where a complete one was. Raises :class:`bsa.errors.BsaError` for a missing run file, a run
    without verdicts, or an ambiguous or unknown judge."""
    page = render_report(
        run_path, judge=judge, panel=panel, truncated=truncated, samples=samples, prices=prices
    )
    write_text(output, page, errors="replace")
    return output


__all__ = ["ReportData", "collect_report", "render_report", "write_report"]
