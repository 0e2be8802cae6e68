"""Choose which items a command works on: by scenario, category, id list, limit and seeded sample.

Filters narrow first (scenario, category, ids), then ``sample`` draws a stratified sample, then
``limit`` keeps the first N in dataset order. Items always keep the dataset's order, so a selection
reads the same however it was made.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bsa.benchmark import BSA_V1, CATEGORIES, SUB_CATEGORIES, Scenario
from bsa.data.dataset import Dataset, not_utf8
from bsa.data.items import Item
from bsa.errors import BsaError

#: A comment starts with '#' at the start of a line or after white space (an id may hold a '#').
_COMMENT = re.compile(r"(?:^|\s)#")


class SelectionError(BsaError):
    """A selection that names something the dataset does not have, or asks the impossible."""


@dataclass(frozen=True)
class Selection:
    """What to keep. Empty tuples and None mean "no restriction"."""

    scenarios: tuple[Scenario, ...] = ()
    categories: tuple[str, ...] = ()
    ids: tuple[str, ...] | None = None
    sample: int | None = None
    seed: int = 0
    limit: int | None = None

    @property
    def is_everything(self) -> bool:
        return self == Selection(seed=self.seed)


def parse_category(text: str) -> str:
    """Canonical name of a primary category or sub-category, matched case-insensitively."""
    key = " ".join(text.split()).casefold()
    for name in (*CATEGORIES, *SUB_CATEGORIES):
        if name.casefold() == key:
            return name
    raise SelectionError(
        f"unknown category {text!r}; 'bsa data stats' lists the 9 primary categories and "
        "17 sub-categories"
    )


def read_ids(path: Path) -> tuple[str, ...]:
    """One id per line; blank lines are ignored, and so is a ``#`` comment, on its own line or
    after an id (``7aa2…  # over-refused``)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as error:
        raise SelectionError(f"cannot read ids file {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise SelectionError(not_utf8(path, "ids file", error)) from error
    ids = tuple(item_id for line in lines if (item_id := _COMMENT.split(line, 1)[0].strip()))
    if not ids:
        raise SelectionError(f"ids file {path} lists no ids")
    return ids


def select(
    dataset: Dataset, selection: Selection, notify: Callable[[str], None] | None = None
) -> Dataset:
    """The items of ``dataset`` that ``selection`` keeps, in dataset order.

    ``notify`` hears of a ``sample`` larger than what the filters left: all of it is used, and the
    user is told how many that is rather than stopped (a loop over scenarios with one sample size
    should not fail on the smallest one, yet nobody should think they ran N items)."""
    wanted = None
    if selection.ids is not None:
        _check_ids_exist(dataset, selection.ids)
        wanted = frozenset(selection.ids)
    items = [item for item in dataset.items if _matches(item, selection, wanted)]
    if selection.sample is not None:
        if notify and selection.sample > len(items):
            notify(
                f"notice: --sample {selection.sample} is more than the {len(items)} selected "
                f"items; using all {len(items)}"
            )
        items = stratified_sample(items, selection.sample, selection.seed)
    if selection.limit is not None:
        if selection.limit < 1:
            raise SelectionError(f"--limit must be at least 1, got {selection.limit}")
        items = items[: selection.limit]
    return replace(dataset, items=tuple(items))


def _matches(item: Item, selection: Selection, wanted: frozenset[str] | None) -> bool:
    if selection.scenarios and item.scenario not in selection.scenarios:
        return False
    if wanted is not None and item.id not in wanted:
        return False
    if selection.categories:
        names = {*item.primary_categories, *item.sub_categories}
        return any(category in names for category in selection.categories)
    return True


def _check_ids_exist(dataset: Dataset, ids: Sequence[str]) -> None:
    known = {item.id for item in dataset.items}
    unknown = [i for i in ids if i not in known]
    if unknown:
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise SelectionError(
            f"id {unknown[0]!r}{more} not in the dataset ({dataset.source.location})"
        )


def stratified_sample(items: Sequence[Item], size: int, seed: int) -> list[Item]:
    """A sample of ``size`` items, stratified by scenario, the same for the same seed everywhere.

    Each scenario gets its share of ``size`` by largest remainder. Within a scenario items are
    ranked by sha256 of ``seed:id`` rather than by ``random``, so the draw depends on nothing but
    the seed and the ids (not on the Python version), and a larger sample contains a smaller one.
    """
    if size < 1:
        raise SelectionError(f"--sample must be at least 1, got {size}")
    if size >= len(items):
        return list(items)
    chosen: set[str] = set()
    for scenario, quota in _allocate(items, size).items():
        stratum = [item for item in items if item.scenario is scenario]
        stratum.sort(key=lambda item: hashlib.sha256(f"{seed}:{item.id}".encode()).digest())
        chosen.update(item.id for item in stratum[:quota])
    return [item for item in items if item.id in chosen]


def _allocate(items: Sequence[Item], size: int) -> dict[Scenario, int]:
    """Split ``size`` over scenarios in proportion to their counts (largest-remainder method)."""
    counts = {s: sum(1 for i in items if i.scenario is s) for s in BSA_V1.scenarios}
    counts = {s: n for s, n in counts.items() if n}
    total = sum(counts.values())
    exact = {s: size * n / total for s, n in counts.items()}
    quotas = {s: int(x) for s, x in exact.items()}
    by_remainder = sorted(
        counts, key=lambda s: (-(exact[s] - quotas[s]), BSA_V1.scenarios.index(s))
    )
    for scenario in by_remainder[: size - sum(quotas.values())]:
        quotas[scenario] += 1
    return quotas
