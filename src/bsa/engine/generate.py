"""Generation: ask the model under test each prompt k times and store every sample in the run file.

Resumable by construction: the plan is "every (prompt, sample) the run file lacks or holds as
failed", so a rerun of the same command does only the missing work and never pays twice for a
stored result. A run file remembers the settings that define its samples (model, decoding, safety
rules, system prompt); a command that asks for other settings on the same file is refused, because
mixing samples of two setups under one run would make every figure meaningless.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import bsa
from bsa.batch import batch_runner, check_batch, refuse_open_batches
from bsa.data.items import Item
from bsa.engine.extra_body import checked_extra_body
from bsa.engine.runner import (
    Execution as Execution,  # re-exported: its home before bsa.engine.runner
)
from bsa.engine.runner import JobResult, RateLimiter, RunCounters, Runner
from bsa.engine.sample_feed import SampleFeed
from bsa.engine.separate_samples import SeparateWhenNIgnored
from bsa.errors import BsaError
from bsa.providers.base import ContentBlocked, Provider
from bsa.redaction import redact_json
from bsa.runfile.batches import GENERATION_KIND, RequestKey
from bsa.runfile.lock import run_lock
from bsa.runfile.store import (
    GENERATION_COLUMNS,
    INSERT_GENERATION,
    Generation,
    Prompt,
    RunFileError,
    RunStore,
    generation_row,
    raw_json,
)
from bsa.runfile.writer import ResultWriter
from bsa.types import Decoding, Message, Request

SAFETY_RULES_MODES = ("none", "system", "prefix")
#: The stage name of generation's batches in the run file.
GENERATE_STAGE = "generate"


@dataclass(frozen=True)
class GenerationSettings:
    """What defines a run's samples; stored in the run file and checked on every resume."""

    model: str
    decoding: Decoding = field(default_factory=Decoding)
    safety_rules: str = "none"
    #: sha256 of the Safe_Rules.md put in the prompts, so edited rules are a different setup.
    safety_rules_sha256: str | None = None
    system_prompt: str | None = None
    #: Anthropic extended thinking budget; None for providers without one.
    thinking_budget: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GenerationJob:
    """One request: a prompt, and which of its samples the request's choices become.

    With a seed, a one-sample request carries its sample's seed; a request for n samples
    (``--use-n``) carries its first sample's, and ``singles`` are its samples' own requests, asked
    instead when the endpoint ignores ``n``.
    """

    prompt: Prompt
    samples: tuple[int, ...]
    request: Request
    singles: tuple[Request, ...]

    def seeds_sent(self, separately: bool) -> list[int | None]:
        """The seed each sample's request carried, in the order of :attr:`samples`."""
        requests = self.singles if separately else [self.request] * len(self.samples)
        return [request.decoding.seed for request in requests]


@dataclass(frozen=True)
class GenerationReport:
    """Where a generation command left the run."""

    counters: RunCounters
    status: dict[str, int]
    expected: int
    dropped_parameters: tuple[str, ...]
    #: Why each result the run file refused was refused (their samples stay missing).
    unstored: tuple[str, ...] = ()
    #: What the run changed on its own for the endpoint's sake, for the command to print.
    notices: tuple[str, ...] = ()

    @property
    def missing(self) -> int:
        return self.expected - self.status["ok"] - self.status["blocked"]


def prompts_from_items(items: Iterable[Item]) -> list[Prompt]:
    return [
        Prompt(item.id, item.query, item.scenario.value, item.risk_summary, item.label)
        for item in items
    ]


def build_messages(
    prompt: Prompt, settings: GenerationSettings, rules_text: str | None
) -> tuple[Message, ...]:
    """The conversation for one prompt. ``system`` puts the BSA safety rules (Safe_Rules.md) in a
    system message, ``prefix`` before the query in the user message (the paper's "with safety
    rules" condition, for endpoints without system messages)."""
    system_parts = [settings.system_prompt] if settings.system_prompt else []
    user = prompt.query
    if settings.safety_rules != "none":
        if not rules_text:
            raise ValueError("safety rules requested but no rules text given")
        if settings.safety_rules == "system":
            system_parts.append(rules_text)
        else:
            user = f"{rules_text}\n\n{prompt.query}"
    messages = [Message("system", "\n\n".join(system_parts))] if system_parts else []
    return (*messages, Message("user", user))


def plan_jobs(
    store: RunStore,
    prompts: Sequence[Prompt],
    settings: GenerationSettings,
    execution: Execution,
    rules_text: str | None,
) -> list[GenerationJob]:
    """Requests for every sample of ``prompts`` that the run file lacks or holds as failed."""
    done = store.done_samples()
    jobs: list[GenerationJob] = []
    for prompt in prompts:
        missing = tuple(s for s in range(execution.k) if s not in done.get(prompt.item_id, ()))
        if not missing:
            continue
        messages = build_messages(prompt, settings, rules_text)
        groups = [missing] if execution.use_n else [(s,) for s in missing]
        for samples in groups:
            singles = tuple(Request(messages, settings.decoding.for_sample(s)) for s in samples)
            request = replace(singles[0], n=len(samples))
            jobs.append(GenerationJob(prompt, samples, request, singles))
    return jobs


def generation_key(job: GenerationJob) -> RequestKey:
    """What a one-sample job stands for, as a batch request records it."""
    return (job.prompt.item_id, job.samples[0], GENERATION_KIND)


