"""Click parameter types for values a user types: finite numbers, JSON objects and output files.

A bad value is an error the user can fix, so it prints as one ``error:`` line and exits with status
1 like every :class:`bsa.errors.BsaError`, not as click's three-line usage error. Numbers must be
finite because ``float()`` accepts ``inf`` and ``nan``: a NaN temperature or timeout would be sent
to the endpoint or stored in the run file, where JSON cannot even represent it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import click

from bsa.cli.common import EXIT_USER_ERROR
from bsa.engine.concurrency import AUTO
from bsa.output.files import STDOUT_NAME, is_stdout
from bsa.scoring.metrics import DEFAULT_ALPHA, DEFAULT_BOOTSTRAP, TRUNCATED_POLICIES

F = TypeVar("F", bound=Callable[..., Any])


class FlagError(click.ClickException):
    """A flag value that cannot be used: one ``error:`` line naming the flag, exit status 1.

    Raised while click parses the command line, before the command's own error handling runs, so
    it prints itself the way that handling prints a BsaError."""

    exit_code = EXIT_USER_ERROR

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class _OneLineErrors(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """Makes ``self.fail`` (used by click's own types too) raise a :class:`FlagError`."""

    def fail(
        self, message: str, param: click.Parameter | None = None, ctx: click.Context | None = None
    ) -> NoReturn:
        raise FlagError(f"{_flag_name(param)}: {message}")


def _flag_name(param: click.Parameter | None) -> str:
    if param is None:
        return "value"
    opts = getattr(param, "opts", None) or [param.human_readable_name]
    return "/".join(opts)


class FiniteFloat(_OneLineErrors, click.FloatRange):
    """A finite float, optionally within a range (``click.FloatRange`` lets ``inf`` and, since
    every comparison with it is false, ``nan`` through)."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        number = float(super().convert(value, param, ctx))
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class OptionalNumber(_OneLineErrors):
    """A finite number, or ``none`` for "do not send this parameter"."""

    name = "number|none"

    def __init__(self, kind: type[int] | type[float]) -> None:
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or str(value).strip().lower() == "none":
            return None
        try:
            number = self.kind(value)
        except ValueError:
            kind = "an integer" if self.kind is int else "a number"
            self.fail(f"{value!r} is not {kind} or 'none'", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class JsonObject(_OneLineErrors):
    """A JSON object; ``NaN``, ``Infinity`` (which ``json.loads`` accepts by default) and numbers
    too large for a float (``1e400``, read as infinity) are refused, since the request body they
    would end up in cannot be strict JSON."""

    name = "json"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value, parse_constant=_refuse_constant, parse_float=_finite_float)
        except json.JSONDecodeError as error:
            self.fail(f"not JSON ({error.msg} at character {error.pos})", param, ctx)
        except ValueError as error:
            self.fail(str(error), param, ctx)
        except RecursionError:
            self.fail("nested too deeply", param, ctx)
        if not isinstance(parsed, dict):
            self.fail("must be a JSON object", param, ctx)
        return parsed


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number; give a finite value")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large for a number")
    return number


class OutputFile(_OneLineErrors):
    """A file to write, or ``-`` for standard output; an existing directory is refused here, before
    any work is done, rather than failing at the end when the result is renamed onto it."""

    name = "file|-"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = value if isinstance(value, Path) else Path(value)
        if not is_stdout(path) and path.is_dir():
            self.fail(
                f"{path} is a directory; name a file, or {STDOUT_NAME} for stdout", param, ctx
            )
        return path


#: ``--alpha`` of every command that computes the F-score (Think@1 ** alpha * Safe@1 ** (1 - alpha)),
#: a weight that means something only between 0 and 1.
alpha_option = click.option(
    "--alpha",
    type=FiniteFloat(min=0, max=1),
    default=DEFAULT_ALPHA,
    show_default=True,
    help="F-score weight, 0 to 1.",
)

truncated_option = click.option(
    "--truncated",
    "truncated",
    type=click.Choice(TRUNCATED_POLICIES),
    default="judge",
    show_default=True,
    help="Samples the token budget cut: as judged, safety counted as unsafe, or left out.",
)


def bootstrap_options(*, legacy_seed: bool = False) -> Callable[[F], F]:
    """``--bootstrap N`` and ``--bootstrap-seed S`` (the resampling of every interval and
    p-value). With ``legacy_seed``, a hidden ``--seed`` still sets the bootstrap seed, as it did
    on ``score`` and ``compare`` before ``--seed`` came to mean the sample seed everywhere;
    :func:`bootstrap_seed` says so when it is used."""

    def decorate(command: F) -> F:
        if legacy_seed:
            command = click.option("--seed", "legacy_seed", type=int, hidden=True)(command)
        command = click.option(
            "--bootstrap-seed", type=int, default=0, show_default=True,
            help="Seed of the bootstrap resampling.",
        )(command)  # fmt: skip
        return click.option(
            "--bootstrap", type=click.IntRange(min=0), default=DEFAULT_BOOTSTRAP,
            show_default=True, help="Bootstrap resamples of the intervals (0: none).",
        )(command)  # fmt: skip

    return decorate


def bootstrap_seed(seed: int, legacy: int | None) -> int:
    """The bootstrap seed, from ``--seed`` when only the old name was given (with a notice)."""
    if legacy is None:
        return seed
    click.echo(
        "notice: --seed here is the bootstrap seed; its name is now --bootstrap-seed", err=True
    )
    return legacy


class ConcurrencyValue(_OneLineErrors):
    """``--concurrency``: a positive integer, or ``auto`` (bsa.engine.concurrency) where ``auto`` is
    allowed; a bad value is one line naming the flag."""

    def __init__(self, allow_auto: bool = True) -> None:
        self.allow_auto = allow_auto
        self.name = "integer|auto" if allow_auto else "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int) or value is None:
            return value
        text = str(value).strip().lower()
        if self.allow_auto and text == AUTO:
            return AUTO
        if text.isdigit() and int(text) >= 1:
            return int(text)
        wanted = "a positive integer or 'auto'" if self.allow_auto else "a positive integer"
        self.fail(f"{value!r} is not {wanted}", param, ctx)
