"""``bsa estimate``: the calls, tokens, cost and wall time of what a run still lacks, asking no one.

What it counts is what ``bsa run`` would ask for: every selected prompt's samples below k that
are not stored (``ok`` or ``blocked``), then, per judge, every verdict of every sample (stored or
predicted) that the judge has not scored, less those given without a call (a blocked sample, a
thinking verdict on a sample without reasoning).

How each quantity is predicted, the run file's measurements first, stated defaults otherwise:

- input tokens: the characters of each prompt (the messages bsa would send; a judge prompt is the
  official template's own text plus the query, risk summary and graded answer or reasoning) over
  a characters-per-token ratio, measured on the stage's stored calls (prompt characters over
  reported prompt tokens) or :data:`DEFAULT_CHARS_PER_TOKEN`;
- output tokens: the mean reported completion tokens of the stage's stored calls, or
  ``--expect-output-tokens`` / ``--expect-judge-output-tokens`` (capped by ``--max-tokens``); a
  predicted sample's answer and reasoning, which its judge prompts quote, are as long as the
  stored samples' on average, or, on a new run, split :data:`REASONING_SHARE` reasoning;
- cached input: the stage's measured share of cached input tokens (none on a new run);
- wall time: calls in waves of the stage's concurrency (``auto``: its ceiling), each as long as
  the stage's mean stored latency or ``--expect-latency`` / ``--judge-expect-latency``, and no
  faster than ``--rpm``/``--tpm`` allow; the judges run one after the other, after generation;
- cost: the prices of :mod:`bsa.costs.prices`, halved for a stage sent as a batch (``--batch``,
  ``--judge-batch``: the vendors' batch APIs bill half; a batch's wall time is the vendor's, up
  to 24 hours, and not predicted).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bsa.benchmark import Scenario
from bsa.costs.prices import PRICES_META, Price, PriceTable, price_of, stored_prices
from bsa.costs.spend import cost_usd
from bsa.data.assets import JudgeTemplate, JudgeTemplates
from bsa.judging.judge import template_for
from bsa.runfile.reading import KINDS, has_reasoning
from bsa.runfile.store import Generation, Judgement, Prompt, RunStore
from bsa.runfile.usage import StageUsage

#: Characters per token when the run file has no measured call: English prose with common BPE
#: tokenizers comes close to 4 (code and Chinese text make more tokens per character).
DEFAULT_CHARS_PER_TOKEN = 4.0
#: Output tokens per sample of a reasoning model on a new run: a stated guess, give your own with
#: --expect-output-tokens (the run file's measured mean replaces it once samples exist).
DEFAULT_OUTPUT_TOKENS = 2000
#: A judge's output tokens per verdict (a short JSON verdict with its reason).
DEFAULT_JUDGE_OUTPUT_TOKENS = 200
#: Seconds per call when the run file has no measured latency.
DEFAULT_LATENCY_S = 60.0
DEFAULT_JUDGE_LATENCY_S = 10.0
#: Of a new run's output characters, those of the reasoning (the rest is the answer).
REASONING_SHARE = 0.8
#: What a vendor's batch API bills, of the price of the same calls one by one.
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class StageSettings:
    """What one stage's estimate needs besides the run file: who, how fast, and the defaults."""

    name: str
    concurrency: int
    rpm: float | None = None
    tpm: float | None = None
    batch: bool = False
    expect_output_tokens: int = DEFAULT_OUTPUT_TOKENS
    expect_latency_s: float = DEFAULT_LATENCY_S


@dataclass(frozen=True)
class EstimatePlan:
    """A run to estimate: its file (which may not exist yet), the prompts and k asked for, the
    messages' extra text, the stages, and prices given on the command line (over the record)."""

    run_path: Path
    prompts: Sequence[Prompt]
    k: int
    model: StageSettings
    judges: Sequence[StageSettings] = ()
    #: Characters every generation prompt adds to the query (system prompt, safety rules).
    extra_prompt_chars: int = 0
    use_n: bool = False
    max_tokens: int | None = None
    prices: PriceTable = field(default_factory=dict)


