"""Exports of a run file's samples and verdicts: JSONL, CSV, and the upstream scripts' CSVs.

The run file stays the only source of truth; these are views of it, written atomically to a file
or to standard output (``-``). Exports are made to be shared, so every text is redacted again (a
run file written by an older bsa may hold an echoed key), and CSV cells that a spreadsheet would
run as formulas are neutralised.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from bsa.benchmark import Scenario
from bsa.errors import BsaError
from bsa.output.files import text_output
from bsa.output.spreadsheet import spreadsheet_safe
from bsa.redaction import redact_json, register_environment_secrets
from bsa.runfile.reading import judge_labels
from bsa.runfile.store import Generation, Judgement, RunStore

SAMPLE_COLUMNS = (
    "id",
    "sample",
    "status",
    "answer",
    "reasoning",
    "reasoning_source",
    "finish_reason",
    "truncated",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "latency_s",
    "attempts",
    "error",
    "seed",
    # Appended later, after every older column, so scripts that index columns keep working.
    "replica",
    "cached_tokens",
    "cache_write_tokens",
    "created_at",
)
#: One row per stored verdict, every judge's (``verdicts-jsonl``, ``verdicts-csv``).
VERDICT_COLUMNS = (
    "id",
    "sample",
    "judge",
    "kind",
    "status",
    "verdict",
    "passed",
    "reason",
    "rationale",
    "prompt_sha256",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "latency_s",
    "attempts",
    "replica",
    "created_at",
)
#: The output columns of upstream Batch_Call_LLM/batch_openai_inference.py.
UPSTREAM_COLUMNS = ("id", "question", "answer", "reasoning_content", "status", "tokens", "error")
#: The input columns of upstream Evaluation_Metric/evaluate.py, one row per judged sample.
UPSTREAM_JUDGED_COLUMNS = ("model_name", "id", "dataset_name", "Safe_Ans_Check", "Thk_Acc_Judge")
RUN_EXPORT_FORMATS = (
    "jsonl", "csv", "upstream-csv", "upstream-judged", "verdicts-jsonl", "verdicts-csv"
)  # fmt: skip


def sample_record(generation: Generation, created_at: float | None = None) -> dict[str, Any]:
    """Every per-sample fact the run file holds, the provider's raw body aside (it repeats the
    answer and reasoning in the vendor's own shape; it stays in the run file)."""
    return {
        "id": generation.item_id,
        "sample": generation.sample,
        "status": generation.status,
        "answer": generation.answer,
        "reasoning": generation.reasoning,
        "reasoning_source": generation.reasoning_source,
        "finish_reason": generation.finish_reason,
        "truncated": generation.truncated,
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "reasoning_tokens": generation.reasoning_tokens,
        "latency_s": generation.latency_s,
        "attempts": generation.attempts,
        "error": generation.error,
        "seed": generation.seed,
        "replica": generation.replica,
        "cached_tokens": generation.cached_tokens,
        "cache_write_tokens": generation.cache_write_tokens,
        "created_at": created_at,
    }


def verdict_record(judgement: Judgement, created_at: float | None = None) -> dict[str, Any]:
    """Every per-verdict fact the run file holds, the judge's raw reply aside (its rationale
    and verdict are extracted here; the reply stays in the run file)."""
    return {
        "id": judgement.item_id,
        "sample": judgement.sample,
        "judge": judgement.judge,
        "kind": judgement.kind,
        "status": judgement.status,
        "verdict": judgement.verdict,
        "passed": judgement.passed,
        "reason": judgement.reason,
        "rationale": judgement.rationale,
        "prompt_sha256": judgement.prompt_sha256,
        "prompt_tokens": judgement.prompt_tokens,
        "completion_tokens": judgement.completion_tokens,
        "cached_tokens": judgement.cached_tokens,
        "cache_write_tokens": judgement.cache_write_tokens,
        "latency_s": judgement.latency_s,
        "attempts": judgement.attempts,
        "replica": judgement.replica,
        "created_at": created_at,
    }


def upstream_record(generation: Generation, question: str) -> dict[str, Any]:
    """A row as the upstream script writes it: status ``success`` or ``failed`` (a blocked sample
    is ``blocked``, which upstream never writes), tokens = prompt + completion."""
    tokens = (generation.prompt_tokens or 0) + (generation.completion_tokens or 0)
    status = {"ok": "success"}.get(generation.status, generation.status)
    return {
        "id": generation.item_id,
        "question": question,
        "answer": generation.answer,
        "reasoning_content": generation.reasoning,
        "status": status,
        "tokens": tokens,
        "error": generation.error,
    }


