"""Whether the thinking judge read a model's reasoning trace or a summary of it.

Some providers never return the reasoning itself, only a summary the vendor writes of it: OpenAI's
reasoning models through the Responses API (source ``reasoning_summary``, or
``reasoning_encrypted`` where even the summary is missing) and Gemini's thought summaries
(``thought_summary``). The thinking judge then grades a summary, which can omit exactly the risky
step a trace would show, so Think@k of such a run does not compare like for like with a run whose
trace was graded. The kind is derived here, once, from the reasoning sources the run file stores
per sample; scores (``reasoning_kind`` in JSON, a note under the table and in the report) and the
leaderboard (a caveat) say it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

ReasoningKind = Literal["trace", "summary"]
#: Reasoning sources whose text is a vendor's summary of the reasoning, not the reasoning.
SUMMARY_SOURCES = frozenset({"reasoning_summary", "reasoning_encrypted", "thought_summary"})
#: What a reader of a summary-graded run's figures is told, wherever they are shown.
SUMMARY_NOTE = (
    "Reasoning is the provider's summary of it, not the trace: the thinking judge graded "
    "summaries, so Think@k does not compare like for like with runs graded on their traces."
)


def reasoning_kind(sources: Iterable[str | None]) -> ReasoningKind:
    """``summary`` when any sample's reasoning came as a summary, else ``trace``."""
    return "summary" if any(source in SUMMARY_SOURCES for source in sources) else "trace"


def summary_warning(scores: Mapping[str, Any]) -> str | None:
    """The note for figures marked ``reasoning_kind: summary``; None for any other."""
    return SUMMARY_NOTE if scores.get("reasoning_kind") == "summary" else None
