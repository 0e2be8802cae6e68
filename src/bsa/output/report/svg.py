"""The report's plots as inline SVG, written as text in Python.

Inline SVG needs no plotting library, no script and no network, prints well and scales; the page's
Content-Security-Policy would block a JavaScript plotting library anyway. Styling is done with
presentation attributes (``fill``, ``stroke``), never ``style`` attributes, which the policy
forbids. Every label goes through :func:`bsa.output.report.html.text`, and each plot is well-formed
XML (a test parses it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bsa.output.report.html import text
from bsa.output.report.summaries import Cell

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
INK, MUTED, GRID = "#1f2933", "#6b7785", "#e3e7eb"
#: Colour-blind-safe series colours (Okabe-Ito).
SERIES = ("#0072b2", "#e69f00", "#009e73", "#cc79a7")
RUN_COLOUR = "#d55e00"
GROUP_COLOURS = {"open": "#56b4e9", "closed": "#999999", "run": RUN_COLOUR}
#: The heatmap's sequential scale (light to dark blue) for 0, 25, 50, 75 and 100 %.
SCALE = ("#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b")


@dataclass(frozen=True)
class Bar:
    """One bar: a percentage with an optional interval."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Point:
    """One scatter point; ``group`` picks its colour (``open``, ``closed`` or ``run``)."""

    label: str
    x: float
    y: float
    group: str
    x_interval: tuple[float, float] | None = None
    y_interval: tuple[float, float] | None = None


