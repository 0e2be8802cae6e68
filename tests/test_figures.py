"""``bsa figures``: the paper's plots from two mock runs, checked as files and as data.

The values are read back from the matplotlib objects the figures are built from (before any
file is written) and compared with ``bsa score --json``; the files are checked for what a paper
needs (fonts embedded in the PDF, an SVG that parses, a PNG of a size to print).
"""

from __future__ import annotations

import json
import re
import struct
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bsa.benchmark import BSA_V1
from bsa.output.figures import (
    RunFigures,
    build_figures,
    category_figure,
    drawable,
    file_safe,
    read_runs,
    scatter_figure,
    scenario_figure,
    scenario_rates,
    unique_names,
    write_figures,
)
from bsa.scoring.published import PUBLISHED
from tests.bsa_command import bsa_in_process
from tests.optional import lazy, requires

needs = requires("matplotlib")
mpl_container = lazy("matplotlib.container")
mpl_text = lazy("matplotlib.text")

HOSTILE = "$x^2$ </svg> <b>"


@pytest.fixture(scope="module")
def second_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smaller mock run at another k, so that the two runs' figures differ."""
    from tests.conftest import isolate

    path = tmp_path_factory.mktemp("second-run") / "run.sqlite"
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, tmp_path_factory)
        result = bsa_in_process(
            "run", "--run", path, "--model", "mock", "--judge", "mock", "--sample", "30", "-k", "2"
        )
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def run_paths(mock_run_path: Path, second_run: Path) -> list[Path]:
    return [mock_run_path, second_run]


@pytest.fixture(scope="module")
def runs(run_paths: list[Path]) -> list[RunFigures]:
    return read_runs(run_paths)


@pytest.fixture(scope="module")
def score_json(run_paths: list[Path]) -> list[dict[str, Any]]:
    """What ``bsa score --json`` prints for each run (same default bootstrap and seed)."""
    payloads = []
    for path in run_paths:
        result = bsa_in_process("score", "--run", path, "--json")
        assert result.returncode == 0, result.stderr
        payloads.append(json.loads(result.stdout))
    return payloads


def test_scatter_points_and_intervals_are_the_scores(
    runs: list[RunFigures], score_json: list[dict[str, Any]]
) -> None:
    axes = scatter_figure(runs).axes[0]
    bars = [c for c in axes.containers if isinstance(c, mpl_container.ErrorbarContainer)]
    assert len(bars) == 2
    for container, scores in zip(bars, score_json, strict=True):
        line, _, (x_span, y_span) = container.lines
        assert list(line.get_xdata()) == pytest.approx([scores["think_at_1"]])
        assert list(line.get_ydata()) == pytest.approx([scores["safe_at_1"]])
        (x_low, _), (x_high, _) = x_span.get_segments()[0]
        (_, y_low), (_, y_high) = y_span.get_segments()[0]
        assert [x_low, x_high] == pytest.approx(scores["ci"]["think_at_1"])
        assert [y_low, y_high] == pytest.approx(scores["ci"]["safe_at_1"])
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["mock (run)", "mock (run-2)"]


def test_with_published_adds_the_23_published_models(runs: list[RunFigures]) -> None:
    axes = scatter_figure(runs, PUBLISHED).axes[0]
    points = [tuple(xy) for c in axes.collections if c.get_label().startswith("published")
              for xy in c.get_offsets()]  # fmt: skip
    assert len(points) == 23
    expected = {(row.think_at_1, row.safe_at_1) for row in PUBLISHED}
    assert set(points) == expected
    key = next(t for t in axes.texts if "Doubao" in t.get_text()).get_text()
    assert [line.split(maxsplit=1)[1] for line in key.splitlines()] == [r.model for r in PUBLISHED]
    assert not [c for c in scatter_figure(runs).axes[0].collections if c.get_label()[0] != "_"]


def test_scenario_bars_are_each_scenarios_think_at_1(
    runs: list[RunFigures], score_json: list[dict[str, Any]]
) -> None:
    axes = scenario_figure(runs).axes[0]
    metrics = scenario_rates()
    assert [m.label for m in metrics] == [f"{s.code}@1" for s in BSA_V1.scenarios]
    containers = [c for c in axes.containers if isinstance(c, mpl_container.BarContainer)]
    for container, scores in zip(containers, score_json, strict=True):
        heights = [patch.get_height() for patch in container.patches]
        assert heights == pytest.approx([scores[m.key] for m in metrics])
    ticks = [t.get_text() for t in axes.get_xticklabels()]
    assert ticks[0].splitlines() == ["RO@1", "Risk", "Omission"]


def test_category_heatmap_is_the_primary_category_scores(
    runs: list[RunFigures], score_json: list[dict[str, Any]]
) -> None:
    for run, scores in zip(runs, score_json, strict=True):
        axes = category_figure(run).axes[0]
        primary = scores["by_category"]["primary"]
        keys = [m.key for m in BSA_V1.metrics if m.by_category]
        expected = [_nan(primary[name][key]) for name in primary for key in keys]
        drawn = axes.images[0].get_array().filled(float("nan")).ravel().tolist()
        assert drawn == pytest.approx(expected, nan_ok=True)
        rows = [t.get_text() for t in axes.get_yticklabels()]
        assert rows == [f"{name} ({primary[name]['items']})" for name in primary]
        columns = [t.get_text() for t in axes.get_xticklabels()]
        k = scores["k"]
        assert columns == ["Safe@1", f"Safe@{k}", "Think@1", f"Think@{k}"]


