"""inspect_ai's samples as this project's run-file rows, for the inspect task and the log import.

One conversion serves both directions, so a sample scored inside inspect and the same sample read
back from its log are the same :class:`~bsa.runfile.store.Generation` and the same verdicts: the scorer's
figures and ``bsa score`` on the imported run cannot drift apart.

The reasoning is what inspect holds in the reply's :class:`ContentReasoning` blocks (each provider
of inspect fills them from its vendor's fields); the answer is the reply's text without them. A
redacted block keeps only its summary, or a marker when it has none, as the Anthropic provider
of this project does. Imports inspect_ai: only the inspect task and ``bsa import-inspect`` load it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

from inspect_ai.model import ChatMessageAssistant, ContentReasoning, ModelOutput

from bsa.judging.judge import JudgeJob, direct_judgements, graded
from bsa.judging.verdicts import JUDGE_REFUSED, with_reasoning
from bsa.runfile.reading import KINDS
from bsa.runfile.store import Generation, Judgement, Prompt, SampleOutcome, raw_json, storable

#: ``reasoning_source`` of a sample whose reasoning came from inspect's reasoning blocks.
REASONING_SOURCE = "inspect_reasoning"
#: The key of this project's record in a score's metadata (scorer) and in a reduced score's.
METADATA_KEY = "bsa"
REDACTED = "[redacted reasoning]"
#: inspect's stop reasons that mean the token limit ended the reply.
_CUT = frozenset({"max_tokens", "model_length"})


def reasoning_of(message: ChatMessageAssistant) -> str | None:
    """The text of the message's reasoning blocks, None when it has none."""
    if isinstance(message.content, str):
        return None
    blocks = [c for c in message.content if isinstance(c, ContentReasoning)]
    texts = [(b.summary or REDACTED) if b.redacted else b.reasoning for b in blocks]
    return "\n\n".join(texts) if blocks else None


def was_cut(output: ModelOutput) -> bool:
    return output.stop_reason in _CUT


def reply_of(output: ModelOutput) -> str:
    """A judge's reply as :func:`bsa.judging.judge.reply_text` makes it: reasoning in a leading think
    block, then the answer."""
    if not output.choices:
        return str(output.completion)
    return with_reasoning(output.completion, reasoning_of(output.message), cut=was_cut(output))


def generation_of(item_id: str, sample: int, output: ModelOutput, error: str | None) -> Generation:
    """The stored sample for inspect's ``output`` (``sample`` counts from 0: epoch - 1), its texts
    as the run file keeps them (a lone surrogate is U+FFFD; ``raw`` keeps it exact), so the judge
    prompt rendered from it is the one ``bsa judge`` would render from the run file."""
    usage = output.usage
    if error is not None or not output.choices:
        status = "failed"
    else:
        status = "blocked" if output.stop_reason == "content_filter" else "ok"
    return Generation(
        item_id=item_id,
        sample=sample,
        status=status,
        answer=storable(output.completion) if output.choices else None,
        reasoning=storable(reasoning_of(output.message)) if output.choices else None,
        reasoning_source=REASONING_SOURCE,
        finish_reason=output.stop_reason if output.choices else None,
        truncated=was_cut(output),
        prompt_tokens=usage.input_tokens if usage else None,
        completion_tokens=usage.output_tokens if usage else None,
        reasoning_tokens=usage.reasoning_tokens if usage else None,
        latency_s=output.time,
        attempts=1,
        error=error,
        raw=raw_json(output.model_dump(mode="json", exclude_none=True)),
    )


def prompt_of(metadata: Mapping[str, Any]) -> Prompt:
    """The item a sample of the inspect task asks, from the metadata the task gave it."""
    return Prompt(
        metadata["bsa_id"],
        metadata["query"],
        metadata["scenario"],
        metadata["risk_summary"],
        metadata["label"],
    )


def prompt_metadata(prompt: Prompt) -> dict[str, Any]:
    """The sample metadata that carries an item into inspect (read back by :func:`prompt_of`)."""
    return {
        "bsa_id": prompt.item_id,
        "query": prompt.query,
        "scenario": prompt.scenario,
        "risk_summary": prompt.risk_summary,
        "label": prompt.label,
    }


def kinds_to_ask(generation: Generation, judge: str) -> tuple[list[Judgement], list[str]]:
    """The verdicts that need no judge call, and the kinds that need one."""
    direct = direct_judgements(generation, judge, set(KINDS))
    return direct, [kind for kind in KINDS if kind not in {j.kind for j in direct}]


def judged_reply(job: JudgeJob, judge: str, reply: str, *, cut: bool, attempts: int) -> Judgement:
    """The verdict that ``judge`` gave in ``reply`` to ``job`` (see :func:`bsa.judging.judge.job_for`),
    read by this project's parser against the official prompt it was asked with: scored, or
    unscored with the reason."""
    stored = Judgement(
        job.item_id, job.sample, job.kind, judge, "failed", None, None, None, None,
        job.prompt_sha256, None, attempts, None, None, None,
    )  # fmt: skip
    return graded(stored, job, reply, cut=cut)


def judge_verdict(job: JudgeJob, judge: str, output: ModelOutput, attempts: int) -> Judgement:
    """The verdict in the judge's ``output``; a reply its provider's content filter stopped is
    the judge's refusal (counted apart, as ``bsa judge`` counts a blocked judge call)."""
    verdict = judged_reply(job, judge, reply_of(output), cut=was_cut(output), attempts=attempts)
    if output.stop_reason == "content_filter" and verdict.status != "scored":
        return refused(verdict)
    return verdict


def refused(verdict: Judgement) -> Judgement:
    return replace(verdict, reason=f"{JUDGE_REFUSED}: judge call blocked by its content filter")


def record(generation: Generation, judgements: Sequence[Judgement]) -> dict[str, Any]:
    """What a score keeps of one sample: its outcome and verdicts (raw replies included)."""
    return {
        "outcome": asdict(outcome_of(generation)),
        "judgements": [asdict(j) for j in judgements],
    }


def outcome_of(generation: Generation) -> SampleOutcome:
    answer = generation.answer or ""
    return SampleOutcome(
        generation.item_id,
        generation.sample,
        generation.status,
        generation.truncated,
        not answer.strip(" \t\n\r"),
    )


def from_record(data: Mapping[str, Any]) -> tuple[SampleOutcome, dict[str, Judgement]]:
    """A :func:`record` read back: the outcome and its verdicts by kind."""
    outcome = SampleOutcome(**data["outcome"])
    judgements = [Judgement(**j) for j in data["judgements"]]
    return outcome, {j.kind: j for j in judgements}
