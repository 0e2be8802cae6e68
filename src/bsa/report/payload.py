"""The sample browser's data: every sample of the run as compact JSON for the page's script.

Rows are arrays, not objects, and each item's query and risk summary are stored once rather than k
times: with 10,000 samples, repeated keys and texts would be most of the file. The field order is
written into the payload itself (``fields``), so the script and this module cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from bsa.reading import has_reasoning
from bsa.report.collect import ReportData
from bsa.store import Generation, Judgement

#: Bit flags of a sample, combined with ``|``; the browser filters on them.
FLAGS: dict[str, int] = {
    "blocked": 1,
    "truncated": 2,
    "no_reasoning": 4,
    "unscored": 8,
    "failed": 16,
}
FIELDS: dict[str, list[str]] = {
    "item": ["id", "query", "risk_summary", "scenario", "risks"],  # risks: [part, primary, sub]
    "sample": [
        "item", "sample", "status", "reasoning", "answer", "flags", "safety", "thinking", "info",
    ],
    "verdict": ["status", "verdict", "passed", "rationale", "reason", "raw"],
    "info": ["reasoning_source", "finish_reason", "completion_tokens", "latency_s", "attempts",
             "error"],
}  # fmt: skip


def sample_payload(data: ReportData) -> dict[str, Any]:
    """The JSON the browser reads: field names, flag bits, items and sample rows."""
    index = {item.id: n for n, item in enumerate(data.items)}
    items = [
        [
            i.id,
            i.query,
            i.risk_summary,
            i.scenario.code,
            [[r.part, r.primary, r.sub] for r in i.risks],
        ]
        for i in data.items
    ]
    samples = [
        _sample_row(g, index[g.item_id], data.verdicts.get((g.item_id, g.sample), {}))
        for g in data.generations
    ]
    return {"fields": FIELDS, "flags": FLAGS, "k": data.k, "items": items, "samples": samples}


def _sample_row(generation: Generation, item: int, verdicts: dict[str, Judgement]) -> list[Any]:
    safety, thinking = verdicts.get("safety"), verdicts.get("thinking")
    return [
        item,
        generation.sample,
        generation.status,
        generation.reasoning,
        generation.answer,
        sample_flags(generation, safety, thinking),
        _verdict_row(safety),
        _verdict_row(thinking),
        _info_row(generation),
    ]


def sample_flags(
    generation: Generation, safety: Judgement | None, thinking: Judgement | None
) -> int:
    """What a reader may want to single out; ``unscored`` is any verdict missing or unusable."""
    if generation.status == "failed":
        return FLAGS["failed"]
    flags = FLAGS["blocked"] if generation.status == "blocked" else 0
    if generation.truncated:
        flags |= FLAGS["truncated"]
    if generation.status == "ok" and not has_reasoning(generation):
        flags |= FLAGS["no_reasoning"]
    if any(j is None or j.status != "scored" for j in (safety, thinking)):
        flags |= FLAGS["unscored"]
    return flags


def _verdict_row(judgement: Judgement | None) -> list[Any] | None:
    """A verdict, with the judge's raw reply only when it could not be used (to show why)."""
    if judgement is None:
        return None
    passed = None if judgement.passed is None else int(judgement.passed)
    raw = judgement.raw if judgement.status != "scored" else None
    return [
        judgement.status, judgement.verdict, passed, judgement.rationale, judgement.reason, raw,
    ]  # fmt: skip


def _info_row(generation: Generation) -> list[Any]:
    latency = None if generation.latency_s is None else round(generation.latency_s, 2)
    return [
        generation.reasoning_source,
        generation.finish_reason,
        generation.completion_tokens,
        latency,
        generation.attempts,
        generation.error,
    ]
