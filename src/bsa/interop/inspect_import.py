"""Read inspect_ai eval logs into a run file, so ``bsa score/report/compare/leaderboard`` work on
them: ``bsa import-inspect LOG... --run R.sqlite``.

A log of the ``bsa_bench/bsa`` task, or of any task whose samples carry BSA ids (the sample
metadata's ``bsa_id``, else the sample id), becomes one run: each sample's epoch is its sample
number, its reasoning is what inspect holds in the reply's reasoning blocks, and the item's text and
annotations come from the verified dataset (``--dataset`` names another one), never from the log.
Verdicts of this project's inspect scorer go in as the verdicts of its judge, read again from the
judge's raw replies by this project's parser; a log without them gives a run to grade with ``bsa
judge``. Writes go through the store (:mod:`bsa.runfile.store`, :class:`bsa.runfile.writer.ResultWriter`), which
keeps any Unicode intact (a lone surrogate becomes U+FFFD in the text and stays exact in ``raw``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bsa
from bsa.data.assets import JudgeTemplates, load_judge_templates
from bsa.data.dataset import Dataset, load_dataset
from bsa.data.items import Item
from bsa.errors import BsaError, MissingExtraError
from bsa.judging.verdicts import JUDGE_REFUSED
from bsa.runfile.lock import run_lock
from bsa.runfile.reading import KINDS
from bsa.runfile.store import (
    INSERT_GENERATION,
    INSERT_JUDGEMENT,
    Generation,
    Judgement,
    Prompt,
    RunFileError,
    RunStore,
    generation_row,
    judgement_row,
)
from bsa.runfile.writer import ResultWriter

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog, EvalSample

    from bsa.judging.judge import JudgeJob

#: What the run file records as the harness of an imported run.
HARNESS = "inspect_ai"


class InspectLogError(BsaError):
    """A file that is not an inspect eval log, or a log this import cannot use."""


@dataclass(frozen=True)
class ImportedSample:
    """One sample of a log as the run file holds it."""

    prompt: Prompt
    generation: Generation
    judgements: tuple[Judgement, ...]


@dataclass(frozen=True)
class ImportReport:
    logs: int
    samples: int
    judgements: int
    model: str
    k: int
    judges: tuple[str, ...]
    #: Why each row the run file refused was refused (those stay missing).
    rejected: tuple[str, ...] = ()


def import_inspect_logs(
    paths: Sequence[Path], run_path: Path, *, dataset: str | None = None
) -> ImportReport:
    """Import the samples of the logs at ``paths`` into the run file at ``run_path``."""
    logs = [read_log(path) for path in paths]
    model = _one_model(logs)
    data = load_dataset(dataset)
    items = {item.id: item for item in data.items}
    templates = load_judge_templates()
    samples = [
        converted
        for log, path in zip(logs, paths, strict=True)
        for converted in _converted(log, path, items, templates)
    ]
    k = max(_k(log) for log in logs)
    with run_lock(run_path), RunStore(run_path) as store:
        _record_run(store, model, k, logs, paths, data)
        judges = _record_judges(store, samples, templates)
        store.add_prompts(_in_dataset_order(samples, items))
        rejected = _write(run_path, samples)
    return ImportReport(
        logs=len(logs),
        samples=len(samples),
        judgements=sum(len(s.judgements) for s in samples),
        model=model,
        k=k,
        judges=judges,
        rejected=rejected,
    )


def read_log(path: Path) -> EvalLog:
    """The eval log at ``path`` (``.eval`` or ``.json``), with its samples; one line if not."""
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:
        raise MissingExtraError("bsa import-inspect", "inspect") from None
    if not path.is_file():
        raise InspectLogError(f"no inspect log at {path}")
    log: EvalLog | None
    try:
        log = read_eval_log(str(path))
    # inspect_ai raises whatever its zip, JSON and pydantic readers raise on a file that is
    # not its log; every one of them means the same thing to the user.
    except Exception as error:
        log = _json_log_with_surrogates(path)
        if log is None:
            raise InspectLogError(
                f"{path} is not a readable inspect eval log ({_why(error)})"
            ) from None
    if not log.samples:
        raise InspectLogError(f"{path} holds no samples (status {log.status})")
    return log


def _json_log_with_surrogates(path: Path) -> EvalLog | None:
    """A ``.json`` log that inspect's strict JSON reader refuses only for a lone UTF-16 surrogate
    (valid JSON, as model text can hold): read by Python's own parser, which keeps it, then
    validated as inspect does; None for anything else."""
    from inspect_ai.log import EvalLog

    if path.suffix.lower() != ".json":
        return None
    try:
        return EvalLog.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except Exception:  # not a log after all: the caller reports inspect's own reason
        return None


def _why(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _one_model(logs: Sequence[EvalLog]) -> str:
    models = {log.eval.model for log in logs}
    if len(models) > 1:
        raise InspectLogError(
            f"the logs evaluate {len(models)} models ({', '.join(sorted(models))}); a run file "
            "holds one model: import each into its own --run"
        )
    return str(next(iter(models)))


def _k(log: EvalLog) -> int:
    """The log's epochs (k), or its largest epoch when the config does not say."""
    epochs = int(log.eval.config.epochs or 1)
    return max(epochs, *(int(sample.epoch) for sample in log.samples or ()))


