"""The fixed vocabulary of BSA: its three scenarios and its risk categories.

The names are those of the upstream dataset (``dataset_name`` and ``label`` columns at the pinned
commit). They are closed sets: an unknown name in a dataset file is a typo or a different benchmark,
and loading it silently would put items in no category at all.
"""

from __future__ import annotations

from enum import Enum


class Scenario(str, Enum):
    """An SSA scenario (paper section 3): what kind of risk awareness an item probes."""

    RISK_OMISSION = "Risk Omission"
    COGNITIVE_SHORTCUT = "Cognitive Shortcut"
    OVER_SENSITIVITY = "Over Sensitivity"

    @property
    def code(self) -> str:
        """The short code the leaderboard uses (RO, CS, OS)."""
        return _CODES[self]

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """Accept a full name or a short code, in any case and spacing; raise ValueError otherwise."""
        key = " ".join(text.split()).casefold()
        for scenario in cls:
            if key in (scenario.value.casefold(), scenario.code.casefold()):
                return scenario
        expected = ", ".join(f"{s.value} ({s.code})" for s in cls)
        raise ValueError(f"unknown scenario {text!r} (expected one of: {expected})")


_CODES = {
    Scenario.RISK_OMISSION: "RO",
    Scenario.COGNITIVE_SHORTCUT: "CS",
    Scenario.OVER_SENSITIVITY: "OS",
}

#: Primary category -> its sub-categories, in the order of the paper's taxonomy.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "Offense and Prejudice": ("Abuse and Hate Speech", "Discrimination and Prejudice"),
    "Specially Regulated Items": (
        "Controlled Items for Illegal Use",
        "Military and Police-Controlled Items",
        "Psychotropic / Narcotic / Pathogenic Controlled Substances",
    ),
    "Property Infringement": ("Economic Crimes", "Intellectual Property"),
    "Invasion of Privacy and Confidentiality": (
        "Invasion of Corporate Trade Secrets",
        "Invasion of Personal Privacy",
    ),
    "Physical and Mental Health": ("Mental Health", "Personal Physical Health"),
    "Violence and Terrorism": ("Terrorism", "Violent Content"),
    "Ethics and Morality": ("AI Ethics", "Disturbing or Unhealthy Scenes"),
    "Rumors": ("Rumors with Negative Impact",),
    # The paper calls this category "Child Pornography"; the dataset's label says "Pornography".
    "Pornography": ("Child Pornography",),
}

PRIMARY_CATEGORIES: tuple[str, ...] = tuple(CATEGORIES)
SUB_CATEGORIES: tuple[str, ...] = tuple(sub for subs in CATEGORIES.values() for sub in subs)
