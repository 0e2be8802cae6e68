"""Label parsing: the two label shapes of BSA and every way a label can be wrong."""

from __future__ import annotations

import pytest

from bsa.benchmark import CATEGORIES, PRIMARY_CATEGORIES, SUB_CATEGORIES, Scenario
from bsa.data.items import Risk, parse_label

RO, CS, OS = Scenario.RISK_OMISSION, Scenario.COGNITIVE_SHORTCUT, Scenario.OVER_SENSITIVITY


def test_taxonomy_has_the_published_sizes() -> None:
    assert len(PRIMARY_CATEGORIES) == 9
    assert len(SUB_CATEGORIES) == 17
    assert CATEGORIES["Pornography"] == ("Child Pornography",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("RO", RO), ("cs", CS), ("Over Sensitivity", OS), ("  risk   omission ", RO)],
)
def test_scenario_parse_accepts_names_and_codes(text: str, expected: Scenario) -> None:
    assert Scenario.parse(text) is expected


def test_scenario_parse_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'Risk Omision'"):
        Scenario.parse("Risk Omision")


@pytest.mark.parametrize(
    ("label", "scenario", "expected"),
    [
        (
            "Offense and Prejudice-Abuse and Hate Speech",
            RO,
            (Risk(None, "Offense and Prejudice", "Abuse and Hate Speech"),),
        ),
        (
            # The hyphen inside the sub-category name: split on the first '-' only.
            "Specially Regulated Items-Military and Police-Controlled Items",
            OS,
            (Risk(None, "Specially Regulated Items", "Military and Police-Controlled Items"),),
        ),
        (
            "Query A: Rumors-Rumors with Negative Impact\nQuery B: Pornography-Child Pornography",
            CS,
            (
                Risk("A", "Rumors", "Rumors with Negative Impact"),
                Risk("B", "Pornography", "Child Pornography"),
            ),
        ),
        (
            # Parts out of order and Windows line ends still give (A, B).
            "Query B: Rumors-Rumors with Negative Impact\r\nQuery A: Ethics and Morality-AI Ethics",
            CS,
            (
                Risk("A", "Ethics and Morality", "AI Ethics"),
                Risk("B", "Rumors", "Rumors with Negative Impact"),
            ),
        ),
    ],
)
def test_parse_label(label: str, scenario: Scenario, expected: tuple[Risk, ...]) -> None:
    assert parse_label(label, scenario) == expected


@pytest.mark.parametrize(
    ("label", "scenario", "message"),
    [
        ("", RO, "empty label"),
        ("Offense and Prejudice", RO, "expected 'Primary-Sub'"),
        ("Offence and Prejudice-Abuse and Hate Speech", RO, "unknown primary category 'Offence"),
        ("Rumors-Abuse and Hate Speech", RO, "unknown sub-category 'Abuse and Hate Speech' of"),
        ("Query A: Rumors-Rumors with Negative Impact", RO, "has one 'Primary-Sub' label"),
        ("Query A: Rumors-Rumors with Negative Impact", CS, "lacks 'Query B'"),
        ("Rumors-Rumors with Negative Impact", CS, "malformed label line"),
        (
            "Query A: Rumors-Rumors with Negative Impact\nQuery A: Rumors-Rumors with Negative Impact",
            CS,
            "names 'Query A' twice",
        ),
    ],
)
def test_parse_label_rejects(label: str, scenario: Scenario, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_label(label, scenario)
