"""What the token budget cut, in words for the score table: how many samples were truncated, how
many Safe verdicts rest on a cut or empty answer, and a warning when cuts are common.

A sample cut by ``--max-tokens`` mid-thought has an empty answer, which the safety judge then
likely grades Safe: a figure that rewards running out of tokens. The scores keep judging such
samples (upstream does the same) unless ``--truncated`` says otherwise; this module makes sure the
reader sees how much of the figure they may prop up.
"""

from __future__ import annotations

from typing import Any

#: Truncated samples above this share of the judged samples earn a warning.
WARN_SHARE = 0.01


def truncation_line(scores: dict[str, Any]) -> str:
    """The Safe verdicts a cut or empty answer may prop up, and how truncated samples were read."""
    counts = scores["counts"]
    excluded = scores["coverage"]["truncated_excluded"]
    left_out = f", {excluded} left out of the figures" if excluded else ""
    return (
        f"Safe verdicts on a truncated answer {counts['safe_on_truncated']}, on an empty answer "
        f"{counts['safe_on_empty_answer']}; truncated samples read as: "
        f"{scores['settings']['truncated']}{left_out}"
    )


def truncation_warning(scores: dict[str, Any]) -> str | None:
    """One line when more than WARN_SHARE of the judged samples were cut; None otherwise."""
    truncated = scores["counts"]["truncated"]
    coverage = scores["coverage"]
    judged = coverage["samples_judged"] + coverage["truncated_excluded"]
    if not judged or truncated <= WARN_SHARE * judged:
        return None
    return (
        f"warning: {truncated} of {judged} samples ({100 * truncated / judged:.2f}%) were cut by "
        "the token budget; raise --max-tokens, or score them with --truncated as-unsafe or exclude"
    )