def num(value: float) -> str:
    """A coordinate with at most two decimals: shorter files, same picture."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def tag(name: str, content: str = "", **attributes: object) -> str:
    """An SVG element; attribute names use ``_`` for ``-`` (``font_size`` -> ``font-size``)."""
    attrs = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{_attribute(value)}"'
        for key, value in attributes.items()
        if value is not None
    )
    return f"<{name}{attrs}>{content}</{name}>" if content else f"<{name}{attrs}/>"


def _attribute(value: object) -> str:
    return num(value) if isinstance(value, float) else text(value)


def label(x: float, y: float, content: str, **attributes: object) -> str:
    """Escaped text; ``content`` is hostile until proven otherwise."""
    defaults: dict[str, object] = {"font_size": 12, "fill": INK}
    return tag("text", text(content), x=float(x), y=float(y), **{**defaults, **attributes})


def svg(width: int, height: int, title: str, body: str) -> str:
    """A standalone, accessible SVG element that scales with its container."""
    return tag(
        "svg",
        tag("title", text(title)) + body,
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {width} {height}",
        width=width,
        height=height,
        role="img",
        aria_label=title,
        font_family=FONT,
        class_="plot",
    )


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


# --- headline bars --------------------------------------------------------------------------


def bar_chart(bars: Sequence[Bar], title: str) -> str:
    """Horizontal 0-100 % bars with their 95% intervals as whiskers."""
    left, width, row = 90, 420, 30
    height = row * len(bars) + 40
    body = _percent_axis(left, width, 10, height - 26)
    for n, bar in enumerate(bars):
        body += _bar_row(bar, left, width, 10 + n * row, row)
    return svg(left + width + 60, height, title, body)


def _percent_axis(left: int, width: int, top: int, bottom: int) -> str:
    parts = []
    for tick in range(0, 101, 20):
        x = left + width * tick / 100
        parts.append(tag("line", x1=x, x2=x, y1=float(top), y2=float(bottom), stroke=GRID))
        parts.append(label(x, bottom + 16, f"{tick}", text_anchor="middle", fill=MUTED))
    return "".join(parts)


def _bar_row(bar: Bar, left: int, width: int, top: int, row: int) -> str:
    y = top + row / 2
    parts = [label(left - 8, y + 4, bar.label, text_anchor="end")]
    if bar.value is None:
        return parts[0] + label(left + 4, y + 4, "not computable", fill=MUTED)
    end = left + width * bar.value / 100
    parts.append(tag("rect", x=float(left), y=top + 6.0, width=end - left, height=row - 12.0,
                     fill=SERIES[0], rx=2))  # fmt: skip
    if bar.low is not None and bar.high is not None:
        parts.append(_whisker(left + width * bar.low / 100, left + width * bar.high / 100, y))
    value_x = left + width * max(bar.value, bar.high or 0) / 100 + 6
    parts.append(label(value_x, y + 4, f"{bar.value:.2f}"))
    return "".join(parts)


def _whisker(x1: float, x2: float, y: float) -> str:
    line = tag("line", x1=x1, x2=x2, y1=y, y2=y, stroke=INK, stroke_width=1.5)
    caps = "".join(
        tag("line", x1=x, x2=x, y1=y - 5, y2=y + 5, stroke=INK, stroke_width=1.5) for x in (x1, x2)
    )
    return line + caps


# --- grouped bars ---------------------------------------------------------------------------


def grouped_bar_chart(
    groups: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], title: str
) -> str:
    """Vertical 0-100 % bars, one group per scenario and one colour per series, with a legend."""
    left, top, plot_h, group_w = 40, 30, 200, 170
    width = left + group_w * len(groups) + 20
    body = _legend([name for name, _ in series], left, 14) + _value_axis(left, width, top, plot_h)
    bar_w = (group_w - 30) / len(series)
    for g, group in enumerate(groups):
        x0 = left + g * group_w + 15
        for s, (_, values) in enumerate(series):
            body += _column(values[g], x0 + s * bar_w, bar_w - 4, top, plot_h, SERIES[s])
        body += label(x0 + (group_w - 30) / 2, top + plot_h + 18, group, text_anchor="middle")
    return svg(width, top + plot_h + 30, title, body)


def _legend(names: Sequence[str], x: int, y: int) -> str:
    parts = []
    for n, name in enumerate(names):
        parts.append(tag("rect", x=float(x), y=y - 9.0, width=10, height=10, fill=SERIES[n]))
        parts.append(label(x + 14, y, name))
        x += 24 + 7 * len(name)
    return "".join(parts)


def _value_axis(left: int, width: int, top: int, plot_h: int) -> str:
    parts = []
    for tick in range(0, 101, 25):
        y = top + plot_h * (1 - tick / 100)
        parts.append(tag("line", x1=float(left), x2=float(width - 10), y1=y, y2=y, stroke=GRID))
        parts.append(label(left - 6, y + 4, f"{tick}", text_anchor="end", fill=MUTED))
    return "".join(parts)


def _column(value: float | None, x: float, w: float, top: int, plot_h: int, colour: str) -> str:
    if value is None:
        return label(x + w / 2, top + plot_h - 4, "—", text_anchor="middle", fill=MUTED)
    h = plot_h * value / 100
    bar = tag("rect", x=x, y=top + plot_h - h, width=w, height=h, fill=colour, rx=2)
    return bar + label(x + w / 2, top + plot_h - h - 4, f"{value:.1f}", text_anchor="middle",
                       font_size=10)  # fmt: skip


# --- heatmap --------------------------------------------------------------------------------


def heatmap(
    rows: Sequence[str],
    columns: Sequence[tuple[str, str]],
    cells: Mapping[tuple[str, str], Cell],
    title: str,
) -> str:
    """Think@1 per (row, column) cell with its item count; a cell can be clicked to filter the
    sample browser (``data-category``/``data-scenario``, read by the page's script)."""
    left, top, cell_w, cell_h = 270, 28, 104, 38
    body = "".join(
        label(left + c * cell_w + cell_w / 2, top - 10, name, text_anchor="middle", font_weight=600)
        for c, (_, name) in enumerate(columns)
    )
    for r, row in enumerate(rows):
        y = top + r * cell_h
        body += label(left - 8, y + cell_h / 2 + 4, row, text_anchor="end")
        for c, (key, _) in enumerate(columns):
            body += _heat_cell(cells[row, key], row, key, left + c * cell_w, y, (cell_w, cell_h))
    return svg(left + cell_w * len(columns) + 10, top + cell_h * len(rows) + 10, title, body)


def _heat_cell(cell: Cell, row: str, column: str, x: float, y: float, size: tuple[int, int]) -> str:
    w, h = size
    value = cell.think_at_1
    fill = "#f1f3f5" if value is None else scale_colour(value)
    ink = "#ffffff" if value is not None and value > 55 else INK
    hint = f"{row}, {column}: Think@1 {percent(value)} over {cell.items} items"
    box = tag("rect", tag("title", text(hint)), x=float(x) + 1, y=float(y) + 1, width=w - 2,
              height=h - 2, fill=fill, class_="heat-cell", data_category=row,
              data_scenario=column, tabindex=0)  # fmt: skip
    figure = label(x + w / 2, y + h / 2, percent(value), text_anchor="middle", fill=ink,
                   font_weight=600, pointer_events="none")  # fmt: skip
    count = label(x + w / 2, y + h / 2 + 13, f"n={cell.items}", text_anchor="middle", fill=ink,
                  font_size=10, pointer_events="none")  # fmt: skip
    return box + figure + count


def scale_colour(value: float) -> str:
    """The colour of a 0-100 value on :data:`SCALE`, interpolated linearly in RGB."""
    position = min(max(value, 0.0), 100.0) / 100 * (len(SCALE) - 1)
    low = min(int(position), len(SCALE) - 2)
    fraction = position - low
    a, b = _rgb(SCALE[low]), _rgb(SCALE[low + 1])
    mixed = (round(x + (y - x) * fraction) for x, y in zip(a, b, strict=True))
    return "#" + "".join(f"{channel:02x}" for channel in mixed)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


# --- scatter --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """Maps percentages to pixels: x and y ranges onto the plot area."""

    left: float
    top: float
    width: float
    height: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def x(self, value: float) -> float:
        low, high = self.x_range
        return self.left + self.width * (value - low) / (high - low)

    def y(self, value: float) -> float:
        low, high = self.y_range
        return self.top + self.height * (1 - (value - low) / (high - low))


def scatter(points: Sequence[Point], title: str, x_name: str, y_name: str) -> str:
    """Reference points with the run on top; names are drawn where they do not collide and are
    always in each point's tooltip."""
    frame = _Frame(56, 30, 560, 360, _axis_range(p.x for p in points), _axis_range(
        (p.y for p in points), floor=0))  # fmt: skip
    body = _scatter_axes(frame, x_name, y_name)
    body += _legend_groups(frame)
    placed = [_dot_box(p, frame) for p in points]  # names never cover a point
    for point in sorted(points, key=lambda p: p.group == "run", reverse=True):
        body += _scatter_label(point, frame, placed)
    for point in sorted(points, key=lambda p: p.group == "run"):
        body += _scatter_point(point, frame)
    return svg(int(frame.left + frame.width + 30), int(frame.top + frame.height + 50), title, body)


def _axis_range(values: Iterable[float], floor: float | None = None) -> tuple[float, float]:
    """Round tens around the data, within 0-100."""
    present = list(values)
    low = floor if floor is not None else max(0.0, math.floor(min(present) / 10 - 0.5) * 10)
    high = min(100.0, math.ceil(max(present) / 10 + 0.25) * 10)
    return float(low), float(high)


def _scatter_axes(frame: _Frame, x_name: str, y_name: str) -> str:
    parts = []
    for tick in _ticks(frame.x_range):
        x = frame.x(tick)
        parts.append(tag("line", x1=x, x2=x, y1=frame.top, y2=frame.top + frame.height,
                         stroke=GRID))  # fmt: skip
        parts.append(label(x, frame.top + frame.height + 16, f"{tick:g}", text_anchor="middle",
                           fill=MUTED))  # fmt: skip
    for tick in _ticks(frame.y_range):
        y = frame.y(tick)
        parts.append(tag("line", x1=frame.left, x2=frame.left + frame.width, y1=y, y2=y,
                         stroke=GRID))  # fmt: skip
        parts.append(label(frame.left - 6, y + 4, f"{tick:g}", text_anchor="end", fill=MUTED))
    bottom = frame.top + frame.height + 40
    parts.append(label(frame.left + frame.width / 2, bottom, x_name, text_anchor="middle"))
    middle = frame.top + frame.height / 2
    turn = f"rotate(-90 14 {num(middle)})"
    parts.append(label(14, middle, y_name, text_anchor="middle", transform=turn))
    return "".join(parts)


def _ticks(bounds: tuple[float, float]) -> list[float]:
    low, high = bounds
    step = 10.0 if high - low <= 60 else 20.0
    first = math.ceil(low / step) * step
    return [first + n * step for n in range(int((high - first) / step) + 1)]


def _legend_groups(frame: _Frame) -> str:
    parts, x = [], frame.left
    for group, name in (("run", "this run"), ("closed", "published, closed"),
                        ("open", "published, open")):  # fmt: skip
        parts.append(tag("circle", cx=x + 5, cy=frame.top - 14, r=5, fill=GROUP_COLOURS[group]))
        parts.append(label(x + 14, frame.top - 10, name))
        x += 30 + 7 * len(name)
    return "".join(parts)


def _scatter_point(point: Point, frame: _Frame) -> str:
    cx, cy = frame.x(point.x), frame.y(point.y)
    hint = tag("title", text(f"{point.label}: {point.x:.2f}, {point.y:.2f}"))
    whiskers = ""
    if point.x_interval:
        whiskers += _whisker(frame.x(point.x_interval[0]), frame.x(point.x_interval[1]), cy)
    if point.y_interval:
        y1, y2 = frame.y(point.y_interval[0]), frame.y(point.y_interval[1])
        whiskers += tag("line", x1=cx, x2=cx, y1=y1, y2=y2, stroke=INK, stroke_width=1.5)
    radius = 7 if point.group == "run" else 5
    dot = tag("circle", hint, cx=cx, cy=cy, r=radius, fill=GROUP_COLOURS.get(point.group, MUTED),
              stroke="#ffffff", stroke_width=1)  # fmt: skip
    return whiskers + dot


def _scatter_label(
    point: Point, frame: _Frame, placed: list[tuple[float, float, float, float]]
) -> str:
    """The point's name beside it (right, else left; the run's above its whiskers), unless every
    place would cover a name already drawn or leave the plot."""
    cx, cy = frame.x(point.x), frame.y(point.y)
    width = 6 * len(point.label)
    spots = [(cx + 8, cy + 4), (cx - 8 - width, cy + 4)]
    if point.group == "run":
        spots = [(cx + 10, cy - 12), (cx - 10 - width, cy - 12)]
    for x, y in spots:
        box = (x, y - 10, x + width, y + 2)
        inside = frame.left <= box[0] and box[2] <= frame.left + frame.width + 30
        if inside and not any(_overlap(box, other) for other in placed):
            placed.append(box)
            bold = 700 if point.group == "run" else None
            return label(x, y, point.label, font_size=10, fill=INK, font_weight=bold)
    return ""


def _dot_box(point: Point, frame: _Frame) -> tuple[float, float, float, float]:
    cx, cy = frame.x(point.x), frame.y(point.y)
    return (cx - 5, cy - 5, cx + 5, cy + 5)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
