"""MkDocs hook: the command reference (docs/reference/cli.md), generated from the click definitions.

Written by hand, a flag table drifts from the code the day a flag is added or renamed; read from the
click objects at build time, it cannot. The hook replaces the marker line in cli.md with one
section per command (``## bsa generate``, ``## bsa data stats``): its help, its usage line and a
table of every parameter, provider-declared flags included (they are click options too).
``tests/test_docs_reference.py`` loads this file by path and checks the text it makes.
"""

from __future__ import annotations

import html
import inspect
import re
from collections.abc import Iterator
from typing import Any

import click

MARKER = "<!-- bsa-cli-reference -->"

#: Click's "no default given" (click 8.3; before it, None).
_NO_DEFAULT = getattr(click.core, "UNSET", None)

#: Characters that Markdown (with the tables extension) would read as markup in help text.
_MARKUP = re.compile(r"([\\`*_\[\]|])")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the marker with the generated reference (MkDocs calls this for every page)."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference_markdown())


def cli_reference_markdown() -> str:
    """Every command of ``bsa`` as Markdown: the root's options first, then each command."""
    from bsa.cli import main

    root = click.Context(main, info_name="bsa")
    return "\n".join(command_markdown(command, ctx) for command, ctx in _walk(main, root))


def _walk(group: click.Group, ctx: click.Context) -> Iterator[tuple[click.Command, click.Context]]:
    """The group itself, then its commands in name order, a subgroup's before the next command."""
    yield group, ctx
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None:  # pragma: no cover - a name the group lists but cannot load
            continue
        sub = click.Context(command, info_name=name, parent=ctx)
        if isinstance(command, click.Group):
            yield from _walk(command, sub)
        else:
            yield command, sub


def command_markdown(command: click.Command, ctx: click.Context) -> str:
    """One command's section: heading, help, usage line, subcommands (a group), parameters."""
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    parts = [
        f"## {ctx.command_path}",
        "",
        _help_text(command.help),
        "",
        "```text",
        usage,
        "```",
        "",
    ]
    if isinstance(command, click.Group):
        parts += [_subcommand_list(command, ctx), ""]
    params = [p for p in command.params if not _is_help_option(p)]
    if params:
        parts += [_parameter_table(params, ctx), ""]
    return "\n".join(parts)


def _subcommand_list(group: click.Group, ctx: click.Context) -> str:
    names = group.list_commands(ctx)
    anchors = ["-".join([*ctx.command_path.split(), name]) for name in names]
    links = [f"[`{name}`](#{anchor})" for name, anchor in zip(names, anchors, strict=True)]
    return "Commands: " + ", ".join(links) + "."


def _help_text(text: str | None) -> str:
    """Click's help as Markdown paragraphs: ``\\f`` ends what help shows, a ``\\b`` line only
    stops click rewrapping, and a paragraph's lines join (Markdown wraps them anyway)."""
    shown = inspect.cleandoc(text or "").split("\f")[0]
    paragraphs = [
        " ".join(line.strip() for line in block.splitlines() if line.strip() != "\b")
        for block in shown.split("\n\n")
    ]
    return "\n\n".join(escape(p) for p in paragraphs if p)


def escape(text: str) -> str:
    """``text`` shown as written: Markdown markup and table pipes escaped, HTML made inert."""
    return html.escape(_MARKUP.sub(r"\\\1", text), quote=False)


def _is_help_option(param: click.Parameter) -> bool:
    return isinstance(param, click.Option) and "--help" in param.opts


def _parameter_table(params: list[click.Parameter], ctx: click.Context) -> str:
    with_env = any(_envvar(p) for p in params)
    header = ["flag", "type", "default", *(["environment"] if with_env else []), "meaning"]
    rows = [_row(p, ctx, with_env) for p in params]
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _row(param: click.Parameter, ctx: click.Context, with_env: bool) -> list[str]:
    env = _envvar(param)
    cells = [_flags(param, ctx), _type(param), _default(param, ctx)]
    if with_env:
        cells.append(f"`{env}`" if env else "")
    return [*cells, _meaning(param)]


def _flags(param: click.Parameter, ctx: click.Context) -> str:
    if isinstance(param, click.Argument):
        return f"`{param.make_metavar(ctx)}` (argument)"
    metavar = f" {param.metavar}" if param.metavar else ""
    names = [f"`{opt}{metavar}`" for opt in param.opts]
    return ", ".join(names + [f"`{opt}`" for opt in param.secondary_opts])


def _type(param: click.Parameter) -> str:
    kind = param.type
    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    if isinstance(kind, click.Choice):
        return ", ".join(f"`{choice}`" for choice in kind.choices)
    if isinstance(kind, (click.IntRange, click.FloatRange)):
        return _range(kind)
    return escape({"float": "number", "text": "text"}.get(kind.name, kind.name))


def _range(kind: click.IntRange | click.FloatRange) -> str:
    base = "integer" if isinstance(kind, click.IntRange) else "number"
    bounds = []
    if kind.min is not None:
        bounds.append(f"{'>' if kind.min_open else '≥'} {_number(kind.min)}")
    if kind.max is not None:
        bounds.append(f"{'<' if kind.max_open else '≤'} {_number(kind.max)}")
    return " ".join([base, ", ".join(bounds)]).strip()


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _default(param: click.Parameter, ctx: click.Context) -> str:
    """The default as the user meets it: ``off`` for a flag, the other flag of a pair, what a
    repeatable flag is, and nothing where the command decides (the help then says what)."""
    notes = []
    if param.required:
        notes.append("required")
    if param.multiple:
        notes.append("repeatable")
    if isinstance(param, click.Option) and isinstance(param.show_default, str):
        return ", ".join([*notes, escape(param.show_default)])
    value = param.get_default(ctx, call=False)
    if isinstance(param, click.Option) and param.is_flag and not param.multiple:
        notes.append(_flag_default(param, bool(value)))
    elif _has_value(value) and not param.multiple:
        notes.append(f"`{_number(value)}`")
    return ", ".join(notes)


def _flag_default(param: click.Option, on: bool) -> str:
    if param.secondary_opts:
        return f"`{(param.opts if on else param.secondary_opts)[-1]}`"
    return "on" if on else "off"


def _has_value(value: Any) -> bool:
    """Whether a default is a value (click 8.3 marks "no default" with a sentinel, older ones
    with None)."""
    return value is not None and value is not _NO_DEFAULT and not callable(value)


def _envvar(param: click.Parameter) -> str:
    env = param.envvar
    if env is None or isinstance(env, str):
        return env or ""
    return ", ".join(env)


def _meaning(param: click.Parameter) -> str:
    notes = [escape(" ".join(inspect.cleandoc(getattr(param, "help", None) or "").split()))]
    if isinstance(param, click.Option) and param.hidden:
        notes.insert(0, "Hidden from `--help` (an older name).")
    if isinstance(param, click.Argument) and param.nargs == -1:
        notes.insert(0, "One or more." if param.required else "Any number, none included.")
    return " ".join(note for note in notes if note)
