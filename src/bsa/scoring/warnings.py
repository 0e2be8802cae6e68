"""Every warning a score carries, in one list: what the table prints under the figures, what the
report shows, and what ``--json`` outputs hold under ``warnings`` (so a script reading the JSON
learns what a reader of the table would be told)."""

from __future__ import annotations

from typing import Any

from bsa.scoring.identical_samples import identical_warning
from bsa.scoring.reasoning_kind import summary_warning
from bsa.scoring.truncation import truncation_warning
from bsa.scoring.unscored_bound import bound_warning


def score_warnings(scores: dict[str, Any]) -> list[str]:
    """The warnings of ``scores`` (``Scores.as_json()``), in the order the table prints them:
    unscored verdicts that would move a figure by more than a point, common truncation, then
    items whose samples are byte-identical although the run sampled, then reasoning graded as a
    summary."""
    found = (
        bound_warning(scores),
        truncation_warning(scores),
        identical_warning(scores["counts"]),
        summary_warning(scores),
    )
    return [warning for warning in found if warning]
