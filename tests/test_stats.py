"""Dataset statistics: the website's category shares on the real data."""

from __future__ import annotations

from decimal import Decimal

from bsa.benchmark import Scenario
from bsa.data.stats import WEBSITE_SHARES, dataset_stats, share_percent


def test_share_rounds_half_up() -> None:
    assert share_percent(300, 3200) == Decimal("9.38")  # 9.375: round() would give 9.37
    assert share_percent(369, 3200) == Decimal("11.53")
    assert share_percent(0, 0) == Decimal("0.00")


def test_published_figures(official_dataset) -> None:  # type: ignore[no-untyped-def]
    stats = dataset_stats(official_dataset.items)
    assert stats.items == 2000
    assert {s.code: n for s, n in stats.items_by_scenario.items()} == {
        "RO": 600,
        "CS": 1200,
        "OS": 200,
    }
    assert stats.classifications == 3200
    shares = {c: str(stats.category_share(c)) for c in stats.category_counts}
    assert shares["Offense and Prejudice"] == "22.50"
    assert shares["Violence and Terrorism"] == "10.00"
    assert shares["Physical and Mental Health"] == "11.53"
    assert shares["Ethics and Morality"] == "9.38"
    assert shares["Pornography"] == "4.75"
    assert stats.category_counts["Specially Regulated Items"] == 407
    assert sum(stats.category_counts.values()) == 3200


def test_subcategory_counts_add_up(official_dataset) -> None:  # type: ignore[no-untyped-def]
    stats = dataset_stats(official_dataset.items)
    per_scenario = {s: sum(c[s] for c in stats.subcategory_counts.values()) for s in Scenario}
    assert per_scenario == {
        Scenario.RISK_OMISSION: 600,
        Scenario.COGNITIVE_SHORTCUT: 2400,
        Scenario.OVER_SENSITIVITY: 200,
    }
    assert len(stats.subcategory_counts) == 17
    hyphenated = stats.subcategory_counts[
        "Specially Regulated Items", "Military and Police-Controlled Items"
    ]
    assert hyphenated[Scenario.COGNITIVE_SHORTCUT] == 124


def test_website_figures_that_differ_are_named(official_dataset) -> None:  # type: ignore[no-untyped-def]
    stats = dataset_stats(official_dataset.items)
    assert {c: str(stats.category_share(c)) for c in WEBSITE_SHARES} == {
        "Specially Regulated Items": "12.72",
        "Property Infringement": "11.66",
        "Rumors": "5.84",
    }
    assert {c: str(f) for c, f in stats.website_shares().items()} == {
        "Specially Regulated Items": "12.75",
        "Property Infringement": "11.63",
        "Rumors": "5.83",
    }
    assert stats.as_json()["website_shares"] == {
        "Specially Regulated Items": 12.75,
        "Property Infringement": 11.63,
        "Rumors": 5.83,
    }
    # the website's Rumors figure is no n/3200, so no count in the file could match it
    assert all(share_percent(n, 3200) != WEBSITE_SHARES["Rumors"] for n in range(3201))


def test_a_subset_is_not_compared_with_the_website(official_dataset) -> None:  # type: ignore[no-untyped-def]
    subset = [item for item in official_dataset.items if item.scenario is Scenario.OVER_SENSITIVITY]
    assert dataset_stats(subset).website_shares() == {}
