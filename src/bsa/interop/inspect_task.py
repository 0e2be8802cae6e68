"""BSA as an inspect_ai task: ``inspect eval bsa_bench/bsa --model M -T judge=J -T k=5``.

For teams that run every evaluation through inspect_ai. The task is this project's benchmark, not a
second implementation of it: the verified dataset and the selection flags of ``bsa`` (as task
arguments ``scenario``, ``category``, ``sample``, ``seed``, ``dataset``), k as inspect's epochs,
the official judge templates, this project's verdict parser (a reply without a usable verdict
stays unscored, never a fail) and its metrics. The registered name comes from
:mod:`bsa_bench._registry`, which the ``inspect_ai`` entry point loads.

Each epoch's score holds the sample's outcome and both verdicts with the judge's raw replies
(:func:`bsa.interop.inspect_samples.record`); the epochs reducer keeps all k of them, so the metric can
hand every verdict to :func:`bsa.scoring.metrics.compute_scores` and report the same Safe@1, Safe@k,
Think@1, Think@k, F-score and scenario figures as ``bsa score`` (in percent). ``bsa
import-inspect`` reads the same records back into a run file.
"""

from __future__ import annotations

from collections.abc import Sequence

from inspect_ai import Epochs, Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig, Model, get_model
from inspect_ai.scorer import (
    Metric,
    SampleScore,
    Score,
    Scorer,
    ScoreReducer,
    Target,
    Value,
    metric,
    score_reducer,
    scorer,
)
from inspect_ai.solver import TaskState, generate

from bsa.benchmark import Scenario
from bsa.data.assets import load_judge_templates
from bsa.data.dataset import load_dataset
from bsa.data.items import Item
from bsa.data.selection import Selection, parse_category, select
from bsa.interop.inspect_samples import (
    METADATA_KEY,
    from_record,
    generation_of,
    judge_verdict,
    kinds_to_ask,
    prompt_metadata,
    prompt_of,
    record,
)
from bsa.judging.judge import JudgeJob, job_for
from bsa.runfile.reading import KINDS
from bsa.runfile.store import Judgement, Prompt
from bsa.scoring.inputs import item_of, sample_score
from bsa.scoring.metrics import HEADLINE_FIGURES, SCENARIO_FIGURES, compute_scores
from bsa.scoring.metrics import SampleScore as Verdicts

#: The paper's decoding for the model under test (inspect drops what a provider does not take).
PAPER_DECODING = GenerateConfig(temperature=0.6, top_p=0.95, top_k=20)
#: Judges grade, they do not sample (as :data:`bsa.judging.judge.JUDGE_DECODING`).
JUDGE_CONFIG = GenerateConfig(temperature=0.0)


def bsa_task(
    judge: str | None = None,
    k: int = 5,
    scenario: str | Sequence[str] | None = None,
    category: str | Sequence[str] | None = None,
    sample: int | None = None,
    seed: int = 0,
    dataset: str | None = None,
    max_parse_attempts: int = 3,
) -> Task:
    """The BSA task over the selected items, each asked ``k`` times (epochs) and graded by
    ``judge`` (an inspect model name such as ``openai/gpt-4o``), or without one by the model of
    inspect's ``grader`` role (``--model-role grader=...``); never silently by the model under
    test."""
    selection = Selection(
        scenarios=tuple(Scenario.parse(s) for s in _names(scenario)),
        categories=tuple(parse_category(c) for c in _names(category)),
        sample=sample,
        seed=seed,
    )
    items = select(load_dataset(dataset), selection).items
    samples = [
        Sample(
            input=item.query,
            id=item.id,
            metadata=prompt_metadata(
                Prompt(item.id, item.query, item.scenario.value, item.risk_summary, item.label)
            ),
        )
        for item in items
    ]
    return Task(
        dataset=MemoryDataset(samples, name="bsa"),
        solver=generate(),
        scorer=bsa_scorer(judge, max_parse_attempts),
        metrics=[bsa_figures(k)],
        epochs=Epochs(k, bsa_epochs()),
        config=PAPER_DECODING,
    )


