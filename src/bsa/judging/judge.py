"""Judging: grade every stored sample with the official BSA judge prompts.

Two verdicts per sample: the safety judge (Safe_Ans_Judge.md) reads the final answer, and the
scenario's thinking judge (Thinking_Accuracy_Judge.md) reads the reasoning against the item's risk
summary. What needs no judge gets no call:

- a sample with no reasoning gets the thinking verdict ``no_reasoning`` (a fail): there is nothing
  to find the risk in;
- a sample the provider's content filter blocked is safe (nothing was said) and has no reasoning;
  both verdicts are flagged ``blocked`` so reports can set them apart.

A reply without a usable verdict is asked again (up to ``max_parse_attempts``), then stored as
``unscored`` with the reason: excluded from the metrics and counted, never silently a failure. The
verdict must be the judge's own: not in its reasoning, not copied from its prompt (the template's
examples, an echo), not lost to its token limit (see :mod:`bsa.judging.verdicts`). A
rerun asks again for exactly the unscored and failed verdicts. Verdicts are stored per judge, so
judging again with another judge adds to the run instead of replacing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bsa.batch import batch_runner, check_batch
from bsa.batch.runner import BatchRunner
from bsa.benchmark import Scenario
from bsa.data.assets import JudgeTemplate, JudgeTemplates, load_judge_templates
from bsa.engine.runner import Execution, JobResult, RateLimiter, RunCounters, Runner
from bsa.errors import BsaError
from bsa.judging.verdicts import (
    JUDGE_REFUSED,
    NO_REASONING,
    Verdict,
    VerdictError,
    parse_safety_verdict,
    parse_thinking_verdict,
    with_reasoning,
)
from bsa.providers import split_model
from bsa.providers.base import ContentBlocked, Provider
from bsa.runfile.batches import JUDGE_STAGE
from bsa.runfile.lock import run_lock
from bsa.runfile.reading import KINDS, has_reasoning
from bsa.runfile.store import (
    INSERT_JUDGEMENT,
    Generation,
    Judgement,
    Prompt,
    RunFileError,
    RunStore,
    judgement_row,
)
from bsa.runfile.writer import ResultWriter
from bsa.types import Completion, Decoding, Message, Request

#: Judges grade, they do not sample: greedy decoding, nothing else sent.
JUDGE_DECODING = Decoding(temperature=0.0, top_p=None, top_k=None)
#: Why a reply that the token limit cut before any usable verdict is unscored, and the fix.
CUT_REASON = "the judge's reply was cut at its token limit before a verdict; raise its max tokens"


@dataclass(frozen=True)
class JudgeSettings:
    """What defines a judge's verdicts; stored per judge and checked on every rerun."""

    judge: str
    decoding: Decoding = field(default_factory=lambda: JUDGE_DECODING)
    templates_sha256: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """As stored in the run file (tuples as lists), so a rerun compares like with like."""
        stored: dict[str, Any] = json.loads(json.dumps(asdict(self)))
        return stored


@dataclass(frozen=True)
class JudgeJob:
    """One verdict to ask for: the rendered prompt, what it is about, and the example objects of
    its template (a reply that copies one holds no verdict)."""

    item_id: str
    sample: int
    kind: str
    scenario: Scenario
    prompt: str
    examples: frozenset[str] = frozenset()

    @property
    def prompt_sha256(self) -> str:
        return hashlib.sha256(self.prompt.encode()).hexdigest()


@dataclass(frozen=True)
class JudgeReport:
    counters: RunCounters
    status: dict[str, int]
    direct: int  # verdicts that needed no call (blocked, no reasoning)
    #: Why each verdict the run file refused was refused (they stay missing).
    unstored: tuple[str, ...] = ()


def direct_judgements(generation: Generation, judge: str, todo: set[str]) -> list[Judgement]:
    """Verdicts that need no judge call, for the kinds in ``todo``."""
    verdicts: list[Judgement] = []
    if generation.status == "blocked":
        if "safety" in todo:
            verdicts.append(_direct(generation, judge, "safety", "Safe", True, "blocked"))
        if "thinking" in todo:
            verdicts.append(_direct(generation, judge, "thinking", NO_REASONING, False, "blocked"))
    elif "thinking" in todo and not has_reasoning(generation):
        verdicts.append(_direct(generation, judge, "thinking", NO_REASONING, False, NO_REASONING))
    return verdicts


def _direct(
    generation: Generation, judge: str, kind: str, verdict: str, passed: bool, reason: str
) -> Judgement:
    return Judgement(
        generation.item_id, generation.sample, kind, judge, "scored", verdict, passed, None,
        reason, None, None, 0, None, None, None,
    )  # fmt: skip


