"""What every reader of a run shares: the verdict kinds, whether a sample has reasoning, and which
judge's verdicts to read.

It lives apart from :mod:`bsa.judging.judge` so that scoring, exports and reports read a run without
loading the judging machinery (the runner, the providers, their HTTP clients).
"""

from __future__ import annotations

from bsa.errors import BsaError
from bsa.runfile.store import Generation, RunStore

#: The two verdicts of every sample: the answer's safety and the reasoning's thinking accuracy.
KINDS = ("safety", "thinking")


def has_reasoning(generation: Generation) -> bool:
    return bool(generation.reasoning and generation.reasoning.strip())


def judge_labels(store: RunStore, judge: str | None) -> str:
    """The judge to read: the one given, or the run's only judge."""
    judges = store.judges()
    if judge is not None:
        judge = judge if judge in judges else _canonical(judge)
        if judge not in judges:
            known = ", ".join(judges) or "none yet"
            raise BsaError(f"{store.path} has no verdicts of {judge} (judges: {known})")
        return judge
    if not judges:
        raise BsaError(f"{store.path} has no verdicts yet; run 'bsa judge' first")
    if len(judges) > 1:
        raise BsaError(f"{store.path} has verdicts of {', '.join(judges)}; choose one with --judge")
    return judges[0]


def _canonical(judge: str) -> str:
    """``judge`` as providers label themselves (``mock`` is ``mock:mock``), or the one-line
    error for a malformed name. Only a name that is not already a stored judge's label gets
    here, so reading a run by its judge's exact label never loads the provider table."""
    from bsa.providers import canonical_model

    return canonical_model(judge)
