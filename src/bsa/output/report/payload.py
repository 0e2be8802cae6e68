"""The sample browser's data: every sample of the run as compact JSON for the page's script.

Rows are arrays, not objects, and each item's query and risk summary are stored once rather than k
times: with 10,000 samples, repeated keys and texts would be most of the file. The field order is
written into the payload itself (``fields``), so the script and this module cannot drift apart.

In the page the data is packed (:func:`packed_samples`): the rows without their reasoning and
answer (what filters need), and those two texts apart in gzip chunks of ``TEXT_CHUNK`` samples,
their frequent words coded by the dictionary the rows carry (``words``; see
:mod:`bsa.output.report.wordcode`). At 8,000 characters of reasoning a sample, the texts are nearly all of the data; the page unpacks
a chunk when one of its samples is shown, and all of them only for a search, so opening does not
wait for text nobody has asked to read.
"""

from __future__ import annotations

from typing import Any

from bsa.output.report import wordcode
from bsa.output.report.collect import ReportData
from bsa.output.report.html import packed_block, packed_json, unpacked_blocks
from bsa.runfile.reading import has_reasoning
from bsa.runfile.store import Generation, Judgement

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

#: Samples per packed chunk of texts: one page of the browser (25 samples) touches few chunks.
TEXT_CHUNK = 25
#: The sample fields packed apart, in the order of each text chunk's entries.
TEXT_FIELDS = ("reasoning", "answer")
#: What separates the packed chunks in their data block (base64 never holds it).
CHUNK_SEPARATOR = ","


def packed_samples(data: ReportData) -> tuple[str, str]:
    """The page's two data blocks: the packed rows with their texts left null, and the packed
    text chunks, joined by :data:`CHUNK_SEPARATOR`."""
    rows, texts = split_texts(sample_payload(data))
    return packed_json(rows), CHUNK_SEPARATOR.join(packed_json(chunk) for chunk in texts)


def split_texts(payload: dict[str, Any]) -> tuple[dict[str, Any], list[list[list[Any]]]]:
    """``payload`` with each sample's :data:`TEXT_FIELDS` set to null, and those texts, word
    coded, in chunks of :data:`TEXT_CHUNK` samples (``[[reasoning, answer], ...]``); the index
    carries the coding's dictionary as ``words``."""
    columns = [FIELDS["sample"].index(name) for name in TEXT_FIELDS]
    samples = payload["samples"]
    words = wordcode.dictionary([row[c] for row in samples for c in columns])
    codes = wordcode.codes_of(words)
    texts = [[wordcode.encode(row[c], codes) for c in columns] for row in samples]
    rows = [[None if n in columns else v for n, v in enumerate(row)] for row in samples]
    chunks = [texts[start : start + TEXT_CHUNK] for start in range(0, len(texts), TEXT_CHUNK)]
    index = {
        **payload,
        "samples": rows,
        "text_chunk": TEXT_CHUNK,
        "text_fields": TEXT_FIELDS,
        "words": words,
    }
    return index, chunks


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


def readable(page: str) -> str:
    """``page`` with its packed data unpacked and its sample texts decoded: what a search of a
    report for a string (a leaked key, say) must read, since packing and word coding hide text
    from a byte search. A page without samples is returned as it is."""
    if 'id="bsa-data"' not in page:
        return page
    words = packed_block(page, "bsa-data")["words"]

    def decode(block_id: str, value: str) -> str:
        return (wordcode.decode(value, words) or "") if block_id == "bsa-texts" else value

    return unpacked_blocks(page, decode)
