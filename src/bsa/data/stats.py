"""Dataset statistics, computed the way the BSA website computes its category shares.

The website counts every risk classification (one per Risk Omission or Over Sensitivity item, two per
Cognitive Shortcut item: 3,200 on the full set) and rounds half up to two decimals, so that
Ethics and Morality, 300 of 3,200 = 9.375%, shows as 9.38 (shared/bsa/README.md). Python's
``round`` rounds half to even and would print 9.37; the shares here use exact decimal arithmetic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bsa.benchmark import BSA_V1, CATEGORIES, Scenario
from bsa.data.items import Item

_HUNDREDTH = Decimal("0.01")

#: The category shares the BSA website shows that differ from the released file's counts
#: (shared/bsa/README.md, from the website's dataset statistics). The file has Specially Regulated
#: Items 407, Property Infringement 373 and Rumors 187 of 3,200 (12.72, 11.66, 5.84); the site's
#: figures sum to exactly 100.00 and its Rumors figure is n/3200 for no n, so they were adjusted
#: or come from a revision the repository does not hold. The file's counts are the ones used.
WEBSITE_SHARES: dict[str, Decimal] = {
    "Specially Regulated Items": Decimal("12.75"),
    "Property Infringement": Decimal("11.63"),
    "Rumors": Decimal("5.83"),
}

#: Items and risk classifications of the full benchmark: the set the website's shares describe.
FULL_SET_ITEMS = 2000
FULL_SET_CLASSIFICATIONS = 3200


def share_percent(count: int, total: int) -> Decimal:
    """``count / total`` in percent, rounded half up to the hundredth."""
    if total == 0:
        return Decimal("0.00")
    return (Decimal(count * 100) / Decimal(total)).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class DatasetStats:
    items: int
    items_by_scenario: dict[Scenario, int]
    classifications: int
    category_counts: dict[str, int]
    subcategory_counts: dict[tuple[str, str], dict[Scenario, int]]

    def category_share(self, category: str) -> Decimal:
        return share_percent(self.category_counts[category], self.classifications)

    def website_shares(self) -> dict[str, Decimal]:
        """The website's figure for each category whose share here differs from it. Empty
        unless these stats cover the full benchmark, the only set the website describes."""
        if (self.items, self.classifications) != (FULL_SET_ITEMS, FULL_SET_CLASSIFICATIONS):
            return {}
        return {
            category: figure
            for category, figure in WEBSITE_SHARES.items()
            if self.category_counts.get(category) is not None
            and self.category_share(category) != figure
        }

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready view; shares are numbers in percent (22.5 means 22.50%)."""
        return {
            "items": self.items,
            "items_by_scenario": {s.code: n for s, n in self.items_by_scenario.items()},
            "risk_classifications": self.classifications,
            "category_counts": self.category_counts,
            "category_shares": {c: float(self.category_share(c)) for c in self.category_counts},
            "website_shares": {c: float(f) for c, f in self.website_shares().items()},
            "subcategory_counts": {
                f"{primary}-{sub}": {s.code: n for s, n in by_scenario.items()}
                for (primary, sub), by_scenario in self.subcategory_counts.items()
            },
        }


def dataset_stats(items: Iterable[Item]) -> DatasetStats:
    """Count items per scenario and risk classifications per category and sub-category."""
    items = list(items)
    scenarios = Counter(item.scenario for item in items)
    risks = [(risk, item.scenario) for item in items for risk in item.risks]
    categories = Counter(risk.primary for risk, _ in risks)
    subs = Counter((risk.primary, risk.sub, scenario) for risk, scenario in risks)
    return DatasetStats(
        items=len(items),
        items_by_scenario={s: scenarios[s] for s in BSA_V1.scenarios},
        classifications=len(risks),
        category_counts={c: categories[c] for c in CATEGORIES},
        subcategory_counts={
            (primary, sub): {s: subs[primary, sub, s] for s in BSA_V1.scenarios}
            for primary, sub_names in CATEGORIES.items()
            for sub in sub_names
        },
    )
