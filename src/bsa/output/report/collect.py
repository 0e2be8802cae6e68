"""Everything one report shows, read from a run file in one place.

The scores come from :func:`bsa.scoring.inputs.score_run`, the same function behind ``bsa score``, so the
report and the terminal table can never disagree; the samples, settings and usage are read from
the run file beside them. Every string that could carry a secret passes the redactor here, once,
so the page and the sample browser only ever see cleaned text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bsa.benchmark import BSA_V1, Benchmark
from bsa.costs.prices import PriceFlags
from bsa.costs.spend import run_spending
from bsa.data.items import Item
from bsa.output.report.redact import Redactor
from bsa.output.report.summaries import Cell, Distribution, category_grid, distribution
from bsa.runfile.store import Generation, Judgement, RunStore
from bsa.scoring.inputs import score_run
from bsa.scoring.metrics import SampleScore, TruncatedPolicy
from bsa.scoring.panel_scores import score_panel

#: (item id, sample) -> {"safety": Judgement, "thinking": Judgement}, the kinds that exist.
VerdictMap = dict[tuple[str, int], dict[str, Judgement]]


@dataclass(frozen=True)
class Usage:
    """Token and latency summaries of the model under test and of the judge."""

    prompt_tokens: Distribution
    completion_tokens: Distribution
    reasoning_tokens: Distribution
    latency_s: Distribution
    retried: int  # samples that needed more than one attempt
    finish_reasons: dict[str, int]
    reasoning_sources: dict[str, int]
    judge_prompt_tokens: Distribution
    judge_completion_tokens: Distribution
    judge_latency_s: Distribution


@dataclass(frozen=True)
class ReportData:
    """One run seen through one judge, ready to render."""

    run_name: str
    model: str | None
    judge: str
    k: int
    scores: dict[str, Any]  # bsa.scoring.metrics.Scores.as_json()
    items: list[Item]
    samples: list[SampleScore]
    #: samples 0..k-1 in prompt order, failed ones included (``raw`` is never shown)
    generations: list[Generation]
    verdicts: VerdictMap
    grid: dict[tuple[str, str], Cell]
    judgement_status: dict[str, int]  # scored / unscored / failed verdicts of this judge
    unscored_reasons: dict[str, int]
    usage: Usage
    settings: dict[str, Any]  # the run file's meta, secrets masked
    #: What the figures are: the page lists the benchmark's figures and scenarios.
    benchmark: Benchmark = BSA_V1
    #: Tokens and cost so far, model and judges apart (:func:`bsa.costs.spend.run_spending`).
    spending: dict[str, Any] | None = None


def collect_report(
    run_path: Path,
    judge: str | None = None,
    *,
    panel: Sequence[str] | None = None,
    truncated: TruncatedPolicy = "judge",
    benchmark: Benchmark = BSA_V1,
    prices: PriceFlags | None = None,
) -> ReportData:
    """Read and score ``run_path`` as judged by ``judge`` (the run's only judge when None), or,
    when ``panel`` is given, by those judges' majority (see :mod:`bsa.judging.panel`): the figures are
    the panel's, with each judge's beside them, and the sample browser shows each judge's verdict
    in the panel verdict's rationale. ``truncated`` reads budget-cut samples as ``bsa score
    --truncated`` does; ``prices`` go over the run file's recorded prices for the cost table."""
    if panel is None:
        verdicts, scored = score_run(run_path, judge, truncated=truncated, benchmark=benchmark)
        scores = scored.as_json()
    else:
        result = score_panel(run_path, panel, truncated=truncated, benchmark=benchmark)
        verdicts, scores = result.verdicts, result.as_json()
    scores["reasoning_kind"] = verdicts.reasoning_kind
    redactor = Redactor.from_environment()
    with RunStore(run_path, read_only=True) as store:
        generations = [
            _clean_generation(g, redactor) for g in store.generations() if g.sample < verdicts.k
        ]
        settings = redactor.settings(store.meta())
    judgements = [_clean_judgement(j, redactor) for j in verdicts.judgements]
    status = dict(Counter(j.status for j in judgements))
    return ReportData(
        run_name=run_path.name,
        model=redactor.text(verdicts.model),
        judge=redactor.text(verdicts.judge) or verdicts.judge,
        k=verdicts.k,
        scores=scores,
        items=verdicts.items,
        samples=verdicts.samples,
        generations=generations,
        verdicts=_verdict_map(judgements),
        grid=category_grid(verdicts.items, verdicts.samples),
        judgement_status=status,
        unscored_reasons=_unscored_reasons(judgements),
        usage=_usage(generations, judgements),
        settings=settings,
        benchmark=benchmark,
        spending=_clean_spending(run_spending(run_path, prices), redactor),
    )


def _clean_spending(spending: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    """Stage names are model names the user typed: masked like every other text."""
    for entry in (spending["model"], *spending["judges"]):
        entry["name"] = redactor.text(entry["name"]) or ""
    return spending


def _clean_generation(generation: Generation, redactor: Redactor) -> Generation:
    """The sample with secrets masked (untouched, and not copied, when there is none)."""
    texts = (generation.answer, generation.reasoning, generation.error)
    answer, reasoning, error = (redactor.text(t) for t in texts)
    if (answer, reasoning, error) == texts:
        return generation
    return replace(generation, answer=answer, reasoning=reasoning, error=error)


def _clean_judgement(judgement: Judgement, redactor: Redactor) -> Judgement:
    texts = (judgement.rationale, judgement.reason, judgement.raw)
    rationale, reason, raw = (redactor.text(t) for t in texts)
    if (rationale, reason, raw) == texts:
        return judgement
    return replace(judgement, rationale=rationale, reason=reason, raw=raw)


def _verdict_map(judgements: list[Judgement]) -> VerdictMap:
    verdicts: VerdictMap = {}
    for judgement in judgements:
        verdicts.setdefault((judgement.item_id, judgement.sample), {})[judgement.kind] = judgement
    return verdicts


def _unscored_reasons(judgements: list[Judgement]) -> dict[str, int]:
    """Why verdicts are missing, most frequent first: a judge that cannot follow the format shows
    up as one dominant reason."""
    return _tally(
        f"{j.kind} {j.status}: {j.reason or 'no reason given'}"
        for j in judgements
        if j.status != "scored"
    )


def _usage(generations: list[Generation], judgements: list[Judgement]) -> Usage:
    answered = [g for g in generations if g.status != "failed"]
    called = [j for j in judgements if j.prompt_sha256 is not None]  # direct verdicts cost nothing
    return Usage(
        prompt_tokens=distribution(g.prompt_tokens for g in answered),
        completion_tokens=distribution(g.completion_tokens for g in answered),
        reasoning_tokens=distribution(g.reasoning_tokens for g in answered),
        latency_s=distribution(g.latency_s for g in answered),
        retried=sum(g.attempts > 1 for g in generations),
        finish_reasons=_tally(g.finish_reason or "none" for g in answered),
        reasoning_sources=_tally(g.reasoning_source or "none" for g in answered),
        judge_prompt_tokens=distribution(j.prompt_tokens for j in called),
        judge_completion_tokens=distribution(j.completion_tokens for j in called),
        judge_latency_s=distribution(j.latency_s for j in called),
    )


def _tally(values: Iterable[str]) -> dict[str, int]:
    """Counts, most frequent first."""
    return dict(Counter(values).most_common())
