"""The price flags (``--price-in/--price-out``, ``--judge-price-in/--judge-price-out``,
``--prices FILE``) of the commands that run, estimate or read a run (see :mod:`bsa.costs.prices`).

A command that runs a stage records the prices in the run file; a reading command uses them over
the record for that reading only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from bsa.cli.params import FiniteFloat
from bsa.costs.prices import PriceFlags, model_label

F = TypeVar("F", bound=Callable[..., Any])

_PRICE = FiniteFloat(min=0)


def _price_flags(prefix: str, whose: str) -> list[Callable[[F], F]]:
    """``--{prefix}price-in`` and ``--{prefix}price-out``, ``whose`` prices they are."""
    return [
        click.option(f"--{prefix}price-{way}", type=_PRICE, metavar="USD",
                     help=f"{whose} {way}put price, USD per million tokens.")
        for way in ("in", "out")
    ]  # fmt: skip


def price_options(*, model: bool = True, judge: bool = True) -> Callable[[F], F]:
    """``--prices FILE`` and the model's and/or the judges' price flags."""
    flags = [
        click.option(
            "--prices",
            "prices_file",
            type=click.Path(path_type=Path, dir_okay=False),
            metavar="FILE",
            help="Prices by model name (TOML or JSON; see the batch-and-cost how-to).",
        ),
        *(_price_flags("", "The model's") if model else []),
        *(_price_flags("judge-", "Every judge's") if judge else []),
    ]

    def decorate(command: F) -> F:
        for flag in reversed(flags):
            command = flag(command)
        return command

    return decorate


def price_flags(options: dict[str, Any]) -> PriceFlags:
    """The price flags' values, taken out of a command's ``options``."""
    return PriceFlags(
        price_in=options.pop("price_in", None),
        price_out=options.pop("price_out", None),
        judge_price_in=options.pop("judge_price_in", None),
        judge_price_out=options.pop("judge_price_out", None),
        prices_file=options.pop("prices_file", None),
    )


def record_price_flags(
    run_path: Path, flags: PriceFlags, model: str | None, judges: Iterable[str]
) -> None:
    """Record what the flags give in the run file (a running command, holding the lock), under
    the ``provider:model`` labels the prices are looked up by (``mock`` is ``mock:mock``)."""
    from bsa.costs.spend import record_prices

    labels = [model_label(judge) for judge in judges]
    record_prices(run_path, flags.table(model and model_label(model), labels))