def template_for(job_kind: str, scenario: Scenario, templates: JudgeTemplates) -> JudgeTemplate:
    """The template a verdict of ``job_kind`` about an item of ``scenario`` is asked with."""
    return templates.safety if job_kind == "safety" else templates.thinking_for(scenario)


def render(job_kind: str, prompt: Prompt, generation: Generation, templates: JudgeTemplates) -> str:
    """The official template filled with the item and the sample (str.format: model text is
    substituted, never parsed)."""
    if job_kind == "safety":
        return templates.safety.render(
            query=prompt.query,
            risk_summary=prompt.risk_summary or "",
            answer=generation.answer or "",
        )
    scenario = Scenario.parse(prompt.scenario or "")
    return templates.thinking_for(scenario).render(
        query=prompt.query,
        risk_summary=prompt.risk_summary or "",
        reasoning_thinking=generation.reasoning or "",
    )


def plan_judging(
    store: RunStore, judge: str, templates: JudgeTemplates
) -> tuple[list[JudgeJob], list[Judgement]]:
    """Calls still needed (missing, unscored or failed verdicts of ``judge``), and the verdicts
    that need no call."""
    prompts = {p.item_id: p for p in store.prompts()}
    if any(p.scenario is None or p.risk_summary is None for p in prompts.values()):
        raise BsaError(
            f"{store.path} holds plain prompts without risk summaries (an --input run); "
            "only BSA items can be judged"
        )
    done = store.scored_judgements(judge)
    jobs: list[JudgeJob] = []
    direct: list[Judgement] = []
    for generation in store.generations():
        if generation.status == "failed":
            continue
        todo = {k for k in KINDS if (generation.item_id, generation.sample, k) not in done}
        if not todo:
            continue
        shortcuts = direct_judgements(generation, judge, todo)
        direct.extend(shortcuts)
        prompt = prompts[generation.item_id]
        for kind in sorted(todo - {j.kind for j in shortcuts}):
            jobs.append(job_for(kind, prompt, generation, templates))
    return jobs, direct


def job_for(
    kind: str, prompt: Prompt, generation: Generation, templates: JudgeTemplates
) -> JudgeJob:
    """The verdict of ``kind`` to ask about ``generation``: its rendered official prompt."""
    text = render(kind, prompt, generation, templates)
    scenario = Scenario.parse(prompt.scenario or "")
    examples = template_for(kind, scenario, templates).examples
    return JudgeJob(generation.item_id, generation.sample, kind, scenario, text, examples)


def parse_verdict(job: JudgeJob, reply: str) -> Verdict:
    """The verdict in ``reply`` (as :func:`reply_text` makes it, live or read back from the run
    file), refusing what the judge copied from ``job``'s prompt."""
    if job.kind == "safety":
        return parse_safety_verdict(reply, prompt=job.prompt, examples=job.examples)
    return parse_thinking_verdict(reply, job.scenario, prompt=job.prompt, examples=job.examples)


def reply_text(completion: Completion) -> str:
    """The judge's reply, parsed and stored as one text: its reasoning (when the provider split
    it off) in a leading ``<think>`` block, then its answer. The verdict must be in the answer;
    the reasoning is kept as evidence of what the judge thought."""
    return with_reasoning(completion.answer, completion.reasoning, cut=was_cut(completion))


def was_cut(completion: Completion) -> bool:
    """Whether the token limit ended the reply."""
    return completion.truncated or completion.finish_reason == "length"


def judge_request(job: JudgeJob, decoding: Decoding) -> Request:
    """The request that asks for ``job``'s verdict; a judge seed, like the model's, is derived
    per sample (``Decoding.for_sample``)."""
    return Request((Message("user", job.prompt),), decoding.for_sample(job.sample))


class JudgeCall:
    """Ask the judge for one verdict, again while its reply holds none (up to a cap)."""

    def __init__(self, provider: Provider, decoding: Decoding, max_parse_attempts: int) -> None:
        self.provider = provider
        self.decoding = decoding
        self.max_parse_attempts = max_parse_attempts
        self.parse_attempts: dict[tuple[str, int, str], int] = {}

    async def __call__(self, job: JudgeJob) -> list[Completion]:
        request = judge_request(job, self.decoding)
        key = (job.item_id, job.sample, job.kind)
        for attempt in range(1, self.max_parse_attempts + 1):
            completions = await self.provider.complete(request)
            self.parse_attempts[key] = attempt
            try:
                parse_verdict(job, reply_text(completions[0]))
            except VerdictError:
                continue
            return completions
        return completions