@dataclass(frozen=True)
class Measured:
    """A stage's stored calls, reduced to what the estimate reads of them."""

    calls: int = 0
    prompt_chars: int = 0
    usage: StageUsage = field(default_factory=StageUsage)

    def chars_per_token(self) -> tuple[float, str]:
        if self.usage.input_tokens and self.prompt_chars:
            ratio = self.prompt_chars / self.usage.input_tokens
            return ratio, f"measured on {self.calls:,} stored calls"
        return DEFAULT_CHARS_PER_TOKEN, "assumed"

    def output_tokens(self, default: int) -> tuple[float, str]:
        if self.calls and self.usage.output_tokens:
            return self.usage.output_tokens / self.calls, f"mean of {self.calls:,} stored calls"
        return float(default), "assumed"

    def latency_s(self, default: float) -> tuple[float, str]:
        if self.usage.timed:
            return (
                self.usage.latency_s / self.usage.timed,
                f"mean of {self.usage.timed:,} stored calls",
            )
        return default, "assumed"

    def cached_share(self) -> float:
        return (
            self.usage.cached_tokens / self.usage.input_tokens if self.usage.input_tokens else 0.0
        )


def measure(rows: Iterable[tuple[int, Any]]) -> Measured:
    """``(prompt characters, stored row)`` of calls that reported usage, summed."""
    calls = chars = prompt = cached = output = timed = 0
    latency = 0.0
    for characters, row in rows:
        if row.prompt_tokens is None or row.completion_tokens is None:
            continue
        calls, chars = calls + 1, chars + characters
        prompt, output = prompt + row.prompt_tokens, output + row.completion_tokens
        cached += row.cached_tokens or 0
        if row.latency_s is not None:
            latency, timed = latency + row.latency_s, timed + 1
    usage = StageUsage(calls, prompt, cached, 0, output, 0, latency, timed)
    return Measured(calls, chars, usage)


@dataclass(frozen=True)
class StageEstimate:
    """One stage's predicted calls, tokens, cost (None without a price) and wall time (None for
    a batch), with what each rests on."""

    name: str
    calls: int
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    cost_usd: float | None
    wall_s: float | None
    batch: bool
    basis: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def estimate_stage(
    settings: StageSettings,
    prompt_chars: Sequence[int],
    outputs: int,
    measured: Measured,
    price: Price | None,
    max_tokens: int | None = None,
) -> StageEstimate:
    """The stage's estimate for calls of ``prompt_chars`` characters each, producing ``outputs``
    replies (samples or verdicts: more than the calls when one call asks for n samples)."""
    chars_per_token, ratio_from = measured.chars_per_token()
    per_reply, output_from = measured.output_tokens(settings.expect_output_tokens)
    if max_tokens is not None:
        per_reply = min(per_reply, max_tokens)
    latency, latency_from = measured.latency_s(settings.expect_latency_s)
    input_tokens = round(sum(prompt_chars) / chars_per_token)
    cached = round(input_tokens * measured.cached_share())
    output = round(outputs * per_reply)
    calls = len(prompt_chars)
    usage = StageUsage(calls, input_tokens, cached, 0, output)
    cost = (
        None
        if price is None
        else cost_usd(usage, price) * (BATCH_DISCOUNT if settings.batch else 1)
    )
    basis = {
        "chars_per_token": round(chars_per_token, 4), "chars_per_token_from": ratio_from,
        "output_tokens_per_reply": round(per_reply, 2), "output_tokens_from": output_from,
        "latency_s": round(latency, 4), "latency_from": latency_from,
        "concurrency": settings.concurrency, "cached_share": round(measured.cached_share(), 4),
        "price": None if price is None else price.as_json(),
    }  # fmt: skip
    wall = None if settings.batch else wall_seconds(settings, calls, input_tokens + output, latency)
    return StageEstimate(settings.name, calls, input_tokens, cached, output,
                         None if cost is None else round(cost, 6), wall, settings.batch, basis)  # fmt: skip


def wall_seconds(settings: StageSettings, calls: int, tokens: int, latency: float) -> float:
    """Calls in waves of ``concurrency``, each ``latency`` long, held to the rate limits."""
    waves = math.ceil(calls / settings.concurrency) * latency
    by_rpm = calls / settings.rpm * 60 if settings.rpm else 0.0
    by_tpm = tokens / settings.tpm * 60 if settings.tpm else 0.0
    return round(max(waves, by_rpm, by_tpm), 3)


