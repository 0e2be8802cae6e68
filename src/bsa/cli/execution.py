"""How a stage runs, from its flags: one place that turns ``--concurrency``, ``--timeout``... (or
their ``--judge-`` twins) into an :class:`~bsa.engine.runner.Execution`.

The Execution is the one carrier of these settings: the provider's HTTP pool and timeout are
derived from it when the stage builds its provider (:mod:`bsa.pipeline`), not given again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from bsa.cli.params import ConcurrencyValue, FiniteFloat
from bsa.engine.concurrency import DEFAULT_MAX_CONCURRENCY
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


def pacing_options(prefix: str, call: str) -> list[Any]:
    """The flags that pace a stage's calls and retry them, ``--{prefix}concurrency`` to
    ``--{prefix}max-retry-wait`` (``call``: what the help calls one call of the stage)."""
    calls = call[0].upper() + call[1:] + "s"
    return [
        click.option(
            f"--{prefix}concurrency",
            type=ConcurrencyValue(),
            default=16,
            show_default=True,
            help=f"{calls} in flight, or 'auto': found from the server's answers (429/503, "
            "latency).",
        ),
        click.option(
            f"--{prefix}max-concurrency",
            type=ConcurrencyValue(allow_auto=False),
            help=f"The ceiling of --{prefix}concurrency auto [{DEFAULT_MAX_CONCURRENCY}].",
        ),
        click.option(
            f"--{prefix}rpm",
            type=FiniteFloat(min=0, min_open=True),
            help=f"{calls} per minute, at most.",
        ),
        click.option(
            f"--{prefix}tpm",
            type=FiniteFloat(min=0, min_open=True),
            help=f"Tokens per minute of {call}s, at most.",
        ),
        click.option(
            f"--{prefix}timeout",
            type=FiniteFloat(min=0, min_open=True),
            default=600.0,
            show_default=True,
            help=f"Seconds per {call}.",
        ),
        click.option(
            f"--{prefix}max-attempts",
            type=click.IntRange(min=1),
            default=6,
            show_default=True,
            help=f"Tries per {call} for rate limits and transient errors.",
        ),
        click.option(
            f"--{prefix}max-retry-wait",
            type=FiniteFloat(min=0),
            default=RetryPolicy().max_retry_after_s,
            show_default=True,
            help=f"Longest wait in seconds before a {call} is tried again, whatever the "
            "server's Retry-After asks.",
        ),
    ]


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
