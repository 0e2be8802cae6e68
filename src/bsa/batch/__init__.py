"""Vendor batch APIs (``--batch``): half the price, results within a day.

:mod:`bsa.batch.api` says what a vendor's batch API offers, :mod:`bsa.batch.openai_batch` and
:mod:`bsa.batch.anthropic_batch` speak OpenAI's and Anthropic's, :mod:`bsa.batch.runner` runs a
stage's jobs through one, and :mod:`bsa.runfile.batches` keeps the submitted batches in the run
file. This module picks the batch API of a stage's provider and refuses the others, and refuses
a live stage whose requests are held by batches still open at the vendor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from bsa.batch.api import BatchApi
from bsa.batch.runner import BatchJobs, BatchRunner
from bsa.engine.runner import Execution, JobResult, Progress
from bsa.errors import BsaError
from bsa.providers.base import Provider
from bsa.providers.builtin import BUILTINS
from bsa.providers.registry import provider_spec
from bsa.runfile.batches import RequestKey, open_batches_holding
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


def refuse_open_batches(
    store: RunStore, stage: str, keys: Iterable[RequestKey], flag: str = "--batch"
) -> None:
    """Refuse to ask live (before any request) for what batches of ``stage`` still open at the
    vendor hold: those requests are paid for there, and a live call would pay for them again.
    ``flag`` is the one that collects them (``--batch``, ``--judge-batch``)."""
    held = open_batches_holding(store, stage, keys)
    if held:
        several = "batches" if len(held) > 1 else "batch"
        raise BsaError(
            f"{len(held)} {several} of {stage} submitted earlier "
            f"{'are' if len(held) > 1 else 'is'} still open at the vendor (their requests are "
            f"paid for); rerun with {flag} to collect them, or 'bsa batches abandon --run "
            f"{store.path}' to give them up"
        )


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
