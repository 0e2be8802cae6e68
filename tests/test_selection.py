"""Selecting items: filters, id lists, limits and the seeded stratified sample."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bsa.benchmark import Scenario
from bsa.data.dataset import Dataset
from bsa.data.selection import Selection, SelectionError, parse_category, read_ids, select

RO, CS, OS = Scenario.RISK_OMISSION, Scenario.COGNITIVE_SHORTCUT, Scenario.OVER_SENSITIVITY


def scenario_counts(dataset: Dataset) -> dict[str, int]:
    return dict(Counter(item.scenario.code for item in dataset.items))


def test_no_selection_keeps_everything(official_dataset: Dataset) -> None:
    assert select(official_dataset, Selection()).items == official_dataset.items
    assert Selection(seed=7).is_everything
    assert not Selection(limit=3).is_everything


def test_scenario_filter(official_dataset: Dataset) -> None:
    chosen = select(official_dataset, Selection(scenarios=(OS, RO)))
    assert scenario_counts(chosen) == {"RO": 600, "OS": 200}


def test_category_filter_matches_either_part_of_a_cs_item(official_dataset: Dataset) -> None:
    chosen = select(official_dataset, Selection(categories=("Pornography",)))
    assert all("Pornography" in item.primary_categories for item in chosen.items)
    # 152 classifications, some CS items may have it in both parts.
    assert 100 < len(chosen) <= 152
    sub = select(official_dataset, Selection(categories=("Child Pornography",)))
    assert sub.items == chosen.items


def test_category_names_are_matched_case_insensitively() -> None:
    assert parse_category("  rumors  ") == "Rumors"
    assert (
        parse_category("military and police-controlled items")
        == "Military and Police-Controlled Items"
    )
    with pytest.raises(SelectionError, match="unknown category 'Gambling'"):
        parse_category("Gambling")


def test_ids_file(official_dataset: Dataset, tmp_path: Path) -> None:
    wanted = [official_dataset.items[i].id for i in (5, 1, 1500)]
    path = tmp_path / "ids.txt"
    path.write_text("# my picks\n" + "\n".join(wanted) + "\n\n", encoding="utf-8")
    chosen = select(official_dataset, Selection(ids=read_ids(path)))
    assert [item.id for item in chosen.items] == [wanted[1], wanted[0], wanted[2]], "dataset order"


def test_unknown_id_is_an_error(official_dataset: Dataset) -> None:
    with pytest.raises(SelectionError, match=r"id 'nope' and 1 more not in the dataset"):
        select(official_dataset, Selection(ids=("nope", official_dataset.items[0].id, "nada")))


def test_ids_file_problems(tmp_path: Path) -> None:
    with pytest.raises(SelectionError, match="cannot read ids file"):
        read_ids(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(SelectionError, match="lists no ids"):
        read_ids(tmp_path / "empty.txt")


def test_limit_keeps_the_first(official_dataset: Dataset) -> None:
    chosen = select(official_dataset, Selection(scenarios=(CS,), limit=3))
    cs_items = [item for item in official_dataset.items if item.scenario is CS]
    assert chosen.items == tuple(cs_items[:3])
    with pytest.raises(SelectionError, match="--limit must be at least 1"):
        select(official_dataset, Selection(limit=0))


def test_sample_is_stratified_by_scenario(official_dataset: Dataset) -> None:
    assert scenario_counts(select(official_dataset, Selection(sample=20))) == {
        "RO": 6,
        "CS": 12,
        "OS": 2,
    }
    # 0.3/0.6/0.1 of 7 = 2.1/4.2/0.7: OS gets the one left over by largest remainder.
    assert scenario_counts(select(official_dataset, Selection(sample=7))) == {
        "RO": 2,
        "CS": 4,
        "OS": 1,
    }


def test_sample_is_reproducible_and_seeded(official_dataset: Dataset) -> None:
    first = select(official_dataset, Selection(sample=50, seed=1))
    assert select(official_dataset, Selection(sample=50, seed=1)).items == first.items
    assert select(official_dataset, Selection(sample=50, seed=2)).items != first.items
    larger = {item.id for item in select(official_dataset, Selection(sample=100, seed=1)).items}
    assert {item.id for item in first.items} <= larger, "a larger sample contains a smaller one"


def test_sample_larger_than_pool_keeps_all(official_dataset: Dataset) -> None:
    chosen = select(official_dataset, Selection(scenarios=(OS,), sample=500))
    assert len(chosen) == 200
    with pytest.raises(SelectionError, match="--sample must be at least 1"):
        select(official_dataset, Selection(sample=0))


def test_filters_then_sample_then_limit(official_dataset: Dataset) -> None:
    chosen = select(official_dataset, Selection(scenarios=(RO,), sample=40, seed=3, limit=5))
    sampled = select(official_dataset, Selection(scenarios=(RO,), sample=40, seed=3))
    assert chosen.items == sampled.items[:5]