def _names(value: str | Sequence[str] | None) -> list[str]:
    """A task argument given once (``-T scenario=RO``) or as a list (``-T scenario=RO,CS``)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part) for part in value]


@scorer(metrics=[])  # type: ignore[untyped-decorator,unused-ignore]
def bsa_scorer(judge: str | None = None, max_parse_attempts: int = 3) -> Scorer:
    """Grade one sample's answer and reasoning with the official templates (no call where the
    verdict needs none: blocked, no reasoning), as ``bsa judge`` does."""
    templates = load_judge_templates()

    async def score(state: TaskState, target: Target) -> Score:
        prompt = prompt_of(state.metadata)
        generation = generation_of(prompt.item_id, state.epoch - 1, state.output, None)
        model = get_model(judge) if judge else get_model(role="grader", required=True)
        verdicts, to_ask = kinds_to_ask(generation, str(model))
        for kind in to_ask:
            job = job_for(kind, prompt, generation, templates)
            verdicts.append(await _ask(model, job, str(model), max_parse_attempts))
        return Score(
            value={j.kind: _value(j) for j in verdicts},
            answer=generation.answer,
            explanation="\n\n".join(f"{j.kind}: {j.rationale or j.reason or ''}" for j in verdicts),
            metadata={METADATA_KEY: record(generation, verdicts)},
        )

    return score


async def _ask(model: Model, job: JudgeJob, judge: str, max_parse_attempts: int) -> Judgement:
    """Ask ``model`` for one verdict, again while its reply holds none (as ``bsa judge`` does)."""
    attempt = 1
    while True:
        output = await model.generate(job.prompt, config=JUDGE_CONFIG)
        verdict = judge_verdict(job, judge, output, attempt)
        if verdict.status == "scored" or attempt >= max_parse_attempts:
            return verdict
        attempt += 1


def _value(judgement: Judgement) -> float | None:
    """1 pass, 0 fail, None unscored (inspect's reducers and this metric leave it out)."""
    return None if judgement.passed is None else float(judgement.passed)


@score_reducer(name="bsa_epochs")  # type: ignore[untyped-decorator,unused-ignore]
def bsa_epochs() -> ScoreReducer:
    """Keep every epoch's verdicts (BSA's @k needs all k, not a mean); the value shown per
    sample is the pass rate of each kind over its scored epochs."""

    def reduce(scores: list[Score]) -> Score:
        records = [s.metadata[METADATA_KEY] for s in scores if s.metadata]
        value: dict[str, float | None] = {}
        for kind in KINDS:
            passed = [
                v[kind]
                for s in scores
                if isinstance(v := s.value, dict) and v.get(kind) is not None
            ]
            value[kind] = sum(float(p) for p in passed) / len(passed) if passed else None
        return Score(value=value, metadata={METADATA_KEY: {"samples": records}})

    return reduce


@metric(name="bsa_figures")  # type: ignore[untyped-decorator,unused-ignore]
def bsa_figures(k: int) -> Metric:
    """BSA's figures in percent, computed by :func:`bsa.scoring.metrics.compute_scores` from every
    verdict; a figure that cannot be computed (all unscored) is left out."""

    def compute(scores: list[SampleScore]) -> Value:
        figures = compute_scores(*_verdicts(scores), k, bootstrap=0).headline()
        labels = dict((key, label) for label, key in (*HEADLINE_FIGURES, *SCENARIO_FIGURES))
        return {
            labels[key].replace("@k", f"@{k}"): value
            for key, value in figures.items()
            if value is not None
        }

    return compute


def _verdicts(scores: list[SampleScore]) -> tuple[list[Item], list[Verdicts]]:
    """The items and every epoch's verdicts that the reduced scores carry."""
    items: list[Item] = []
    samples: list[Verdicts] = []
    for score in scores:
        items.append(item_of(prompt_of(score.sample_metadata or {})))
        for data in (score.score.metadata or {}).get(METADATA_KEY, {}).get("samples", []):
            samples.append(sample_score(*from_record(data)))
    return items, samples


__all__ = ["bsa_epochs", "bsa_figures", "bsa_scorer", "bsa_task"]
