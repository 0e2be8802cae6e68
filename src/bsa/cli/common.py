"""What every ``bsa`` command shares: error handling, dataset and selection flags."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from bsa.benchmark import Scenario
from bsa.data.dataset import Dataset, load_dataset
from bsa.data.selection import Selection, parse_category, read_ids, select
from bsa.errors import BsaError
from bsa.output.files import is_stdout
from bsa.output.terminal import safe_line, safe_traceback

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 1
#: Some samples or verdicts are still missing after retries; rerunning retries them.
EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130
#: Standard output was closed by its reader (``bsa export -o - | head``): 128 + SIGPIPE, the
#: status a shell gives a Unix tool that such a reader stopped.
EXIT_BROKEN_PIPE = 141
T = TypeVar("T")


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def dataset_options(command: F) -> F:
    """``--dataset`` and the selection flags, shared by every command that reads items."""
    options = [
        click.option(
            "--dataset",
            "dataset_spec",
            metavar="PATH|hf:REPO[@REV]",
            help="Dataset file (CSV, JSONL, Parquet) or Hugging Face dataset; default: "
            "the official release ($BSA_DATA_DIR, cache, or download).",
        ),
        click.option(
            "--scenario",
            "scenarios",
            multiple=True,
            metavar="NAME",
            help="Keep one scenario: RO, CS, OS or the full name. Repeatable.",
        ),
        click.option(
            "--category",
            "categories",
            multiple=True,
            metavar="NAME",
            help="Keep items with a risk in this primary or sub-category. Repeatable.",
        ),
        click.option(
            "--ids",
            "ids_file",
            type=click.Path(path_type=Path),
            metavar="FILE",
            help="Keep the ids listed in FILE, one per line.",
        ),
        click.option("--limit", type=int, metavar="N", help="Keep the first N selected items."),
        click.option(
            "--sample",
            type=int,
            metavar="N",
            help="Draw N items, stratified by scenario (see --seed).",
        ),
        click.option(
            "--seed",
            "--sample-seed",
            "seed",
            type=int,
            default=0,
            show_default=True,
            help="Seed of --sample.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_selected(
    dataset_spec: str | None,
    scenarios: tuple[str, ...],
    categories: tuple[str, ...],
    ids_file: Path | None,
    limit: int | None,
    sample: int | None,
    seed: int,
) -> Dataset:
    """Load the dataset, print its notice if it is not the official release, apply the selection."""
    try:
        chosen_scenarios = tuple(Scenario.parse(s) for s in scenarios)
    except ValueError as error:
        raise BsaError(str(error)) from error
    selection = Selection(
        scenarios=chosen_scenarios,
        categories=tuple(parse_category(c) for c in categories),
        ids=read_ids(ids_file) if ids_file else None,
        sample=sample,
        seed=seed,
        limit=limit,
    )
    dataset = load_dataset(dataset_spec)
    if dataset.source.notice:
        _stderr().print(safe_line(dataset.source.notice), markup=False)
    return select(
        dataset, selection, notify=lambda text: _stderr().print(safe_line(text), markup=False)
    )


def tell_written(output: Path, message: str) -> None:
    """Say what was written: on stderr when the result itself went to standard output (``-o -``),
    so that a pipe receives nothing but the result."""
    click.echo(message, err=is_stdout(output))


def wait_option(command: F) -> F:
    """``--wait``, for the commands that write a run file (one writer per file at a time)."""
    return click.option(
        "--wait",
        "wait_for_run",
        is_flag=True,
        help="If another process is writing the run file, wait for it instead of stopping.",
    )(command)


@contextlib.contextmanager
def holding_run(run_path: Path, wait: bool) -> Iterator[None]:
    """Hold the run file's write lock for a whole command (``bsa run`` spans several stages)."""
    from bsa.runfile.lock import run_lock

    def tell(message: str) -> None:
        click.echo(f"notice: {message}", err=True)

    with run_lock(run_path, wait=wait, on_wait=tell):
        yield


def warn_unstored(what: str, reasons: tuple[str, ...]) -> None:
    """Say that results were received but refused by the run file (they stay missing)."""
    if reasons:
        click.echo(
            f"warning: {len(reasons)} {what} could not be stored ({reasons[0]}); rerun the "
            "same command to ask for them again",
            err=True,
        )


def warn_all(warnings: Sequence[str]) -> None:
    """A stage's warnings (vendor text among them), one safe line each."""
    for warning in warnings:
        click.echo(safe_line(f"warning: {warning}"), err=True)


def handle_errors(command: F) -> F:
    """Turn a BsaError into one ``error:`` line per problem and exit status 1.

    Every line printed here quotes text bsa does not control (provider messages, dataset rows, the
    SDK's exception with the response body), so it is printed through :func:`safe_line`: keys
    masked, control characters and newlines escaped. A bug keeps its traceback, made safe the
    same way.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BsaError as error:
            if _debug():
                _print_traceback(error)
            for line in error.lines():
                click.echo(f"error: {safe_line(line)}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            _quiet_broken_pipe()
        except sqlite3.Error as error:  # a run file damaged or made read-only under a reader
            if _debug():
                _print_traceback(error)
            text = safe_line(str(error))
            click.echo(f"error: the run file cannot be read or written ({text})", err=True)
            sys.exit(EXIT_USER_ERROR)
        except Exception as error:
            _print_traceback(error)
            sys.exit(EXIT_USER_ERROR)

    return wrapper  # type: ignore[return-value]


def _quiet_broken_pipe() -> NoReturn:
    """The reader of standard output has gone (``| head``): stop without a traceback. What is
    still buffered goes to /dev/null, so Python's flush at exit cannot raise again (the recipe
    of Python's documentation, signal module, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_BROKEN_PIPE)


def _print_traceback(error: BaseException) -> None:
    for line in safe_traceback(error):
        click.echo(line, err=True)


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return bool(root and root.params.get("debug")) or os.environ.get("BSA_DEBUG") == "1"


def run_stage(
    label: str, run_path: Path, what: str, stage: Callable[[Any], Coroutine[Any, Any, T]]
) -> T:
    """Run one async stage with a progress display; Ctrl-C ends it with exit status 130 and the
    promise the stage keeps (every finished ``what`` is already committed to the run file)."""
    return run_stages([label], run_path, what, lambda sinks: stage(sinks[0]))


def run_stages(
    labels: Sequence[str],
    run_path: Path,
    what: str,
    stages: Callable[[Sequence[Any]], Coroutine[Any, Any, T]],
) -> T:
    """:func:`run_stage` for stages that run at once, one progress bar (or log line) each."""
    from bsa.engine.progress import stages_progress

    try:
        with stages_progress(labels) as sinks:
            return asyncio.run(stages(sinks))
    except KeyboardInterrupt:
        click.echo(
            f"interrupted: every finished {what} is saved in {run_path}; "
            "rerun the same command to resume",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
