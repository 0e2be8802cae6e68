"""One BSA run as a library: generate, judge (one judge or a panel), score.

``bsa run`` parses its flags into a :class:`RunPlan` and calls :func:`run`; a Python user builds
the same plan and calls the same function, so the command line adds nothing but flag parsing, a
progress display and printing. Every stage resumes from the run file: calling :func:`run` again
with the same plan asks only for what is missing.

The stages are pipelined: generation and every judge run at once in one event loop, each with
its own provider, concurrency, retry policy and limits. A judge first grades the samples already
in the run file that it lacks (a resume), then each sample as soon as generation has committed it
(:mod:`bsa.engine.sample_feed`), and ends when generation has ended and its feed is drained. A run
so takes about as long as its slowest stage instead of their sum.

When a stage fails (a rejected key, a full disk, a judge's settings unlike those it judged the
run with), every other stage starts nothing new and ends once its calls in flight are stored; then the failure is
raised. Stopping so, rather than cancelling the calls in flight (paid for, then thrown away) or
letting generation run to its end (paying for every sample before the user can fix a judge's key
and with no judge to grade them), loses nothing that was paid for and spends nothing more before
the user has heard of the problem.

How the stages are executed is the caller's choice (:class:`StageRunner`): the default runs them
with ``asyncio.run`` and no display; the CLI gives each stage a progress bar and turns Ctrl-C into
its exit status. ``on_stage`` hears each stage's report as soon as that stage ends (generation
first, while the judges grade its last samples), so a caller can print the generation summary
while the judges are still at work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bsa.engine.generate import Execution, GenerationReport, GenerationSettings, generate
from bsa.engine.sample_feed import SampleFeed, Stopper, Subscription
from bsa.errors import BsaError
from bsa.judging.judge import JUDGE_DECODING, JudgeReport, judge_run, refuse_self_judge
from bsa.providers import Limits, Provider, ProviderOptions, create_provider
from bsa.runfile.store import Prompt
from bsa.scoring.inputs import RunVerdicts
from bsa.scoring.metrics import Scores
from bsa.scoring.panel_scores import PanelScores
from bsa.scoring.run_scores import ScorePlan, score_judges

T = TypeVar("T")


@dataclass(frozen=True)
class GenerationPlan:
    """Everything the generation stage needs: the model, its settings, the prompts."""

    run_path: Path
    settings: GenerationSettings
    execution: Execution
    provider_options: ProviderOptions
    prompts: Sequence[Prompt]
    #: A key given by an upstream config file; it outranks the environment and is kept nowhere.
    api_key: str | None = None
    source: dict[str, Any] | None = None
    rules_text: str | None = None


@dataclass(frozen=True)
class JudgePlan:
    """One judge of the run: who, how to reach it, and how it is asked."""

    run_path: Path
    judge: str
    options: ProviderOptions
    execution: Execution
    temperature: float = 0.0
    parse_attempts: int = 3
    allow_self_judge: bool = False
    seed: int | None = None


@dataclass(frozen=True)
class RunPlan:
    """A whole run: generation, one judge or several (a panel), and scoring."""

    generation: GenerationPlan
    judges: Sequence[JudgePlan]
    scoring: ScorePlan = field(default_factory=ScorePlan)


@dataclass(frozen=True)
class RunResult:
    """What each stage reported, and the scores. With several judges, ``scores`` are the panel's
    and ``panel`` holds each judge's figures and their agreement."""

    generation: GenerationReport
    judging: list[JudgeReport]
    verdicts: RunVerdicts
    scores: Scores
    panel: PanelScores | None = None


class StageRunner(Protocol):
    """Runs the stages of a run, which run at once: ``stages`` takes one progress sink per label
    (``generate``, then ``judge NAME`` for each judge, in the plan's order) and returns the
    result."""

    def __call__(
        self, labels: Sequence[str], stages: Callable[[Sequence[Any]], Coroutine[Any, Any, T]]
    ) -> T: ...


def run_quietly(
    labels: Sequence[str], stages: Callable[[Sequence[Any]], Coroutine[Any, Any, T]]
) -> T:
    """The default :class:`StageRunner`: no display."""
    return asyncio.run(stages([None] * len(labels)))


#: What the stages of a run report: generation's, then each judge's in the plan's order.
StageReports = tuple[GenerationReport, list[JudgeReport]]


def run(
    plan: RunPlan,
    *,
    stages: StageRunner = run_quietly,
    on_stage: Callable[[Any, Any], None] | None = None,
) -> RunResult:
    """Generate every missing sample while each judge grades every sample it has not graded
    (pipelined, see above), and score the run (the panel's majority when there are several
    judges)."""
    if not plan.judges:
        raise BsaError("a run needs at least one judge")
    for judge in plan.judges:  # before any call, rather than once generation has begun
        refuse_self_judge(plan.generation.settings.model, judge.judge, judge.allow_self_judge)
    labels = ["generate", *(f"judge {judge.judge}" for judge in plan.judges)]
    generation, judging = stages(labels, lambda sinks: run_stages(plan, sinks, on_stage))
    verdicts, scores, panel = score_judges(
        plan.generation.run_path, [judge.judge for judge in plan.judges], plan.scoring
    )
    return RunResult(generation, judging, verdicts, scores, panel)