# --- what is missing --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunContents:
    """What the run file already holds (empty for a new one)."""

    prompts: Mapping[str, Prompt]
    generations: Sequence[Generation]
    judgements: Mapping[str, Sequence[Judgement]]
    prices: PriceTable

    @staticmethod
    def read(run_path: Path, judges: Iterable[str]) -> RunContents:
        if not run_path.exists():
            return RunContents({}, [], {}, {})
        with RunStore(run_path, read_only=True) as store:
            return RunContents(
                {p.item_id: p for p in store.prompts()},
                [g for g in store.generations() if g.status != "failed"],
                {judge: list(store.judgements(judge)) for judge in judges},
                stored_prices(store.get_meta(PRICES_META)),
            )


def missing_samples(plan: EstimatePlan, contents: RunContents) -> dict[str, list[int]]:
    """Per selected prompt, its samples below k that are not stored (failed ones are retried)."""
    done: dict[str, set[int]] = {}
    for generation in contents.generations:
        done.setdefault(generation.item_id, set()).add(generation.sample)
    missing = {p.item_id: [s for s in range(plan.k) if s not in done.get(p.item_id, set())]
               for p in plan.prompts}  # fmt: skip
    return {item: samples for item, samples in missing.items() if samples}


def estimate_generation(
    plan: EstimatePlan, contents: RunContents, missing: Mapping[str, list[int]]
) -> StageEstimate:
    """The model's calls for the missing samples: one per sample, or one per prompt with
    ``use_n``; a call's prompt is the query with the system prompt and safety rules."""
    queries = {p.item_id: len(p.query) + plan.extra_prompt_chars for p in plan.prompts}
    stored = {p.item_id: len(p.query) + plan.extra_prompt_chars for p in contents.prompts.values()}
    calls = [queries[item] for item, samples in missing.items()
             for _ in (samples[:1] if plan.use_n else samples)]  # fmt: skip
    outputs = sum(len(samples) for samples in missing.values())
    measured = measure((stored[g.item_id], g) for g in contents.generations if g.status == "ok")
    price = price_of(plan.prices, plan.model.name)
    return estimate_stage(plan.model, calls, outputs, measured, price, plan.max_tokens)


@dataclass(frozen=True)
class SampleText:
    """What a judge prompt quotes of a sample: its item and the lengths of its texts."""

    prompt: Prompt
    answer_chars: int
    reasoning_chars: int
    blocked: bool = False

    @staticmethod
    def of(generation: Generation, prompt: Prompt) -> SampleText:
        return SampleText(prompt, len(generation.answer or ""), len(generation.reasoning or ""),
                          generation.status == "blocked")  # fmt: skip


def judge_prompt_chars(kind: str, sample: SampleText, templates: JudgeTemplates) -> int:
    """The length of the official judge prompt of ``kind`` about ``sample``: the template's own
    text and the item's and sample's texts it takes (str.format substitutes them whole)."""
    template = template_for(kind, Scenario.parse(sample.prompt.scenario or ""), templates)
    graded = sample.answer_chars if kind == "safety" else sample.reasoning_chars
    item = len(sample.prompt.query) + len(sample.prompt.risk_summary or "")
    return template_chars(template) + item + graded


def template_chars(template: JudgeTemplate) -> int:
    """The characters of a template's own text, placeholders empty."""
    return len(template.render(**dict.fromkeys(template.placeholders, "")))


def predicted_texts(
    plan: EstimatePlan, contents: RunContents, missing: Mapping[str, list[int]]
) -> list[SampleText]:
    """The samples still to come, as long as the stored ``ok`` samples on average (on a new run:
    the expected output tokens in characters, :data:`REASONING_SHARE` of them reasoning)."""
    ok = [g for g in contents.generations if g.status == "ok"]
    if ok:
        answer = round(sum(len(g.answer or "") for g in ok) / len(ok))
        reasoning = round(sum(len(g.reasoning or "") for g in ok) / len(ok))
    else:
        chars = plan.model.expect_output_tokens * DEFAULT_CHARS_PER_TOKEN
        reasoning = round(chars * REASONING_SHARE)
        answer = round(chars) - reasoning
    prompts = {p.item_id: p for p in plan.prompts}
    return [SampleText(prompts[item], answer, reasoning)
            for item, samples in missing.items() for _ in samples]  # fmt: skip


