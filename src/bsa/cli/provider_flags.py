"""The flags of the providers' own options, built from the registry rather than written here.

Every option a provider declares (:mod:`bsa.providers.options`) with a flag becomes that flag on
``bsa generate``/``run`` (the model's) or ``bsa judge``/``run`` (the judge's ``--judge-…``), and
any declared option, flag or not, is set with ``-o KEY VALUE`` (the model) or
``--judge-option KEY VALUE`` (the judges), so a plugin's options need no edit here. A flag goes
to the providers that declare it and is ignored by the others (a panel may mix providers, and
``--thinking-budget`` never stopped an OpenAI run); a ``-o`` key the provider does not declare
is an error that names the providers that take it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import click

from bsa.cli.params import FiniteFloat
from bsa.errors import BsaError
from bsa.providers.options import DeclaredOption, not_taken, option_key
from bsa.providers.registry import every_option, option_owners, provider_options

F = TypeVar("F", bound=Callable[..., Any])

#: Names no provider flag may take, beside the flags the command already has.
_RESERVED = frozenset({"--help", "-h", "--run", "-o", "--option", "--judge-option"})


def model_option_flags(command: F, taken: Iterable[str]) -> F:
    """The model's provider flags (``--thinking-budget``...) and ``-o/--option KEY VALUE``; none
    takes a name in ``taken`` (the stage's own flags) or one of the judge's (``--judge-…``)."""
    command = click.option(
        "-o", "--option", "model_option_pairs", nargs=2, multiple=True, metavar="KEY VALUE",
        help="An option of the model's provider (e.g. -o thinking_budget 0). Repeatable.",
    )(command)  # fmt: skip
    return _with_flags(command, "flag", taken)


def judge_option_flags(command: F, taken: Iterable[str]) -> F:
    """The judges' provider flags (``--judge-thinking-budget``) and ``--judge-option KEY VALUE``;
    each is named ``--judge-…`` and none takes a name in ``taken`` (the stage's own flags)."""
    command = click.option(
        "--judge-option", "judge_option_pairs", nargs=2, multiple=True, metavar="KEY VALUE",
        help="An option of the judges' providers, for each judge that takes it. Repeatable.",
    )(command)  # fmt: skip
    return _with_flags(command, "judge_flag", taken)


def model_settings(provider: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The model's provider options: its declared flags' values, then ``-o`` pairs over them."""
    declared = provider_options(provider)
    settings = _flag_values(declared, "flag", options)
    for key, text in options["model_option_pairs"]:
        settings.update(_parsed(provider, declared, key, text, "-o"))
    return settings


def judge_settings(providers: Iterable[str], options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each judge's provider options. A ``--judge-option`` goes to every judge whose provider
    declares it; one that no judge takes is an error."""
    names = list(providers)
    declared = [provider_options(provider) for provider in names]
    settings = [_flag_values(own, "judge_flag", options) for own in declared]
    for key, text in options["judge_option_pairs"]:
        name = option_key(key)
        takers = [i for i, own in enumerate(declared) if any(o.name == name for o in own)]
        if not takers:
            raise BsaError(f"--judge-option {key}: {_no_judge_takes(name)}")
        for i in takers:
            settings[i].update(_parsed(names[i], declared[i], key, text, "--judge-option"))
    return settings


def _no_judge_takes(name: str) -> str:
    owners = option_owners()
    where = f"it is an option of {owners[name]}" if name in owners else "no provider declares it"
    return f"no judge's provider takes {name!r} ({where})"


def _parsed(
    provider: str, declared: tuple[DeclaredOption, ...], key: str, text: str, flag: str
) -> dict[str, Any]:
    """``{name: value}`` for one ``KEY VALUE`` pair, typed by the provider's declaration."""
    name = option_key(key)
    for option in declared:
        if option.name == name:
            return {name: option.parse(text, flag)}
    takes = {option.name: option for option in declared}
    raise BsaError(f"{flag} {key}: {not_taken(provider, name, takes, option_owners())}")


def _flag_values(
    declared: tuple[DeclaredOption, ...], which: str, options: Mapping[str, Any]
) -> dict[str, Any]:
    """The declared options' values from their flags (each flag's default when not given)."""
    offered = _offered(which)
    values = {}
    for option in declared:
        flag = getattr(option.about, which)
        if flag in offered and _same(offered[flag], option) and _dest(flag) in options:
            values[option.name] = options[_dest(flag)]
    return values


def _offered(which: str) -> dict[str, DeclaredOption]:
    """One declaration per distinct flag, built-ins first. A later provider that declares the
    same flag with another type or default does not share it (it still has ``-o``)."""
    offered: dict[str, DeclaredOption] = {}
    for option in every_option():
        flag = getattr(option.about, which)
        if flag is not None and _well_named(flag, which):
            offered.setdefault(flag, option)
    return offered


def _well_named(flag: str, which: str) -> bool:
    """A judge's flag is ``--judge-…`` and a model's is not, so ``bsa run`` can take both."""
    is_judges = flag.startswith("--judge-")
    return flag.startswith("--") and flag not in _RESERVED and is_judges == (which == "judge_flag")


def _same(first: DeclaredOption, other: DeclaredOption) -> bool:
    return (first.kind, first.default) == (other.kind, other.default)


def _with_flags(command: F, which: str, taken: Iterable[str]) -> F:
    """``command`` with one flag per distinct declared flag, but none that would take a name
    the command has (a plugin's ``--model``)."""
    names = {*taken, *_flags_of(command)}
    for flag, option in reversed(_offered(which).items()):
        if flag not in names:
            command = _click_option(flag, option)(command)
    return command


def flag_names(decorators: Iterable[Callable[[Any], Any]]) -> set[str]:
    """The option names a list of ``click.option`` decorators declares."""

    def probe() -> None: ...

    for decorate in decorators:
        decorate(probe)
    return _flags_of(probe)


def _flags_of(command: Callable[..., Any]) -> set[str]:
    """The option names already attached to ``command`` by the decorators below this one."""
    params: list[click.Parameter] = getattr(command, "__click_params__", [])
    return {name for param in params for name in getattr(param, "opts", ())}


def _click_option(flag: str, option: DeclaredOption) -> Callable[[F], F]:
    if option.kind is bool:
        return click.option(flag, _dest(flag), is_flag=True, default=option.default,
                            help=option.about.help)  # fmt: skip
    return click.option(
        flag, _dest(flag), type=_click_type(option), default=option.default,
        show_default=True, help=option.about.help,
    )  # fmt: skip


def _click_type(option: DeclaredOption) -> Any:
    minimum = option.about.minimum
    if option.kind is int:
        return click.IntRange(min=None if minimum is None else int(minimum))
    if option.kind is float:
        return FiniteFloat(min=minimum)
    return click.STRING


def _dest(flag: str) -> str:
    """The parameter a flag fills, apart from every other flag's (``provider_thinking_budget``)."""
    return "provider_" + flag.lstrip("-").replace("-", "_")
