"""Vendor batch APIs (``--batch``): half the price, results within a day.

:mod:`bsa.batch.api` says what a vendor's batch API offers, :mod:`bsa.batch.openai_batch` and
:mod:`bsa.batch.anthropic_batch` speak OpenAI's and Anthropic's, :mod:`bsa.batch.runner` runs a
stage's jobs through one, and :mod:`bsa.runfile.batches` keeps the submitted batches in the run
file. This module picks the batch API of a stage's provider and refuses the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bsa.batch.api import BatchApi
from bsa.batch.runner import BatchJobs, BatchRunner
from bsa.engine.runner import Execution, JobResult, Progress
from bsa.errors import BsaError
from bsa.providers.base import Provider
from bsa.runfile.batches import RequestKey
from bsa.runfile.store import RunStore
from bsa.runfile.writer import ResultWriter
from bsa.types import Request

J = TypeVar("J")

#: Providers with a batch API in bsa.
BATCH_PROVIDERS = ("openai", "anthropic")


def check_batch(provider: str, execution: Execution, flag: str = "--batch") -> None:
    """Refuse ``flag`` (``--batch``, ``--judge-batch``) for a provider without a batch API, and
    beside ``--use-n``."""
    if not execution.batch:
        return
    if provider not in BATCH_PROVIDERS:
        raise BsaError(
            f"{flag}: {provider}: models have no batch API in bsa (only "
            f"{' and '.join(p + ':' for p in BATCH_PROVIDERS)} models do); drop {flag}"
        )
    if execution.use_n:
        raise BsaError(f"{flag} sends one request per sample; drop --use-n")


def batch_api_for(provider: Provider) -> BatchApi:
    """The batch API of ``provider``'s vendor."""
    from bsa.providers.openai_compat import OpenAICompatible

    if isinstance(provider, OpenAICompatible) and provider.name == "openai":
        from bsa.batch import openai_batch

        return openai_batch.OpenAIBatch(provider, openai_batch.OPENAI_LIMITS)
    from bsa.providers.anthropic_sdk import AnthropicProvider

    if isinstance(provider, AnthropicProvider):
        from bsa.batch import anthropic_batch

        return anthropic_batch.AnthropicBatch(provider, anthropic_batch.ANTHROPIC_LIMITS)
    raise BsaError(f"--batch: {provider.label} has no batch API in bsa; drop --batch")


def batch_runner(
    provider: Provider,
    store: RunStore,
    writer: ResultWriter,
    stage: str,
    execution: Execution,
    *,
    key_of: Callable[[J], RequestKey],
    request_of: Callable[[J], Request],
    on_done: Callable[[J, JobResult], None],
    progress: Progress | None = None,
) -> BatchRunner[J]:
    """The runner of a stage with ``--batch``: in place of the live runner, same jobs and
    ``on_done``."""
    return BatchRunner(
        batch_api_for(provider),
        store,
        writer,
        stage,
        BatchJobs(key_of, request_of, on_done),
        policy=execution.policy,
        poll_interval_s=execution.poll_interval_s,
        progress=progress,
    )
