"""Giving up a run's open batches (``bsa batches abandon``).

A batch can be open for good: one the vendor answers 404 for, one cancelled in the vendor's
console, one the user no longer wants to wait for. Giving it up marks it done without results
(``abandoned_at``), so its requests are missing again and the next run asks for them (live, or in
a new batch), and the live path no longer refuses them. Optionally the vendor is asked to cancel
it first, so that what it has not run yet is not billed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bsa.batch import batch_api_for
from bsa.errors import BsaError
from bsa.providers.base import Provider, ProviderError
from bsa.runfile.batches import (
    JUDGE_STAGE,
    StoredBatch,
    abandon_batches,
    stored_batches,
)
from bsa.runfile.lock import run_lock
from bsa.runfile.store import RunStore

#: Builds the provider of a ``provider:model`` name, for the cancel calls.
ProviderFactory = Callable[[str], Provider]


@dataclass(frozen=True)
class GivenUp:
    """A batch given up, and how its cancel went."""

    batch: StoredBatch
    #: Whether the vendor was asked to cancel it, and why it would not (None: it took it).
    cancel_asked: bool = False
    cancel_error: str | None = None


def check_stage(stage: str | None) -> None:
    """A stage is ``generate`` or ``judge:PROVIDER:MODEL``, as ``bsa status`` shows them."""
    if stage is not None and stage != "generate" and not stage.startswith(JUDGE_STAGE):
        raise BsaError(
            f"--stage {stage!r}: give 'generate' or 'judge:PROVIDER:MODEL', as bsa status "
            "shows a batch's stage"
        )


def abandon(
    run_path: Path, stage: str | None = None, *, cancel_with: ProviderFactory | None = None
) -> list[GivenUp]:
    """Give up the open batches of ``stage`` (every stage when None); with ``cancel_with``,
    ask the vendor to cancel each first (a refused cancel still gives the batch up)."""
    check_stage(stage)
    if not run_path.is_file():
        raise BsaError(f"no run file at {run_path}")
    with run_lock(run_path), RunStore(run_path) as store:
        batches = stored_batches(store, stage, open_only=True)
        model = store.info().model
        errors: dict[str, str | None] = {}
        if cancel_with is not None and batches:
            errors = asyncio.run(_cancel(batches, model, cancel_with))
        given = abandon_batches(store, stage)
    return [GivenUp(batch, batch.batch_id in errors, errors.get(batch.batch_id)) for batch in given]


def stage_model(stage: str, model: str | None) -> str:
    """The ``provider:model`` whose batches ``stage`` holds."""
    if stage.startswith(JUDGE_STAGE):
        return stage.removeprefix(JUDGE_STAGE)
    if model is None:
        raise BsaError("the run file names no model, so its batches cannot be cancelled")
    return model


async def _cancel(
    batches: Sequence[StoredBatch], model: str | None, provider_for: ProviderFactory
) -> dict[str, str | None]:
    """Ask each batch's vendor to cancel it: batch id -> why it would not (None: it took it)."""
    providers: dict[str, Provider] = {}
    errors: dict[str, str | None] = {}
    try:
        for batch in batches:
            name = stage_model(batch.stage, model)
            if name not in providers:
                providers[name] = provider_for(name)
            try:
                await batch_api_for(providers[name]).cancel(batch.batch_id)
                errors[batch.batch_id] = None
            except ProviderError as error:
                errors[batch.batch_id] = error.message
    finally:
        for provider in providers.values():
            await provider.aclose()
    return errors