def _converted(
    log: EvalLog, path: Path, items: Mapping[str, Item], templates: JudgeTemplates
) -> Iterable[ImportedSample]:
    from bsa.interop.inspect_samples import generation_of

    for sample in log.samples or ():
        prompt = _prompt(sample, path, items)
        error = sample.error.message if sample.error is not None else None
        generation = generation_of(prompt.item_id, sample.epoch - 1, sample.output, error)
        yield ImportedSample(prompt, generation, _verdicts(sample, prompt, generation, templates))


def _prompt(sample: EvalSample, path: Path, items: Mapping[str, Item]) -> Prompt:
    """The dataset's item that the sample asks (by ``bsa_id``, else the sample id)."""
    metadata = sample.metadata or {}
    item_id = str(metadata.get("bsa_id") or sample.id)
    item = items.get(item_id)
    if item is None:
        raise InspectLogError(
            f"{path}: sample {str(sample.id)!r} carries no BSA id of the dataset (as its "
            "metadata's bsa_id or as its id); only samples of BSA items can be imported"
        )
    if "bsa_id" in metadata and metadata.get("query", item.query) != item.query:
        raise InspectLogError(
            f"{path}: item {item_id!r} asks another query in the log than in the dataset; "
            "pass the dataset the log was made from with --dataset"
        )
    return Prompt(item.id, item.query, item.scenario.value, item.risk_summary, item.label)


def _verdicts(
    sample: EvalSample, prompt: Prompt, generation: Generation, templates: JudgeTemplates
) -> tuple[Judgement, ...]:
    """The verdicts of this project's scorer in the sample's scores, parsed again from the raw
    replies; none for a sample another scorer graded."""
    from bsa.interop.inspect_samples import METADATA_KEY, kinds_to_ask
    from bsa.judging.judge import job_for

    for score in (sample.scores or {}).values():
        stored = _stored_judgements((score.metadata or {}).get(METADATA_KEY))
        if not stored or generation.status == "failed":
            continue
        judge = stored[0].judge
        direct, to_ask = kinds_to_ask(generation, judge)
        asked = [
            _reread(j, job_for(j.kind, prompt, generation, templates), j.raw)
            for j in stored
            if j.kind in to_ask and j.raw is not None
        ]
        return (*direct, *asked)
    return ()


