"""Typed benchmark items and the parsing of BSA's ``label`` column.

A label is ``Primary-Sub`` for Risk Omission and Over Sensitivity items, and two lines
``Query A: Primary-Sub`` / ``Query B: Primary-Sub`` for Cognitive Shortcut items, whose two risks
must both be noticed (shared/bsa/README.md). Split on the first '-' only: the sub-category
"Military and Police-Controlled Items" holds a hyphen itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bsa.benchmark import CATEGORIES, Scenario


@dataclass(frozen=True)
class Risk:
    """One risk classification of an item: its part (``A``/``B`` for Cognitive Shortcut, else
    ``None``), primary category and sub-category."""

    part: str | None
    primary: str
    sub: str

    @property
    def label(self) -> str:
        return f"{self.primary}-{self.sub}"


@dataclass(frozen=True)
class Item:
    """One BSA query with its annotated risks."""

    id: str
    query: str
    risk_summary: str
    scenario: Scenario
    risks: tuple[Risk, ...]

    @property
    def label(self) -> str:
        """The label as the upstream dataset writes it, so that exports round-trip."""
        if self.scenario.two_part:
            return "\n".join(f"Query {r.part}: {r.label}" for r in self.risks)
        return self.risks[0].label

    @property
    def primary_categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.primary for r in self.risks))

    @property
    def sub_categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.sub for r in self.risks))

    def as_record(self) -> dict[str, str]:
        """The item in the upstream column layout (``id, query, risk_summary, dataset_name, label``)."""
        return {
            "id": self.id,
            "query": self.query,
            "risk_summary": self.risk_summary,
            "dataset_name": self.scenario.value,
            "label": self.label,
        }


_PART = re.compile(r"^Query\s+([AB])\s*:\s*(.*)$", re.IGNORECASE)


def parse_label(label: str, scenario: Scenario) -> tuple[Risk, ...]:
    """Parse a label for an item of ``scenario``; raise ValueError with the reason otherwise."""
    lines = [line.strip() for line in label.strip().splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty label")
    if scenario.two_part:
        return _parse_two_part_label(lines)
    if len(lines) != 1 or _PART.match(lines[0]):
        raise ValueError(
            f"malformed label {label!r}: a {scenario.value} item has one 'Primary-Sub' label"
        )
    return (parse_category(lines[0], part=None),)


def _parse_two_part_label(lines: list[str]) -> tuple[Risk, ...]:
    risks: dict[str, Risk] = {}
    for line in lines:
        match = _PART.match(line)
        if not match:
            raise ValueError(
                f"malformed label line {line!r}: a Cognitive Shortcut item has lines "
                "'Query A: Primary-Sub' and 'Query B: Primary-Sub'"
            )
        part = match.group(1).upper()
        if part in risks:
            raise ValueError(f"label names 'Query {part}' twice")
        risks[part] = parse_category(match.group(2), part=part)
    missing = [p for p in ("A", "B") if p not in risks]
    if missing:
        raise ValueError(
            f"Cognitive Shortcut item needs both parts; label lacks 'Query {missing[0]}'"
        )
    return (risks["A"], risks["B"])


def parse_category(text: str, part: str | None) -> Risk:
    """Parse ``Primary-Sub`` into a :class:`Risk` of known category names."""
    primary, dash, sub = text.strip().partition("-")
    primary, sub = primary.strip(), sub.strip()
    if not dash or not primary or not sub:
        raise ValueError(f"malformed label {text.strip()!r}: expected 'Primary-Sub'")
    if primary not in CATEGORIES:
        raise ValueError(f"unknown primary category {primary!r} in label {text.strip()!r}")
    if sub not in CATEGORIES[primary]:
        raise ValueError(f"unknown sub-category {sub!r} of {primary!r} in label {text.strip()!r}")
    return Risk(part=part, primary=primary, sub=sub)
