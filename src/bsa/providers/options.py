"""A provider's own options: declared once, beside its spec, as a frozen dataclass.

Each field made with :func:`option` is one setting only that provider understands (Anthropic's
thinking budget, the local model's batch size). Its type, default, bounds and help text are all
the command line needs: ``bsa generate`` and ``bsa judge`` give every declared option a flag when
the declaration names one, and take any of them through the generic ``-o KEY VALUE`` (simonw/llm's
``-o``), so a plugin's options need no edit of the CLI. Declaring options imports nothing of the
provider's SDK: the record is plain data, read before the provider is built.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bsa.errors import BsaError

#: The ``field`` metadata key under which :func:`option` keeps its description.
_METADATA_KEY = "bsa.option"
#: How ``-o KEY true`` may spell a yes or a no.
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
#: The value types an option may have: what a command line can spell.
OptionType = type[bool] | type[int] | type[float] | type[str]


@dataclass(frozen=True)
class OptionHelp:
    """What :func:`option` records beside a field's default."""

    help: str
    #: The model's flag (``--thinking-budget``); None: only ``-o`` sets it.
    flag: str | None = None
    #: The judge's flag (``--judge-thinking-budget``); None: judges do not take it by flag.
    judge_flag: str | None = None
    #: The smallest value allowed, for numbers.
    minimum: float | None = None


def option(
    default: Any,
    *,
    help: str,
    flag: str | None = None,
    judge_flag: str | None = None,
    minimum: float | None = None,
) -> Any:
    """A field of a provider's options record: its default and how the command line sets it."""
    described = OptionHelp(help, flag, judge_flag, minimum)
    return dataclasses.field(default=default, metadata={_METADATA_KEY: described})


@dataclass(frozen=True)
class NoOptions:
    """The record of a provider that declares no options."""


@dataclass(frozen=True)
class DeclaredOption:
    """One option as the command line sees it: its key, value type, default and help."""

    provider: str
    name: str
    kind: OptionType
    default: Any
    about: OptionHelp

    def parse(self, text: str, flag: str = "-o") -> Any:
        """The value ``-o NAME TEXT`` (or ``FLAG NAME TEXT``) gives, typed and checked; a bad one
        is a one-line error."""
        given_as = f"{flag} {self.name}"
        value = _parse_as(self.kind, text.strip() if self.kind is not str else text)
        if value is None:
            raise BsaError(f"{given_as}: {text!r} is not {_KIND_NAMES[self.kind]}")
        self.check(value, given_as)
        return value

    def check(self, value: Any, given_as: str) -> None:
        """Refuse a value of another type (from the Python API) or a number below the declared
        minimum, naming how it was given."""
        if not _is_a(self.kind, value):
            raise BsaError(f"{given_as}: {value!r} is not {_KIND_NAMES[self.kind]}")
        minimum = self.about.minimum
        if minimum is not None and value < minimum:
            raise BsaError(f"{given_as}: {value} is below the smallest allowed, {minimum:g}")


_KIND_NAMES: dict[type, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a finite number",
    str: "text",
}


def _is_a(kind: OptionType, value: Any) -> bool:
    """Whether ``value`` is a ``kind`` (a bool is no number here; an int is a float)."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float) and math.isfinite(value)
    return isinstance(value, kind)


def _parse_as(kind: OptionType, text: str) -> Any:
    """``text`` as a ``kind``, or None when it is not one."""
    if kind is bool:
        lowered = text.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else None
    if kind is str:
        return text
    try:
        number = int(text) if kind is int else float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def declared_options(provider: str, record: type[Any]) -> tuple[DeclaredOption, ...]:
    """The options a provider's record declares, in declaration order; a record the command line
    cannot offer (a plugin's mistake) is a one-line error."""
    where = f"provider {provider!r}: options record {getattr(record, '__name__', record)!r}"
    if not dataclasses.is_dataclass(record):
        raise BsaError(f"{where} is not a dataclass")
    hints = typing.get_type_hints(record)
    declared = []
    for field in dataclasses.fields(record):
        about = field.metadata.get(_METADATA_KEY)
        if not isinstance(about, OptionHelp):
            raise BsaError(f"{where}.{field.name} is not declared with bsa's option()")
        kind = hints[field.name]
        if kind not in _KIND_NAMES:
            raise BsaError(f"{where}.{field.name} is not a bool, int, float or str")
        declared.append(DeclaredOption(provider, field.name, kind, field.default, about))
    return tuple(declared)


def option_key(text: str) -> str:
    """``-o thinking-budget`` and ``-o thinking_budget`` name the same option."""
    return text.strip().replace("-", "_")


def build_record(
    provider: str,
    record: type[Any],
    values: Mapping[str, Any],
    owners: Callable[[], Mapping[str, str]],
) -> Any:
    """The provider's options record from ``values`` (typed; missing ones keep their defaults).

    ``owners`` tells, for each option key any provider declares, the providers that take it
    (asked only for a key this provider does not declare, so the error says where it belongs)."""
    declared = {option.name: option for option in declared_options(provider, record)}
    for key, value in values.items():
        if key not in declared:
            raise BsaError(not_taken(provider, key, declared, owners()))
        declared[key].check(value, f"option {key}")
    return record(**values)


def not_taken(
    provider: str, key: str, declared: Mapping[str, DeclaredOption], accepted_by: Mapping[str, str]
) -> str:
    """Why ``key`` cannot go to ``provider``, and which providers it belongs to."""
    takes = f"its options: {', '.join(declared)}" if declared else "it has none"
    elsewhere = f"; {key} is an option of {accepted_by[key]}" if key in accepted_by else ""
    return f"provider {provider!r} has no option {key!r} ({takes}){elsewhere}"
