"""Figures the report shows beside the scores: the category x scenario grid and usage summaries.

Pure functions over what :mod:`bsa.scoring.inputs` already read, so the grid agrees with the category
scores by construction: a cell is the mean over its items of each item's share of thinking-accurate
samples (Think@1 restricted to the cell), with the same exclusions as :mod:`bsa.scoring.metrics`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bsa.benchmark import BSA_V1, PRIMARY_CATEGORIES
from bsa.data.items import Item
from bsa.scoring.metrics import SampleScore

#: The heatmap's columns: each scenario code, then every scenario together.
ALL = "all"
COLUMNS: tuple[str, ...] = (*(s.code for s in BSA_V1.scenarios), ALL)


@dataclass(frozen=True)
class Cell:
    """One heatmap cell: items asked in it, and Think@1 over those with a scored verdict."""

    items: int
    think_at_1: float | None


@dataclass(frozen=True)
class Distribution:
    """Summary of a numeric column; ``count`` counts the values present."""

    count: int
    total: float
    mean: float | None
    median: float | None
    p95: float | None
    maximum: float | None


def item_think_shares(samples: Iterable[SampleScore]) -> dict[str, float]:
    """Per item: passing thinking verdicts over scored ones (items without any are absent)."""
    scored: dict[str, list[bool]] = defaultdict(list)
    for sample in samples:
        if sample.think is not None:
            scored[sample.item_id].append(sample.think)
    return {item_id: sum(v) / len(v) for item_id, v in scored.items()}


def category_grid(
    items: Sequence[Item], samples: Iterable[SampleScore]
) -> dict[tuple[str, str], Cell]:
    """(primary category, column) -> cell, for every category and column (empty cells too).

    A Cognitive Shortcut item with risks in two primary categories counts in both rows, once each,
    as in the category scores."""
    shares = item_think_shares(samples)
    members: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item in items:
        for primary in item.primary_categories:
            members[primary, item.scenario.code].append(item.id)
            members[primary, ALL].append(item.id)
    return {
        (primary, column): _cell(members[primary, column], shares)
        for primary in PRIMARY_CATEGORIES
        for column in COLUMNS
    }


def _cell(item_ids: Sequence[str], shares: dict[str, float]) -> Cell:
    present = [shares[i] for i in item_ids if i in shares]
    return Cell(len(item_ids), 100 * sum(present) / len(present) if present else None)


def distribution(values: Iterable[float | None]) -> Distribution:
    """Count, total, mean, median, 95th percentile (nearest rank) and maximum of the values
    present; a report shows the tail because a few very long reasoning traces drive cost."""
    present = sorted(float(v) for v in values if v is not None)
    if not present:
        return Distribution(0, 0.0, None, None, None, None)
    n = len(present)
    middle = n // 2
    median = present[middle] if n % 2 else (present[middle - 1] + present[middle]) / 2
    p95 = present[max(0, math.ceil(0.95 * n) - 1)]
    return Distribution(n, sum(present), sum(present) / n, median, p95, present[-1])