async def run_stages(
    plan: RunPlan,
    progress: Sequence[Any],
    on_stage: Callable[[Any, Any], None] | None = None,
) -> StageReports:
    """Generation and every judge at once, each reporting to its own entry of ``progress``.

    The judges start once generation has recorded its settings and prompts in the run file (they
    check and plan from it); each took its feed before, so none misses a sample. A run with a
    provider batch (``--batch``, ``--judge-batch``) goes one stage after another instead."""
    if plan.generation.execution.batch or any(judge.execution.batch for judge in plan.judges):
        return await _one_after_another(plan, progress, on_stage)
    feed = SampleFeed()
    feeds = [feed.subscribe() for _ in plan.judges]
    generation = asyncio.ensure_future(
        _stopping_others(feed.stopper, _generation_feeding(plan.generation, progress[0], feed))
    )
    ready = asyncio.ensure_future(feed.ready.wait())
    try:
        await asyncio.wait({generation, ready}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # cancelled (Ctrl-C) before the judges started
        generation.cancel()
        raise
    finally:
        ready.cancel()
    if not feed.ready.is_set():
        await generation  # its setup failed: raise why
    tasks: list[asyncio.Future[Any]] = [generation]
    for judge, sink, judge_feed in zip(plan.judges, progress[1:], feeds, strict=True):
        task = _stopping_others(feed.stopper, judge_stage(judge, sink, judge_feed))
        tasks.append(asyncio.ensure_future(task))
    reports = await _together(tasks, [plan.generation, *plan.judges], on_stage)
    return reports[0], reports[1:]


async def _one_after_another(
    plan: RunPlan, progress: Sequence[Any], on_stage: Callable[[Any, Any], None] | None
) -> StageReports:
    """Generation, then every judge at once. A batched stage is not pipelined: its results come
    when a whole batch ends (hours later, at the vendor's pace), and a batch is a fixed set of
    requests, so a judge fed sample by sample would gain nothing and a batched judge could not
    take samples that arrive after it has submitted."""
    generation = await generate_stage(plan.generation, progress[0])
    if on_stage:
        on_stage(plan.generation, generation)
    tasks = [
        asyncio.ensure_future(judge_stage(judge, sink))
        for judge, sink in zip(plan.judges, progress[1:], strict=True)
    ]
    return generation, await _together(tasks, plan.judges, on_stage)


async def _generation_feeding(
    plan: GenerationPlan, progress: Any, feed: SampleFeed
) -> GenerationReport:
    """Generation, telling the judges it has ended once its writer has committed everything."""
    try:
        return await generate_stage(plan, progress, feed)
    finally:
        feed.finish()


async def _stopping_others(stopper: Stopper, stage: Coroutine[Any, Any, T]) -> T:
    """``stage``; if it fails, the other stages are told to stop at once."""
    try:
        return await stage
    except Exception:
        stopper.stop()
        raise


async def _together(
    tasks: Sequence[asyncio.Future[Any]],
    plans: Sequence[Any],
    on_stage: Callable[[Any, Any], None] | None,
) -> list[Any]:
    """The stages' reports, in the order of ``tasks``; ``on_stage`` hears each stage's plan and
    report as it ends, in that order (a judge that ends first waits for the judges before it, so
    what a caller prints does not depend on which finished first). Once a stage has failed, no
    other is heard (they were stopped short); the first failure is raised once every stage has
    ended (a Ctrl-C cancels them all)."""
    reports: list[Any] = [None] * len(tasks)
    failure: BaseException | None = None
    heard = 0  # stages whose report on_stage has heard
    pending = set(tasks)
    try:
        while pending:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            ended = [task for task in tasks if task.done()]
            failure = failure or next((t.exception() for t in ended if t.exception()), None)
            while failure is None and heard < len(tasks) and tasks[heard].done():
                reports[heard] = tasks[heard].result()
                if on_stage:
                    on_stage(plans[heard], reports[heard])
                heard += 1
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    if failure is not None:
        raise failure
    return reports


async def generate_stage(
    plan: GenerationPlan, progress: Any = None, feed: SampleFeed | None = None
) -> GenerationReport:
    """The generation stage of ``plan``, with its own provider (and, pipelined, its ``feed``)."""
    provider = _provider(plan.settings.model, plan.provider_options, plan.execution, plan.api_key)
    return await generate(
        plan.run_path,
        plan.prompts,
        provider,
        plan.settings,
        plan.execution,
        rules_text=plan.rules_text,
        source=plan.source,
        progress=progress,
        feed=feed,
    )


async def judge_stage(
    plan: JudgePlan, progress: Any = None, feed: Subscription | None = None
) -> JudgeReport:
    """One judge's stage: every verdict it lacks in the run (and, pipelined, every sample its
    ``feed`` brings)."""
    if not plan.run_path.is_file():
        raise BsaError(f"no run file at {plan.run_path}; run 'bsa generate' first")
    provider = _provider(plan.judge, plan.options, plan.execution)
    decoding = replace(JUDGE_DECODING, temperature=plan.temperature, seed=plan.seed)
    return await judge_run(
        plan.run_path,
        provider,
        plan.execution,
        decoding=decoding,
        max_parse_attempts=plan.parse_attempts,
        allow_self_judge=plan.allow_self_judge,
        progress=progress,
        feed=feed,
    )


def _provider(
    model: str, options: ProviderOptions, execution: Execution, api_key: str | None = None
) -> Provider:
    """The stage's provider, its HTTP client sized and timed by the stage's own execution: one
    connection per concurrent request, and the retry policy's timeout per call, so each of those
    settings is given once (in the Execution) and derived here."""
    limits = Limits(
        timeout_s=execution.policy.timeout_s, max_connections=execution.concurrency_setting.ceiling
    )
    return create_provider(model, options, limits=limits, api_key=api_key)