def estimate_judge(
    settings: StageSettings,
    plan: EstimatePlan,
    contents: RunContents,
    predicted: Sequence[SampleText],
    templates: JudgeTemplates,
) -> StageEstimate:
    """One judge's calls: every verdict it has not scored of the stored samples (less those that
    need no call) and both verdicts of every predicted sample."""
    verdicts = contents.judgements.get(settings.name, [])
    scored = {(j.item_id, j.sample, j.kind) for j in verdicts if j.status == "scored"}
    calls: list[int] = []
    for generation in contents.generations:
        sample = SampleText.of(generation, contents.prompts[generation.item_id])
        for kind in KINDS:
            if (generation.item_id, generation.sample, kind) in scored or sample.blocked:
                continue
            if kind == "thinking" and not has_reasoning(generation):
                continue
            calls.append(judge_prompt_chars(kind, sample, templates))
    calls += predicted_calls(contents.generations, predicted, templates)
    by_sample = {(g.item_id, g.sample): g for g in contents.generations}
    measured = measure(
        (judge_prompt_chars(j.kind, SampleText.of(by_sample[(j.item_id, j.sample)],
                                                  contents.prompts[j.item_id]), templates), j)
        for j in verdicts if j.prompt_sha256 is not None and (j.item_id, j.sample) in by_sample
    )  # fmt: skip
    return estimate_stage(
        settings, calls, len(calls), measured, price_of(plan.prices, settings.name)
    )


def predicted_calls(
    stored: Sequence[Generation], predicted: Sequence[SampleText], templates: JudgeTemplates
) -> list[int]:
    """The judge prompts of the samples to come: as many safety calls as the stored samples'
    share not blocked predicts, and thinking calls for the share neither blocked nor without
    reasoning (all of them on a new run)."""
    blocked = sum(g.status == "blocked" for g in stored)
    bare = sum(g.status == "ok" and not has_reasoning(g) for g in stored)
    share = (lambda count: 1 - count / len(stored)) if stored else (lambda count: 1.0)
    safety = round(len(predicted) * share(blocked))
    thinking = round(len(predicted) * share(blocked + bare))
    return [judge_prompt_chars("safety", sample, templates) for sample in predicted[:safety]] + [
        judge_prompt_chars("thinking", sample, templates) for sample in predicted[:thinking]
    ]


def estimate(plan: EstimatePlan, templates: JudgeTemplates | None) -> dict[str, Any]:
    """The estimate of ``plan`` as JSON: ``model``, ``judges``, ``total`` and the run's state.
    ``templates`` are needed when the plan has judges."""
    contents = RunContents.read(plan.run_path, [j.name for j in plan.judges])
    plan = _with_recorded_prices(plan, contents)
    missing = missing_samples(plan, contents)
    model = estimate_generation(plan, contents, missing)
    judges = []
    if plan.judges:
        assert templates is not None, "judging needs the judge templates"
        predicted = predicted_texts(plan, contents, missing)
        judges = [estimate_judge(j, plan, contents, predicted, templates) for j in plan.judges]
    stages = [model, *judges]
    return {
        "run": str(plan.run_path),
        "new_run": not plan.run_path.exists(),
        "missing_samples": model_outputs(missing),
        "model": model.as_json(),
        "judges": [judge.as_json() for judge in judges],
        "total": _total(stages),
    }


def model_outputs(missing: Mapping[str, list[int]]) -> int:
    return sum(len(samples) for samples in missing.values())


def _with_recorded_prices(plan: EstimatePlan, contents: RunContents) -> EstimatePlan:
    """The command line's prices over the run file's record."""
    return replace(plan, prices={**contents.prices, **plan.prices})


def _total(stages: Sequence[StageEstimate]) -> dict[str, Any]:
    """Sums over the stages, and the longest stage's wall time: ``bsa run`` runs generation and
    the judges at once (:mod:`bsa.pipeline`). Cost and wall time only when every stage that calls
    has one."""
    calling = [s for s in stages if s.calls]
    return {
        "calls": sum(s.calls for s in stages),
        "input_tokens": sum(s.input_tokens for s in stages),
        "cached_tokens": sum(s.cached_tokens for s in stages),
        "output_tokens": sum(s.output_tokens for s in stages),
        "cost_usd": _all_known([s.cost_usd for s in calling], sum, 6),
        "wall_s": _all_known([s.wall_s for s in calling], max, 3),
    }


def _all_known(
    values: Sequence[float | None], combine: Callable[[list[float]], float], digits: int
) -> float | None:
    known = [v for v in values if v is not None]
    if len(known) != len(values):
        return None
    return round(combine(known), digits) if known else 0.0
