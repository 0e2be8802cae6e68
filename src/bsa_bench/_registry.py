"""The tasks inspect_ai finds through the ``inspect_ai`` entry point of bsa-bench."""

from __future__ import annotations

from collections.abc import Sequence

from inspect_ai import Task, task

from bsa.inspect_task import bsa_task


@task
def bsa(
    judge: str | None = None,
    k: int = 5,
    scenario: str | Sequence[str] | None = None,
    category: str | Sequence[str] | None = None,
    sample: int | None = None,
    seed: int = 0,
    dataset: str | None = None,
    max_parse_attempts: int = 3,
) -> Task:
    """Beyond Safe Answers: each selected item asked ``k`` times (epochs), its answer and its
    reasoning graded by ``judge`` (else the ``grader`` role's model) with the official BSA judge prompts; Safe@1, Think@1, the
    scenario figures and @k as bsa-bench computes them."""
    return bsa_task(judge, k, scenario, category, sample, seed, dataset, max_parse_attempts)
