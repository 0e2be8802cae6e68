"""From a run file to metric inputs: the items asked, and each judged sample's two verdicts.

The metrics themselves are pure functions (bsa.scoring.metrics); this module only reads the run file and
decides what each stored row means for them: a failed generation is a missing sample, a blocked
one is safe with no reasoning, an unscored or failed verdict is excluded (and counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bsa.benchmark import BSA_V1, Benchmark, Scenario
from bsa.data.items import Item, parse_label
from bsa.errors import BsaError
from bsa.judging.panel import panel_judgements, panel_label, panel_members
from bsa.judging.verdicts import NO_REASONING
from bsa.runfile.reading import judge_labels
from bsa.runfile.store import Judgement, Prompt, RunStore, SampleOutcome
from bsa.scoring.identical_samples import NOT_CHECKED, IdenticalSamples, read_identical_samples
from bsa.scoring.metrics import (
    DEFAULT_ALPHA,
    DEFAULT_BOOTSTRAP,
    SampleScore,
    Scores,
    TruncatedPolicy,
    compute_scores,
)
from bsa.scoring.reasoning_kind import ReasoningKind, reasoning_kind


@dataclass(frozen=True)
class RunVerdicts:
    """Everything the metrics need from one run and one judge (or one panel of judges)."""

    judge: str
    model: str | None
    k: int
    items: list[Item]
    samples: list[SampleScore]
    failed_generations: int
    #: The panel's judges when ``judge`` is a panel's label (see :mod:`bsa.judging.panel`), else empty.
    members: tuple[str, ...] = ()
    #: Items whose stored samples are byte-identical (see :mod:`bsa.scoring.identical_samples`).
    identical: IdenticalSamples = NOT_CHECKED
    #: The verdicts the samples were scored from (a panel's computed ones), read once here so
    #: that reports and panel counts need not read or compute them again.
    judgements: tuple[Judgement, ...] = ()
    #: Whether the reasoning graded was the model's trace or a vendor's summary of it.
    reasoning_kind: ReasoningKind = "trace"


def item_of(prompt: Prompt) -> Item:
    """The stored prompt as an item again (its label parsed as when it was loaded)."""
    if prompt.scenario is None or prompt.risk_summary is None or prompt.label is None:
        raise BsaError(
            f"item {prompt.item_id!r} has no BSA annotation; only BSA runs can be scored"
        )
    scenario = Scenario.parse(prompt.scenario)
    risks = parse_label(prompt.label, scenario)
    return Item(prompt.item_id, prompt.query, prompt.risk_summary, scenario, risks)


def read_verdicts(
    run_path: Path, judge: str | None = None, *, panel: Sequence[str] | None = None
) -> RunVerdicts:
    """The run's samples as ``judge`` graded them (the run's only judge when None), or, when
    ``panel`` is given, as the majority of those judges (every judge of the run when empty)."""
    with RunStore(run_path, read_only=True) as store:
        info = store.info()
        members: tuple[str, ...] = ()
        if panel is None:
            chosen = judge_labels(store, judge)
            judgements = tuple(store.judgements(chosen))
        else:
            members = tuple(panel_members(store, panel))
            chosen = panel_label(members)
            judgements = tuple(panel_judgements(store, members))
        verdicts: dict[tuple[str, int], dict[str, Judgement]] = {}
        for judgement in judgements:
            verdicts.setdefault((judgement.item_id, judgement.sample), {})[judgement.kind] = (
                judgement
            )
        samples: list[SampleScore] = []
        failed = 0
        k = info.k
        for generation in store.outcomes():
            if generation.sample >= k:
                continue
            if generation.status == "failed":
                failed += 1
                continue
            pair = verdicts.get((generation.item_id, generation.sample))
            if pair:
                samples.append(sample_score(generation, pair))
        items = [item_of(p) for p in store.prompts()]
        identical = read_identical_samples(store, k)
        kind = reasoning_kind(store.reasoning_sources())
    return RunVerdicts(
        chosen, info.model, k, items, samples, failed, members, identical, judgements, kind
    )


def sample_score(outcome: SampleOutcome, pair: dict[str, Judgement]) -> SampleScore:
    safety, thinking = pair.get("safety"), pair.get("thinking")
    blocked = any(j.reason == "blocked" for j in pair.values())
    return SampleScore(
        item_id=outcome.item_id,
        sample=outcome.sample,
        safe=_passed(safety),
        think=_passed(thinking),
        blocked=blocked,
        truncated=outcome.truncated,
        no_reasoning=thinking is not None and thinking.verdict == NO_REASONING and not blocked,
        empty_answer=outcome.empty_answer,
    )


def _passed(judgement: Judgement | None) -> bool | None:
    if judgement is None or judgement.status != "scored":
        return None
    return judgement.passed


def score_run(
    run_path: Path,
    judge: str | None = None,
    *,
    alpha: float = DEFAULT_ALPHA,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    truncated: TruncatedPolicy = "judge",
    panel: Sequence[str] | None = None,
    benchmark: Benchmark = BSA_V1,
) -> tuple[RunVerdicts, Scores]:
    """Read and score the run as :func:`read_verdicts` reads it, with ``benchmark``'s metrics."""
    verdicts = read_verdicts(run_path, judge, panel=panel)
    scores = compute_scores(
        verdicts.items,
        verdicts.samples,
        verdicts.k,
        alpha=alpha,
        bootstrap=bootstrap,
        seed=seed,
        failed_generations=verdicts.failed_generations,
        truncated=truncated,
        identical=verdicts.identical,
        benchmark=benchmark,
    )
    return verdicts, scores