@pytest.mark.parametrize("fmt", ["pdf", "png", "svg"])
def test_the_command_writes_one_valid_file_per_figure(
    run_paths: list[Path], tmp_path: Path, fmt: str
) -> None:
    folder = tmp_path / "figures"
    result = bsa_in_process(
        "figures",
        *run_paths,
        "-o",
        folder,
        "--format",
        fmt,
        "--with-published",
        "--bootstrap",
        "50",
    )
    assert result.returncode == 0, result.stderr
    names = ["scatter", "scenarios", "categories-run", "categories-run-2"]
    paths = [folder / f"{name}.{fmt}" for name in names]
    assert result.stdout.splitlines() == [f"wrote {path}" for path in paths]
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths)
    for path in paths:
        data = path.read_bytes()
        if fmt == "pdf":
            assert data.startswith(b"%PDF") and b"/FontFile2" in data  # TrueType, embedded
            assert b"/Type3" not in data
        elif fmt == "svg":
            ElementTree.fromstring(data)
            assert b"<text" not in data  # glyphs are paths: no font needed to view it
        else:
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            width, height = struct.unpack(">II", data[16:24])
            assert width >= 600 and height >= 500


def test_a_hostile_model_name_is_drawn_literally(runs: list[RunFigures], tmp_path: Path) -> None:
    """A name with mathtext and markup: drawn as the characters it is, and the SVG still parses."""
    hostile = [RunFigures(HOSTILE, "hostile", runs[0].scores)]
    for figure in (scatter_figure(hostile), scenario_figure(hostile), category_figure(hostile[0])):
        named = [t for t in figure.findobj(mpl_text.Text) if t.get_text() == HOSTILE]
        assert named and all(t.get_parse_math() is False for t in named)
    for path in write_figures(hostile, tmp_path, "svg"):
        data = path.read_text(encoding="utf-8")
        ElementTree.fromstring(data)
        assert "</svg>" not in data[: data.rindex("</svg>")]
    comments = re.findall(r"<!-- (.*?) -->", (tmp_path / "scatter.svg").read_text("utf-8"))
    assert "$x^2$ &lt;/svg&gt; &lt;b&gt;" in comments


#: Names with characters no figure may draw as they are.
CONTROL_NAMES = ["nul\x00 esc\x1b[31m red", "lone \ud800 surrogate", "bidi \u202e"]
FORMATS = ("svg", "pdf", "png")


def only_figure(kind: str) -> Callable[..., dict[str, Any]]:
    """``build_figures`` keeping the one figure ``kind``, for ``write_figures`` to save alone."""
    return lambda *args, **kwargs: {kind: build_figures(*args, **kwargs)[kind]}


@pytest.mark.parametrize("row, name", list(enumerate(CONTROL_NAMES)))
def test_control_characters_in_a_name_are_drawn_escaped(
    runs: list[RunFigures], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row: int, name: str
) -> None:
    """A control character would make the SVG invalid XML and a lone surrogate crashes FreeType:
    both are drawn as their escapes, in every figure and every format. Saving is what is slow, so
    the figure each name is saved as in each format follows a Latin square: every name is saved
    in every format and as every figure, and every format saves every figure (9 files, not 27)."""
    hostile = [RunFigures(name, "hostile", runs[0].scores)]
    shown = drawable(name)
    assert shown != name and "\\" in shown and shown.isprintable()
    for figure in (scatter_figure(hostile), scenario_figure(hostile), category_figure(hostile[0])):
        assert [t for t in figure.findobj(mpl_text.Text) if t.get_text() == shown]
    kinds = list(build_figures(hostile))
    for column, fmt in enumerate(FORMATS):
        kind = kinds[(row + column) % len(kinds)]
        monkeypatch.setattr("bsa.output.figures.build_figures", only_figure(kind))
        (path,) = write_figures(hostile, tmp_path / fmt, fmt)
        assert path.name == f"{kind}.{fmt}" and path.stat().st_size > 0
        if fmt == "svg":
            ElementTree.fromstring(path.read_text(encoding="utf-8"))


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def test_file_names_are_safe_and_distinct() -> None:
    assert file_safe("../../etc/passwd") == "etc_passwd"
    assert file_safe("$x^2$ </svg>") == "x_2_svg"
    assert file_safe("...") == "run"
    assert unique_names(["run", "run", "other", "run"]) == ["run", "run-2", "other", "run-3"]
    assert unique_names(["run", "run", "run-2"]) == ["run", "run-2", "run-2-2"]


def test_without_matplotlib_the_command_says_how_to_install_it(
    mock_run_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    result = bsa_in_process("figures", mock_run_path, "-o", tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: bsa figures needs an optional dependency: pip install 'bsa-bench[plots]'"
    ]
    assert list(tmp_path.iterdir()) == []
