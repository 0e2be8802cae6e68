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

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bsa.batch import batch_runner, check_batch, refuse_open_batches
from bsa.benchmark import Scenario
from bsa.data.assets import JudgeTemplate, JudgeTemplates, load_judge_templates
from bsa.engine.job_queue import JobQueue
from bsa.engine.runner import Execution, JobResult, RateLimiter, RunCounters, Runner
from bsa.engine.sample_feed import Subscription
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
    #: Characters of ``prompt`` that are the template's fixed text, before any item or model text:
    #: the prefix a provider's prompt cache can reuse across verdicts (see ``fixed_prefix``).
    cache_prefix: int = 0

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
    store: RunStore,
    judge: str,
    templates: JudgeTemplates,
    generations: Iterable[Generation] | None = None,
) -> tuple[list[JudgeJob], list[Judgement]]:
    """Calls still needed (missing, unscored or failed verdicts of ``judge``), and the verdicts
    that need no call, for ``generations`` (default: every stored sample)."""
    prompts = judged_prompts(store)
    done = store.scored_judgements(judge)
    jobs: list[JudgeJob] = []
    direct: list[Judgement] = []
    for generation in store.generations() if generations is None else generations:
        more_jobs, shortcuts = sample_judging(
            generation, prompts[generation.item_id], judge, done, templates
        )
        jobs.extend(more_jobs)
        direct.extend(shortcuts)
    return jobs, direct


def judged_prompts(store: RunStore) -> dict[str, Prompt]:
    """The run's prompts by id; refused when they are not BSA items (nothing to judge against)."""
    prompts = {p.item_id: p for p in store.prompts()}
    if any(p.scenario is None or p.risk_summary is None for p in prompts.values()):
        raise BsaError(
            f"{store.path} holds plain prompts without risk summaries (an --input run); "
            "only BSA items can be judged"
        )
    return prompts


def sample_judging(
    generation: Generation,
    prompt: Prompt,
    judge: str,
    done: set[tuple[str, int, str]],
    templates: JudgeTemplates,
) -> tuple[list[JudgeJob], list[Judgement]]:
    """What ``judge`` still needs for one sample: its calls, and the verdicts needing none."""
    if generation.status == "failed":
        return [], []
    todo = {k for k in KINDS if (generation.item_id, generation.sample, k) not in done}
    shortcuts = direct_judgements(generation, judge, todo) if todo else []
    kinds = sorted(todo - {j.kind for j in shortcuts})
    return [job_for(kind, prompt, generation, templates) for kind in kinds], shortcuts


def job_for(
    kind: str, prompt: Prompt, generation: Generation, templates: JudgeTemplates
) -> JudgeJob:
    """The verdict of ``kind`` to ask about ``generation``: its rendered official prompt."""
    text = render(kind, prompt, generation, templates)
    scenario = Scenario.parse(prompt.scenario or "")
    examples = template_for(kind, scenario, templates).examples
    prefix = fixed_prefix(template_for(kind, scenario, templates))
    return JudgeJob(generation.item_id, generation.sample, kind, scenario, text, examples, prefix)


@functools.lru_cache(maxsize=16)
def fixed_prefix(template: JudgeTemplate) -> int:
    """How many characters of every prompt ``template`` renders come before its first
    placeholder. Every official template (Safe_Ans_Judge.md and the three of
    Thinking_Accuracy_Judge.md) keeps its instructions and examples first and the query, risk
    summary and graded text last, so this fixed prefix is most of the prompt and a provider's
    prefix cache can reuse it across verdicts. Were a template to put variable text first, the
    prefix would be short and it would stay so: judging is bit-exact to upstream, and the
    templates are never reordered."""
    marker = "\x00"
    rendered = template.render(**dict.fromkeys(template.placeholders, marker))
    return rendered.index(marker) if marker in rendered else len(rendered)


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
    message = Message("user", job.prompt, cache_prefix=job.cache_prefix)
    return Request((message,), decoding.for_sample(job.sample))


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
        replica=completion.replica,
        cached_tokens=completion.usage.cached_tokens,
        cache_write_tokens=completion.usage.cache_write_tokens,
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
    refuse_self_judge(store.info().model, settings.judge, allow_self_judge)
    stored = store.judge_settings(settings.judge)
    if stored is None:
        store.set_judge_settings(settings.judge, settings.as_json())
    elif stored != settings.as_json():
        raise RunFileError(
            f"{store.path} has verdicts of {settings.judge} made with other judge settings or "
            "templates; name the judge differently (e.g. another model string) to keep both"
        )


