"""One BSA run as a library: generate, judge (one judge or a panel), score.

``bsa run`` parses its flags into a :class:`RunPlan` and calls :func:`run`; a Python user builds
the same plan and calls the same function, so the command line adds nothing but flag parsing, a
progress display and printing. Every stage resumes from the run file: calling :func:`run` again
with the same plan asks only for what is missing.

How a stage is executed is the caller's choice (:class:`StageRunner`): the default runs it with
``asyncio.run`` and no display; the CLI wraps it in a progress display that turns Ctrl-C into
its exit status. ``on_stage`` hears each stage's report as soon as it ends, before the next
begins, so a caller can print the generation summary while the judges are still to come.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bsa.engine.generate import Execution, GenerationReport, GenerationSettings, generate
from bsa.errors import BsaError
from bsa.judging.judge import JUDGE_DECODING, JudgeReport, judge_run
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
    """Runs one async stage (given the progress sink it should report to) and returns its
    result; ``label`` names the stage, ``what`` the unit it commits (``sample``, ``verdict``)."""

    def __call__(
        self, label: str, what: str, stage: Callable[[Any], Coroutine[Any, Any, T]]
    ) -> T: ...


def run_quietly(label: str, what: str, stage: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """The default :class:`StageRunner`: no display."""
    return asyncio.run(stage(None))


def run(
    plan: RunPlan,
    *,
    stages: StageRunner = run_quietly,
    on_stage: Callable[[Any, Any], None] | None = None,
) -> RunResult:
    """Generate every missing sample, have each judge grade every sample it has not graded, and
    score the run (the panel's majority when there are several judges)."""
    if not plan.judges:
        raise BsaError("a run needs at least one judge")
    generation = stages("generate", "sample", lambda p: generate_stage(plan.generation, p))
    if on_stage:
        on_stage(plan.generation, generation)
    judging = []
    for judge in plan.judges:
        report = stages("judge", "verdict", _judging(judge))
        if on_stage:
            on_stage(judge, report)
        judging.append(report)
    verdicts, scores, panel = score_judges(
        plan.generation.run_path, [judge.judge for judge in plan.judges], plan.scoring
    )
    return RunResult(generation, judging, verdicts, scores, panel)


def _judging(plan: JudgePlan) -> Callable[[Any], Coroutine[Any, Any, JudgeReport]]:
    """``judge_stage`` for ``plan``, waiting for its progress sink."""
    return lambda progress: judge_stage(plan, progress)


async def generate_stage(plan: GenerationPlan, progress: Any = None) -> GenerationReport:
    """The generation stage of ``plan``, with its own provider."""
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
    )


async def judge_stage(plan: JudgePlan, progress: Any = None) -> JudgeReport:
    """One judge's stage: every verdict it lacks in the run."""
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
