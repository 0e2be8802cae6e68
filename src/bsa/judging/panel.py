"""A judge panel: several judges' verdicts on the same samples, read as one.

The judge is the largest uncertainty in a BSA figure (the paper does not name its judge), and one
judge's quirks (a lenient safety reading, a refusal to grade some texts) move every figure with it.
A panel asks several judges and keeps, per sample and verdict kind, the label that a majority of
the panel's members gave. "Majority" means more than half of the members named, not of those who
happened to answer: a panel figure never rests on fewer judges than it claims. Otherwise the panel
verdict is unscored, for one of two reasons:

- :data:`PANEL_TIE`: the members' scored verdicts split evenly (two judges that disagree);
- :data:`PANEL_SHORT`: too few members gave a usable verdict (unscored, failed, or not judged yet)
  for either label to reach a majority.

Panel verdicts are computed when a run is read and never stored: each member's own rows stay the
record, so adding a member or judging a missing sample changes the panel without asking anyone
again. Verdicts that need no call (blocked, no reasoning) are the same for every member and pass
through with their reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import replace

from bsa.errors import BsaError
from bsa.runfile.reading import judge_labels
from bsa.runfile.store import Judgement, RunStore

#: Unscored reason of a panel verdict whose members' scored verdicts split evenly.
PANEL_TIE = "panel_tie"
#: Unscored reason of a panel verdict that too few members gave for a majority.
PANEL_SHORT = "panel_short"
MIN_MEMBERS = 2


def panel_label(members: Sequence[str]) -> str:
    """How a panel names itself where a judge's name would stand (titles, reports)."""
    return f"panel({', '.join(members)})"


def panel_members(store: RunStore, judges: Sequence[str]) -> list[str]:
    """The panel's judges: those named (each checked against the run), or every judge of the run.

    Raises :class:`BsaError` for an unknown judge, a judge named twice, or fewer than two."""
    members = [judge_labels(store, judge) for judge in judges] if judges else store.judges()
    if len(set(members)) != len(members):
        raise BsaError(f"a judge is named twice in the panel: {', '.join(members)}")
    if len(members) < MIN_MEMBERS:
        found = ", ".join(members) or "none"
        raise BsaError(
            f"a panel needs at least {MIN_MEMBERS} judges; {store.path} has verdicts of {found}"
            " (add one with 'bsa judge --judge PROVIDER:MODEL')"
        )
    return members


def panel_judgements(store: RunStore, members: Sequence[str]) -> Iterator[Judgement]:
    """One verdict per (item, sample, kind) that any member judged: the members' majority."""
    votes: defaultdict[tuple[str, int, str], list[Judgement]] = defaultdict(list)
    for member in members:
        for judgement in store.judgements(member):
            votes[(judgement.item_id, judgement.sample, judgement.kind)].append(judgement)
    label = panel_label(members)
    for key in sorted(votes):
        yield majority(votes[key], len(members), label)


def majority(votes: Sequence[Judgement], members: int, label: str) -> Judgement:
    """The panel verdict from ``votes`` (one per member that has a row, of ``members``).

    The verdict copied is the first winning member's, with its reason (``blocked`` and
    ``no_reasoning`` must survive) and prompt digest (None when no call was made); the rationale
    lists every member's verdict, and the token counts are the panel's total cost for this
    verdict."""
    scored = [vote for vote in votes if vote.status == "scored"]
    passes = sum(1 for vote in scored if vote.passed)
    fails = len(scored) - passes
    first = votes[0]
    digest = next((vote.prompt_sha256 for vote in votes if vote.prompt_sha256), None)
    panel = Judgement(
        first.item_id, first.sample, first.kind, label, "unscored", None, None,
        _ballot(votes, members), None, digest, None, 0, None,
        _total(vote.prompt_tokens for vote in votes),
        _total(vote.completion_tokens for vote in votes),
    )  # fmt: skip
    for side, count in ((True, passes), (False, fails)):
        if 2 * count > members:
            winner = next(vote for vote in scored if vote.passed is side)
            return replace(
                panel, status="scored", verdict=winner.verdict, passed=side,
                reason=winner.reason, prompt_sha256=winner.prompt_sha256,
            )  # fmt: skip
    if scored and passes == fails:
        return replace(panel, reason=f"{PANEL_TIE}: {passes} pass, {fails} fail")
    status = "unscored" if scored or any(v.status == "unscored" for v in votes) else "failed"
    usable = f"{len(scored)} of {members} judges gave a usable verdict"
    return replace(panel, status=status, reason=f"{PANEL_SHORT}: {usable} ({passes} pass)")


def _ballot(votes: Sequence[Judgement], members: int) -> str:
    """Each member's verdict in one line, for the sample browser."""
    cast = [f"{v.judge}: {v.verdict if v.status == 'scored' else v.status}" for v in votes]
    missing = members - len(votes)
    return "; ".join(cast + ([f"{missing} not judged yet"] if missing else []))


def _total(values: Iterator[int | None]) -> int | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None
