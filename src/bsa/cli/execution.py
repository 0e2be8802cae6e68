"""How a stage runs, from its flags: one place that turns ``--concurrency``, ``--timeout``... (or
their ``--judge-`` twins) into an :class:`~bsa.engine.runner.Execution`.

The Execution is the one carrier of these settings: the provider's HTTP pool and timeout are
derived from it when the stage builds its provider (:mod:`bsa.pipeline`), not given again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from bsa.cli.params import FiniteFloat
from bsa.engine.runner import Execution, RetryPolicy


def stage_execution(options: Mapping[str, Any], prefix: str = "", **chosen: Any) -> Execution:
    """The Execution the flags ``{prefix}concurrency``, ``{prefix}max_concurrency``, ``{prefix}max_attempts``,
    ``{prefix}timeout``, ``{prefix}max_retry_wait``, ``{prefix}rpm``, ``{prefix}tpm``, ``{prefix}batch`` and
    ``{prefix}poll_interval`` ask for;
    ``chosen`` gives values decided elsewhere (an upstream config's concurrency or retry delay,
    ``k``, ``use_n``), which win over the flags."""

    def value(name: str) -> Any:
        return chosen.pop(name) if name in chosen else options[prefix + name]

    policy = RetryPolicy(
        max_attempts=value("max_attempts"),
        timeout_s=value("timeout"),
        base_delay_s=chosen.pop("base_delay_s", RetryPolicy().base_delay_s),
        max_retry_after_s=value("max_retry_wait"),
    )
    return Execution(
        concurrency=value("concurrency"),
        max_concurrency=value("max_concurrency"),
        policy=policy,
        rpm=value("rpm"),
        tpm=value("tpm"),
        batch=value("batch"),
        poll_interval_s=value("poll_interval"),
        **chosen,
    )


def batch_options(prefix: str, doing: str, whose: str) -> list[Any]:
    """``--{prefix}batch`` and ``--{prefix}poll-interval``, the flags of a stage sent through a
    vendor's batch API (``doing``: what the stage does, ``whose``: whose batch it polls)."""
    return [
        click.option(
            f"--{prefix}batch",
            is_flag=True,
            help=f"{doing} through the vendor's batch API (openai:, anthropic:): half price, "
            "within 24 h.",
        ),
        click.option(
            f"--{prefix}poll-interval",
            type=FiniteFloat(min=0, min_open=True),
            default=30.0,
            show_default=True,
            help=f"Seconds between the first polls of {whose} (growing to ten times that).",
        ),
    ]