def job_keys(job: GenerationJob) -> list[RequestKey]:
    """What each sample of a job stands for, as a batch request records it."""
    return [(job.prompt.item_id, sample, GENERATION_KIND) for sample in job.samples]


def generation_rows(
    job: GenerationJob, result: JobResult, seeds: Sequence[int | None]
) -> list[Generation]:
    """The stored samples for a finished job: one per requested sample, whatever happened;
    ``seeds`` are those the samples' requests carried."""
    if result.completions is not None:
        return [
            Generation(
                item_id=job.prompt.item_id,
                sample=sample,
                status="blocked" if completion.blocked else "ok",
                answer=completion.answer,
                reasoning=completion.reasoning,
                reasoning_source=completion.reasoning_source,
                finish_reason=completion.finish_reason,
                truncated=completion.truncated,
                prompt_tokens=completion.usage.prompt_tokens,
                completion_tokens=completion.usage.completion_tokens,
                reasoning_tokens=completion.usage.reasoning_tokens,
                cached_tokens=completion.usage.cached_tokens,
                cache_write_tokens=completion.usage.cache_write_tokens,
                latency_s=result.latency_s,
                attempts=result.attempts,
                error=None,
                raw=raw_json(completion.raw),
                seed=seed,
                replica=completion.replica,
            )
            for sample, completion, seed in zip(
                job.samples, result.completions, seeds, strict=False
            )
        ]
    status = "blocked" if isinstance(result.error, ContentBlocked) else "failed"
    return [
        Generation(
            item_id=job.prompt.item_id,
            sample=sample,
            status=status,
            answer=None,
            reasoning=None,
            reasoning_source=None,
            finish_reason="content_filter" if status == "blocked" else None,
            truncated=False,
            prompt_tokens=None,
            completion_tokens=None,
            reasoning_tokens=None,
            latency_s=None,
            attempts=result.attempts,
            error=str(result.error),
            raw=None,
            seed=seed,
        )
        for sample, seed in zip(job.samples, seeds, strict=True)
    ]


def record_settings(
    store: RunStore, settings: GenerationSettings, source: dict[str, Any] | None
) -> None:
    """Store the settings on a new run file; refuse different ones on an existing run."""
    stored = store.generation_settings()
    wanted = redact_json(json.loads(json.dumps(settings.as_json())))  # as the store keeps it
    if stored is None:
        store.start_run(wanted, bsa.__version__, source)
        return
    if stored != wanted:
        changed = sorted(_differences(stored, wanted))
        raise RunFileError(
            f"{store.path} holds samples made with other settings ({', '.join(changed)} differ); "
            "rerun with the same settings to resume, or use a new --run file"
        )


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> Iterable[str]:
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            yield from _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            yield f"{prefix}{key}"


async def generate(
    run_path: Path,
    prompts: Sequence[Prompt],
    provider: Provider,
    settings: GenerationSettings,
    execution: Execution,
    *,
    rules_text: str | None = None,
    source: dict[str, Any] | None = None,
    progress: Any = None,
    feed: SampleFeed | None = None,
) -> GenerationReport:
    """Generate every missing sample of ``prompts`` into the run file at ``run_path``; with a
    ``feed``, tell it each sample once committed, and stop when it says so."""
    if execution.use_n and not provider.supports_n:
        raise BsaError(f"{provider.label} cannot return several samples per request; drop --use-n")
    check_batch(provider.name, execution)
    checked_extra_body(settings.decoding.extra_body)
    with run_lock(run_path), RunStore(run_path) as store:
        record_settings(store, settings, source)
        store.raise_k(execution.k)
        store.add_prompts(prompts)
        jobs = plan_jobs(store, prompts, settings, execution, rules_text)
        if not execution.batch:
            refuse_open_batches(store, GENERATE_STAGE, (k for job in jobs for k in job_keys(job)))
        writer = ResultWriter(run_path, feed.committed if feed else None)

        def on_done(job: GenerationJob, result: JobResult) -> None:
            seeds = job.seeds_sent(calls.separated(job.request))
            for generation in generation_rows(job, result, seeds):
                row = generation_row(generation)
                # The sample as stored (keys masked), so a judge grades what a rerun would read.
                note = Generation(*row[: len(GENERATION_COLUMNS)]) if feed else None
                writer.put(INSERT_GENERATION, row, note)

        calls = SeparateWhenNIgnored(provider)
        runner = Runner(
            lambda job: calls.complete(job.request, job.singles),
            on_done,
            concurrency=execution.concurrency_setting,
            policy=execution.policy,
            limiter=RateLimiter(execution.rpm, execution.tpm),
            progress=progress,
            job_key=lambda job: job.prompt.item_id,
        )
        if feed is not None:
            feed.stopper.watch(runner.stop)
            feed.ready.set()
        try:
            if execution.batch:  # never fed: a batched run's stages go one after another
                counters = await batch_runner(
                    provider, store, writer, GENERATE_STAGE, execution, key_of=generation_key,
                    request_of=lambda job: job.request, on_done=on_done, progress=progress,
                ).run(jobs)  # fmt: skip
            else:
                counters = await runner.run(jobs)
        finally:
            writer.close()
            await provider.aclose()
        status = store.status_counts_of((p.item_id for p in prompts), execution.k)
        dropped = tuple(sorted(provider.dropped_parameters))
        if dropped:
            store.set_dropped_parameters(dropped)
    notices = (calls.notice,) if calls.notice else ()
    return GenerationReport(
        counters, status, len(prompts) * execution.k, dropped, tuple(writer.rejected), notices
    )