def _reread(stored: Judgement, job: JudgeJob, reply: str) -> Judgement:
    """The stored reply read again by the parser. Of what the log says beside the reply, only
    that the judge refused or was cut short is kept, and only for a reply without a verdict."""
    from bsa.interop.inspect_samples import judged_reply, refused
    from bsa.judging.judge import CUT_REASON

    verdict = judged_reply(
        job, stored.judge, reply, cut=stored.reason == CUT_REASON, attempts=stored.attempts
    )
    if verdict.status != "scored" and (stored.reason or "").startswith(JUDGE_REFUSED):
        return refused(verdict)
    return verdict


def _stored_judgements(data: Any) -> list[Judgement]:
    """The judgements a score's record holds (see :func:`bsa.interop.inspect_samples.record`); none
    when it is not this project's record. Only the fields the import reads again are trusted,
    and only when they have their types: the log is text from outside."""
    entries = data.get("judgements") if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        return []
    return [judgement for entry in entries if (judgement := _stored_judgement(entry)) is not None]


def _stored_judgement(entry: Any) -> Judgement | None:
    if not isinstance(entry, Mapping):
        return None
    kind, judge, raw = entry.get("kind"), entry.get("judge"), entry.get("raw")
    attempts, reason = entry.get("attempts"), entry.get("reason")
    if kind not in KINDS or not isinstance(judge, str) or not judge:
        return None
    if not isinstance(raw, str | None) or not isinstance(reason, str | None):
        return None
    if not isinstance(attempts, int) or isinstance(attempts, bool):
        attempts = 1
    return Judgement(
        str(entry.get("item_id")), 0, kind, judge, "failed", None, None, None, reason,
        None, raw, attempts, None, None, None,
    )  # fmt: skip


def _record_run(
    store: RunStore,
    model: str,
    k: int,
    logs: Sequence[EvalLog],
    paths: Sequence[Path],
    data: Dataset,
) -> None:
    """The run's model, k, dataset and where its samples came from; a run of another model is
    refused."""
    from bsa.interop.inspect_samples import REASONING_SOURCE

    stored = store.info().model
    if stored is not None and stored != model:
        raise RunFileError(
            f"{store.path} holds samples of {stored}, the logs are of {model}; import into "
            "another --run"
        )
    if store.generation_settings() is None:
        settings = {
            "model": model,
            "harness": HARNESS,
            "reasoning_source": REASONING_SOURCE,
            "inspect": {
                "task": logs[0].eval.task,
                "eval_ids": [log.eval.eval_id for log in logs],
                "logs": [path.name for path in paths],
            },
        }
        store.start_run(settings, bsa.__version__, data.source.as_json())
    store.raise_k(k)


def _record_judges(
    store: RunStore, samples: Sequence[ImportedSample], templates: JudgeTemplates
) -> tuple[str, ...]:
    judges = tuple(dict.fromkeys(j.judge for s in samples for j in s.judgements))
    for judge in judges:
        if store.judge_settings(judge) is None:
            store.set_judge_settings(
                judge,
                {
                    "judge": judge,
                    "harness": HARNESS,
                    "templates_sha256": [f.sha256 for f in templates.files],
                },
            )
    return judges


def _in_dataset_order(samples: Sequence[ImportedSample], items: Mapping[str, Item]) -> list[Prompt]:
    """The samples' items in dataset order (a log lists samples as they finished), as ``bsa
    generate`` stores them."""
    position = {item_id: n for n, item_id in enumerate(items)}
    prompts = {s.prompt.item_id: s.prompt for s in samples}
    return sorted(prompts.values(), key=lambda prompt: position[prompt.item_id])


def _write(run_path: Path, samples: Sequence[ImportedSample]) -> tuple[str, ...]:
    """Each sample, then its verdicts, in one writer (a verdict's sample is written first)."""
    writer = ResultWriter(run_path)
    try:
        for sample in samples:
            writer.put(INSERT_GENERATION, generation_row(sample.generation))
            for judgement in sample.judgements:
                writer.put(INSERT_JUDGEMENT, judgement_row(judgement))
    finally:
        writer.close()
    return tuple(writer.rejected)
