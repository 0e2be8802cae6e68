"""Token usage a run has spent so far, summed in SQL per stage: the model, and each judge.

A call's usage is what its provider reported, stored with the sample or verdict (``NULL`` where
it said nothing). A verdict asked again because the reply held none keeps the usage of its last
call only, so a judge's totals can fall short of its bill by those retries.
"""

from __future__ import annotations

from dataclasses import dataclass

from bsa.runfile.store import RunStore


def _sums(reasoning: str) -> str:
    """The totals' SQL; ``reasoning`` is the column of reasoning tokens (verdicts have none)."""
    return (
        "COUNT(prompt_tokens) + COUNT(completion_tokens) - COUNT(prompt_tokens + completion_tokens), "
        "COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(cached_tokens), 0), "
        "COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
        f"COALESCE(SUM({reasoning}), 0), COALESCE(SUM(latency_s), 0), COUNT(latency_s)"
    )


@dataclass(frozen=True)
class StageUsage:
    """One stage's totals. ``calls`` counts the rows that report any usage."""

    calls: int = 0
    input_tokens: int = 0
    #: Of ``input_tokens``: read from the prompt cache, and written to it (Anthropic).
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    #: Of ``output_tokens``: the reasoning, where the provider counts it apart.
    reasoning_tokens: int = 0
    #: Summed request latency, and how many rows have one (for a mean per call).
    latency_s: float = 0.0
    timed: int = 0


def model_usage(store: RunStore) -> StageUsage:
    """The model under test's usage: every stored sample."""
    row = store.connection.execute(
        f"SELECT {_sums('reasoning_tokens')} FROM generations"
    ).fetchone()
    return StageUsage(*row)


def judge_usage(store: RunStore) -> dict[str, StageUsage]:
    """Each judge's usage, in the order the judges first judged."""
    totals = {
        judge: StageUsage(*rest)
        for judge, *rest in store.connection.execute(
            f"SELECT judge, {_sums('NULL')} FROM judgements GROUP BY judge"
        )
    }
    return {judge: totals[judge] for judge in store.judges() if judge in totals}
