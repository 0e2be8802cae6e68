"""Errors a user can meet, each meant to be printed as one actionable line.

The CLI prints ``str(error)`` of a :class:`BsaError` without a traceback; anything else is a bug and
keeps its traceback. Messages therefore name the file, row or setting at fault and what to do.
"""

from __future__ import annotations


class BsaError(Exception):
    """Base class of every error that is the user's to fix, not the program's."""

    def lines(self) -> list[str]:
        """The lines to print, one ``error:`` each. A newline inside a message is not a line
        break: messages quote provider and dataset text, which must not forge lines of its own."""
        return [str(self)]


class DatasetError(BsaError):
    """A dataset file that cannot be loaded as BSA items.

    ``problems`` holds one line per problem found, so that a user fixing a hand-edited file sees all
    of them at once instead of one per attempt.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        shown = self.problems[:MAX_PROBLEMS_SHOWN]
        extra = len(self.problems) - len(shown)
        more = [f"... and {extra} more problem{'s' if extra != 1 else ''}"] if extra else []
        return [*shown, *more]


MAX_PROBLEMS_SHOWN = 20


class IntegrityError(BsaError):
    """A downloaded or cached benchmark file whose sha256 is not the pinned one."""


class SourceError(BsaError):
    """A benchmark source that cannot be reached or read (network, missing file, bad folder)."""


class TemplateError(BsaError):
    """A judge prompt file that does not hold the templates the BSA judges need."""


class MissingExtraError(BsaError):
    """An optional dependency that a feature needs is not installed."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs an optional dependency: pip install 'bsa-bench[{extra}]'"
        )
