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
from bsa.providers.builtin import BUILTINS
from bsa.providers.registry import provider_spec
from bsa.runfile.batches import RequestKey
from bsa.runfile.store import RunStore
from bsa.runfile.writer import ResultWriter
from bsa.types import Request

J = TypeVar("J")


def check_batch(
    provider: str, execution: Execution, flag: str = "--batch", *, base_urls: int = 1
) -> None:
    """Refuse ``flag`` (``--batch``, ``--judge-batch``) for a provider without a batch API,
    for several replicas (``base_urls``: a batch goes to one endpoint), and beside ``--use-n``."""
    if not execution.batch:
        return
    if provider_spec(provider).batch_api is None:
        batching = [name + ":" for name, spec in BUILTINS.items() if spec.batch_api]
        raise BsaError(
            f"{flag}: {provider}: models have no batch API in bsa (only "
            f"{' and '.join(batching)} models do); drop {flag}"
        )
    if base_urls > 1:
        raise BsaError(
            f"{flag}: a batch goes to one endpoint, but {base_urls} base URLs are given; "
            "give one, or drop " + flag
        )
    if execution.use_n:
        raise BsaError(f"{flag} sends one request per sample; drop --use-n")


def batch_api_for(provider: Provider) -> BatchApi:
    """The batch API of ``provider``'s vendor, as its spec declares it."""
    factory = provider_spec(provider.name).batch_api
    if factory is None:
        raise BsaError(f"--batch: {provider.label} has no batch API in bsa; drop --batch")
    return factory(provider)


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
