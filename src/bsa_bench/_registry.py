"""The tasks inspect_ai finds through the ``inspect_ai`` entry point of bsa-bench."""

from __future__ import annotations

import functools
from typing import Any

from inspect_ai import Task, task

# inspect prints a PrerequisiteError's message alone, where any other error gets a traceback.
from inspect_ai._util.error import PrerequisiteError
from inspect_ai.util import registry_info

from bsa.errors import BsaError
from bsa.interop.inspect_task import bsa_task

#: The name ``inspect eval`` knows the task by.
TASK_NAME = "bsa_bench/bsa"


@functools.wraps(bsa_task, assigned=())  # __wrapped__ alone: the signature, not the docstring
def _bsa(*args: Any, **kwargs: Any) -> Task:
    """Beyond Safe Answers: each selected item asked ``k`` times (epochs), its answer and its
    reasoning graded by ``judge`` (else the ``grader`` role's model) with the official BSA judge
    prompts; Safe@1, Think@1, the scenario figures and @k as bsa-bench computes them. Its task
    arguments are :func:`bsa_task`'s (inspect reads them from the signature ``wraps`` carries)."""
    try:
        return bsa_task(*args, **kwargs)
    except BsaError as error:  # a wrong task argument, a dataset that cannot load: one line
        raise PrerequisiteError(f"{TASK_NAME}: {error}") from None


_bsa.__name__ = "bsa"
bsa = task(_bsa)
if registry_info(bsa).name != TASK_NAME:
    # inspect prefixes the package name only when it sees bsa_bench installed; with the source
    # tree first on the path (PYTHONPATH=src, whose egg-info has no install record) it does not.
    bsa = task(name=TASK_NAME)(_bsa)