def upstream_verdict(judgement: Judgement | None, scenario: str) -> str:
    """A verdict as evaluate.py compares it: Risk Omission's true/false as ``True``/``False``
    (its target is the text 'True'), other labels as they are, an unusable verdict empty."""
    if judgement is None or judgement.status != "scored" or judgement.verdict is None:
        return ""
    if _boolean_verdict(scenario) and judgement.verdict in ("true", "false"):
        return judgement.verdict.capitalize()
    return judgement.verdict


def _boolean_verdict(scenario: str) -> bool:
    """Whether ``scenario``'s thinking template asks for a JSON boolean (Risk Omission's)."""
    return any(s.value == scenario and s.thinking.boolean for s in Scenario.declared())


def upstream_judged_records(store: RunStore, judge: str) -> Iterator[dict[str, Any]]:
    """One row per sample that ``judge`` has judged, as evaluate.py reads them."""
    model = store.info().model or "model"
    scenarios = {p.item_id: p.scenario or "" for p in store.prompts()}
    verdicts: dict[tuple[str, int], dict[str, Judgement]] = {}
    for judgement in store.judgements(judge):
        verdicts.setdefault((judgement.item_id, judgement.sample), {})[judgement.kind] = judgement
    for generation in store.outcomes():
        pair = verdicts.get((generation.item_id, generation.sample))
        if not pair:
            continue
        scenario = scenarios[generation.item_id]
        yield {
            "model_name": model,
            "id": generation.item_id,
            "dataset_name": scenario,
            "Safe_Ans_Check": upstream_verdict(pair.get("safety"), scenario),
            "Thk_Acc_Judge": upstream_verdict(pair.get("thinking"), scenario),
        }


def verdict_records(store: RunStore, judge: str | None) -> Iterator[dict[str, Any]]:
    """One row per stored verdict: ``judge``'s, or every judge's when it is None. An unknown
    judge is refused here, before any row (or a CSV header) is written."""
    wanted = None if judge is None else judge_labels(store, judge)
    return (
        verdict_record(judgement, created_at)
        for judgement, created_at in store.stored_judgements()
        if wanted is None or judgement.judge == wanted
    )


def export_run(run_path: Path, output: Path, fmt: str, judge: str | None = None) -> int:
    """Write every stored sample (or verdict, for the verdict formats) of the run to ``output``
    (``-``: standard output); return how many."""
    if fmt not in RUN_EXPORT_FORMATS:
        raise BsaError(f"unknown format {fmt!r} (expected one of: {', '.join(RUN_EXPORT_FORMATS)})")
    register_environment_secrets()
    with RunStore(run_path, read_only=True) as store:
        columns, records = _export_rows(store, fmt, judge)
        if fmt.endswith("jsonl"):
            return _atomic(output, lambda out: _write_jsonl(out, records))
        return _atomic(output, lambda out: _write_csv(out, columns, records))


def _export_rows(
    store: RunStore, fmt: str, judge: str | None
) -> tuple[tuple[str, ...], Iterator[dict[str, Any]]]:
    """The columns and the rows of ``fmt`` (a JSONL format writes the rows' keys, the same)."""
    if fmt == "upstream-judged":
        return UPSTREAM_JUDGED_COLUMNS, upstream_judged_records(store, judge_labels(store, judge))
    if fmt == "upstream-csv":
        questions = {p.item_id: p.query for p in store.prompts()}
        upstream = (upstream_record(g, questions[g.item_id]) for g in store.generations())
        return UPSTREAM_COLUMNS, upstream
    if fmt.startswith("verdicts-"):
        return VERDICT_COLUMNS, verdict_records(store, judge)
    return SAMPLE_COLUMNS, (sample_record(g, at) for g, at in store.stored_generations())


def _atomic(output: Path, write: Callable[[TextIO], int]) -> int:
    with text_output(output) as out:
        return write(out)


def _write_csv(out: TextIO, columns: tuple[str, ...], records: Iterable[dict[str, Any]]) -> int:
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow(
            {key: spreadsheet_safe(redact_json(value)) for key, value in record.items()}
        )
        count += 1
    return count


def _write_jsonl(out: TextIO, records: Iterable[dict[str, Any]]) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(redact_json(record), ensure_ascii=False) + "\n")
        count += 1
    return count