def refuse_self_judge(model: str | None, judge: str, allow_self_judge: bool) -> None:
    """Refuse ``judge`` if it is the model under test, unless asked to allow it."""
    if _is_self_judge(model, judge) and not allow_self_judge:
        raise BsaError(
            f"the judge {judge} is the model under test; pass --allow-self-judge to "
            "grade a model with itself"
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
    feed: Subscription | None = None,
) -> JudgeReport:
    """Ask ``provider`` for every verdict the run lacks; store each as it arrives. With a
    ``feed``, also grade every sample it brings, until it ends (or stops the stage)."""
    check_batch(provider.name, execution)
    templates = templates or load_judge_templates()
    settings = JudgeSettings(provider.label, decoding, tuple(f.sha256 for f in templates.files))
    with run_lock(run_path), RunStore(run_path) as store:
        record_judge(store, settings, allow_self_judge)
        stored = list(store.generations())
        jobs, direct = plan_judging(store, settings.judge, templates, stored)
        if not execution.batch:
            keys = ((job.item_id, job.sample, job.kind) for job in jobs)
            refuse_open_batches(store, JUDGE_STAGE + settings.judge, keys, "--judge-batch")
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

        runner = Runner(
            call, on_done, concurrency=execution.concurrency_setting, policy=execution.policy,
            limiter=RateLimiter(execution.rpm, execution.tpm), progress=progress,
            job_key=lambda job: job.item_id,
        )  # fmt: skip
        fed = _FedSamples(settings.judge, judged_prompts(store), templates, writer, runner)
        try:
            if execution.batch:  # never fed: a batched run's stages go one after another
                counters = await batch_runner(
                    provider, store, writer, JUDGE_STAGE + settings.judge, execution,
                    key_of=lambda job: (job.item_id, job.sample, job.kind),
                    request_of=lambda job: judge_request(job, decoding), on_done=on_done,
                    progress=progress,
                ).run(jobs)  # fmt: skip
            else:
                work = jobs if feed is None else fed.follow(feed, jobs, stored)
                counters = await runner.run(work)
        finally:
            writer.close()
            await provider.aclose()
        if fed.error is not None:
            raise fed.error
        return JudgeReport(
            counters,
            store.judgement_counts(settings.judge),
            len(direct) + fed.direct,
            tuple(writer.rejected),
        )


class _FedSamples:
    """A judge's share of a pipelined run: each sample generation commits becomes the judge's
    calls (into the runner's queue) and call-free verdicts (to the writer), as in
    :func:`plan_judging`."""

    def __init__(
        self,
        judge: str,
        prompts: dict[str, Prompt],
        templates: JudgeTemplates,
        writer: ResultWriter,
        runner: Runner[JudgeJob],
    ) -> None:
        self._judge_name, self._prompts, self._templates = judge, prompts, templates
        self._writer, self._runner = writer, runner
        self._queue: JobQueue[JudgeJob] = JobQueue()
        self._seen: set[tuple[str, int]] = set()
        self.direct = 0
        #: What stopped the feed's work (a full disk), raised once the calls in flight are done.
        self.error: Exception | None = None

    def follow(
        self, feed: Subscription, jobs: list[JudgeJob], stored: Sequence[Generation]
    ) -> JobQueue[JudgeJob]:
        """The runner's queue: ``jobs`` (from the samples already ``stored``, which the feed may
        bring again and are skipped), then the feed's, closed when the feed ends."""
        self._seen = {(g.item_id, g.sample) for g in stored}
        self._queue.add(jobs)
        feed.stopper.watch(self._runner.stop)
        feed.attach(self._take, self._queue.close)
        return self._queue

    def _take(self, samples: Sequence[Generation]) -> None:
        """Called on the event loop, outside any task: an error is kept for :func:`judge_run`."""
        try:
            for generation in samples:
                self._judge(generation)
        except Exception as error:
            self.error = self.error or error
            self._runner.stop()

    def _judge(self, generation: Generation) -> None:
        key = (generation.item_id, generation.sample)
        if key in self._seen:
            return
        self._seen.add(key)
        jobs, direct = sample_judging(
            generation, self._prompts[generation.item_id], self._judge_name, set(), self._templates
        )
        for judgement in direct:
            self._writer.put(INSERT_JUDGEMENT, judgement_row(judgement))
        self.direct += len(direct)
        self._queue.add(jobs)