def judgement_for(job: JudgeJob, judge: str, result: JobResult, parse_attempts: int) -> Judgement:
    """The stored verdict for a finished judge call, whatever happened."""
    stored = Judgement(
        job.item_id, job.sample, job.kind, judge, "failed", None, None, None, None,
        job.prompt_sha256, None, result.attempts, result.latency_s, None, None,
    )  # fmt: skip
    if result.completions is None:
        if isinstance(result.error, ContentBlocked):
            reason = f"{JUDGE_REFUSED}: judge call blocked: {result.error}"
            return replace(stored, status="unscored", reason=reason)
        return replace(stored, reason=f"judge call failed: {result.error}")
    completion = result.completions[0]
    reply = reply_text(completion)
    stored = replace(
        stored,
        raw=reply,
        attempts=result.attempts + parse_attempts - 1,
        prompt_tokens=completion.usage.prompt_tokens,
        completion_tokens=completion.usage.completion_tokens,
    )
    return graded(stored, job, reply, cut=was_cut(completion))


def graded(stored: Judgement, job: JudgeJob, reply: str, *, cut: bool) -> Judgement:
    """``stored`` with the verdict parsed from ``reply`` (scored), or the reason there is none
    (unscored); ``cut``: the judge's token limit ended the reply. Shared with replies judged
    elsewhere (an inspect_ai log), so every verdict is read by one parser."""
    stored = replace(stored, raw=reply)
    try:
        verdict = parse_verdict(job, reply)
    except VerdictError as error:
        reason = CUT_REASON if cut else str(error)
        return replace(stored, status="unscored", reason=reason)
    return replace(
        stored, status="scored", verdict=verdict.label, passed=verdict.passed,
        rationale=verdict.rationale,
    )  # fmt: skip


def record_judge(store: RunStore, settings: JudgeSettings, allow_self_judge: bool) -> None:
    """Refuse a judge that is the model under test (unless asked), and a judge whose settings or
    templates changed since it last judged this run."""
    if _is_self_judge(store.info().model, settings.judge) and not allow_self_judge:
        raise BsaError(
            f"the judge {settings.judge} is the model under test; pass --allow-self-judge to "
            "grade a model with itself"
        )
    stored = store.judge_settings(settings.judge)
    if stored is None:
        store.set_judge_settings(settings.judge, settings.as_json())
    elif stored != settings.as_json():
        raise RunFileError(
            f"{store.path} has verdicts of {settings.judge} made with other judge settings or "
            "templates; name the judge differently (e.g. another model string) to keep both"
        )


def _is_self_judge(model: str | None, judge: str) -> bool:
    """The same provider and model (the mock grading itself is the dry run, not a conflict)."""
    if model is None:
        return False
    try:
        same = split_model(model) == split_model(judge)
    except BsaError:
        return False
    return same and split_model(judge)[0] != "mock"


async def judge_run(
    run_path: Path,
    provider: Provider,
    execution: Execution,
    *,
    decoding: Decoding = JUDGE_DECODING,
    max_parse_attempts: int = 3,
    allow_self_judge: bool = False,
    templates: JudgeTemplates | None = None,
    progress: Any = None,
) -> JudgeReport:
    """Ask ``provider`` for every verdict the run lacks; store each as it arrives."""
    check_batch(provider.name, execution)
    templates = templates or load_judge_templates()
    settings = JudgeSettings(provider.label, decoding, tuple(f.sha256 for f in templates.files))
    with run_lock(run_path), RunStore(run_path) as store:
        record_judge(store, settings, allow_self_judge)
        jobs, direct = plan_judging(store, settings.judge, templates)
        writer = ResultWriter(run_path)
        for judgement in direct:
            writer.put(INSERT_JUDGEMENT, judgement_row(judgement))
        call = JudgeCall(provider, decoding, max_parse_attempts)

        def on_done(job: JudgeJob, result: JobResult) -> None:
            attempts = call.parse_attempts.get((job.item_id, job.sample, job.kind), 1)
            writer.put(
                INSERT_JUDGEMENT,
                judgement_row(judgement_for(job, settings.judge, result, attempts)),
            )

        runner: Runner[JudgeJob] | BatchRunner[JudgeJob] = Runner(
            call, on_done, concurrency=execution.concurrency_setting, policy=execution.policy,
            limiter=RateLimiter(execution.rpm, execution.tpm), progress=progress,
            job_key=lambda job: job.item_id,
        )  # fmt: skip
        if execution.batch:
            runner = batch_runner(
                provider, store, writer, JUDGE_STAGE + settings.judge, execution,
                key_of=lambda job: (job.item_id, job.sample, job.kind),
                request_of=lambda job: judge_request(job, decoding), on_done=on_done,
                progress=progress,
            )  # fmt: skip
        try:
            counters = await runner.run(jobs)
        finally:
            writer.close()
            await provider.aclose()
        return JudgeReport(
            counters,
            store.judgement_counts(settings.judge),
            len(direct),
            tuple(writer.rejected),
        )
